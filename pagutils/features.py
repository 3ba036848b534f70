"""Datasets built from what a model has learned: robust and non-robust features (Ilyas et al. 2019).

- `robustify`: representation matching. Every training image x is replaced by an image z whose
  representation g(z) matches g(x), found by gradient descent from an unrelated training image.
  With a robust model this gives the "robustified" set D_R, with a standard model D_NR.
- `make_d_rand`, `make_d_det`: a targeted adversarial attack against a standard model moves each
  image toward a target class t and the image is relabelled t. Only the imperceptible, non-robust
  features agree with the new label: D_rand (t at random) and D_det (t = y + 1 mod C).
- `transfer_success`: how often adversarial examples made on one model fool another.

Every constructed set is cached (`pagutils.cache`) under a configuration that names the source
model (its zoo configuration), a digest of the input data and the construction's settings, so a
re-run loads it. Each constructor returns `(data, info)`: the new `Data` set and a dict whose
`config` entry identifies the construction (use it as `train_data` in a zoo configuration).
"""
import hashlib
import math

import torch

from . import cache, checks, zoo
from .attacks import _per_example_norm, pgd, predict
from .data import Data
from .device import resolve_compile
from .models import channels_last, frozen, representation
from .progress import progress

DEFAULT_BATCH = 500
CHUNK_BATCHES = 8  # a construction is cached in chunks of this many batches, so an interrupted one resumes


def _check_data(data, name="data", where=None):
    checks.nonempty(data, name, where)
    checks.images(data.x, f"{name}.x", where)


def _check_positive(name, value, kind=(int, float), where=None):
    if kind is int:
        checks.integer(value, name, where)
    else:
        checks.positive(value, name, where)


def _source(model, source):
    """The JSON description of the model a set is built from: `source`, else the zoo's `model.config`."""
    source = source if source is not None else getattr(model, "config", None)
    if not isinstance(source, dict):
        raise ValueError("source must be a JSON dict naming the model (models from pagutils.zoo carry it as "
                         f"model.config), got {source!r}")
    return source


def digest(data: Data) -> dict:
    """What identifies a `Data` set in a cache key: its name, size and a hash of its images and labels."""
    _check_data(data)
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
    """
    bar = progress(total=math.ceil(n / batch_size), desc=desc, disable=not show_progress)
    parts = []
    try:
        for chunk in _chunk_configs(config, n, batch_size):
            def build_chunk(chunk=chunk):
                results = []
                for start in range(chunk["start"], chunk["stop"], batch_size):
                    index = torch.arange(start, min(start + batch_size, n), device=device)
                    results.append(batch(index))
                    bar.update()
                return {key: torch.cat([r[key] for r in results]) for key in results[0]}, {}
            tensors, _, built = cache.cached("chunks", chunk, build_chunk, device=device)
            if not built:
                bar.update(math.ceil((chunk["stop"] - chunk["start"]) / batch_size))
            parts.append(tensors)
    finally:
        bar.close()
    return {key: torch.cat([part[key] for part in parts]) for key in parts[0]}


def _drop_chunks(config, n, batch_size):
    """Delete a construction's chunk files once the whole set is cached."""
    for chunk in _chunk_configs(config, n, batch_size):
        cache.remove("chunks", chunk)


def _eval_mode(model):
    was_training = model.training
    model.eval()
    return was_training


# ---------------------------------------------------------------------------------------------------------------
# Representation matching: D_R and D_NR


def relative_distance(model, z, x) -> torch.Tensor:
    """||g(z) - g(x)||_2 / ||g(x)||_2 per example, g being `model.representation`."""
    with torch.no_grad():
        gx, gz = model.representation(x), model.representation(z)
        return (gz - gx).norm(dim=1) / gx.norm(dim=1).clamp_min(1e-12)


