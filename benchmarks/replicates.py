"""Replicates: several models of one architecture trained together, each by its own `Recipe`.

A second training stack (its own batched objectives and SGD), kept here with the benchmark that measures it
(`seeds.py`, `run.py --only seeds`) and out of pagutils until a GPU measurement shows it pays: no chapter uses it,
and on a CPU it is slower than training one by one (below). It imports pagutils like any other user.

Chapter 10 sweeps each robustness objective over strengths (gradient-norm λ in 0.03 ... 30) and every point over
seeds. `train_together(models, datasets, recipes)` trains K such models in one pass over the steps instead of K
passes: their parameters are stacked along a leading model axis (`torch.func.stack_module_state`), every step
computes the K forward and backward passes as one (grouped convolutions and batched matrix products), and one
SGD update moves all K models. What it saves is per-step work that does not grow with K (Python,
kernel launches, the optimiser's loop over tensors), which is what small models spend a GPU's time on. A CPU spends
its time on the arithmetic itself, which stacking does not reduce: there, `benchmarks/seeds.py` measured K = 3
small CNNs or MLPs trained together at 0.7-0.9x the speed of training them one by one (2 CPU cores; larger
tensors fall out of the caches, and a grouped convolution with one input channel per group is slow). No GPU run
is recorded yet.

Each model is trained exactly as `train.train(model, data, recipe)` trains it alone, up to float rounding:

- its own data and order: a CPU generator seeded with its recipe's seed draws, as `train` does, the shuffle at
  the start of every epoch, then in every step the augmentation's crops and flips (`augment_crop_flip`) and then
  the objective's noise: PGD's random start ('pgd', by the attack's own step class), the Gaussian noise of
  'noise_augmentation' and of 'noise_consistency' (drawn only when its λ is not 0, as the objective itself
  does). Every draw of a single run is matched, in the same order, so all five objectives reproduce single runs;
- its own learning rate (recipes may differ in lr),
  momentum and weight decay, in SGD with Nesterov momentum computed as `torch.optim.SGD` computes it;
- its own objective arguments (λ, σ, ε, step size) where they are numbers; the arguments that shape the
  computation (PGD's norm, steps and precision, the divergence `kind`) must agree.

What is shared must agree, and is checked once, here, with an error naming the argument: the architecture
(parameter names and shapes), the number of examples, batch_size, epochs, schedule, augment and the objective.
Refused: layers with batch statistics or running buffers (BatchNorm: small_resnet, resnet18, vgg11,
densenet121) and Dropout; train those one at a time with `train.train`. Not reproduced: `train.train` also seeds
torch's global generator, which no objective here draws from; `attack_compile` is ignored (compiling changes
the speed of the attack, not its values); there is no per-epoch evaluation (`eval_data`).

Engines: 'grouped' runs a `models.Classifier` built of Conv2d, Linear, Flatten, pooling and activation layers
(mlp, small_cnn, wide_cnn) as grouped convolutions over a (batch, K x channels, H, W) layout and batched matrix
products; 'vmap' runs any other module through `torch.func.vmap` of `functional_call`. 'auto' picks grouped
where it applies (a training step of 3 small CNNs took half the time of vmap's on one CPU core).

`get_many(configs)` is the zoo's door to it: it loads the cached configurations and trains the missing ones,
together where they stack (on a GPU by default; `together=True` forces it), each cached under its own key.
"""
import copy
import inspect
import math
import time
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from pagutils import attacks, cache, checks
from pagutils.core.data import Data, augment_crop_flip, load
from pagutils.core.device import resolve
from pagutils.core.models import Classifier, make_classifier
from pagutils.core.progress import progress
from pagutils.core.robust_losses import _divergence
from pagutils.core.train import Recipe, learning_rate, objective_factory
from pagutils.core.zoo import REQUIRED, cached_model, get

ENGINES = ("auto", "grouped", "vmap")
WHERE = "train_together"


class NotStackable(ValueError):
    """Models, data sets or recipes that cannot be trained together (`get_many` then trains them one by one)."""


# ------------------------------------------------------------------------------------------- objectives, batched
def _cross_entropies(logits, y):
    """Per-example cross-entropies (K, B) of stacked logits (K, B, classes) and labels (K, B)."""
    return F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(y.shape)


