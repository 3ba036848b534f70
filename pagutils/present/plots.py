"""Figures the chapters share: image grids, signed maps and accuracy-versus-epsilon curves.

`magnified` is the one way a signed map (a perturbation, an input gradient, a score, a tangent direction) is
drawn: grey is zero, each map scaled to its own largest value (or a percentile of its magnitudes);
`alignment.ssim_alignment` compares maps drawn this way.

Figures are drawn for the book's page: `COURSE_STYLE` (applied when this module is imported, and again by
`use_course_style()`, which every chapter's import cell calls) draws at 200 dpi with no text under
`SMALLEST_POINTS` (12 pt), and the figure functions here keep to `MAX_WIDTH` (7 inches). A 7-inch figure shown
on a phone (about 360 px wide) is scaled to about a quarter of its 1,400 pixels: 12 pt text is then about
8.6 px high, 10 pt text would be 7 px (the browser check, tests/browser/check_book.mjs, fails under 8 px).
"""
import textwrap
import warnings

import matplotlib as mpl
import matplotlib.pyplot as plt
import torch

from ..core import checks
from ..core.spread import over_seeds

NORM_NAMES = {"l2": "L2", "linf": "L∞"}

MAX_WIDTH = 7.0   # inches: the widest figure the course draws
SMALLEST_POINTS = 12  # the smallest text the course draws (readable at phone width, see the module's note)
MAX_HEIGHT = 10.0  # inches: the tallest image grid
FLIPPED = "tab:red"   # a prediction an attack changed (attack_grid)

COURSE_STYLE = {
    "figure.dpi": 200,              # the inline backend shows a figure at figure.dpi
    "savefig.dpi": 200,
    "figure.figsize": (6.0, 3.8),
    "font.size": SMALLEST_POINTS,
    "axes.titlesize": SMALLEST_POINTS + 1,
    "axes.labelsize": SMALLEST_POINTS,
    "xtick.labelsize": SMALLEST_POINTS,
    "ytick.labelsize": SMALLEST_POINTS,
    "legend.fontsize": SMALLEST_POINTS,
    "legend.title_fontsize": SMALLEST_POINTS,
    "figure.titlesize": SMALLEST_POINTS + 2,
}


def use_course_style():
    """Draw figures for the page: 200 dpi, fonts of at least `SMALLEST_POINTS` (`COURSE_STYLE`).

    Applied when `pagutils.present.plots` is imported; chapters call it again in their import cell, after the notebook's
    plotting backend is set up. Introduced in Chapter 1."""
    mpl.rcParams.update(COURSE_STYLE)
    _check_figures_when_shown()


def legend_covers(fig) -> list:
    """The data points that a legend of `fig` hides: one line per legend that covers any, naming the legend's axes
    and how many points of which series lie under its box. A point is a vertex of a plotted line with at least
    three vertices or a marker (reference lines such as `axhline` span the axes and are left out), a scatter or
    error-bar point, or the top of a bar. Introduced in Chapter 1."""
    from matplotlib.collections import LineCollection
    from matplotlib.patches import Rectangle
    fig.canvas.draw()  # the legends' boxes need the final layout
    legends = [(ax, ax.get_legend()) for ax in fig.axes if ax.get_legend() is not None]
    legends += [(None, legend) for legend in fig.legends]
    found = []
    for owner, legend in legends:
        if not legend.get_visible():
            continue
        box = legend.get_window_extent()
        covered = {}
        for ax in [owner] if owner is not None else fig.axes:
            # bars and error bars carry their label on their container
            owners = {id(a): c.get_label() for c in ax.containers for a in c.get_children() if a is not None}

            def label_of(artist):
                return owners.get(id(artist), artist.get_label())

            points = []
            for line in ax.get_lines():
                xy = line.get_xydata()
                if line.get_visible() and (len(xy) >= 3 or line.get_marker() not in (None, "None", "", " ")):
                    points.append((label_of(line), line.get_transform().transform(xy)))
            for coll in ax.collections:
                if coll.get_visible() and not isinstance(coll, LineCollection) and len(coll.get_offsets()):
                    points.append((label_of(coll), coll.get_offset_transform().transform(coll.get_offsets())))
            for patch in ax.patches:
                if isinstance(patch, Rectangle) and patch.get_visible() and patch.get_height():
                    x, y = patch.get_x() + patch.get_width() / 2, patch.get_y() + patch.get_height()
                    points.append((label_of(patch), patch.get_data_transform().transform([[x, y]])))
            for label, xy in points:
                inside = sum(box.contains(float(px), float(py)) for px, py in xy)
                if inside:
                    name = label if label and not label.startswith("_") else "unlabelled"
                    covered[name] = covered.get(name, 0) + int(inside)
        if covered:
            where = f"axes {owner.get_title()!r}" if owner is not None and owner.get_title() else "a figure"
            found.append(f"the legend of {where} hides " + ", ".join(f"{n} point(s) of {k}"
                                                                     for k, n in covered.items()))
    return found