def match_representation(model, x, z0, steps, step_size, record_every=None, compile=None):
    """Images z in [0, 1] from `z0` minimising ||g(z) - g(x)||_2 by normalised gradient steps (per example).

    Returns (z, history): `history` is a list of (step, mean relative distance) every `record_every`
    steps and at the end. `compile` runs g through torch.compile (None: `PAG_COMPILE` decides).
    """
    compile = resolve_compile(compile, "match_representation")
    if x.shape != z0.shape:
        raise ValueError(f"x and z0 must have the same shape, got {tuple(x.shape)} and {tuple(z0.shape)}")
    record_every = record_every or max(1, steps // 20)
    with torch.no_grad():
        target = model.representation(x)
        scale = target.norm(dim=1).clamp_min(1e-12)
    history = []
    with channels_last(model) as convolutional, frozen(model):  # the faster layout for convolutions; same values
        z = z0.detach().clone(memory_format=torch.channels_last if convolutional and z0.dim() == 4
                              else torch.contiguous_format)
        for t in range(steps + 1):
            z.requires_grad_(True)
            distance = (representation(model, z, compile) - target).norm(dim=1)
            if t % record_every == 0 or t == steps:
                history.append((t, (distance.detach() / scale).mean().item()))
            if t == steps:
                break
            (grad,) = torch.autograd.grad(distance.sum(), z)
            z = torch.addcmul(z.detach(), grad, -step_size / _per_example_norm(grad, 2).clamp_min(1e-12)).clamp_(0, 1)
    return z.detach().contiguous(), history


def start_order(n, seed=0) -> torch.Tensor:
    """The seeded random permutation that assigns each image its starting point in `robustify` (a CPU tensor)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


def robustify(model, data, steps, step_size=0.1, seed=0, batch_size=DEFAULT_BATCH, record_every=None,
              source=None, show_progress=True):
    """The set of images that `model` represents like `data`'s: D_R for a robust model, D_NR for a standard one.

    Each image x of `data` becomes z = argmin ||g(z) - g(x)||_2 over [0, 1]^d, found by `steps` L2-normalised
    gradient steps of `step_size` starting from another training image (a seeded random permutation of `data`);
    z keeps x's label. Returns (Data, info); info holds `config`, `history` ([step, mean relative distance
    ||g(z) - g(x)|| / ||g(x)||] every `record_every` steps, default steps // 20, averaged over the set),
    `start_distance` and `final_distance`.
    """
    _check_data(data, where="robustify")
    _check_positive("steps", steps, int, "robustify")
    _check_positive("step_size", step_size, where="robustify")
    _check_positive("batch_size", batch_size, int, "robustify")
    record_every = record_every or max(1, steps // 20)
    _check_positive("record_every", record_every, int)
    config = dict(construction="robustify", source=_source(model, source), data=digest(data), steps=steps,
                  step_size=float(step_size), seed=seed, record_every=record_every)

    recorded = [t for t in range(steps + 1) if t % record_every == 0 or t == steps]

    def build():
        order = start_order(len(data), seed).to(data.device)
        was_training = _eval_mode(model)

        def batch(index):
            z, history = match_representation(model, data.x[index], data.x[order[index]], steps, step_size,
                                              record_every)
            return dict(x=z, distance_sum=torch.tensor([[len(index) * d for _, d in history]], dtype=torch.float64))

        try:
            parts = _in_chunks(config, len(data), batch_size, batch, f"robustify ({steps} steps)", show_progress,
                               data.device)
        finally:
            model.train(was_training)
        sums = parts["distance_sum"].sum(0).tolist()
        history = [[step, total / len(data)] for step, total in zip(recorded, sums)]
        info = dict(config=config, history=history, final_distance=history[-1][1], start_distance=history[0][1])
        return dict(x=parts["x"], y=data.y), info

    tensors, info, built = cache.cached("datasets", config, build, device=data.device,
                                        expect=dict(x=tuple(data.x.shape), y=tuple(data.y.shape)))
    if built:
        _drop_chunks(config, len(data), batch_size)
    return Data(tensors["x"], tensors["y"], data.classes, f"{data.name} robustified"), info


# ---------------------------------------------------------------------------------------------------------------
# Relabelling by targeted attacks: D_rand and D_det


def random_targets(y, num_classes, seed=0) -> torch.Tensor:
    """Target classes drawn uniformly at random (seeded), as in D_rand."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, num_classes, (len(y),), generator=generator).to(y.device)


def shifted_targets(y, num_classes) -> torch.Tensor:
    """Target classes t = (y + 1) mod C, as in D_det."""
    return (y + 1) % num_classes


