"""The model zoo: a model is named by its training configuration and trained at most once.

`zoo.get(config)` loads the weights from the safetensors cache when a model with exactly this
configuration was trained before (by any chapter), and otherwise trains it and stores it.
`standard(...)` and `robust(...)` give the configurations every chapter shares, per profile (their sizes and
radii live in `pagutils.core.defaults`); `disjoint(config, *others)` makes a configuration train on images none of
`others` trains on (Chapter 4's independent judge), and `held_out` draws such images as a validation split.
`cached_model` is the one path by which every trained model of the course (zoo classifiers, the distractor and
synthetic classifiers, autoencoders, denoisers) is trained once and cached.
"""
import time

import torch

from . import cache, checks
from .attacks import Attack, accuracy
from .data import INFO, Data, load
from .defaults import shared
from .device import resolve
from .models import make_classifier
from .robust_losses import CLIP_GRAD_NORM, METHODS
from .train import Recipe, train

# what every configuration names (n_train only when zoo.get loads the training set itself)
REQUIRED = frozenset({"arch", "dataset", "objective", "n_train", "epochs", "lr", "batch_size", "momentum",
                      "weight_decay", "schedule", "augment"})


def standard(dataset, profile="quick", **overrides) -> dict:
    """The configuration of a standard (non-robust) model of `profile` on `dataset`. Introduced in Chapter 1."""
    checks.one_of(dataset, INFO, "dataset", "zoo.standard")
    return {**shared(profile).zoo_recipe, "dataset": dataset, "objective": "standard", "objective_args": {},
            **overrides}


def robust(dataset, profile="quick", eps=None, norm="l2", steps=None, **overrides) -> dict:
    """The configuration of a PGD adversarially-trained model (radius `eps` in `norm`; by default the profile's
    shared radius `defaults.shared(profile).train_eps`, trained with its `train_attack_steps`-step PGD).
    Introduced in Chapter 1."""
    checks.one_of(dataset, INFO, "dataset", "zoo.robust")
    defaults = shared(profile)
    eps = defaults.train_eps if eps is None else checks.positive(eps, "eps", "zoo.robust")
    checks.norm(norm, "zoo.robust")
    if steps is not None:
        checks.integer(steps, "steps", "zoo.robust")
    args = dict(eps=float(eps), norm=norm, steps=steps or defaults.train_attack_steps)
    return {**defaults.zoo_recipe, "dataset": dataset, "objective": "pgd", "objective_args": args, **overrides}


def trained_with(method, strength, dataset, profile="quick", **overrides) -> dict:
    """The zoo configuration of one of Chapter 10's four methods (`robust_losses.METHODS`) trained at `strength`
    (strength 0 is the standard model).

    `overrides` replace recipe entries (n_train, epochs, ...); an `objective_args` override adds
    arguments to the method's own (e.g. the noise level of 'noise_consistency'). Above the method's
    `clip_above` strength every step's parameter gradient is clipped to the norm
    `robust_losses.CLIP_GRAD_NORM` (the recipe's `clip_grad_norm`; an override may set another), which keeps
    strong penalties stable at the full learning rate; at and below it the configuration has no clipping
    entry, and is what it was before clipping existed. Introduced in Chapter 10.
    """
    checks.one_of(method, METHODS, "method", "zoo.trained_with")
    strength = checks.number(strength, "strength", "zoo.trained_with", low=0)
    extra = dict(overrides.pop("objective_args", None) or {})
    if "clip_grad_norm" in overrides and overrides["clip_grad_norm"] is None:
        del overrides["clip_grad_norm"]  # unset: no entry, as in every configuration made before clipping existed
    if strength == 0:
        return standard(dataset, profile, **overrides)
    if method == "pgd":
        return robust(dataset, profile, eps=strength, norm="l2", **extra, **overrides)
    args = {**extra, METHODS[method]["strength"]: strength}
    config = {**standard(dataset, profile, **overrides), "objective": method, "objective_args": args}
    above = METHODS[method]["clip_above"]
    if above is not None and strength > above and config.get("clip_grad_norm") is None:
        config["clip_grad_norm"] = CLIP_GRAD_NORM
    return config


