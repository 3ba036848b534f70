"""Training: standard and PGD adversarial training, and a registry of training objectives.

An objective is `loss(model, x, y, generator) -> scalar`. A `Recipe` names the objective and the optimiser's
settings; `train(model, data, recipe)` minimises it with SGD (momentum, weight decay, cosine or step schedule),
shows a progress bar, and returns a history of loss and clean/robust accuracy per epoch.

Objectives are found by name in one registry, `objectives()`: the two defined here ('standard', 'pgd'), Chapter
10's three, which `robust_losses` lists in its `OBJECTIVES` dict, and any added with `register_objective` (a test's,
a reader's). No library module registers anything when imported: this module imports `robust_losses` (which
imports nothing of the training stack) and reads its table.
"""
import inspect
import math
import time
from dataclasses import dataclass, field, fields

import torch
import torch.nn.functional as F

from .attacks import Attack, accuracy, check_attack, pgd, robust_accuracy
from . import checkpoint as checkpoints, checks, robust_losses
from .data import augment_crop_flip
from .device import resolve_compile
from .models import channels_last
from .progress import progress

OBJECTIVES = {}   # name -> factory: the objectives defined here and those added with `register_objective`


def register_objective(name):
    """Decorator: register a factory `f(**args) -> loss(model, x, y, generator)` under `name` (it takes
    precedence over a library objective of that name). Introduced in Chapter 1."""
    def register(factory):
        OBJECTIVES[name] = factory
        return factory
    return register


@register_objective("standard")
def standard_objective():
    """Cross-entropy on the clean inputs. Introduced in Chapter 1."""
    return lambda model, x, y, generator: F.cross_entropy(model(x), y)


@register_objective("pgd")
def adversarial_objective(eps, norm="l2", steps=7, step_size=None, attack_precision="float32", attack_compile=None):
    """Cross-entropy on PGD adversarial inputs (Madry et al.): the min-max objective.

    The attack is the `attacks.Attack` these arguments (the objective's `objective_args`, named as in the zoo's
    configurations) describe: untargeted, from a random start, `step_size` None for `Attack.step`'s default.
    It runs in eval mode and computes input gradients only, so neither batch-norm statistics
    nor parameter gradients see it; the parameter update uses the adversarial batch alone.
    `attack_precision='bfloat16'` runs the attack (not the update) under bfloat16 autocast; `attack_compile`
    runs it through torch.compile (None: `PAG_COMPILE` decides), as the attack's `precision` and `compile`.
    Introduced in Chapter 1.
    """
    where = "objective 'pgd'"
    checks.positive(eps, "eps", where)
    try:
        attack = Attack(norm, eps, steps, step_size, precision=attack_precision, compile=attack_compile)
    except ValueError as error:  # the error names the objective's arguments, not the Attack's fields
        message = str(error).replace("Attack: precision ", "Attack: attack_precision ")
        message = message.replace("Attack: compile ", "Attack: attack_compile ")
        raise type(error)(message.replace("Attack:", f"{where}:", 1)) from None
    checks.integer(attack.steps, "steps", where)
    if attack.step_size is not None:
        checks.positive(attack.step_size, "step_size", where)
    attack = attack.replace(compile=resolve_compile(attack.compile, f"{where} (attack_compile)"))

    def loss(model, x, y, generator):
        # every argument was checked above and the batch by `train`: the unchecked attack, once per batch
        attacked = getattr(model, "module", model)  # under DistributedDataParallel, attack the local module
        x_adv = pgd(attacked, x, y, attack, generator=generator, check=False)
        return F.cross_entropy(model(x_adv), y)
    return loss


def objectives() -> dict:
    """Every objective by name (name -> factory): Chapter 10's (`robust_losses.OBJECTIVES`), then this module's and
    `register_objective`'s. Introduced in Chapter 1."""
    return {**robust_losses.OBJECTIVES, **OBJECTIVES}


def objective_factory(name: str):
    """The factory `f(**args) -> loss(model, x, y, generator)` of the objective `name`. Introduced in Chapter 1."""
    known = objectives()
    if name not in known:
        checks.fail("train.objective", "objective", f"be one of {sorted(known)}", got=repr(name))
    return known[name]