def relabel_by_attack(model, data, targets, eps, steps, step_size=None, norm="l2", batch_size=DEFAULT_BATCH,
                      name="relabelled", config=None, show_progress=True):
    """Move every image of `data` toward its target class by targeted PGD against `model` and relabel it.

    The attack starts at the image itself (no random start) and stays within `eps` (in `norm`) and [0, 1].
    `config` (a JSON dict identifying this construction) is the cache key. Returns (Data, info); info holds
    `config`, `success_rate` (fraction the model classifies as the target after the attack) and the mean
    perturbation size `mean_norm`.
    """
    _check_data(data, where="relabel_by_attack")
    _check_positive("eps", eps, where="relabel_by_attack")
    _check_positive("steps", steps, int, "relabel_by_attack")
    if not isinstance(targets, torch.Tensor) or targets.shape != data.y.shape:
        raise ValueError(f"targets must be a tensor of {len(data)} labels, got {getattr(targets, 'shape', targets)}")
    if targets.min() < 0 or targets.max() >= data.num_classes:
        raise ValueError(f"targets must be class indices in [0, {data.num_classes}), got [{targets.min()}, {targets.max()}]")
    if not isinstance(config, dict):
        raise ValueError(f"config must be a JSON dict identifying the construction, got {config!r}")
    targets = targets.to(data.device)

    def batch(index):
        x, t = data.x[index], targets[index]
        x_adv = pgd(model, x, t, eps, norm, steps, step_size, targeted=True, random_start=False)
        return dict(x=x_adv, success=predict(model, x_adv) == t)

    def build():
        parts = _in_chunks(config, len(data), batch_size, batch, f"{name} ({steps} PGD steps)", show_progress,
                           data.device)
        x_adv, success = parts["x"], parts["success"]
        p = 2 if norm == "l2" else math.inf
        info = dict(config=config, success_rate=success.float().mean().item(),
                    mean_norm=_per_example_norm(x_adv - data.x, p).mean().item())
        return dict(x=x_adv, y=targets, success=success), info

    n = len(data)
    tensors, info, built = cache.cached("datasets", config, build, device=data.device,
                                        expect=dict(x=tuple(data.x.shape), y=(n,), success=(n,)))
    if built:
        _drop_chunks(config, n, batch_size)
    return Data(tensors["x"], tensors["y"], data.classes, f"{data.name} {name}"), info


def _relabel_config(kind, model, data, eps, steps, step_size, norm, seed, source):
    where = f"make_{kind}"
    _check_positive("eps", eps, where=where)
    _check_positive("steps", steps, int, where)
    if step_size is not None:
        _check_positive("step_size", step_size, where=where)
    checks.norm(norm, where)
    checks.integer(seed, "seed", where, low=0)
    return dict(construction=kind, source=_source(model, source), data=digest(data), eps=float(eps), steps=steps,
                step_size=None if step_size is None else float(step_size), norm=norm, seed=seed)


def make_d_rand(model, data, eps, steps, step_size=None, seed=0, norm="l2", batch_size=DEFAULT_BATCH, source=None,
                show_progress=True):
    """D_rand: each image attacked toward a class t drawn uniformly at random (seeded) and relabelled t.

    The images look like their original class to a person; only non-robust features point to t.
    Returns (Data, info) as `relabel_by_attack`.
    """
    _check_data(data, where="make_d_rand")
    config = _relabel_config("d_rand", model, data, eps, steps, step_size, norm, seed, source)
    targets = random_targets(data.y, data.num_classes, seed)
    return relabel_by_attack(model, data, targets, eps, steps, step_size, norm, batch_size, "D_rand", config,
                             show_progress)


def make_d_det(model, data, eps, steps, step_size=None, seed=0, norm="l2", batch_size=DEFAULT_BATCH, source=None,
               show_progress=True):
    """D_det: each image attacked toward t = (y + 1) mod C and relabelled t.

    Robust features now point away from the label (y is always mapped to y + 1), so a model can only
    generalise to the original test set through the non-robust features. Returns (Data, info).
    """
    _check_data(data, where="make_d_det")
    config = _relabel_config("d_det", model, data, eps, steps, step_size, norm, seed, source)
    targets = shifted_targets(data.y, data.num_classes)
    return relabel_by_attack(model, data, targets, eps, steps, step_size, norm, batch_size, "D_det", config,
                             show_progress)


# ---------------------------------------------------------------------------------------------------------------
# Training on a constructed set, and transfer


def train_on(constructed, info, config, eval_data=None, device=None, show_progress=True):
    """A fresh model trained (once, through the zoo) on a constructed set with the zoo recipe `config`.

    The zoo key is `config` plus `train_data` (the construction's configuration from `info`) and the set's size.
    """
    _check_data(constructed, "constructed")
    if not isinstance(info, dict) or "config" not in info:
        raise ValueError("info must be the dict a constructor returned (with a 'config' entry)")
    full = {**config, "n_train": len(constructed), "train_data": info["config"]}
    return zoo.get(full, data=constructed, device=device, eval_data=eval_data, show_progress=show_progress)


def transfer_success(model, x_adv, y, batch_size=1000) -> float:
    """The fraction of adversarial inputs `x_adv` (made on another model) that `model` misclassifies."""
    checks.images(x_adv, "x_adv", "transfer_success", dims=None)
    checks.labels(y, "y", "transfer_success")
    if len(x_adv) != len(y) or len(y) == 0:
        raise ValueError(f"x_adv and y must hold the same, non-zero number of examples, got {len(x_adv)} and {len(y)}")
    return (predict(model, x_adv, batch_size) != y).float().mean().item()
