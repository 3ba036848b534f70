"""Perceptual alignment: how similar a model's input gradient is to the score of the data distribution.

Srinivas et al. (2023) measure perceptual alignment by comparing the input gradient ∇_x log p(y|x)
of a classifier with the score ∇_x log p(x) of a generative model. Two measures, one value per
example: the cosine of the two vectors (`cosine_alignment`, the library's one per-example cosine, which
Chapter 6 also uses to compare gradient maps), and the structural similarity (SSIM, Wang et al. 2004) of the
two drawn as images (`plots.magnified`). `regimes` reads the weak / Bayes-aligned / excessive regimes off a
sweep's measured on/off-manifold signature, and `alignment_claim` tests both halves of the paper's claim: the
alignment of a peak strength (chosen on a selection seed that does not vote) above the standard model's and above
the strongest trained strength's, each by more than the spread over seeds. `read_sweep` reads one method's sweep
with both, leaving out strengths whose training failed (`training_failed`, `collapsed`).
"""
import functools
import math

import torch
import torch.nn.functional as F

from ..core import checks
from ..core.claims import detectable_shift, pooled_sd
from ..core.spread import over_seeds, separated

REGIMES = ("weak", "bayes-aligned", "excessive")
FAILED = "failed"  # a strength whose training failed: no regime (see `read_sweep`)
REGIME_COLOURS = {"weak": "tab:blue", "bayes-aligned": "tab:green", "excessive": "tab:red", FAILED: "tab:gray"}


def _check_pair(a, b, where, names=("grad", "score"), min_dim=2):
    for name, value in zip(names, (a, b)):
        if not isinstance(value, torch.Tensor) or not value.is_floating_point() or value.dim() < min_dim:
            checks.fail(where, name, f"be a float tensor with a batch dimension and at least {min_dim} dims", value,
                        kind=torch.Tensor)
    checks.same_shape(a, b, names, where)


def cosine_alignment(grad, score, eps=1e-12):
    """The cosine between each example's gradient and score, flattened: a (N,) tensor in [-1, 1].

    0 when either vector is 0 (the product of the norms is clamped to `eps`).

    Introduced in Chapter 6."""
    _check_pair(grad, score, "cosine_alignment")
    a, b = grad.flatten(1), score.flatten(1)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(eps)


def _gaussian_window(size, sigma, channels, device, dtype):
    coords = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-coords ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(a, b, data_range=1.0, window=7, window_sigma=1.5):
    """Structural similarity of every pair of images (N, C, H, W): a (N,) tensor, 1 for identical images.

    Local means, variances and covariance under a Gaussian window (per channel, computed with a
    grouped convolution over the valid region), combined as in Wang et al. (2004) with
    C1 = (0.01 L)², C2 = (0.03 L)² for the `data_range` L, and averaged over pixels and channels.

    Introduced in Chapter 10."""
    _check_pair(a, b, "ssim", names=("a", "b"), min_dim=4)
    if a.dim() != 4:
        checks.fail("ssim", "a and b", "be image batches (N, C, H, W)", got=str(tuple(a.shape)))
    if data_range <= 0:
        checks.fail("ssim", "data_range", "be > 0", data_range)
    if not isinstance(window, int) or window < 1 or window % 2 == 0 or window > min(a.shape[-2:]):
        checks.fail("ssim", "window", f"be an odd int no larger than the image ({tuple(a.shape[-2:])})", window,
                    kind=int)
    channels = a.shape[1]
    kernel = _gaussian_window(window, window_sigma, channels, a.device, a.dtype)
    blur = lambda t: F.conv2d(t, kernel, groups=channels)
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return index.flatten(1).mean(1)


def ssim_alignment(grad, score, window=7):
    """SSIM between each gradient and score image, both shown as images in [0, 1] with grey for zero: (N,).

    Each is drawn by `plots.magnified` (scaled by its largest absolute value and mapped by v -> 0.5 + 0.5 v),
    so that an image and its negative have opposite structure around the same mean and a negative SSIM;
    comparing the signed images directly would make SSIM's luminance term reward sign flips.

    Introduced in Chapter 10."""
    from ..present.plots import magnified
    _check_pair(grad, score, "ssim_alignment", min_dim=4)
    return ssim(magnified(grad), magnified(score), data_range=1.0, window=window)