def _noise(args, x, generator):
    """The single run's noise: sigma times standard Gaussian noise drawn on the CPU (robust_losses._noise)."""
    return args["sigma"] * torch.randn(x.shape, generator=generator).to(x)


def _pgd_step_size(args):
    """PGD's step size, as the `pgd` objective's attack takes it: `attacks.Attack.step` (its default in float32)."""
    step = attacks.Attack(args["norm"], args["eps"], args["steps"], args["step_size"]).step
    return torch.as_tensor(step, dtype=torch.float32)


def _pgd_start(args, x, generator):
    """PGD's random start for one model's batch, by the attack's own step class (the same draws, in order)."""
    step = attacks.STEPS[args["norm"]](x, args["eps"], _pgd_step_size(args))
    return step.random_start(generator)


def _standard_loss(forward, frozen_forward, x, y, drawn, args):
    return _cross_entropies(forward(x), y).mean(1)


def _gradient_norm_loss(forward, frozen_forward, x, y, drawn, args):
    x = x.detach().requires_grad_(True)
    per_example = _cross_entropies(forward(x), y)
    ce = per_example.mean(1)
    if not bool(args["lam"].any()):
        return ce
    (grad,) = torch.autograd.grad(per_example.sum(), x, create_graph=True)  # each example's own input gradient
    return ce + args["lam"] * grad.flatten(2).pow(2).sum(2).mean(1)


def _noise_consistency_loss(forward, frozen_forward, x, y, drawn, args):
    logits = forward(x)
    ce = _cross_entropies(logits, y).mean(1)
    if not bool(args["lam"].any()):
        return ce
    return ce + args["lam"] * _divergence(logits, forward(x + drawn), args["kind"]).mean(1)


def _noise_augmentation_loss(forward, frozen_forward, x, y, drawn, args):
    return _cross_entropies(forward(x + drawn), y).mean(1)


class _Flat(nn.Module):
    """K stacked models as one model of flat batches: (K * B, ...) -> (K * B, classes), for the attack loop."""

    def __init__(self, forward, shape):
        super().__init__()
        self.stacked, self.shape = forward, shape

    def forward(self, x):
        return self.stacked(x.view(self.shape)).flatten(0, 1)


def _pgd_loss(forward, frozen_forward, x, y, drawn, args):
    """PGD from each model's random start `drawn`, per example in (K * B, ...) with each model's eps and step
    size: the attack loop (`attacks.ascend`) with the attack's own step class, centred on the clean batch; then
    the cross-entropy on the adversarial batch."""
    b = y.shape[1]
    step = attacks.STEPS[args["norm"]](x.flatten(0, 1), args["eps"].repeat_interleave(b),
                                       args["step_size"].repeat_interleave(b))

    def summed_cross_entropy(model, x, y):
        with attacks.autocast(args["attack_precision"], x.device):
            logits = model(x)
        return F.cross_entropy(logits.float(), y, reduction="sum")

    x_adv = attacks.ascend(_Flat(frozen_forward, x.shape), drawn.flatten(0, 1), y.flatten(), summed_cross_entropy,
                           lambda start: step, args["steps"])  # _Flat has no weights: its own layout
    return _cross_entropies(forward(x_adv.view(x.shape)), y).mean(1)


class Batched(NamedTuple):
    """The batched form of a registered objective: `loss(forward, frozen_forward, x, y, drawn, args) -> (K,)`, the
    K models' losses on stacked batches x (K, B, ...), y (K, B) (`forward` runs the K models, `frozen_forward` runs
    them without parameter gradients, for attacks); `draw(args, x, generator)` one model's random draws of a step
    from its generator, stacked into `drawn` (None: it draws nothing); `shared` the arguments that must be equal
    in all models (the others are numbers, stacked into (K,) tensors in `args`)."""
    loss: Callable
    draw: Callable = None
    shared: tuple = ()


