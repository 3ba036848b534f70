"""Datasets built from what a model has learned: robust and non-robust features (Ilyas et al. 2019).

- `robustify`: representation matching. Every training image x is replaced by an image z whose
  representation g(z) matches g(x), found by gradient descent from an unrelated training image.
  With a robust model this gives the "robustified" set D_R, with a standard model D_NR.
- `make_d_rand`, `make_d_det`: a targeted adversarial attack against a standard model moves each
  image toward a target class t and the image is relabelled t. Only the imperceptible, non-robust
  features agree with the new label: D_rand (t at random) and D_det (t = y + 1 mod C).
- `judged_leakage`, `drop_read_as_target`: how much of a relabelled set's new label an independent robust judge
  reads (attacked minus unattacked), and the set without the images it reads.

Both constructions are `attacks.ascend`, the attack loop: representation matching descends
||g(z) - g(x)|| with an unconstrained normalised step, relabelling is targeted PGD. A public constructor
checks its arguments once; the attacks of its batches check nothing again.

Every constructed set is cached (`pagutils.core.cache`) under a configuration that names the source
model (its zoo configuration), the identity of the input data (`data_identity`) and the construction's
settings, so a re-run loads it. Each constructor returns `(data, info)`: the new `Data` set and a dict whose
`config` entry identifies the construction (use it as `train_data` in a zoo configuration).
"""
import contextlib
import hashlib
import itertools
import math
from dataclasses import dataclass

import functools

import torch
import torch.nn.functional as F

from ..core import cache, checks, zoo
from ..core.attacks import STEPS, Attack, Loop, NormalisedStep, ascend, autocast, check_attack, per_example_norm, pgd, predict
from ..core.data import Data
from ..core.device import barrier, resolve_compile, shard
from ..core.models import evaluating, fake_relu, representation
from ..core.progress import progress

DEFAULT_BATCH = 500
CHUNK_BATCHES = 8  # a construction is cached in chunks of this many batches, so an interrupted one resumes


def _source(model, source, where, name="source"):
    """The JSON description of the model a set is built from: `source`, else the zoo's `model.config`; else an
    error naming `where` and the argument `name`."""
    source = source if source is not None else getattr(model, "config", None)
    if not isinstance(source, dict):
        checks.fail(where, name, "be a JSON dict naming the model (models from pagutils.core.zoo carry it as "
                    "model.config)", source)
    return source


def data_identity(data: Data) -> dict:
    """What identifies a `Data` set in a cache key: its name, size and a hash of its images and labels.

    Introduced in Chapter 3."""
    checks.nonempty(data, "data", "data_identity")
    h = hashlib.sha256(data.x.detach().cpu().contiguous().numpy().tobytes())
    h.update(data.y.detach().cpu().contiguous().numpy().tobytes())
    return dict(name=data.name, n=len(data), sha256=h.hexdigest()[:16])


def _chunk_configs(config, n, batch_size):
    """The cache keys of the chunks of a construction: CHUNK_BATCHES consecutive batches each."""
    size = CHUNK_BATCHES * batch_size
    return [dict(chunk_of=config, start=start, stop=min(start + size, n), batch_size=batch_size)
            for start in range(0, n, size)]


def _in_chunks(config, n, batch_size, batch, desc, show_progress, device):
    """Run `batch(index) -> dict of tensors` over consecutive batches of `n` examples and concatenate the results.

    Every chunk of CHUNK_BATCHES batches is cached on its own (kind 'chunks', keyed by the construction's
    `config` and the chunk's range), so a construction that is interrupted (KeyboardInterrupt, a crash, a
    lost kernel) resumes from its finished chunks when it is run again, and never leaves a partial set.
    Under torchrun (an initialised process group of W ranks) the chunks are the unit of work: rank r builds
    chunks r, r + W, ..., every rank waits until all exist and then assembles the same set from the cache.
    """
    rank, world = shard()
    chunks = _chunk_configs(config, n, batch_size)
    bar = progress(total=math.ceil(n / batch_size), desc=desc, disable=not show_progress)

    def build_chunk(chunk):
        results = []
        for start in range(chunk["start"], chunk["stop"], batch_size):
            index = torch.arange(start, min(start + batch_size, n), device=device)
            results.append(batch(index))
            bar.update()
        return {key: torch.cat([r[key] for r in results]) for key in results[0]}, {}

    def chunk_tensors(chunk):
        tensors, _, built = cache.cached("chunks", chunk, lambda: build_chunk(chunk), device=device)
        if not built:
            bar.update(math.ceil((chunk["stop"] - chunk["start"]) / batch_size))
        return tensors

    try:
        if world > 1:
            for chunk in chunks[rank::world]:
                chunk_tensors(chunk)
            barrier()  # every chunk exists now
        parts = [chunk_tensors(chunk) for chunk in chunks]
    finally:
        bar.close()
    return {key: torch.cat([part[key] for part in parts]) for key in parts[0]}