def summarise(per_seed) -> dict:
    """Mean, min and max over seeds of every metric of `per_seed` (one `measure` dict per seed of one strength):
    dict(metric -> dict(mean=, min=, max=, values=[...])), each metric reduced by `spread.over_seeds`: a NaN value
    (a failed seed, e.g. an undefined on_fraction) is left out of the mean, min and max but kept in `values`, and a
    metric NaN for every seed has NaN mean, min and max. Introduced in Chapter 10."""
    per_seed = list(per_seed)
    if not per_seed or not all(isinstance(m, dict) for m in per_seed):
        checks.fail("summarise", "per_seed", "be a non-empty list of measure dicts", per_seed)
    keys = set(per_seed[0])
    if any(set(m) != keys for m in per_seed):
        checks.fail("summarise", "per_seed", "hold measure dicts with the same metrics for every seed")
    out = {}
    for key in per_seed[0]:
        values = [m[key] for m in per_seed]
        s = over_seeds(values, name=f"per_seed's {key!r} values", where="summarise")
        out[key] = dict(mean=s.mean, min=s.low, max=s.high, values=[float(v) for v in values])
    return out


def regimes(strengths, rows, on_kept=0.5, accuracy_drop=0.05):
    """The regime of every strength of a sweep, read off its measured on/off signature, not off its alignment.

    `rows` holds one dict per strength with the mean `on` and `off` output changes and the clean `accuracy`
    (e.g. the means of `summarise`, or `measure` dicts); `strengths[0]` must be 0, the standard model, which
    the tolerances refer to. A strength is

    - excessive when its on-manifold change has fallen below `on_kept` times the standard model's, or its
      accuracy more than `accuracy_drop` (absolute) below the standard model's: the model has stopped following
      the data along the manifold, or stopped classifying;
    - else weak when its off/on ratio (off-manifold change over on-manifold change) is at least the standard
      model's: it has gained no robustness off the manifold relative to along it (the standard model itself is
      weak by definition);
    - else Bayes-aligned: a smaller off/on ratio than the standard model's, with on-manifold change and accuracy
      still near the standard model's.

    The paper describes weak robustness as off >= on; read absolutely, that regime cannot occur where the standard
    model is already more robust off the manifold than on it (MNIST, the synthetic manifold), so the ratio is read
    relative to strength 0's.

    Returns the list of regimes (`REGIMES` names), one per strength. Introduced in Chapter 10."""
    strengths = [float(s) for s in strengths]
    rows = list(rows)
    if not strengths or len(strengths) != len(rows):
        checks.fail("regimes", "strengths and rows", "be non-empty and of equal length",
                    got=f"{len(strengths)} and {len(rows)}")
    if sorted(strengths) != strengths or strengths[0] != 0:
        checks.fail("regimes", "strengths", "be sorted in increasing order and start at 0 (the standard model)",
                    got=str(strengths))
    for i, row in enumerate(rows):
        missing = {"on", "off", "accuracy"} - set(row)
        if missing:
            checks.fail("regimes", f"rows[{i}]", "hold 'on', 'off' and 'accuracy'",
                        got=f"a row missing {sorted(missing)}")
        if any(math.isnan(float(row[k])) for k in ("on", "off", "accuracy")):
            checks.fail("regimes", f"rows[{i}]", "not hold NaN", got=str(row))
    if not 0 <= on_kept <= 1 or not 0 <= accuracy_drop <= 1:
        checks.fail("regimes", "on_kept and accuracy_drop", "lie in [0, 1]", got=f"{on_kept} and {accuracy_drop}")
    on0, off0, accuracy0 = float(rows[0]["on"]), float(rows[0]["off"]), float(rows[0]["accuracy"])
    labels = []
    for row in rows:
        on, off, accuracy = float(row["on"]), float(row["off"]), float(row["accuracy"])
        if on < on_kept * on0 or accuracy < accuracy0 - accuracy_drop:
            labels.append(REGIMES[2])
        elif off * on0 >= off0 * on:  # off / on >= off0 / on0, without dividing by a zero change
            labels.append(REGIMES[0])
        else:
            labels.append(REGIMES[1])
    return labels