BATCHED = {
    "standard": Batched(_standard_loss),
    "gradient_norm": Batched(_gradient_norm_loss),
    "noise_consistency": Batched(_noise_consistency_loss,
                                 lambda args, x, g: _noise(args, x, g) if args["lam"] != 0 else torch.zeros_like(x),
                                 shared=("kind",)),
    "noise_augmentation": Batched(_noise_augmentation_loss, _noise),
    "pgd": Batched(_pgd_loss, _pgd_start, shared=("norm", "steps", "attack_precision")),
}
IGNORED_ARGS = {"pgd": ("attack_compile",)}


def _arguments(recipe):
    """The recipe's objective arguments with the objective's defaults filled in."""
    bound = inspect.signature(objective_factory(recipe.objective)).bind(**recipe.objective_args)
    bound.apply_defaults()
    return dict(bound.arguments)


SHARED_FIELDS = ("epochs", "batch_size", "schedule", "augment", "objective")


def stack_key(recipe) -> tuple:
    """What recipes trained together must share: equal keys (for models of one architecture on data sets of one
    size) can be stacked, unless the objective has no batched form."""
    shared = BATCHED[recipe.objective].shared if recipe.objective in BATCHED else ()
    args = _arguments(recipe)
    return tuple(getattr(recipe, name) for name in SHARED_FIELDS) + tuple((name, args[name]) for name in shared)


# ------------------------------------------------------------------------------------------- stacked forward passes
ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.ELU, nn.Tanh, nn.Sigmoid, nn.Softplus, nn.Identity)
POOLS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


def _refused_layer(model):
    """(name, layer) of the first layer of `model` that cannot be trained stacked, or None."""
    for name, module in model.named_modules():
        if isinstance(module, (nn.modules.batchnorm._NormBase, nn.modules.dropout._DropoutNd)):
            return name, module
    return None


def _groupable(module, layout="images"):
    """The layout ('images' or 'vectors') after `module` when the grouped engine can run it, else None."""
    if isinstance(module, nn.Sequential):
        for child in module:
            layout = _groupable(child, layout)
            if layout is None:
                return None
        return layout
    if isinstance(module, nn.Conv2d):
        ok = layout == "images" and module.padding_mode == "zeros"
        return "images" if ok else None
    if isinstance(module, nn.Linear):
        return "vectors" if layout == "vectors" else None
    if isinstance(module, nn.Flatten):
        return "vectors" if layout == "images" and module.start_dim == 1 and module.end_dim == -1 else None
    if isinstance(module, POOLS):
        return "images" if layout == "images" else None
    if isinstance(module, ELEMENTWISE):
        return layout
    return None


def grouped_engine_applies(model) -> bool:
    """Whether `model` is a `models.Classifier` whose every layer has a grouped form (Conv2d, Linear, Flatten,
    pooling, activations) and which holds no buffers but its normalisation: mlp, small_cnn and wide_cnn do."""
    if not isinstance(model, Classifier):
        return False
    if {name for name, _ in model.named_buffers()} != {"mean", "std"}:
        return False
    return _groupable(model.features) == "vectors" and _groupable(model.head, "vectors") == "vectors"


def _grouped(module, prefix, h, params, k):
    """Run `module` on K models' activations: images as (B, K * C, H, W), vectors as (K, B, F)."""
    if isinstance(module, nn.Sequential):
        for name, child in module.named_children():
            h = _grouped(child, f"{prefix}{name}.", h, params, k)
        return h
    if isinstance(module, nn.Conv2d):
        weight, bias = params[prefix + "weight"], params.get(prefix + "bias")
        weight = weight.flatten(0, 1).contiguous(memory_format=torch.channels_last)
        return F.conv2d(h, weight, None if bias is None else bias.flatten(), module.stride, module.padding,
                        module.dilation, module.groups * k)
    if isinstance(module, nn.Linear):
        weight, bias = params[prefix + "weight"], params.get(prefix + "bias")
        if bias is None:
            return torch.bmm(h, weight.transpose(1, 2))
        return torch.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2))
    if isinstance(module, nn.Flatten):
        return h.reshape(h.shape[0], k, -1).transpose(0, 1)
    return module(h)