def legend_below(ax, ncol: int = 2, **kwargs):
    """A legend under `ax`, below its tick labels and x label, where it hides no data; the offset is in inches, so
    it stays clear of the labels when `tight_layout` resizes the axes. Introduced in Chapter 3."""
    from matplotlib.transforms import ScaledTranslation
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = ax.xaxis.get_tightbbox(renderer)  # tick labels and x label (None when the axis draws nothing)
    bottom = ax.get_window_extent(renderer).y0
    gap = max(0.0, bottom - (labels.y0 if labels is not None else bottom)) / fig.dpi
    where = ax.transAxes + ScaledTranslation(0, -(gap + 0.08), fig.dpi_scale_trans)
    return ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0), bbox_transform=where, ncol=ncol, **kwargs)


def small_text(fig, smallest: float = SMALLEST_POINTS) -> list:
    """The visible, non-empty texts of `fig` (titles, labels, tick labels, legends, annotations) set under
    `smallest` points: what a phone would show too small to read, since the book's browser check estimates a
    figure's smallest text from this size. Introduced in Chapter 1."""
    from matplotlib.text import Text
    found = []
    for text in fig.findobj(Text):
        if text.get_visible() and text.get_text().strip() and text.get_fontsize() < smallest - 1e-6:
            found.append(f"{text.get_text().strip()[:40]!r} at {text.get_fontsize():g} pt")
    return found


def _warn_if_unreadable(fig):
    for problem in legend_covers(fig):
        warnings.warn(f"{problem}: move the legend (loc=..., or outside the axes)", stacklevel=2)
    small = small_text(fig)
    if small:
        warnings.warn(f"figure text under {SMALLEST_POINTS} pt, too small on a phone: {', '.join(small[:3])}"
                      + (f" and {len(small) - 3} more" if len(small) > 3 else ""), stacklevel=2)