def alignment_claim(strengths, voters, selection, failed=None) -> dict:
    """Test the claim of Srinivas et al. (2023) on one method's sweep, both halves: alignment rises with
    robustness and falls again when robustness becomes excessive.

    `voters` holds, per strength, the alignments of the seeds that vote; `selection`, per strength, the alignment
    of a selection seed that does not vote; `failed`, per strength, True where training failed (near-uniform
    output), so that a model that learned nothing does not stand in for excessive robustness. `strengths[0]` is 0,
    the standard model. The peak is the interior strength (neither 0 nor the strongest trained one) with the highest
    selection alignment; the claim holds when the peak's voters lie above strength 0's (the rise) and above the
    strongest trained strength's (the fall), each beyond the seed spread (`spread.separated`). Under no effect the
    rule says "holds" with probability `claims.chance_separated(n, 2 n)` for n voters (1/84 for 3).

    Returns dict(holds= True, False or None (untested: fewer than three trained strengths), peak=, strongest=
    (strengths), rise=, fall= (bools), rise_margin=, fall_margin= (the peak's lowest voter minus the other's
    highest: > 0 when separated), rise_mean= (the peak's mean minus strength 0's), detectable= (the shift of
    means each half detects with 80% probability at the voters' pooled spread, `claims.detectable_shift`)).
    Introduced in Chapter 10."""
    strengths = [float(s) for s in strengths]
    voters = [[float(a) for a in seeds] for seeds in voters]
    selection = [float(a) for a in selection]
    failed = [bool(f) for f in (failed or [False] * len(strengths))]
    if not (len(strengths) == len(voters) == len(selection) == len(failed)) or any(not v for v in voters):
        checks.fail("alignment_claim", "strengths, voters, selection and failed",
                    "be of equal length, with at least one voting seed per strength")
    if strengths[0] != 0 or sorted(strengths) != strengths:
        checks.fail("alignment_claim", "strengths", "be sorted and start at 0 (the standard model)",
                    got=str(strengths))
    trained = [i for i in range(len(strengths)) if not failed[i]]
    if len(trained) < 3 or trained[0] != 0:
        return dict(holds=None, peak=None, strongest=None, rise=None, fall=None, rise_margin=None,
                    fall_margin=None, rise_mean=None, detectable=None)
    strongest = trained[-1]
    peak = max(trained[1:-1], key=lambda i: selection[i])
    spreads = [over_seeds(v) for v in voters]
    rise, fall = separated(spreads[peak], spreads[0]), separated(spreads[peak], spreads[strongest])
    n = min(len(voters[i]) for i in (0, peak, strongest))
    detectable = None
    if n >= 2:  # at the pooled within-strength spread of the voters, over every trained strength
        detectable = _unit_shift(n) * pooled_sd([voters[i] for i in trained])
    return dict(holds=rise and fall, peak=strengths[peak], strongest=strengths[strongest], rise=rise, fall=fall,
                rise_margin=spreads[peak].low - spreads[0].high,
                fall_margin=spreads[peak].low - spreads[strongest].high,
                rise_mean=spreads[peak].mean - spreads[0].mean, detectable=detectable)


@functools.lru_cache(maxsize=None)
def _unit_shift(n):
    """`claims.detectable_shift(n, n, 1)`, computed once per n: the shift is proportional to the spread."""
    return detectable_shift(n, n, 1.0)


def read_sweep(strengths, voting, selection, failed, metric="cosine", on_kept=0.5, accuracy_drop=0.05) -> dict:
    """One method's sweep read as Chapter 10 reads it: the spread over seeds, the regimes and the claim.

    `voting` holds, per strength, the `measure`-like dicts (with `metric`, 'on', 'off' and 'accuracy') of the
    voting seeds; `selection`, per strength, the selection seed's dict; `failed`, per strength, True where training
    failed (e.g. `collapsed` or `training_failed` for any of its seeds). `strengths[0]` is 0, the standard model.

    Returns dict(summaries= (one `summarise` dict per strength), regimes= (per strength: `regimes`, read off the
    means of the trained strengths only, and `FAILED` for a failed one; every strength `FAILED` when the standard
    model failed, which leaves nothing to refer to), claim= (`alignment_claim` on `metric`)).
    Introduced in Chapter 10."""
    strengths = [float(s) for s in strengths]
    voting, selection, failed = list(voting), list(selection), [bool(f) for f in failed]
    if not (len(strengths) == len(voting) == len(selection) == len(failed)):
        checks.fail("read_sweep", "strengths, voting, selection and failed", "be of equal length",
                    got=f"{len(strengths)}, {len(voting)}, {len(selection)} and {len(failed)}")
    for i, row in enumerate(selection):
        if not isinstance(row, dict) or metric not in row:
            checks.fail("read_sweep", f"selection[{i}]", f"be a measure dict holding {metric!r}", row,
                        kind=dict)
    summaries = [summarise(seeds) for seeds in voting]
    if metric not in summaries[0]:
        checks.fail("read_sweep", "metric", f"be one of the measured {sorted(summaries[0])}", got=repr(metric))
    labels = [FAILED] * len(strengths)
    trained = [i for i, f in enumerate(failed) if not f]
    if trained and trained[0] == 0:
        means = [{k: summaries[i][k]["mean"] for k in ("on", "off", "accuracy")} for i in trained]
        for i, label in zip(trained, regimes([strengths[i] for i in trained], means, on_kept, accuracy_drop)):
            labels[i] = label
    claim = alignment_claim(strengths, [row[metric]["values"] for row in summaries],
                            [row[metric] for row in selection], failed)
    return dict(summaries=summaries, regimes=labels, claim=claim)