def _grouped_forward(template, params, buffers, x):
    """K classifiers' logits (K, B, classes) for their inputs x (K, B, C, H, W), by grouped layers."""
    k, b, c, height, width = x.shape
    x = (x - buffers["mean"]) / buffers["std"]  # each model's normalisation, (K, 1, C, 1, 1)
    h = x.transpose(0, 1).reshape(b, k * c, height, width).contiguous(memory_format=torch.channels_last)
    h = _grouped(template.features, "features.", h, params, k)
    return _grouped(template.head, "head.", h, params, k)


def _vmap_forward(template, params, buffers, x):
    """K models' outputs for their inputs x (K, B, ...) through vmap of functional_call."""
    return torch.func.vmap(lambda p, s, xi: torch.func.functional_call(template, (p, s), (xi,)))(params, buffers, x)


# ------------------------------------------------------------------------------------------- checks
def _as_list(value, name):
    if not isinstance(value, (list, tuple)):
        raise checks.ArgumentTypeError(f"{WHERE}: {name} must be a list with one entry per model, got "
                                       f"{checks.brief(value)}")
    return list(value)


def check(models, datasets, recipes, engine="auto"):
    """Check once that `models`, `datasets` and `recipes` can be trained together; return (datasets as a list,
    the engine). Raises `NotStackable` (a ValueError) naming the argument that differs or the layer that cannot
    be stacked, `ArgumentTypeError` for a wrong kind of argument."""
    models = _as_list(models, "models")
    if isinstance(datasets, Data):
        datasets = [datasets] * len(models)
    datasets, recipes = _as_list(datasets, "datasets"), _as_list(recipes, "recipes")
    if not models:
        raise ValueError(f"{WHERE}: models is empty: give at least one model")
    if not len(models) == len(datasets) == len(recipes):
        raise ValueError(f"{WHERE}: models, datasets and recipes must have one entry per model, got "
                         f"{len(models)} models, {len(datasets)} datasets and {len(recipes)} recipes")
    checks.one_of(engine, ENGINES, "engine", WHERE)
    for i, model in enumerate(models):
        if not isinstance(model, nn.Module):
            raise checks.ArgumentTypeError(f"{WHERE}: models[{i}] must be a torch module, got {checks.brief(model)}")
        if any(model is other for other in models[:i]):
            raise ValueError(f"{WHERE}: models[{i}] is the same object as an earlier model: give each replicate "
                             f"its own model")
        refused = _refused_layer(model)
        if refused:
            name, layer = refused
            why = ("its batch statistics and running-statistics buffers are updated in place during training, which "
                   "the stacked functional pass does not do per model" if not isinstance(layer, nn.modules.dropout._DropoutNd)
                   else "its masks come from torch's global generator, which a stacked pass cannot draw as K single runs would")
            raise NotStackable(f"{WHERE}: models[{i}] has a {type(layer).__name__} layer ({name!r}), as the "
                               f"architectures small_resnet, resnet18, vgg11 and densenet121 have BatchNorm: {why}. "
                               f"Train such models one at a time with train.train")
        if type(model) is not type(models[0]) or _shapes(model) != _shapes(models[0]):
            raise NotStackable(f"{WHERE}: models[{i}] is not of models[0]'s architecture: "
                               f"{_shape_difference(models[0], model)}; replicates must share every parameter's "
                               f"name and shape")
    device = next(models[0].parameters()).device
    for i, model in enumerate(models):
        if any(t.device != device for t in [*model.parameters(), *model.buffers()]):
            raise ValueError(f"{WHERE}: models[{i}] is not on models[0]'s device {device}")
    for i, recipe in enumerate(recipes):
        if not isinstance(recipe, Recipe):
            raise checks.ArgumentTypeError(f"{WHERE}: recipes[{i}] must be a pagutils.core.train.Recipe, got "
                                           f"{checks.brief(recipe)}")
    for i, data in enumerate(datasets):
        checks.nonempty(data, f"datasets[{i}]", WHERE)
        checks.images(data.x, f"datasets[{i}].x", WHERE, unit=False)
        if len(data) != len(datasets[0]) or data.x.shape[1:] != datasets[0].x.shape[1:]:
            raise NotStackable(f"{WHERE}: datasets[{i}] holds {len(data)} images of shape {tuple(data.x.shape[1:])}, "
                               f"datasets[0] {len(datasets[0])} of shape {tuple(datasets[0].x.shape[1:])}: every "
                               f"model must see as many examples of one shape (and so take the same steps)")
        if data.x.device != device or data.y.device != device:
            raise ValueError(f"{WHERE}: datasets[{i}] is on {data.x.device}, the models on {device}: move it there "
                             f"(data.to(device))")
    num_classes = checks.model_logits(models[0], datasets[0].x, "models[0]", WHERE)
    for i, data in enumerate(datasets):
        checks.labels(data.y, f"datasets[{i}].y", WHERE, num_classes=num_classes)
    first = recipes[0]
    for i, recipe in enumerate(recipes):
        if recipe.clip_grad_norm is not None:  # one norm over each model's own gradient: not written here
            raise NotStackable(f"{WHERE}: recipes[{i}].clip_grad_norm is {recipe.clip_grad_norm!r}: gradient "
                               f"clipping has no joint form here; train these models one at a time with train.train")
    for i, recipe in enumerate(recipes[1:], 1):
        for name in SHARED_FIELDS:
            if getattr(recipe, name) != getattr(first, name):
                raise NotStackable(f"{WHERE}: recipes[{i}].{name} is {getattr(recipe, name)!r} but recipes[0].{name} "
                                   f"is {getattr(first, name)!r}: models trained together share {name}")
    if first.objective not in BATCHED:
        raise NotStackable(f"{WHERE}: the objective {first.objective!r} has no batched form here (batched: "
                           f"{sorted(BATCHED)}); train these models one at a time with train.train")
    reference = _arguments(first)
    for i, recipe in enumerate(recipes):
        args = _arguments(recipe)
        for name in BATCHED[first.objective].shared:
            if args[name] != reference[name]:
                raise NotStackable(f"{WHERE}: recipes[{i}].objective_args[{name!r}] is {args[name]!r} but recipes[0]'s "
                                   f"is {reference[name]!r}: it shapes the computation, so it must be shared")
    if engine == "auto":
        engine = "grouped" if grouped_engine_applies(models[0]) else "vmap"
    elif engine == "grouped" and not grouped_engine_applies(models[0]):
        raise ValueError(f"{WHERE}: engine 'grouped' runs a models.Classifier of Conv2d, Linear, Flatten, pooling "
                         f"and activation layers only; use engine='vmap' (or 'auto') for this model")
    return datasets, engine


