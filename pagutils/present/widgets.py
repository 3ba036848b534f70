"""Sliders that keep working in the static book.

A slider is linked in the browser (`ipywidgets.jslink`) to a stack of pictures rendered in advance, one per
slider position, so moving it needs no kernel: it works in a live notebook and in the rendered HTML page, whose
saved widget state holds every picture. Each chapter's slider is one function here:

  attack_slider         Chapter 1: adversarial examples against the standard and the robust model, per ε
  gaussian_eps_slider   Chapter 2: the robust Gaussian model's covariance and boundary, per ε
  noise_slider          Chapter 9: images under on- and off-manifold noise, per noise level σ

`attack_slider` and `noise_slider` also return a static figure of the same pictures for readers without
JavaScript (Chapter 2's static figure is the chapter's row of panels).
"""
import io

import ipywidgets
import matplotlib.pyplot as plt
import torch

from ..core import attacks, checks
from ..robust_features import gaussian
from ..aligned_gradients import manifold
from . import plots


def figure_png(fig, dpi: int = 90) -> bytes:
    """The PNG bytes of a matplotlib figure, which is then closed (so a notebook does not show it as well).
    Introduced in Chapter 1."""
    if not isinstance(fig, plt.Figure):
        checks.fail("figure_png", "fig", "be a matplotlib Figure", fig, error=checks.ArgumentTypeError)
    dpi = checks.integer(dpi, "dpi", "figure_png")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def picture_slider(pictures: list, labels: list, description: str, start: int = 0) -> ipywidgets.VBox:
    """A slider over `labels` above a stack of PNG `pictures` (bytes, one per label), linked in the browser:
    moving the slider shows the picture of its position, with or without a kernel. Introduced in Chapter 1."""
    if not isinstance(pictures, (list, tuple)) or not pictures or not all(isinstance(p, bytes) for p in pictures):
        checks.fail("picture_slider", "pictures", "be a non-empty list of PNG bytes", pictures)
    if not isinstance(labels, (list, tuple)) or len(labels) != len(pictures) or len(set(labels)) != len(labels):
        checks.fail("picture_slider", "labels", f"be {len(pictures)} distinct strings, one per picture", labels)
    start = checks.integer(start, "start", "picture_slider", low=0)
    if start >= len(pictures):
        checks.fail("picture_slider", "start", f"be < {len(pictures)} (the number of pictures)", start)
    labels = [str(label) for label in labels]
    slider = ipywidgets.SelectionSlider(options=labels, value=labels[start], description=description,
                                        continuous_update=True, layout=ipywidgets.Layout(width="420px"))
    stack = ipywidgets.Stack([ipywidgets.Image(value=p, format="png", layout=ipywidgets.Layout(max_width="100%"))
                              for p in pictures], selected_index=start)
    link = ipywidgets.jslink((slider, "index"), (stack, "selected_index"))
    box = ipywidgets.VBox([slider, stack])
    box.link = link  # the link lives as long as the box
    return box


def _labels(values):
    return [f"{v:g}" for v in values]


def _check_values(values, name, where):
    """A non-empty list of distinct non-negative numbers (budgets, noise levels)."""
    checks.sequence(values, name, where, of="numbers >= 0")
    values = [checks.number(v, f"{name}[{i}]", where, low=0) for i, v in enumerate(values)]
    if len({f"{v:g}" for v in values}) != len(values):
        checks.fail(where, name, "hold distinct values", got=f"{values}")
    return values


def _check_models(models, where):
    if not isinstance(models, dict) or not models or not all(isinstance(m, torch.nn.Module) for m in models.values()):
        checks.fail(where, "models", "be a non-empty dict name -> model", models)


def _adversarial(model, x, y, attack, seed):
    if attack.eps == 0:
        return x.clone()
    return attacks.pgd(model, x, y, attack, generator=torch.Generator().manual_seed(seed))