def _cached_set(config, build, device, expect):
    """`cache.cached('datasets', ...)` for a construction: under torchrun every rank runs `build` (its share of
    the chunks, `_in_chunks`) outside the file lock, rank 0 writes the set, and only rank 0 reports it built (and
    so drops the chunks) once every rank has assembled it."""
    rank, world = shard()
    if world == 1:
        return cache.cached("datasets", config, build, device=device, expect=expect)
    path = cache.path_for("datasets", config)
    found = cache.read(path, config, device, expect, warn=False)
    if found is not None:
        return (*found, False)
    tensors, info = build()
    if rank == 0:
        cache.write(path, config, tensors, info)
    barrier()
    return {name: t.to(device) for name, t in tensors.items()}, info, rank == 0


def _drop_chunks(config, n, batch_size):
    """Delete a construction's chunk files once the whole set is cached."""
    for chunk in _chunk_configs(config, n, batch_size):
        cache.remove("chunks", chunk)


# ---------------------------------------------------------------------------------------------------------------
# Representation matching: D_R and D_NR


def relative_distance(model, z, x) -> torch.Tensor:
    """||g(z) - g(x)||_2 / ||g(x)||_2 per example, g being `model.representation`.

    Introduced in Chapter 3."""
    with torch.no_grad():
        gx, gz = model.representation(x), model.representation(z)
        return (gz - gx).norm(dim=1) / gx.norm(dim=1).clamp_min(1e-12)


RELU = ("fake", "real")