def _shapes(model):
    """name -> shape of every parameter and buffer of `model` (what replicates must share)."""
    return {name: tuple(t.shape) for name, t in [*model.named_parameters(), *model.named_buffers()]}


def _shape_difference(a, b):
    shapes_a, shapes_b = _shapes(a), _shapes(b)
    if type(a) is not type(b):
        return f"it is a {type(b).__name__}, models[0] a {type(a).__name__}"
    for name in sorted(set(shapes_a) | set(shapes_b)):
        if shapes_a.get(name) != shapes_b.get(name):
            return f"its {name!r} has shape {shapes_b.get(name)}, models[0]'s {shapes_a.get(name)}"
    return "their parameters differ"


# ------------------------------------------------------------------------------------------- training
def train_together(models, datasets, recipes, show_progress=True, engine="auto"):
    """Train `models` (one architecture) in place, each on its data set by its recipe, all in one pass.

    `models`, `datasets` and `recipes` are lists with one entry per model (`datasets` may be one `Data` set that
    every model trains on, each in its own order). Each model follows the training `train.train(model, data,
    recipe)` gives it alone, up to float rounding (the module's docstring says what is matched and what must be
    shared, and is checked here, once). Returns one history per model, as `train.train` does: a record
    `dict(epoch, loss, seconds)` per epoch, `seconds` being the joint epoch's. The models are left in eval mode.
    `engine` is 'auto', 'grouped' or 'vmap' (the module's docstring).
    """
    datasets, engine = check(models, datasets, recipes, engine)
    k, first = len(models), recipes[0]
    batched = BATCHED[first.objective]
    device = next(models[0].parameters()).device
    params, buffers = torch.func.stack_module_state(models)
    if engine == "grouped":
        template = models[0]
        run = lambda p, x: _grouped_forward(template, p, buffers, x)
    else:
        template = copy.deepcopy(models[0]).to("meta")
        run = lambda p, x: _vmap_forward(template, p, buffers, x)
    forward = lambda x: run(params, x)
    frozen = {name: p.detach() for name, p in params.items()}
    frozen_forward = lambda x: run(frozen, x)

    # each model's objective arguments: shared ones as they are, numbers stacked into (K,) tensors
    each = [_arguments(r) for r in recipes]
    args = {}
    for name, value in each[0].items():
        if name in batched.shared or name in IGNORED_ARGS.get(first.objective, ()):
            args[name] = value
        elif first.objective == "pgd" and name == "step_size":
            args[name] = torch.stack([_pgd_step_size(a) for a in each]).to(device)
        else:
            args[name] = torch.tensor([float(a[name]) for a in each], dtype=torch.float32, device=device)

    generators = [torch.Generator().manual_seed(r.seed) for r in recipes]
    n, batch_size, epochs = len(datasets[0]), first.batch_size, first.epochs
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps, step = epochs * steps_per_epoch, 0
    optimizer = _SGD(params, [r.momentum for r in recipes], [r.weight_decay for r in recipes])
    histories = [[] for _ in models]
    bar = progress(total=total_steps, desc=f"{first.objective} x{k} together", disable=not show_progress)
    for epoch in range(1, epochs + 1):
        started, loss_sum = time.perf_counter(), torch.zeros(k, device=device)
        orders = [torch.randperm(n, generator=g).to(device) for g in generators]  # as Data.batches draws it
        for start in range(0, n, batch_size):
            xs, ys, drawn = [], [], []
            for data, order, generator, a in zip(datasets, orders, generators, each):
                index = order[start:start + batch_size]
                x, y = data.x[index], data.y[index]
                if first.augment:
                    x = augment_crop_flip(x, generator=generator)
                if batched.draw is not None:
                    drawn.append(batched.draw(a, x, generator))
                xs.append(x)
                ys.append(y)
            x, y = torch.stack(xs), torch.stack(ys)
            drawn = torch.stack(drawn) if drawn else None
            losses = batched.loss(forward, frozen_forward, x, y, drawn, args)
            grads = torch.autograd.grad(losses.sum(), list(params.values()))
            optimizer.step(grads, [learning_rate(r.lr, first.schedule, step / total_steps) for r in recipes])
            step += 1
            loss_sum += losses.detach() * y.shape[1]
            bar.update()
            if step % 20 == 0 or step == total_steps:
                bar.set_postfix(loss=f"{losses.detach().mean().item():.3f}", refresh=False)
        seconds = time.perf_counter() - started
        for history, loss in zip(histories, (loss_sum / n).tolist()):
            history.append(dict(epoch=epoch, loss=loss, seconds=seconds))
    bar.close()
    with torch.no_grad():
        for i, model in enumerate(models):
            for name, p in model.named_parameters():
                p.copy_(params[name][i])
            model.eval()
    return histories