def training_failed(train_loss, num_classes, share=0.9) -> bool:
    """True when a model's final training cross-entropy is at least `share` of ln(num_classes), the loss of a
    uniform output: it learned (almost) nothing; also when the loss is not finite (training diverged).
    Introduced in Chapter 10."""
    loss = float(train_loss)
    return not math.isfinite(loss) or loss >= share * math.log(num_classes)


def collapsed(train_loss, train_accuracy, num_classes, margin=0.1) -> bool:
    """True when training diverged (a non-finite loss) or the model classifies its own training set no better than
    `margin` above chance (1 / num_classes): it learned nothing. Unlike `training_failed` it does not call a model
    failed because its output is close to uniform while its decisions are right, which with two classes is what
    strong smoothing does to a model that still classifies well (its cross-entropy near ln 2): that model is
    robust, perhaps excessively, not untrained. Introduced in Chapter 10."""
    from ..core import checks
    checks.integer(num_classes, "num_classes", "collapsed", low=2)
    checks.number(margin, "margin", "collapsed", low=0, high=1)
    loss, accuracy = float(train_loss), float(train_accuracy)
    return not math.isfinite(loss) or not accuracy >= 1 / num_classes + margin


def logit_sum_gradient(model, x) -> torch.Tensor:
    """∇_x Σ_k f_k(x), the gradient of the sum of all logits, for every example (shaped like x): the gradient the
    released code of Srinivas et al. (2023) compares with an unconditional score. Eval mode, input gradient only.
    Introduced in Chapter 10."""
    from ..core.models import evaluating
    with evaluating(model):
        x = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(model(x).sum(), x)
    return grad.detach()


def label_logit_gradient(model, x, y) -> torch.Tensor:
    """∇_x f_y(x), the input gradient of each example's label logit (shaped like x): what the paper's Figure 3
    compares with the class-conditional score. Eval mode, input gradient only. Introduced in Chapter 10."""
    from ..core.models import evaluating
    with evaluating(model):
        x = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(model(x).gather(1, y[:, None]).sum(), x)
    return grad.detach()


def class_conditional_alignment(model, data, references) -> dict:
    """The paper's alignment (Srinivas et al. 2023, Fig. 3, as a cosine): for each reference noise level sigma of
    `references` (sigma -> the class-conditional score ∇ log p_σ(x | y) at data's examples, e.g.
    `score.class_score`), the mean over the examples of the cosine between ∇_x f_y(x) and that score. Returns
    dict(sigma -> mean cosine). Introduced in Chapter 10."""
    from ..core import checks
    checks.nonempty(data, "data", "class_conditional_alignment")
    if not isinstance(references, dict) or not references:
        checks.fail("class_conditional_alignment", "references", "be a non-empty dict sigma -> class-conditional score",
                    references, error=checks.ArgumentTypeError)
    grad = label_logit_gradient(model, data.x, data.y)
    out = {}
    for sigma, reference in references.items():
        _check_pair(data.x, reference, "class_conditional_alignment", names=("data.x", f"references[{sigma!r}]"))
        out[float(sigma)] = cosine_alignment(grad, reference).mean().item()
    return out