def attack_slider(models: dict, x, y, eps_list, classes, attack: attacks.Attack = None, seed: int = 0,
                  n_static: int = 2):
    """(slider, figure): a slider over the budgets `eps_list` showing adversarial examples of the images `x` by
    `attack` at each budget (`attack.at(eps)`; None: `attacks.Attack('l2')`, 10 steps of L2 PGD) against every
    model of `models` (name -> model) with each model's prediction, the random starts seeded with `seed`; and a
    static figure of the first `n_static` images against every model (rows) at every budget (columns).
    Introduced in Chapter 1."""
    where = "attack_slider"
    _check_models(models, where)
    checks.images(x, "x", where)
    checks.labels(y, "y", where, n=len(x))
    eps_list = _check_values(eps_list, "eps_list", where)
    attack = attacks.Attack("l2") if attack is None else attacks.check_attack(attack, where, radius=False)
    n_static = min(checks.integer(n_static, "n_static", where), len(x))
    adversarial = {name: [_adversarial(model, x, y, attack.at(eps), seed) for eps in eps_list]
                   for name, model in models.items()}
    predictions = {name: [attacks.predict(models[name], x_adv) for x_adv in images]
                   for name, images in adversarial.items()}
    pictures = []
    for i, eps in enumerate(eps_list):
        rows = [adversarial[name][i] for name in models]
        labels = [[f"pred {classes[p]}" for p in predictions[name][i]] for name in models]
        fig = plots.image_grid(rows, [f"against\n{name}" for name in models], labels, scale=1.1)
        fig.suptitle(f"{plots.NORM_NAMES[attack.norm]} PGD, ε = {eps:g}", y=1.02)
        pictures.append(figure_png(fig))
    slider = picture_slider(pictures, _labels(eps_list), "ε")
    static_rows, row_titles, static_labels = [], [], []
    for j in range(n_static):
        for name in models:
            static_rows.append(torch.stack([images[j] for images in adversarial[name]]))
            row_titles.append(f"image {j + 1}\nvs {name}")
            static_labels.append([f"ε={eps:g}: {classes[p[j]]}" for eps, p in zip(eps_list, predictions[name])])
    figure = plots.image_grid(static_rows, row_titles, static_labels, scale=1.25)
    return slider, figure


def gaussian_eps_slider(mu_star, sigma_star, eps_grid, x=None, y=None) -> ipywidgets.VBox:
    """A slider over the budgets `eps_grid` showing `gaussian.plot_panel` of the 2-D model (μ*, Σ*): the data
    and robust covariances and both decision boundaries at that budget (samples `x`, `y` drawn beneath).
    Introduced in Chapter 2."""
    eps_grid = _check_values(eps_grid, "eps_grid", "gaussian_eps_slider")
    pictures = []
    for eps in eps_grid:
        fig, ax = plt.subplots(figsize=(6, 2.8))
        gaussian.plot_panel(ax, mu_star, sigma_star, eps, x, y)
        ax.set_ylabel("x₂ (non-robust feature)")
        ax.legend(loc="upper left")
        pictures.append(figure_png(fig))
    return picture_slider(pictures, _labels(eps_grid), "ε")


def noise_slider(models: dict, x, basis, sigmas, classes, seed: int = 0):
    """(slider, figure): a slider over the noise norms `sigmas` showing the images `x` plus Gaussian noise of that
    norm projected onto the tangent spaces `basis` ((N, D, k), on-manifold) or their complement (off-manifold),
    labelled with the models' predictions (in the order of `models`); and a static figure of the first image at
    every σ (columns). The same seed gives the same noise directions at every σ, so only the size changes along the slider.
    Introduced in Chapter 9."""
    where = "noise_slider"
    _check_models(models, where)
    checks.images(x, "x", where)
    sigmas = _check_values(sigmas, "sigmas", where)
    checks.basis(x, basis, "x")
    noisy = {}
    for direction in ("on", "off"):
        unit = manifold.projected_noise(x, basis, 1.0, direction, torch.Generator().manual_seed(seed))
        noisy[direction] = [x + sigma * unit for sigma in sigmas]
    predictions = {(direction, name): [attacks.predict(model, images) for images in noisy[direction]]
                   for direction in noisy for name, model in models.items()}

    def label(direction, i, j):
        return " / ".join(str(classes[predictions[direction, name][i][j]]) for name in models)

    legend = f"predictions: {' / '.join(models)}"

    pictures = []
    for i, sigma in enumerate(sigmas):
        rows = [noisy["on"][i], noisy["off"][i]]
        labels = [[label(d, i, j) for j in range(len(x))] for d in ("on", "off")]
        fig = plots.image_grid(rows, ["on-manifold\nnoise", "off-manifold\nnoise"], labels, scale=1.2)
        fig.suptitle(f"noise of L2 norm σ = {sigma:g}   ({legend})", y=1.02)
        pictures.append(figure_png(fig))
    slider = picture_slider(pictures, _labels(sigmas), "σ")
    static_rows = [torch.stack([images[0] for images in noisy[d]]) for d in ("on", "off")]
    static_labels = [[f"σ={sigma:g}: {label(d, i, 0)}" for i, sigma in enumerate(sigmas)] for d in ("on", "off")]
    figure = plots.image_grid(static_rows, ["on-manifold\nnoise", "off-manifold\nnoise"], static_labels, scale=1.5)
    figure.suptitle(legend, y=1.02)
    return slider, figure
