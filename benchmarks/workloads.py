"""What the parts time: the models and their sizes per device kind, seeded inputs, the torchattacks baseline and
the floor (the model's bare forward and input-gradient backward), which every part measures against."""
import contextlib

import torch
import torch.nn.functional as F

from pagutils import models
from pagutils.core.attacks import Attack
from pagutils.core.data import Data, INFO

STEPS = 10
# model name -> (arch, dataset, L2 eps, Linf eps, PGD steps of adversarial training)
MODELS = {"small_cnn": ("small_cnn", "mnist", 1.5, 0.1, 5), "resnet18": ("resnet18", "cifar10", 0.5, 8 / 255, 7)}
# batch sizes per device kind and model
BATCHES = {"cpu": {"small_cnn": [128, 256], "resnet18": [8, 16]},
           "cuda": {"small_cnn": [128, 512, 2048], "resnet18": [128, 512]}}
# repetitions per device kind and model (ResNet-18 on a CPU takes seconds a call)
REPS = {"cpu": {"small_cnn": 5, "resnet18": 3}, "cuda": {"small_cnn": 10, "resnet18": 10}}
# images for the training and the construction benchmarks, per device kind and model
WORK = {"cpu": {"small_cnn": 1024, "resnet18": 32}, "cuda": {"small_cnn": 16384, "resnet18": 2048}}
CONSTRUCT = {"cpu": {"small_cnn": 256, "resnet18": 8}, "cuda": {"small_cnn": 4096, "resnet18": 1024}}


def kind(device):
    """The key of the sizes above: "cuda" on a GPU, else "cpu" (MPS included)."""
    return "cuda" if device.type == "cuda" else "cpu"


def radius(name, norm):
    """The model's PGD radius in `norm`."""
    return MODELS[name][2] if norm == "l2" else MODELS[name][3]


def model_and_batch(name, n, device, dtype=torch.float32, seed=0):
    """The model `name` with seeded initial weights (eval mode) and `n` seeded uniform images and labels."""
    arch, dataset = MODELS[name][:2]
    model = models.make_classifier(arch, dataset, seed=seed).to(device=device, dtype=dtype).eval()
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand((n, *INFO[dataset]["shape"]), generator=generator).to(device=device, dtype=dtype)
    y = torch.randint(0, 10, (n,), generator=generator).to(device)
    return model, x, y


def as_data(name, x, y):
    """Images and labels of the model `name` as a pagutils `Data` set (what `train.train` takes)."""
    dataset = MODELS[name][1]
    return Data(x, y, INFO[dataset]["classes"], "benchmark")


def torchattacks_attack(model, norm, eps, steps, random_start=True, targeted=False):
    """torchattacks' PGD (Linf) or PGDL2 with pagutils' default step size (`attacks.Attack.step`, 2.5 eps / steps)."""
    import torchattacks
    attack_class = torchattacks.PGDL2 if norm == "l2" else torchattacks.PGD
    alpha = Attack(norm, eps, steps).step
    attack = attack_class(model, eps=eps, alpha=alpha, steps=steps, random_start=random_start)
    if targeted:
        attack.set_mode_targeted_by_label(quiet=True)
    return attack


def floor(model, x, y, steps, layout=False, compile=False):
    """`steps` bare forward + input-gradient backward passes (channels-last weights and inputs with `layout`;
    with `compile`, the model runs through torch.compile with its parameters frozen, as `attacks.pgd` runs it)."""
    def run():
        with (models.channels_last(model) if layout else contextlib.nullcontext(),
              models.frozen(model) if compile else contextlib.nullcontext()):
            xs = x.contiguous(memory_format=torch.channels_last) if layout else x
            for _ in range(steps):
                xs = xs.detach().requires_grad_(True)
                logits = models.forward(model, xs, compile)
                torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), xs)
    return run
