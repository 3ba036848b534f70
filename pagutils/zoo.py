"""The model zoo: a model is named by its training configuration and trained at most once.

`zoo.get(config)` loads the weights from the safetensors cache when a model with exactly this
configuration was trained before (by any chapter), and otherwise trains it and stores it.
`standard(...)` and `robust(...)` give the configurations every chapter shares, per profile (their sizes and
radii live in `pagutils.defaults`). `cached_model` is the one path by which every trained model of the course
(zoo classifiers, the distractor and synthetic classifiers, autoencoders, denoisers) is trained once and cached.
"""
import time

from . import cache, checks
from .attacks import accuracy
from .data import INFO, load
from .defaults import shared
from .device import resolve
from .models import make_classifier
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


def cached_model(config: dict, model, fit, device=None):
    """`model` (freshly built, on `device`) with the weights that `fit(model) -> history` trains, trained once.

    The one path by which every trained model of the course is made: the weights are loaded from the
    safetensors cache when a model with exactly this `config` was trained before (by any chapter), and otherwise
    trained now and cached. `history` is a list of per-epoch records (dicts with at least `epoch` and `loss`).
    The model comes back in eval mode and carries `config`, `history`, `trained_now` (False when loaded) and
    `train_seconds` (of the run that trained it). Introduced in Chapter 1.
    """
    def train_now():
        started = time.perf_counter()
        history = fit(model)
        return model.state_dict(), dict(history=history, train_seconds=time.perf_counter() - started)

    state, info, built = cache.cached("models", config, train_now, device=resolve(device),
                                      expect=cache.shapes(model))
    if not built:
        model.load_state_dict(state)
    model.eval()
    model.config, model.history, model.trained_now = config, info.get("history", []), built
    model.train_seconds = info.get("train_seconds")
    return model


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
    model = make_classifier(config["arch"], config["dataset"], seed=recipe.seed).to(device)

    def fit(model):
        train_set = data if data is not None else load(config["dataset"], "train", n=config["n_train"],
                                                         seed=recipe.seed, device=device)
        args = recipe.objective_args
        return train(model, train_set, recipe, eval_data=eval_data, eval_eps=args.get("eps"),
                     eval_norm=args.get("norm", "l2"), show_progress=show_progress)

    return cached_model(config, model, fit, device)


def summary(model, test_data) -> str:
    """One line: architecture, objective and clean accuracy on `test_data`. Introduced in Chapter 1."""
    cfg = model.config
    how = "trained now" if model.trained_now else "loaded from the zoo"
    return f"{cfg['arch']} / {cfg['objective']} {cfg.get('objective_args') or ''}: clean accuracy {accuracy(model, test_data):.1%} ({how})"


def get_many(configs, device=None, show_progress=True) -> list:
    """The models trained with each of `configs` (zoo configurations), the missing ones trained together.

    Configurations already in the cache are loaded, as `get` loads them. The missing ones that can be stacked
    (the same arch, dataset, n_train, epochs, batch_size, schedule, augment and objective, and the objective
    arguments that shape its computation, such as PGD's norm and steps; they may differ in seed, lr, momentum,
    weight decay and the objective's strength) are trained together in one pass by
    `replicates.train_together`, each on the training subset and from the initialisation `get` would give it,
    and each is cached under its own configuration's key in the format `cached_model` writes: the file `get`
    reads. The cache info of a model trained together records the joint run's `train_seconds` and
    `trained_together` (how many models that run trained). Configurations that cannot be stacked with the others
    (alone in their group, an architecture with BatchNorm such as small_resnet or resnet18, an objective without
    a batched form) are trained one by one through `get`, as is one whose cache file exists but is damaged.
    Returns the models in the order of `configs`, each carrying `config`, `history`, `trained_now` and
    `train_seconds` as `get`'s do. Introduced in Chapter 10.
    """
    from . import replicates
    where = "zoo.get_many"
    if not isinstance(configs, (list, tuple)) or not configs:
        raise checks.ArgumentTypeError(f"{where}: configs must be a non-empty list of zoo configurations (dicts), "
                                       f"got {checks.brief(configs)}")
    for i, config in enumerate(configs):
        checks.mapping(config, f"configs[{i}]", where, REQUIRED)
    recipes = [Recipe.from_config(config) for config in configs]  # every recipe checked before anything trains
    device = resolve(device)
    found, groups, first_of = [None] * len(configs), {}, {}
    for i, config in enumerate(configs):
        key = cache.config_key(config)
        if key in first_of:
            continue  # a repeated configuration: loaded below, once its first copy is trained
        first_of[key] = i
        if cache.path_for("models", config).is_file():
            found[i] = get(config, device=device, show_progress=show_progress)
        else:
            group = (config["arch"], config["dataset"], config["n_train"], replicates.stack_key(recipes[i]))
            groups.setdefault(group, []).append(i)
    for members in groups.values():
        if len(members) > 1:
            try:
                for i, model in zip(members, _train_together(configs, recipes, members, device, show_progress)):
                    found[i] = model
                continue
            except replicates.NotStackable:
                pass  # e.g. an architecture with BatchNorm: trained one by one below
        for i in members:
            found[i] = get(configs[i], device=device, show_progress=show_progress)
    return [model if model is not None else get(config, device=device, show_progress=show_progress)
            for model, config in zip(found, configs)]


def _train_together(configs, recipes, members, device, show_progress):
    """`get_many`'s stacked training of configs[i] for i in members: the models, trained and cached one by one
    under their own keys (as `cached_model` caches them). Raises `replicates.NotStackable` before training."""
    from . import replicates
    models = [make_classifier(configs[i]["arch"], configs[i]["dataset"], seed=recipes[i].seed).to(device)
              for i in members]
    sets = [load(configs[i]["dataset"], "train", n=configs[i]["n_train"], seed=recipes[i].seed, device=device)
            for i in members]
    started = time.perf_counter()
    histories = replicates.train_together(models, sets, [recipes[i] for i in members], show_progress=show_progress)
    seconds = time.perf_counter() - started
    for i, model, history in zip(members, models, histories):
        info = dict(history=history, train_seconds=seconds, trained_together=len(members))
        state, info, built = cache.cached("models", configs[i], lambda: (model.state_dict(), info), device=device,
                                          expect=cache.shapes(model))
        if not built:  # another process cached this configuration meanwhile: its weights are the ones kept
            model.load_state_dict(state)
        model.eval()
        model.config, model.history, model.trained_now = configs[i], info.get("history", []), built
        model.train_seconds = info.get("train_seconds")
    return models