def measure(model, data, reference, basis, noise_norm, n_samples=8, seed=0, unconditional=None) -> dict:
    """What a point of a robustness sweep is judged by, averaged over the examples of `data` (a `Data` set, x, y):

    accuracy (clean), on / off (mean L1 change of the softmax under noise of L2 norm `noise_norm`
    along / orthogonal to the tangent spaces `basis`, see `manifold.on_off_robustness`), cosine and
    ssim (alignment of the input gradient ∇_x log p(y|x) with `reference`, a generative model's gradient
    at x, e.g. `score.posterior_gradient`), and on_fraction (the share of the gradient's squared norm in
    the tangent spaces). With `unconditional` (an unconditional score ∇ log p(x) at x, e.g.
    `score.tweedie_score` of a learned denoiser) also paper_cosine: the cosine of the gradient of the sum of the
    logits (`logit_sum_gradient`) with it, the paper's code's measure.

    Introduced in Chapter 10."""
    from ..core import checks
    from ..core.attacks import predict
    from ..core.gradients import input_gradient
    from .manifold import on_manifold_fraction, on_off_robustness
    checks.nonempty(data, "data", "measure")
    x, y = data.x, data.y
    _check_pair(x, reference, "measure", names=("data.x", "reference"))
    grad = input_gradient(model, x, y)
    change = on_off_robustness(model, x, basis, noise_norm, n_samples=n_samples, seed=seed)
    result = dict(accuracy=(predict(model, x) == y).float().mean().item(), on=change["on"].mean().item(),
                  off=change["off"].mean().item(), cosine=cosine_alignment(grad, reference).mean().item(),
                  ssim=ssim_alignment(grad, reference).mean().item(),
                  on_fraction=on_manifold_fraction(grad, basis).nanmean().item())
    if unconditional is not None:
        _check_pair(x, unconditional, "measure", names=("data.x", "unconditional"))
        result["paper_cosine"] = cosine_alignment(logit_sum_gradient(model, x), unconditional).mean().item()
    return result


METRIC_NAMES = dict(accuracy="clean accuracy", cosine="alignment cos(∇ log p(y|x), Bayes-optimal)",
                    ssim="alignment SSIM", on="on-manifold change", off="off-manifold change",
                    paper_cosine="paper's measure cos(∇ Σ logits, ∇ log p(x))", train_loss="final training CE")
METRIC_STYLES = dict(accuracy=("k", "o", "-"), cosine=("tab:green", "s", "-"), ssim=("tab:olive", "^", "-"),
                     on=("tab:purple", "v", "--"), off=("tab:orange", "D", "--"),
                     paper_cosine=("tab:brown", "P", ":"), train_loss=("tab:gray", "x", ":"))


def plot_sweep(ax, strengths, summaries, label, labels, metrics=("accuracy", "cosine", "on", "off")):
    """One method's sweep on `ax`: for every metric of `metrics`, its mean over seeds against the strength with
    a band from the lowest to the highest seed (`summaries`: one `summarise` dict per strength), and the regimes
    `labels` (from `regimes`, read off the on/off signature) shaded behind.

    Strengths sit at equal spacing (they usually grow geometrically); 0 is the standard model.
    Introduced in Chapter 10."""
    if len(strengths) != len(summaries) or len(strengths) != len(labels):
        checks.fail("plot_sweep", "strengths, summaries and labels", "be of equal length",
                    got=f"{len(strengths)}, {len(summaries)} and {len(labels)}")
    positions = list(range(len(strengths)))
    for i, regime in enumerate(labels):
        ax.axvspan(i - 0.5, i + 0.5, color=REGIME_COLOURS[regime], alpha=0.12, lw=0)
    for metric in metrics:
        colour, marker, line = METRIC_STYLES[metric]
        ax.plot(positions, [s[metric]["mean"] for s in summaries], color=colour, marker=marker, ls=line,
                label=METRIC_NAMES[metric])
        ax.fill_between(positions, [s[metric]["min"] for s in summaries], [s[metric]["max"] for s in summaries],
                        color=colour, alpha=0.2, lw=0)
    shown = [regime for regime in REGIMES + (FAILED,) if regime in labels]
    for k, regime in enumerate(shown):  # every other name a line higher: narrow bands' names do not collide
        where = [i for i, r in enumerate(labels) if r == regime]
        ax.text(sum(where) / len(where), 1.02 if k % 2 == 0 else 1.13, regime, ha="center", va="bottom",
                color=REGIME_COLOURS[regime], transform=ax.get_xaxis_transform())
    ax.set_xticks(positions)
    ax.set_xticklabels([f"{s:g}" for s in strengths])
    ax.set_xlim(-0.5, len(strengths) - 0.5)
    ax.set_xlabel(label)
    ax.grid(alpha=0.3)