@dataclass(frozen=True)
class Matching:
    """How representation matching runs: `steps` normalised gradient steps of `step_size` from seeded starting
    images (`seed`), through the representation's last ReLU as a fake ReLU (`relu="fake"`: ReLU forward, identity
    backward, as the authors' code builds D_R; `"real"` back-propagates through the ReLU itself, where a unit that
    is off for z gets no gradient). The distance is recorded every `record_every` steps (None: steps // 20).
    Checked once, here. Introduced in Chapter 3."""
    steps: int
    step_size: float = 0.1
    relu: str = "fake"
    seed: int = 0
    record_every: int = None

    def __post_init__(self):
        where = "Matching"
        checks.integer(self.steps, "steps", where)
        object.__setattr__(self, "step_size", checks.positive(self.step_size, "step_size", where))
        checks.one_of(self.relu, RELU, "relu", where)
        checks.integer(self.seed, "seed", where, low=0)
        if self.record_every is None:
            object.__setattr__(self, "record_every", max(1, self.steps // 20))
        checks.integer(self.record_every, "record_every", where)


def match_representation(model, x, z0, matching: Matching, compile=None):
    """Images z in [0, 1] from `z0` minimising ||g(z) - g(x)||_2 by normalised gradient steps (per example).

    The attack loop (`attacks.ascend`) descending the summed distance with an unconstrained `NormalisedStep`,
    in eval mode, with `matching`'s steps and ReLU. Returns (z, history): `history` is a list of (step, mean
    relative distance) every `matching.record_every` steps and at the end. `compile` runs g through
    torch.compile (None: `PAG_COMPILE` decides).

    Introduced in Chapter 3."""
    where = "match_representation"
    checks.same_shape(x, z0, ("x", "z0"), where)
    checks.images(x, "x", where)
    checks.images(z0, "z0", where)
    if not isinstance(matching, Matching):
        checks.fail(where, "matching", "be a features.Matching", matching, error=checks.ArgumentTypeError)
    return _match(model, x, z0, matching, resolve_compile(compile, where))


def _match(model, x, z0, matching, compile=False):
    """`match_representation` without its argument checks (`compile` already resolved), for `robustify`'s batches."""
    steps, record_every = matching.steps, matching.record_every
    with evaluating(model), torch.no_grad():
        target = model.representation(x)
        scale = target.norm(dim=1).clamp_min(1e-12)
    history, iterate = [], itertools.count()

    def distance(model, z, target):
        """The summed distance ||g(z) - g(x)||; records its mean relative value every `record_every` iterates."""
        t = next(iterate)
        d = (representation(model, z, compile) - target).norm(dim=1)
        if t % record_every == 0 or t == steps:
            history.append((t, (d.detach() / scale).mean().item()))
        return d.sum()

    relu = fake_relu(model, x) if matching.relu == "fake" else contextlib.nullcontext()
    with relu:
        z = ascend(model, z0, target, distance, lambda z0: NormalisedStep(z0, matching.step_size), steps,
                   Loop(descend=True, evaluate_last=True))
    return z, history


def start_order(n, seed=0) -> torch.Tensor:
    """The seeded random derangement that assigns each image its starting point in `robustify` (a CPU tensor).

    `order[i]` is the image that image i starts from, and never i itself: a seeded random permutation p is walked
    as one cycle, order[p[k]] = p[k + 1] (and order[p[n - 1]] = p[0]). A plain permutation would leave about one
    image in n to start from itself and keep all of its features, robust and non-robust.

    Introduced in Chapter 3."""
    checks.integer(n, "n", "start_order", low=2)
    p = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    order = torch.empty_like(p)
    order[p] = p.roll(-1)
    return order


def robustify(model, data, matching: Matching, batch_size=DEFAULT_BATCH, source=None, show_progress=True):
    """The set of images that `model` represents like `data`'s: D_R for a robust model, D_NR for a standard one.

    Each image x of `data` becomes z = argmin ||g(z) - g(x)||_2 over [0, 1]^d, found by `matching` (normalised
    gradient steps through a fake ReLU, see `Matching`) starting from another training image (`start_order`);
    z keeps x's label. Returns (Data, info); info holds `config`, `history` ([step, mean relative distance
    ||g(z) - g(x)|| / ||g(x)||] every `record_every` steps, averaged over the set), `start_distance`,
    `final_distance` and `agreement`, the share of the set that `model` classifies as its label: how far the
    construction has converged. The arguments are checked once, not per batch.

    Introduced in Chapter 3."""
    where = "robustify"
    checks.nonempty(data, "data", where)
    if len(data) < 2:
        checks.fail(where, "data", "hold at least 2 images (each starts from another one)", got=f"{len(data)}")
    checks.images(data.x, "data.x", where)
    if not isinstance(matching, Matching):
        checks.fail(where, "matching", "be a features.Matching (steps, step_size, relu, seed)", matching,
                    error=checks.ArgumentTypeError)
    checks.integer(batch_size, "batch_size", where)
    compile = resolve_compile(None, where)
    steps, record_every = matching.steps, matching.record_every
    config = dict(construction="robustify", source=_source(model, source, where), data=data_identity(data), steps=steps,
                  step_size=float(matching.step_size), seed=matching.seed, record_every=record_every,
                  start="derangement", relu=matching.relu)

    recorded = [t for t in range(steps + 1) if t % record_every == 0 or t == steps]

    def build():
        order = start_order(len(data), matching.seed).to(data.device)

        def batch(index):
            z, history = _match(model, data.x[index], data.x[order[index]], matching, compile)
            with torch.no_grad():
                agree = (predict(model, z, check=False) == data.y[index]).sum()
            return dict(x=z, distance_sum=torch.tensor([[len(index) * d for _, d in history]], dtype=torch.float64),
                        agree=agree.view(1).to(torch.float64))

        parts = _in_chunks(config, len(data), batch_size, batch, f"robustify ({steps} steps)", show_progress,
                           data.device)
        sums = parts["distance_sum"].sum(0).tolist()
        history = [[step, total / len(data)] for step, total in zip(recorded, sums)]
        info = dict(config=config, history=history, final_distance=history[-1][1], start_distance=history[0][1],
                    agreement=parts["agree"].sum().item() / len(data))
        return dict(x=parts["x"], y=data.y), info

    tensors, info, built = _cached_set(config, build, data.device,
                                       expect=dict(x=tuple(data.x.shape), y=tuple(data.y.shape)))
    if built:
        _drop_chunks(config, len(data), batch_size)
    return Data(tensors["x"], tensors["y"], data.classes, f"{data.name} robustified"), info


# ---------------------------------------------------------------------------------------------------------------
# Relabelling by targeted attacks: D_rand and D_det


def random_targets(y, num_classes, seed=0) -> torch.Tensor:
    """Target classes drawn uniformly at random (seeded), as in D_rand.

    Introduced in Chapter 4."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, num_classes, (len(y),), generator=generator).to(y.device)


def shifted_targets(y, num_classes) -> torch.Tensor:
    """Target classes t = (y + 1) mod C, as in D_det.

    Introduced in Chapter 4."""
    return (y + 1) % num_classes


def relabel_by_attack(model, data, targets, attack: Attack, batch_size=DEFAULT_BATCH, name="relabelled", config=None,
                      show_progress=True):
    """Move every image of `data` toward its target class by targeted PGD against `model` and relabel it.

    `attack` (an `attacks.Attack`) gives the radius, norm, steps, step size and precision; the relabelling runs it
    targeted and from the image itself (no random start), whatever its `targeted` and `random_start` say, so every
    image stays within `attack.eps` of itself (in `attack.norm`) and in [0, 1]. `config` (a JSON dict identifying
    this construction) is the cache key. Returns (Data, info); info holds `config`, `success_rate` (fraction the
    model classifies as the target after the attack) and the mean perturbation size `mean_norm`. The arguments are
    checked once; the attack of every batch checks nothing again.

    Introduced in Chapter 4."""
    where = "relabel_by_attack"
    attack = _check_attack(model, data, attack, where)
    checks.labels(targets, "targets", where, n=len(data), num_classes=data.num_classes)
    checks.mapping(config, "config", where)
    return _relabel(model, data, targets, attack, batch_size, name, config, show_progress)


def _check_attack(model, data, attack, where):
    """The arguments of a relabelling attack, checked once at the public entry point. Returns the attack the
    construction runs: `attack` targeted, from the image itself, its `compile` resolved."""
    checks.nonempty(data, "data", where)
    checks.images(data.x, "data.x", where)
    check_attack(attack, where)
    checks.positive(attack.eps, "attack.eps", where)
    checks.integer(attack.steps, "attack.steps", where)
    if attack.step_size is not None:
        checks.positive(attack.step_size, "attack.step_size", where)
    if attack.budget != "example" or attack.restarts != 1:
        checks.fail(where, "attack", "have budget='example' and restarts=1 (the relabelling attacks every image from "
                    "itself within its own ball)", got=f"budget={attack.budget!r} and restarts={attack.restarts}")
    checks.model_logits(model, data.x, "model", where)
    return attack.replace(targeted=True, random_start=False, compile=resolve_compile(attack.compile, where))


def _noisy_targeted(model, x, t, attack, noise, seed):
    """Targeted PGD whose every step descends the cross-entropy of t at x + N(0, noise^2 I) (one fresh draw per
    step, seeded): the perturbation must move the model's prediction under noise too. The attack loop is
    `attacks.ascend` with this loss."""
    generator = torch.Generator().manual_seed(seed)

    def loss(model, x, t):
        drawn = torch.randn(x.shape, generator=generator).to(x)
        with autocast(attack.precision, x.device):
            logits = model(x + noise * drawn)
        return F.cross_entropy(logits.float(), t, reduction="sum")

    return ascend(model, x, t, loss, functools.partial(STEPS[attack.norm], eps=attack.eps, step_size=attack.step),
                  attack.steps, Loop(descend=True))


def _relabel(model, data, targets, attack, batch_size, name, config, show_progress, noise=0.0):
    """`relabel_by_attack` without its argument checks (`attack` is the one `_check_attack` returned)."""
    targets = targets.to(data.device)

    def batch(index):
        x, t = data.x[index], targets[index]
        if noise:
            x_adv = _noisy_targeted(model, x, t, attack, noise, seed=int(index[0]))
        else:
            x_adv = pgd(model, x, t, attack, check=False)
        return dict(x=x_adv, success=predict(model, x_adv, check=False) == t)

    def build():
        parts = _in_chunks(config, len(data), batch_size, batch, f"{name} ({attack.steps} PGD steps)", show_progress,
                           data.device)
        x_adv, success = parts["x"], parts["success"]
        p = 2 if attack.norm == "l2" else math.inf
        info = dict(config=config, success_rate=success.float().mean().item(),
                    mean_norm=per_example_norm(x_adv - data.x, p).mean().item())
        return dict(x=x_adv, y=targets, success=success), info

    n = len(data)
    tensors, info, built = _cached_set(config, build, data.device,
                                       expect=dict(x=tuple(data.x.shape), y=(n,), success=(n,)))
    if built:
        _drop_chunks(config, n, batch_size)
    return Data(tensors["x"], tensors["y"], data.classes, f"{data.name} {name}"), info


def _relabel_config(kind, model, data, attack, seed, source, noise=0.0):
    """Check the arguments of `make_<kind>` (once); return the construction's cache key and the attack it runs.
    The key holds the attack's settings as plain JSON values (eps, steps, step_size, norm)."""
    where = f"make_{kind}"
    attack = _check_attack(model, data, attack, where)
    checks.integer(seed, "seed", where, low=0)
    checks.positive(noise, "noise", where, allow_zero=True)
    config = dict(construction=kind, source=_source(model, source, where), data=data_identity(data),
                  eps=float(attack.eps), steps=attack.steps,
                  step_size=None if attack.step_size is None else float(attack.step_size), norm=attack.norm, seed=seed)
    if noise:  # the key of a construction without noise stays what it was
        config["noise"] = float(noise)
    if attack.precision != "float32":  # likewise for a construction in float32
        config["precision"] = attack.precision
    return config, attack


def make_d_rand(model, data, attack: Attack, seed=0, batch_size=DEFAULT_BATCH, source=None, show_progress=True,
                noise=0.0):
    """D_rand: each image attacked toward a class t drawn uniformly at random (seeded) and relabelled t.

    `attack` is run targeted and from the image itself, as in `relabel_by_attack`. The images look like their
    original class to a person; only non-robust features point to t. Returns (Data, info) as
    `relabel_by_attack`. `noise` > 0 attacks under Gaussian noise of that standard deviation (every step descends
    the loss at a fresh noisy copy), so that the planted features survive noise.

    Introduced in Chapter 4."""
    config, attack = _relabel_config("d_rand", model, data, attack, seed, source, noise)
    targets = random_targets(data.y, data.num_classes, seed)
    return _relabel(model, data, targets, attack, batch_size, "D_rand", config, show_progress, noise)


def make_d_det(model, data, attack: Attack, seed=0, batch_size=DEFAULT_BATCH, source=None, show_progress=True,
               noise=0.0):
    """D_det: each image attacked toward t = (y + 1) mod C and relabelled t.

    `attack` is run targeted and from the image itself, as in `relabel_by_attack`. Robust features now point away
    from the label (y is always mapped to y + 1), so a model can only generalise to the original test set through
    the non-robust features. Returns (Data, info); `noise` as in `make_d_rand`.

    Introduced in Chapter 4."""
    config, attack = _relabel_config("d_det", model, data, attack, seed, source, noise)
    targets = shifted_targets(data.y, data.num_classes)
    return _relabel(model, data, targets, attack, batch_size, "D_det", config, show_progress, noise)


def _check_judged(judge, relabelled, original, where):
    """The arguments of a leakage measure: two non-empty sets of the same images, before and after the attack, and
    a judge that classifies them."""
    checks.nonempty(relabelled, "relabelled", where)
    checks.nonempty(original, "original", where)
    if relabelled.x.shape != original.x.shape:
        checks.fail(where, "relabelled and original", "hold the same images before and after the attack",
                    got=f"shapes {tuple(relabelled.x.shape)} and {tuple(original.x.shape)}")
    checks.model_logits(judge, original.x[:1], "judge", where)


def leakage(judge, relabelled, original) -> dict:
    """How much of a relabelled set's new label a robust model can see: robust-feature leakage.

    `judge` is an adversarially trained model, which ignores non-robust features. `attacked`: the share of
    `relabelled`'s images it classifies as their new label t; `unattacked`: the same share on the `original`
    images before the attack (t is then about as often predicted as chance allows: 1/C for random targets,
    about 0 for t = y + 1). The gap is the target class's robust evidence that the attack drew into the images
    (Goh, in the Distill discussion of Ilyas et al. 2019, measured it for D_rand).

    Introduced in Chapter 4."""
    where = "leakage"
    _check_judged(judge, relabelled, original, where)
    t = relabelled.y.to(relabelled.x.device)
    attacked = predict(judge, relabelled.x, check=False) == t
    unattacked = predict(judge, original.x, check=False) == t.to(original.x.device)
    return dict(attacked=attacked.float().mean().item(), unattacked=unattacked.float().mean().item())


def judged_leakage(judge, relabelled, original) -> dict:
    """Robust-feature leakage with one bar for D_rand and D_det: how much more often the `judge` reads the new
    label t on the attacked image than on the clean one, among the images whose label the attack changed.

    Only images with t != y count (y: `original`'s labels; for D_det that is every image, for D_rand about
    (C - 1) / C of them), so an image that was relabelled with its own class is never counted as leaked.
    Returns `attacked` (the share of them the judge classifies as t after the attack), `unattacked` (the same
    share on the clean images), `leakage` = attacked - unattacked, and `n`, how many images were counted.
    Introduced in Chapter 4."""
    where = "judged_leakage"
    _check_judged(judge, relabelled, original, where)
    t = relabelled.y.to(original.x.device)
    changed = t != original.y
    n = int(changed.sum())
    if n == 0:
        checks.fail(where, "relabelled", "change the label of at least one image (t != y)", got="none")
    attacked = predict(judge, relabelled.x[changed.to(relabelled.x.device)], check=False).to(t.device) == t[changed]
    unattacked = predict(judge, original.x[changed], check=False) == t[changed]
    attacked, unattacked = attacked.float().mean().item(), unattacked.float().mean().item()
    return dict(attacked=attacked, unattacked=unattacked, leakage=attacked - unattacked, n=n)


def drop_read_as_target(judge, relabelled, info, judge_source=None):
    """A relabelled set without the images that `judge` classifies as their new label t: the control that asks
    whether a set still teaches the true labels once every image whose label the judge can read is gone.

    `info` is the construction's (its `config` names the set); `judge_source` names the judge (None: the zoo's
    `judge.config`). Returns (Data, info): the kept images with their labels t, and `config` (construction
    'drop_judged', the set's and the judge's configurations: the key of a model `train_on` trains on it),
    `kept` (a boolean tensor, True for every image kept), `n_kept` and `share_dropped`.
    Introduced in Chapter 4."""
    where = "drop_read_as_target"
    checks.nonempty(relabelled, "relabelled", where)
    checks.images(relabelled.x, "relabelled.x", where)
    checks.mapping(info, "info", where, required=("config",))
    checks.model_logits(judge, relabelled.x[:1], "judge", where)
    judge_config = _source(judge, judge_source, where, "judge_source")
    kept = predict(judge, relabelled.x, check=False).to(relabelled.y.device) != relabelled.y
    if not kept.any():
        checks.fail(where, "judge", "leave at least one image it does not read as its new label (else nothing is "
                    "left to train on)", got=f"a judge that reads every one of the {len(relabelled)} images as its new "
                    "label")
    config = dict(construction="drop_judged", of=info["config"], judge=judge_config)
    out = dict(config=config, kept=kept, n_kept=int(kept.sum()), share_dropped=1 - kept.float().mean().item())
    return relabelled[kept.to(relabelled.x.device)], out


def quiet_radius(radii, leakage, accuracy, chance, max_leakage=0.2, margin=0.05):
    """The radius at which a relabelled set shows non-robust features without leaked robust ones, or None.

    Among `radii` whose `leakage` (e.g. `judged_leakage()['leakage']`, or `leakage()['attacked']`) is at most
    `max_leakage`, the one whose model's test `accuracy` is highest, if that accuracy exceeds `chance` by more than
    `margin`; None when no radius satisfies both. Introduced in Chapter 4."""
    where = "quiet_radius"
    if not isinstance(radii, (list, tuple)) or not radii:
        checks.fail(where, "radii", "be a non-empty list", radii, error=checks.ArgumentTypeError)
    for name, values in (("leakage", leakage), ("accuracy", accuracy)):
        if not isinstance(values, (list, tuple)) or len(values) != len(radii):
            checks.fail(where, name, f"hold one number per radius ({len(radii)})", values)
    checks.number(max_leakage, "max_leakage", where, low=0, high=1)
    checks.number(margin, "margin", where, low=0, high=1)
    quiet = [(a, r) for r, l, a in zip(radii, leakage, accuracy) if l <= max_leakage]
    if not quiet:
        return None
    best_accuracy, best = max(quiet)
    return best if best_accuracy > chance + margin else None


# ---------------------------------------------------------------------------------------------------------------
# Training on a constructed set, and transfer


def headroom(radii, standard, adversarial, max_eps, min_gap=0.3) -> dict:
    """The radius to read D_R's claim at, chosen before any construction is read and on models that do not vote:
    among `radii` at most `max_eps` (the robust source's training radius; Ilyas et al. read at half of it), the one
    where adversarial training beats standard training by the most. `standard` and `adversarial` hold one robust
    accuracy per radius (a selection seed's, on a validation split).

    Returns dict(eps=, gap= (adversarial minus standard there), gaps= (per radius, None above `max_eps`),
    wide= (gap >= `min_gap`: room for D_R to show an effect)). Introduced in Chapter 3."""
    where = "headroom"
    radii = [checks.number(r, "every entry of radii", where, low=0) for r in radii]
    standard = [checks.number(a, "every entry of standard", where, low=0, high=1) for a in standard]
    adversarial = [checks.number(a, "every entry of adversarial", where, low=0, high=1) for a in adversarial]
    if not radii or not len(radii) == len(standard) == len(adversarial):
        checks.fail(where, "radii, standard and adversarial", "be non-empty and of equal length",
                    got=f"{len(radii)}, {len(standard)} and {len(adversarial)}")
    max_eps = checks.number(max_eps, "max_eps", where, low=0)
    checks.number(min_gap, "min_gap", where, low=0, high=1)
    gaps = [a - s if r <= max_eps else None for r, s, a in zip(radii, standard, adversarial)]
    allowed = [i for i, g in enumerate(gaps) if g is not None]
    if not allowed:
        checks.fail(where, "radii", f"hold a radius at most max_eps={max_eps:g} (add one to the radii)",
                    got=repr(radii))
    best = max(allowed, key=lambda i: (gaps[i], -radii[i]))
    return dict(eps=radii[best], gap=gaps[best], gaps=gaps, wide=gaps[best] >= min_gap)


def gap_share(constructed, standard, adversarial) -> dict:
    """How much of the gap between standard and adversarial training standard training on a constructed set
    closes: (constructed - standard) / (adversarial - standard), 0 for no effect and 1 for all of adversarial
    training's robustness. The three arguments hold per-seed robust accuracies at one radius (seed i of each
    side paired). Returns dict(share= (of the means; None when adversarial training is not above standard
    training: no gap to close), per_seed= (of each seed's triple, NaN where that seed has no gap), gap=
    (adversarial minus standard, of the means)). Introduced in Chapter 3."""
    where = "gap_share"
    values = [[checks.number(v, f"every entry of {name}", where) for v in seq]
              for name, seq in (("constructed", constructed), ("standard", standard), ("adversarial", adversarial))]
    if not values[0] or not len(values[0]) == len(values[1]) == len(values[2]):
        checks.fail(where, "constructed, standard and adversarial", "hold one value per seed, equally many",
                    got=f"lengths {[len(v) for v in values]}")
    mean = [sum(v) / len(v) for v in values]
    gap = mean[2] - mean[1]
    per_seed = [(c - s) / (a - s) if a > s else math.nan for c, s, a in zip(*values)]
    return dict(share=(mean[0] - mean[1]) / gap if gap > 0 else None, per_seed=per_seed, gap=gap)


def train_on(constructed, info, config, eval_data=None, device=None, show_progress=True):
    """A fresh model trained (once, through the zoo) on a constructed set with the zoo recipe `config`.

    The zoo key is `config` plus `train_data` (the construction's configuration from `info`) and the set's size.
    `info=None` trains on `constructed` as it is, an original (unconstructed) set named by `data_identity`: the
    like-for-like baseline, on the very images a construction started from.

    Introduced in Chapter 3."""
    checks.nonempty(constructed, "constructed", "train_on")
    checks.images(constructed.x, "constructed.x", "train_on")
    if info is None:
        info = dict(config=dict(construction="original", data=data_identity(constructed)))
    checks.mapping(info, "info", "train_on", required=("config",))
    full = {**config, "n_train": len(constructed), "train_data": info["config"]}
    return zoo.get(full, data=constructed, device=device, eval_data=eval_data, show_progress=show_progress)