def _check_figures_when_shown():
    """In a notebook, check every figure for legends that hide data (`legend_covers`) as it is displayed, and
    warn: the book's browser check fails on a warning in an output. The check rides on the figure's plain-text
    form, which IPython computes for every displayed object whatever the plotting backend. Activating the inline
    backend (at a notebook's first figure) removes every formatter of figures, so the check is also put back after
    each cell, before the inline backend shows that cell's figures."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    _install_legend_check(shell)
    if _install_legend_check not in shell.events.callbacks["post_execute"]:
        shell.events.register("post_execute", _install_legend_check)


def _install_legend_check(shell=None):
    from IPython import get_ipython
    from matplotlib.figure import Figure
    formatter = (shell or get_ipython()).display_formatter.formatters["text/plain"]
    if getattr(formatter.type_printers.get(Figure), "checks_legends", False):
        return  # installed already

    def checked(fig, printer, cycle):
        _warn_if_unreadable(fig)
        printer.text(repr(fig))

    checked.checks_legends = True
    formatter.for_type(Figure, checked)


use_course_style()


def _as_image(x: torch.Tensor):
    x = x.detach().float().cpu()
    return x[0] if x.shape[0] == 1 else x.permute(1, 2, 0)


def image_grid(rows: list, row_titles: list = None, labels: list = None, scale: float = 1.3, cmap="gray",
               label_colors: list = None):
    """A grid of images: `rows` is a list of (N, C, H, W) tensors in [0, 1], one per row.

    `labels` (optional) is a list, per row, of N strings shown above the images (12 pt; a label may hold a line
    break); `label_colors` (optional) a list, per row, of N colours for them (None: black). Each image is
    `scale` inches wide, less where the grid would be wider than `MAX_WIDTH`.

    Introduced in Chapter 1."""
    if not isinstance(rows, (list, tuple)) or not rows:
        checks.fail("image_grid", "rows", "be a non-empty list of (N, C, H, W) tensors", rows,
                    error=checks.ArgumentTypeError)
    for i, images in enumerate(rows):
        checks.tensor(images, f"rows[{i}]", "image_grid", dims=4)
        if len(images) < len(rows[0]) or len(images) == 0:
            checks.fail("image_grid", f"rows[{i}]", f"hold at least one image and as many as rows[0] ({len(rows[0])})",
                        got=f"{len(images)}")
    for name, per_row in (("row_titles", row_titles), ("labels", labels), ("label_colors", label_colors)):
        if per_row is not None and len(per_row) < len(rows):
            checks.fail("image_grid", name, f"have one entry per row ({len(rows)})", got=f"{len(per_row)}")
    n = len(rows[0])
    margin = 0.9 if row_titles else 0.1                  # room for the row titles on the left
    side = min(scale, (MAX_WIDTH - margin) / n)
    if labels is not None:                               # wrap a label wider than its image at its spaces
        width = max(4, int(side * 11))                   # characters of 12 pt text in one image's width
        def wrap(label):
            return "\n".join(textwrap.fill(line, width, break_long_words=False) for line in str(label).split("\n"))
        labels = [None if per is None else [wrap(t) for t in per] for per in labels]
    lines = [max((t.count("\n") + 1 for t in per) if per else [0], default=0)
             for per in (labels if labels is not None else [None] * len(rows))]
    aspect = rows[0].shape[-2] / rows[0].shape[-1]       # height over width of one image
    line = 0.24                                          # inches: one title line of 12 pt text
    if side * aspect * 1.05 * len(rows) + line * sum(lines) > MAX_HEIGHT:   # too tall for a page: shrink
        side = max(0.3, (MAX_HEIGHT - line * sum(lines)) / (aspect * 1.05 * len(rows)))
    height = sum(side * aspect * 1.05 + line * k for k in lines)
    fig, axes = plt.subplots(len(rows), n, figsize=(side * n + margin, height + 0.1), squeeze=False)
    for r, images in enumerate(rows):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(_as_image(images[c]).clamp(0, 1).numpy(), cmap=cmap, vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            if labels is not None and labels[r] is not None:
                colour = None if label_colors is None or label_colors[r] is None else label_colors[r][c]
                ax.set_title(labels[r][c], fontsize=SMALLEST_POINTS, pad=2, **({} if colour is None else dict(color=colour)))
        if row_titles:                                   # wrapped at its spaces to the row's height
            title = textwrap.fill(str(row_titles[r]), max(6, int(side * aspect * 11)), break_long_words=False)
            axes[r, 0].set_ylabel(title, fontsize=SMALLEST_POINTS)
    fig.tight_layout()
    return fig


def magnified(v: torch.Tensor, signed: bool = True, percentile: float = 100.0) -> torch.Tensor:
    """Signed maps (N, C, H, W) as images in [0, 1] for `image_grid`, each scaled to its own range.

    `signed`: grey (0.5) is zero, white positive, black negative (channels kept). Otherwise the magnitude
    summed over channels, black zero and white large. Each map is divided by the `percentile` of its
    magnitudes: 100 (its largest) keeps every value in range; below 100 a few extreme pixels are clipped so
    that they do not wash out the rest (input gradients are drawn at 99).

    Introduced in Chapter 1."""
    checks.tensor(v, "v", "magnified", dims=4, floating=True)
    checks.number(percentile, "percentile", "magnified", low=0, high=100, strict=True)
    values = v.detach() if signed else v.detach().abs().sum(1, keepdim=True)
    magnitudes = values.abs().flatten(1)
    peak = magnitudes.amax(1) if percentile == 100 else magnitudes.quantile(percentile / 100, dim=1)
    scaled = values / peak.clamp_min(1e-12).view(-1, 1, 1, 1)
    return (0.5 + 0.5 * scaled).clamp(0, 1) if signed else scaled.clamp(0, 1)


def _per_point(values, name):
    """The `Spread` at every epsilon of a curve given either as one list or as one list per seed (all equally
    long): each point reduced over seeds by `spread.over_seeds`."""
    if values and isinstance(values[0], (list, tuple)):
        if not all(isinstance(v, (list, tuple)) for v in values):
            checks.fail("accuracy_curves", name, "hold every seed's accuracies as a list when the first seed's are",
                        next(v for v in values if not isinstance(v, (list, tuple))), error=checks.ArgumentTypeError)
        lengths = {len(v) for v in values}
        if len(lengths) != 1:
            checks.fail("accuracy_curves", name, "hold equally long lists, one per seed",
                        got=f"lengths {sorted(lengths)}")
        columns = [list(column) for column in zip(*values)]
    else:
        columns = [[value] for value in values]
    return [over_seeds(column, name=f"{name} at eps_list[{j}]", where="accuracy_curves")
            for j, column in enumerate(columns)]


def accuracy_curves(eps_list, curves: dict, norm: str = "l2", ax=None, title=None):
    """Accuracy against epsilon, one line per entry of `curves` (name -> list of accuracies, one per epsilon).

    An entry may instead hold one such list per seed: then the line is their mean and a band spans their minimum
    and maximum, at every epsilon by `spread.over_seeds` (a NaN seed, a failed run, is left out there).
    Introduced in Chapter 1."""
    checks.norm(norm, "accuracy_curves")
    checks.mapping(curves, "curves", "accuracy_curves")
    drawn = {name: _per_point(accuracies, f"curves[{name!r}]") for name, accuracies in curves.items()}
    for name, spreads in drawn.items():
        if len(spreads) != len(eps_list):
            checks.fail("accuracy_curves", f"curves[{name!r}]", f"hold one accuracy per epsilon ({len(eps_list)})",
                        got=f"{len(spreads)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, spreads in drawn.items():
        line, = ax.plot(eps_list, [100 * s.mean for s in spreads], marker="o", label=name)
        if any(s.n > 1 for s in spreads):
            ax.fill_between(eps_list, [100 * s.low for s in spreads], [100 * s.high for s in spreads],
                            color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel(f"{NORM_NAMES[norm]} radius ε")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return ax


def history(records: list, ax=None, title=None):
    """Training loss and per-epoch accuracies from a `train` history.

    Introduced in Chapter 1."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3))
    epochs = [r["epoch"] for r in records]
    ax.plot(epochs, [r["loss"] for r in records], marker="o", color="tab:gray", label="training loss")
    ax.set_xlabel("epoch")
    ax.set_xticks(epochs)
    ax.set_ylabel("loss")
    twin = ax.twinx()
    for key, label in (("test_accuracy", "clean test accuracy"), ("robust_accuracy", "robust test accuracy")):
        if records and key in records[0]:
            twin.plot(epochs, [100 * r[key] for r in records], marker="s", label=label)
    twin.set_ylabel("accuracy (%)")
    twin.set_ylim(0, 100)
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], fontsize=SMALLEST_POINTS, loc="center right")
    if title:
        ax.set_title(title)
    return ax