class _SGD:
    """torch.optim.SGD (Nesterov momentum when momentum > 0, weight decay) on stacked parameters, each model with
    its own learning rate, momentum and weight decay, computed with torch's own operations (`add` with a scalar
    `alpha`, so the rounding is a single run's): over the whole stack where every model has the same value, else
    slice by slice. Momentum 0 is plain SGD, as in torch (where nesterov is then off: the Nesterov update with
    momentum 0 is the plain one)."""

    def __init__(self, params, momentum, weight_decay):
        self.params, self.buffers = params, {name: None for name in params}
        self.momentum, self.weight_decay = momentum, weight_decay

    @torch.no_grad()
    def step(self, grads, lr):
        for (name, p), grad in zip(self.params.items(), grads):
            grad = _plus(grad, p, self.weight_decay)
            if any(self.momentum):
                buffer = self.buffers[name]
                if buffer is None:
                    buffer = self.buffers[name] = grad.clone()
                else:
                    for part, value in _parts(buffer, self.momentum):
                        part.mul_(value)
                    buffer.add_(grad)
                grad = _plus(grad, buffer, self.momentum)
            for (part, value), (update, _) in zip(_parts(p, lr), _parts(grad, lr)):
                part.add_(update, alpha=-value)


def _parts(tensor, values):
    """[(tensor, value)] when every model has the same value, else [(tensor[i], values[i])] model by model."""
    if all(value == values[0] for value in values):
        return [(tensor, values[0])]
    return [(tensor[i], value) for i, value in enumerate(values)]