def objective(name: str, **args):
    """The loss function of the objective `name` with its arguments. Introduced in Chapter 1."""
    factory = objective_factory(name)
    signature = inspect.signature(factory)
    try:
        signature.bind(**args)
    except TypeError as error:
        problem = str(error)
    else:
        return factory(**args)
    checks.fail("train.objective", "objective_args", f"be arguments of objective {name!r}, which takes {signature}",
                got=f"{args}: {problem}", error=checks.ArgumentTypeError)


SCHEDULES = ("cosine", "step", "step_thirds", "constant")
_OMITTED_WHEN_NONE = ("clip_grad_norm",)  # Recipe fields added later: absent from `config()` while unset


def learning_rate(base_lr, schedule, progress_fraction):
    """The learning rate after `progress_fraction` (0 to 1) of training. Introduced in Chapter 1."""
    if schedule == "cosine":
        return base_lr * 0.5 * (1 + math.cos(math.pi * progress_fraction))
    if schedule == "step":
        return base_lr * (0.1 ** ((progress_fraction >= 0.5) + (progress_fraction >= 0.75)))
    if schedule == "step_thirds":  # x0.1 after 1/3 and 2/3 of training: the robustness library's step_lr=50 of 150
        return base_lr * (0.1 ** ((progress_fraction >= 1 / 3) + (progress_fraction >= 2 / 3)))
    if schedule == "constant":
        return base_lr
    checks.fail("learning_rate", "schedule", f"be one of {SCHEDULES}", got=repr(schedule))


@dataclass(frozen=True)
class Recipe:
    """How a model is trained: the objective, the optimiser's settings and the seed (as nanoGPT's `GPTConfig`).

    `clip_grad_norm`, when set, rescales every step's parameter gradient to at most that L2 norm (over all
    parameters together, `torch.nn.utils.clip_grad_norm_`) before the optimiser's step: the way Chapter 10 keeps
    strong penalties stable without slowing their training. Every value is checked once, here, where it comes
    in. `Recipe.from_config(config)` reads a recipe off a zoo configuration (a JSON dict that also names the
    architecture and data); `recipe.config()` gives the JSON entries back. Introduced in Chapter 1.
    """
    epochs: int
    objective: str = "standard"
    objective_args: dict = field(default_factory=dict)
    lr: float = 0.05
    batch_size: int = 128
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    augment: bool = False
    seed: int = 0
    clip_grad_norm: float = None  # None: no clipping (and no entry in `config()`)

    def __post_init__(self):
        where = "train"
        checks.integer(self.epochs, "epochs", where)
        checks.positive(self.lr, "lr", where)
        checks.integer(self.batch_size, "batch_size", where)
        checks.positive(self.momentum, "momentum", where, allow_zero=True)
        checks.positive(self.weight_decay, "weight_decay", where, allow_zero=True)
        checks.one_of(self.schedule, SCHEDULES, "schedule", where)
        checks.integer(self.seed, "seed", where, low=0)
        if self.clip_grad_norm is not None:
            checks.positive(self.clip_grad_norm, "clip_grad_norm", where)
        object.__setattr__(self, "objective_args", dict(self.objective_args or {}))
        objective(self.objective, **self.objective_args)  # an unknown objective or argument fails here

    @classmethod
    def from_config(cls, config: dict) -> "Recipe":
        """The recipe of a zoo configuration: its entries named like this class's fields (others are ignored)."""
        return cls(**{f.name: config[f.name] for f in fields(cls) if f.name in config})

    def config(self) -> dict:
        """The recipe as JSON entries (a zoo configuration's training part). An unset `clip_grad_norm` (None) is
        left out, so the configurations, cache keys and checkpoints of unclipped recipes are what they were
        before the field existed."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if not (f.name in _OMITTED_WHEN_NONE and getattr(self, f.name) is None)}

    def loss(self):
        """The objective's loss function `loss(model, x, y, generator)`."""
        return objective(self.objective, **self.objective_args)