def attack_grid(model, x, x_adv, classes, y=None):
    """Clean images, magnified perturbations and adversarial images, each labelled with the prediction.

    With the true labels `y`, the clean row shows them too. An adversarial image whose prediction differs from
    the clean one (the attack flipped it) has its label in red and marked "flipped".

    Introduced in Chapter 1."""
    from ..core.attacks import predict
    clean_pred, adv_pred = predict(model, x), predict(model, x_adv)
    if y is None:
        clean = [f"pred {classes[p]}" for p in clean_pred]
    else:
        clean = [f"true {classes[t]}\npred {classes[p]}" for t, p in zip(y.tolist(), clean_pred.tolist())]
    flipped = [a != c for a, c in zip(adv_pred.tolist(), clean_pred.tolist())]
    adversarial = [f"pred {classes[p]}" + ("\nflipped" if f else "\nkept")
                   for p, f in zip(adv_pred.tolist(), flipped)]
    norms = [f"‖δ‖₂\n{n:.2f}" for n in (x_adv - x).flatten(1).norm(dim=1).tolist()]
    colours = [None, None, [FLIPPED if f else None for f in flipped]]
    return image_grid([x, magnified(x_adv - x), x_adv], ["clean", "perturbation", "adversarial"],
                      [clean, norms, adversarial], label_colors=colours)