def _plus(a, b, factors):
    """a + factor * b with each model's factor, as torch's a.add(b, alpha=factor); a factor 0 adds nothing."""
    if not any(factors):
        return a
    out = a.clone()
    for (part, factor), (other, _) in zip(_parts(out, factors), _parts(b, factors)):
        if factor:
            part.add_(other, alpha=factor)
    return out


def get_many(configs, device=None, show_progress=True, together=None) -> list:
    """The models trained with each of `configs` (zoo configurations), the missing ones trained together.

    `together`: train stackable configurations in one batched pass (True) or one by one through `zoo.get`
    (False); None stacks on a GPU only. On a CPU, stacking was measured slower than one by one
    (`benchmarks/seeds.py`, 3 small CNNs on 2,000 MNIST images: 0.67-0.74x; MLPs 0.76-0.83x): the arithmetic is
    the cost there and stacking does not reduce it; on a GPU small models are bound by per-step overhead, which
    it removes (not measured yet). Either way every model is the one a single run trains (to float tolerance)
    and is cached under its own key. Configurations already in the cache are loaded, as `get` loads them. The missing ones that can be stacked
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
    `train_seconds` as `get`'s do.
    """
    where = "replicates.get_many"
    if not isinstance(configs, (list, tuple)) or not configs:
        raise checks.ArgumentTypeError(f"{where}: configs must be a non-empty list of zoo configurations (dicts), "
                                       f"got {checks.brief(configs)}")
    for i, config in enumerate(configs):
        checks.mapping(config, f"configs[{i}]", where, REQUIRED)
    if together is not None and not isinstance(together, bool):
        raise checks.ArgumentTypeError(f"{where}: together must be True, False or None (None: on a GPU only), "
                                       f"got {checks.brief(together)}")
    recipes = [Recipe.from_config(config) for config in configs]  # every recipe checked before anything trains
    device = resolve(device)
    together = torch.device(device).type == "cuda" if together is None else together
    found, groups, first_of = [None] * len(configs), {}, {}
    for i, config in enumerate(configs):
        key = cache.config_key(config)
        if key in first_of:
            continue  # a repeated configuration: loaded below, once its first copy is trained
        first_of[key] = i
        if cache.path_for("models", config).is_file():
            found[i] = get(config, device=device, show_progress=show_progress)
        else:
            group = (config["arch"], config["dataset"], config["n_train"], stack_key(recipes[i]))
            groups.setdefault(group, []).append(i)
    for members in groups.values():
        if together and len(members) > 1:
            try:
                for i, model in zip(members, _train_together(configs, recipes, members, device, show_progress)):
                    found[i] = model
                continue
            except NotStackable:
                pass  # e.g. an architecture with BatchNorm: trained one by one below
        for i in members:
            found[i] = get(configs[i], device=device, show_progress=show_progress)
    return [model if model is not None else get(config, device=device, show_progress=show_progress)
            for model, config in zip(found, configs)]


def _train_together(configs, recipes, members, device, show_progress):
    """`get_many`'s stacked training of configs[i] for i in members: the models, trained and cached one by one
    under their own keys (as `cached_model` caches them). Raises `NotStackable` before training."""
    models = [make_classifier(configs[i]["arch"], configs[i]["dataset"], seed=recipes[i].seed).to(device)
              for i in members]
    sets = [load(configs[i]["dataset"], "train", n=configs[i]["n_train"], seed=recipes[i].seed, device=device)
            for i in members]
    started = time.perf_counter()
    histories = train_together(models, sets, [recipes[i] for i in members], show_progress=show_progress)
    seconds = time.perf_counter() - started
    for i, model, history in zip(members, models, histories):
        record = dict(history=history, train_seconds=seconds, trained_together=len(members))
        cached_model(configs[i], model, lambda model, record=record: record, device)
    return models