def cached_model(config: dict, model, fit, device=None):
    """`model` (freshly built, on `device`) with the weights that `fit(model) -> history` trains, trained once.

    The one path by which every trained model of the course is made: the weights are loaded from the
    safetensors cache when a model with exactly this `config` was trained before (by any chapter), and otherwise
    trained now and cached. `history` is a list of per-epoch records (dicts with at least `epoch` and `loss`);
    `fit` may instead return a dict holding `history` and more entries to store (benchmarks/replicates.py's
    `get_many` stores the joint run's `train_seconds` and `trained_together`).
    The model comes back in eval mode and carries `config`, `history`, `trained_now` (False when loaded) and
    `train_seconds` (of the run that trained it). Introduced in Chapter 1.
    """
    def train_now():
        started = time.perf_counter()
        result = fit(model)
        info = dict(result) if isinstance(result, dict) else dict(history=result)
        info.setdefault("train_seconds", time.perf_counter() - started)
        return model.state_dict(), info

    state, info, built = cache.cached("models", config, train_now, device=resolve(device),
                                      expect=cache.shapes(model))
    if not built:
        model.load_state_dict(state)
    model.eval()
    model.config, model.history, model.trained_now = config, info.get("history", []), built
    model.train_seconds = info.get("train_seconds")
    return model


_REQUESTED = {}  # config key -> configuration, of every zoo.get on a named dataset in this process


def requested() -> dict:
    """The configurations (by cache key) this process asked `get` for on a named training set (not on a given
    `data`): what `pagutils.scale.prefill` must prepare for a chapter. `report.record` stores their keys.
    Introduced in Chapter 1."""
    return dict(_REQUESTED)


def get(config: dict, data=None, device=None, eval_data=None, show_progress=True):
    """The model trained with `config`, loaded from the cache or trained now and cached (`cached_model`).

    `data` replaces the training set named by config['dataset'] (then config must identify it, for
    example with a 'train_data' entry holding its construction's configuration). The returned model
    is in eval mode and carries `model.history` (per-epoch training record) and `model.config`.
    Introduced in Chapter 1.
    """
    checks.mapping(config, "config", "zoo.get", REQUIRED if data is None else REQUIRED - {"n_train"})
    if data is not None:
        checks.nonempty(data, "data", "zoo.get")
    if eval_data is not None:
        checks.nonempty(eval_data, "eval_data", "zoo.get")
    device = resolve(device)
    recipe = Recipe.from_config(config)
    if data is None:
        _REQUESTED[cache.config_key(config)] = config
    model = make_classifier(config["arch"], config["dataset"], seed=recipe.seed).to(device)

    def fit(model):
        train_set = data if data is not None else training_set(config, device=device)
        args = recipe.objective_args  # a robust objective's radius is also the radius its model is evaluated at
        attack = Attack(args.get("norm", "l2"), args["eps"], steps=10) if args.get("eps") else None
        return train(model, train_set, recipe, eval_data=eval_data, eval_attack=attack, show_progress=show_progress)

    return cached_model(config, model, fit, device)


def summary(model, test_data) -> str:
    """One line: architecture, objective and clean accuracy on `test_data`. Introduced in Chapter 1."""
    cfg = model.config
    how = "trained now" if model.trained_now else "loaded from the zoo"
    return f"{cfg['arch']} / {cfg['objective']} {cfg.get('objective_args') or ''}: clean accuracy {accuracy(model, test_data):.1%} ({how})"


# ---------------------------------------------------------------------------------------------------------------
# Disjoint training subsets: a model, or a validation split, that shares no training image with other models


DISJOINT = "disjoint_from"  # the configuration entry naming the draws whose images a model must not train on


def training_draw(config: dict) -> dict:
    """Which training images the zoo configuration `config` trains on, as plain JSON: `n` (its n_train), `seed`
    (its seed, 0 by default) and, for a configuration made by `disjoint`, `exclude` (the draws it avoids).
    Introduced in Chapter 4."""
    checks.mapping(config, "config", "zoo.training_draw", required=("n_train",))
    draw = dict(n=config["n_train"], seed=config.get("seed", 0))
    if config.get(DISJOINT):
        draw["exclude"] = [dict(d) for d in config[DISJOINT]]
    return draw