def bar_chart(labels, series: dict, ax=None, ylabel=None, percent=False, chance=None, colors=None, rotate=0):
    """Grouped bars: for every entry of `labels`, one bar per entry of `series` (name -> one value per label).

    A value may be a list of numbers, one per seed: the bar is then their mean, with an error bar from their
    minimum to their maximum (`spread.over_seeds`: a NaN seed, a failed run, is left out).

    `percent` draws fractions as percentages on a 0-100 axis; `chance` adds a dashed line at that value (a
    fraction when `percent`); `colors` gives each series a colour (or, for one series, a list with one colour per
    bar); `rotate` turns the labels by that many degrees. Introduced in Chapter 3.
    """
    checks.mapping(series, "series", "bar_chart")
    if not series:
        checks.fail("bar_chart", "series", "hold at least one entry (name -> values)", got="an empty dict")
    bars = {}   # name -> the Spread of every bar over its seeds
    for name, values in series.items():
        if len(values) != len(labels):
            checks.fail("bar_chart", f"series[{name!r}]", f"hold one value per label ({len(labels)})",
                        got=f"{len(values)}")
        bars[name] = [over_seeds(v if isinstance(v, (list, tuple)) else [v], name=f"series[{name!r}][{j}]",
                                 where="bar_chart") for j, v in enumerate(values)]
    if colors is not None and len(colors) != len(series):
        checks.fail("bar_chart", "colors", f"hold one entry per series ({len(series)})", got=f"{len(colors)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.4))
    scale = 100 if percent else 1
    width = 0.8 / len(series)
    legend = len(series) > 1 or chance is not None
    for i, (name, spreads) in enumerate(bars.items()):
        offset = (i - (len(series) - 1) / 2) * width
        means = [scale * s.mean for s in spreads]
        errors = [[max(0.0, m - scale * s.low) for m, s in zip(means, spreads)],
                  [max(0.0, scale * s.high - m) for m, s in zip(means, spreads)]]
        ax.bar([j + offset for j in range(len(labels))], means, width=width, label=name if legend else None,
               color=None if colors is None else colors[i],
               yerr=errors if any(s.n > 1 for s in spreads) else None, capsize=3)
    if chance is not None:
        ax.axhline(scale * chance, color="tab:red", linestyle="--", label="chance")
    ax.set_xticks(range(len(labels)), labels)
    if rotate:
        ax.tick_params(axis="x", labelrotation=rotate)
    if percent:
        ax.set_ylim(0, 100)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    if legend:
        ax.legend(fontsize=SMALLEST_POINTS)
    return ax