def train(model, data, recipe: Recipe, eval_data=None, eval_attack: Attack = None, show_progress=True,
          checkpoint=None):
    """Train `model` in place on `data` (a `Data` set) by `recipe` and return the per-epoch history.

    With `eval_data`, every epoch ends with its clean accuracy and, when `eval_attack` (an `attacks.Attack` with a
    radius) is given, its robust accuracy under that attack (`attacks.robust_accuracy`). With `checkpoint` (a path,
    or a `checkpoint.Checkpoint` with `every_steps`), the run is resumable: it starts from that checkpoint when one
    exists, writes one every epoch (and every `every_steps` steps), writes one and exits on SIGTERM, and deletes
    it when done (`pagutils.core.checkpoint`). Introduced in Chapter 1.
    """
    where = "train"
    if not isinstance(recipe, Recipe):
        checks.fail(where, "recipe", "be a pagutils.core.train.Recipe (e.g. Recipe(epochs=3))", recipe,
                    error=checks.ArgumentTypeError)
    checks.nonempty(data, "data", where)
    checks.images(data.x, "data.x", where, unit=False)
    num_classes = checks.model_logits(model, data.x, "model", where)
    checks.labels(data.y, "data.y", where, num_classes=num_classes)
    if eval_data is not None:
        checks.nonempty(eval_data, "eval_data", where)
        checks.labels(eval_data.y, "eval_data.y", where, num_classes=num_classes)
    if eval_attack is not None:
        check_attack(eval_attack, where, name="eval_attack")
        checks.positive(eval_attack.eps, "eval_attack.eps", where, allow_zero=True)
        if eval_attack.targeted:
            checks.fail(where, "eval_attack", "be untargeted (robust accuracy attacks the true labels)",
                        got="targeted=True")
    evaluate = None
    if eval_data is not None:
        evaluate = lambda: _evaluation(model, eval_data, eval_attack)
    torch.manual_seed(recipe.seed)
    generator = torch.Generator().manual_seed(recipe.seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                weight_decay=recipe.weight_decay, nesterov=recipe.momentum > 0)
    identity = dict(recipe=recipe.config(), n=len(data))
    saver = checkpoints.Saver.of(checkpoint, identity, model, optimizer, generator)
    with channels_last(model):  # the faster layout for convolutions, restored after training
        history = _epochs(model, data, recipe, optimizer, generator, evaluate, show_progress, saver)
    saver.finish()
    model.eval()
    return history


def _evaluation(model, eval_data, eval_attack) -> dict:
    """The clean (and, with a non-zero `eval_attack`, robust) test accuracy recorded at the end of an epoch."""
    record = dict(test_accuracy=accuracy(model, eval_data))
    if eval_attack is not None and eval_attack.eps:
        record["robust_accuracy"] = robust_accuracy(model, eval_data, eval_attack, show_progress=False)
    return record


def _epochs(model, data, recipe, optimizer, generator, evaluate, show_progress, saver):
    """The training loop of `train`: one history record per epoch. It starts where `saver`'s checkpoint left off
    (at the beginning without one) and lets it write new ones (`pagutils.core.checkpoint.Saver`)."""
    loss_fn, epochs = recipe.loss(), recipe.epochs
    steps_per_epoch = math.ceil(len(data) / recipe.batch_size)
    total_steps, step, history = epochs * steps_per_epoch, 0, []
    at = saver.resume(data.device)
    first_epoch, step, history = at.epoch, at.step, at.history
    with saver.preemption:
        for epoch in range(first_epoch, epochs + 1):
            model.train()
            started, loss_sum = time.perf_counter(), (at.loss_sum if epoch == first_epoch else 0.0)
            clipped = 0  # steps of this epoch whose gradient was clipped (counted since the epoch's (re)start)
            skip = at.done_in_epoch if epoch == first_epoch else 0
            batches, epoch_state = _epoch_batches(data, recipe.batch_size, generator, at.epoch_state if skip else None,
                                                  skip)
            bar = progress(batches, total=steps_per_epoch - skip,
                           desc=f"{recipe.objective} epoch {epoch}/{epochs}", disable=not show_progress)
            for done, (x, y) in enumerate(bar, start=skip + 1):
                if recipe.augment:
                    x = augment_crop_flip(x, generator=generator)
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(recipe.lr, recipe.schedule, step / total_steps)
                loss = loss_fn(model, x, y, generator)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if recipe.clip_grad_norm is not None:
                    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.clip_grad_norm)
                    clipped += norm > recipe.clip_grad_norm  # a tensor on the device: no synchronisation
                optimizer.step()
                step += 1
                loss_sum += loss.detach() * len(y)  # summed on the device: no synchronisation per step
                if step % 20 == 0 or step == total_steps:
                    bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
                if done < steps_per_epoch:
                    saver.after_step(epoch, step, done, history, loss_sum, epoch_state)
            record = dict(epoch=epoch, loss=float(loss_sum) / len(data), seconds=time.perf_counter() - started)
            if recipe.clip_grad_norm is not None:  # the share of the epoch's steps whose gradient was clipped
                record["clipped"] = float(clipped) / max(1, steps_per_epoch - skip)
            if evaluate is not None:
                record.update(evaluate())
            history.append(record)
            saver.after_epoch(epoch + 1, step, history, generator)
    return history