def disjoint(config: dict, *others: dict) -> dict:
    """`config` trained on images of its dataset's training split that none of the zoo configurations `others`
    trains on: its `n_train` images are drawn (seeded by its seed) from those left once the images of every one
    of `others` are taken out (`draw_indices`). The entry `disjoint_from` (their `training_draw`s) enters the
    cache key; a configuration without it loads its images exactly as before. Introduced in Chapter 4."""
    where = "zoo.disjoint"
    checks.mapping(config, "config", where, required=("dataset", "n_train"))
    if not others:
        checks.fail(where, "others", "hold at least one configuration to be disjoint from", got="none")
    _same_dataset(others, config["dataset"], where)
    return {**config, DISJOINT: [training_draw(other) for other in others]}


def _same_dataset(others, dataset, where):
    """Every one of `others` is a zoo configuration that loads its own training images from `dataset`."""
    for i, other in enumerate(others):
        checks.mapping(other, f"others[{i}]", where, required=("dataset", "n_train"))
        if other["dataset"] != dataset:
            checks.fail(where, f"others[{i}]", f"train on the dataset {dataset!r}", got=repr(other["dataset"]))


def draw_indices(total: int, draw: dict) -> torch.Tensor:
    """The indices, into a training split of `total` images, of the images `draw` (a `training_draw`) names.

    Without `exclude`: the first `n` of a permutation seeded with `seed`, exactly the images
    `data.load(name, 'train', n=n, seed=seed)` returns. With `exclude`: `n` images drawn the same way from those
    that no excluded draw names (in their order in the split), so none of them is in any excluded draw.
    A ValueError says how many are left when fewer than `n` are. Introduced in Chapter 4."""
    where = "zoo.draw_indices"
    checks.integer(total, "total", where)
    checks.mapping(draw, "draw", where, required=("n", "seed"))
    n = checks.integer(draw["n"], "draw['n']", where)
    seed = checks.integer(draw["seed"], "draw['seed']", where, low=0)
    excluded = draw.get("exclude") or []
    free = torch.arange(total)
    if excluded:
        taken = torch.zeros(total, dtype=torch.bool)
        for other in excluded:
            taken[draw_indices(total, other)] = True
        free = (~taken).nonzero().flatten()
    if n > len(free):
        checks.fail(where, "draw['n']", f"be at most the {len(free)} training images left of {total} once "
                    f"{len(excluded)} excluded draw(s) are taken out", got=str(n))
    return free[torch.randperm(len(free), generator=torch.Generator().manual_seed(seed))[:n]]


def training_set(config: dict, device=None) -> Data:
    """The training images and labels the zoo configuration `config` trains on: `data.load`'s seeded draw of
    n_train images, or, for a configuration made by `disjoint`, its draw from the images the others leave.
    Introduced in Chapter 4."""
    checks.mapping(config, "config", "zoo.training_set", required=("dataset", "n_train"))
    if not config.get(DISJOINT):
        return load(config["dataset"], "train", n=config["n_train"], seed=config.get("seed", 0), device=device)
    return _drawn(config["dataset"], training_draw(config), device)


def _drawn(dataset: str, draw: dict, device=None) -> Data:
    """The images of `dataset`'s training split that `draw` (a `training_draw`) names."""
    whole = load(dataset, "train", device=device)
    return whole[draw_indices(len(whole), draw).to(whole.device)]


def held_out(dataset: str, n: int, seed: int, others: list, device=None) -> Data:
    """`n` images of `dataset`'s training split (drawn seeded by `seed`) on which none of the zoo configurations
    `others` trains: a validation split, apart from the test set. Introduced in Chapter 4."""
    where = "zoo.held_out"
    checks.one_of(dataset, INFO, "dataset", where)
    checks.integer(n, "n", where)
    checks.integer(seed, "seed", where, low=0)
    if not isinstance(others, (list, tuple)) or not others:
        checks.fail(where, "others", "be a non-empty list of zoo configurations", others,
                    error=checks.ArgumentTypeError)
    _same_dataset(others, dataset, where)
    return _drawn(dataset, dict(n=n, seed=seed, exclude=[training_draw(other) for other in others]), device)


def shared_images(config: dict, other: dict) -> int:
    """How many training images the zoo configurations `config` and `other` (of one dataset) both train on: 0 for
    a configuration made `disjoint` from the other. Introduced in Chapter 4."""
    where = "zoo.shared_images"
    checks.mapping(config, "config", where, required=("dataset", "n_train"))
    _same_dataset([other], config["dataset"], where)
    total = len(load(config["dataset"], "train", device="cpu"))
    a, b = (set(draw_indices(total, training_draw(c)).tolist()) for c in (config, other))
    return len(a & b)
