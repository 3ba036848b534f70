"""The model zoo: a model is named by its training configuration and trained at most once.

`zoo.get(config)` loads the weights from the safetensors cache when a model with exactly this
configuration was trained before (by any chapter), and otherwise trains it and stores it.
`standard(...)` and `robust(...)` give the configurations every chapter shares, per profile.
"""
import time

from . import cache, checks
from .attacks import accuracy
from .data import INFO, load
from .device import resolve
from .models import build
from .train import train

# Training recipes per profile: the quick profile is sized for 2 CPU cores, the full one for a GPU.
RECIPES = {
    "quick": dict(arch="small_cnn", n_train=12000, epochs=3, lr=0.05, batch_size=128, momentum=0.9,
                  weight_decay=5e-4, schedule="cosine", augment=False, seed=0),
    "full": dict(arch="resnet18", n_train=50000, epochs=30, lr=0.1, batch_size=256, momentum=0.9,
                 weight_decay=5e-4, schedule="cosine", augment=True, seed=0),
}
# what every configuration names (n_train only when zoo.get loads the training set itself)
REQUIRED = frozenset({"arch", "dataset", "objective", "n_train", "epochs", "lr", "batch_size", "momentum",
                      "weight_decay", "schedule", "augment"})
# PGD used inside adversarial training, per profile
TRAIN_ATTACK = {"quick": dict(steps=5), "full": dict(steps=7)}


def _recipe(profile):
    if profile not in RECIPES:
        raise ValueError(f"profile must be one of {sorted(RECIPES)}, got {profile!r}")
    return dict(RECIPES[profile])


def standard(dataset, profile="quick", **overrides) -> dict:
    """The configuration of a standard (non-robust) model of `profile` on `dataset`."""
    checks.one_of(dataset, INFO, "dataset", "zoo.standard")
    return {**_recipe(profile), "dataset": dataset, "objective": "standard", "objective_args": {}, **overrides}


def robust(dataset, profile="quick", eps=1.0, norm="l2", steps=None, **overrides) -> dict:
    """The configuration of a PGD adversarially-trained model (radius `eps` in `norm`)."""
    checks.one_of(dataset, INFO, "dataset", "zoo.robust")
    checks.positive(eps, "eps", "zoo.robust")
    checks.norm(norm, "zoo.robust")
    if steps is not None:
        checks.integer(steps, "steps", "zoo.robust")
    args = dict(eps=float(eps), norm=norm, steps=steps or TRAIN_ATTACK[profile]["steps"])
    return {**_recipe(profile), "dataset": dataset, "objective": "pgd", "objective_args": args, **overrides}


def get(config: dict, data=None, device=None, eval_data=None, show_progress=True):
    """The model trained with `config`, loaded from the cache or trained now and cached.

    `data` replaces the training set named by config['dataset'] (then config must identify it, for
    example with a 'train_data' entry holding its construction's configuration). The returned model
    is in eval mode and carries `model.history` (per-epoch training record) and `model.config`.
    """
    checks.mapping(config, "config", "zoo.get", REQUIRED if data is None else REQUIRED - {"n_train"})
    if data is not None:
        checks.nonempty(data, "data", "zoo.get")
    if eval_data is not None:
        checks.nonempty(eval_data, "eval_data", "zoo.get")
    device = resolve(device)
    model = build(config["arch"], config["dataset"], seed=config.get("seed", 0)).to(device)

    def train_now():
        train_set = data if data is not None else load(config["dataset"], "train", n=config["n_train"],
                                                         seed=config.get("seed", 0), device=device)
        started = time.perf_counter()
        eps = config.get("objective_args", {}).get("eps")
        history = train(model, train_set, config["epochs"], config["objective"], config.get("objective_args"),
                        lr=config["lr"], batch_size=config["batch_size"], momentum=config["momentum"],
                        weight_decay=config["weight_decay"], schedule=config["schedule"],
                        augment=config["augment"], eval_data=eval_data, eval_eps=eps,
                        eval_norm=config.get("objective_args", {}).get("norm", "l2"),
                        seed=config.get("seed", 0), show_progress=show_progress)
        return model.state_dict(), dict(history=history, train_seconds=time.perf_counter() - started)

    state, info, built = cache.cached("models", config, train_now, device=device, expect=cache.shapes(model))
    if not built:
        model.load_state_dict(state)
    model.eval()
    model.history, model.config, model.trained_now = info.get("history", []), config, built
    model.train_seconds = info.get("train_seconds")
    return model


def describe(model, test_data) -> str:
    """One line: architecture, objective and clean accuracy on `test_data`."""
    cfg = model.config
    how = "trained now" if model.trained_now else "loaded from the zoo"
    return f"{cfg['arch']} / {cfg['objective']} {cfg.get('objective_args') or ''}: clean accuracy {accuracy(model, test_data):.1%} ({how})"