def _epoch_batches(data, batch_size, generator, epoch_state, skip):
    """An epoch's shuffled batches, and the generator state the epoch began with. Resuming (`epoch_state` given),
    the generator is rewound to draw the epoch's order again, set forward to where the run stopped, and the first
    `skip` batches are left out."""
    if epoch_state is None:
        return data.batches(batch_size, shuffle=True, generator=generator), generator.get_state()
    now = generator.get_state()
    generator.set_state(epoch_state)

    def rest():
        for i, batch in enumerate(data.batches(batch_size, shuffle=True, generator=generator)):
            if i == 0:  # the order is drawn: the generator goes on from where the interrupted run stood
                generator.set_state(now)
            if i >= skip:
                yield batch
    return rest(), epoch_state


@dataclass(frozen=True)
class AdamRecipe:
    """How `fit_with_adam` trains: `epochs` over the data in shuffled batches of `batch_size`, Adam with learning
    rate `lr` on a cosine schedule. Checked once, here. Introduced in Chapter 9."""
    epochs: int
    lr: float = 1e-3
    batch_size: int = 128

    def __post_init__(self):
        where = "AdamRecipe"
        checks.integer(self.epochs, "epochs", where)
        checks.positive(self.lr, "lr", where)
        checks.integer(self.batch_size, "batch_size", where)


def fit_with_adam(net, x, batch_loss, recipe: AdamRecipe, generator, desc, show_progress=True, postfix="loss"):
    """Minimise `batch_loss(net, batch, generator)` over shuffled batches of the tensor `x` with Adam and a
    cosine schedule, as `recipe` says (the loop of the course's autoencoder and denoiser). Returns the history,
    one record `dict(epoch, loss)` per epoch (the mean loss), as `train` does; `net` is left in eval mode.
    Introduced in Chapter 9."""
    checks.tensor(x, "x", "fit_with_adam", floating=True)
    if len(x) == 0:
        checks.fail("fit_with_adam", "x", "hold at least one example to train on",
                    got=f"an empty tensor of shape {tuple(x.shape)}")
    if not isinstance(recipe, AdamRecipe):
        checks.fail("fit_with_adam", "recipe", "be a pagutils.core.train.AdamRecipe (e.g. AdamRecipe(epochs=5, "
                    "lr=1e-3))", recipe, error=checks.ArgumentTypeError)
    epochs, lr, batch_size = recipe.epochs, recipe.lr, recipe.batch_size
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    steps = epochs * math.ceil(len(x) / batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    net.train()
    bar = progress(total=steps, desc=desc, disable=not show_progress)
    history = []
    for epoch in range(1, epochs + 1):
        order, total = torch.randperm(len(x), generator=generator).to(x.device), 0.0
        for start in range(0, len(x), batch_size):
            batch = x[order[start:start + batch_size]]
            loss = batch_loss(net, batch, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.item() * len(batch)
            bar.update()
            bar.set_postfix({postfix: f"{loss.item():.4f}"}, refresh=False)
        history.append(dict(epoch=epoch, loss=total / len(x)))
    bar.close()
    net.eval()
    return history
