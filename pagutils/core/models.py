"""Classifiers that take images in [0, 1] and normalise inside, so attacks and gradients live in pixel space.

Every model is a `Classifier`: `forward(x)` gives logits, `representation(x)` the penultimate layer.
`make_classifier(arch, dataset)` makes one by name:

- 'mlp', 'small_cnn', 'wide_cnn', 'small_resnet', 'small_vgg' for 28x28 or 32x32 inputs (the quick profile), and
  Chapter 5's width and depth variants of them ('linear', 'narrow_mlp', 'deep_mlp', 'narrow_cnn', 'deep_cnn',
  'narrow_vgg' and 'vgg_bn' (with batch norm), 'narrow_resnet'; `SMALL_ARCHITECTURES` lists all thirteen),
- 'resnet18' (torchvision's, with a 3x3 stem and no max-pool for 32x32), 'vgg11', 'vgg16', 'densenet121',
  'resnet50', 'googlenet' (torchvision's, adapted the same way) for CIFAR-10 (the full profile).

`channels_last(model)` stores a convolutional model's weights channels-last for the duration of a block
(the faster layout for convolutions on CPU and GPU); attacks and training run inside it. `frozen(model)` turns
off the parameters' gradients for a block (attacks need input gradients only); `evaluating(model)` puts a model in
eval mode for a block and restores its mode after. `forward(model, x, compile)` and
`representation(model, x, compile)` run a model eagerly or through `torch.compile`.
"""
import contextlib

import torch
from torch import nn

from . import checks
from .data import INFO


class Classifier(nn.Module):
    """normalise -> `features` (the representation) -> linear `head` (the logits). Introduced in Chapter 1."""

    def __init__(self, features: nn.Module, feature_dim: int, num_classes: int, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.features = features
        self.head = nn.Linear(feature_dim, num_classes)

    def representation(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer g(x): a (N, feature_dim) tensor."""
        return self.features((x - self.mean) / self.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.representation(x))


def mlp(in_shape, width=256):
    c, h, w = in_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU()), width


def small_cnn(in_shape, width=32, hidden=128):
    """Two conv blocks (width, 2*width channels) and a hidden layer: the quick profile's workhorse.
    Introduced in Chapter 1."""
    c, h, w = in_shape
    features = nn.Sequential(
        # max-pooling before the ReLU is the same function (both are monotone) on a 4x smaller tensor
        nn.Conv2d(c, width, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(2 * width * (h // 4) * (w // 4), hidden), nn.ReLU(),
    )
    return features, hidden


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        self.relu1, self.relu2 = nn.ReLU(), nn.ReLU()  # modules, so that `fake_relu` can find the last one

    def forward(self, x):
        out = self.relu1(self.bn1(self.conv1(x)))
        return self.relu2(self.bn2(self.conv2(out)) + self.shortcut(x))


def small_resnet(in_shape, width=16):
    """A three-stage residual network with one block per stage (width, 2*width, 4*width channels).
    Introduced in Chapter 1."""
    c = in_shape[0]
    features = nn.Sequential(
        nn.Conv2d(c, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
        BasicBlock(width, width, 1), BasicBlock(width, 2 * width, 2), BasicBlock(2 * width, 4 * width, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    )
    return features, 4 * width


def _cifar_stem(net, in_shape):
    """A torchvision ResNet with the CIFAR stem (a 3x3 stride-1 first convolution and no max-pool) and no head:
    (features, feature dimension)."""
    net.conv1 = nn.Conv2d(in_shape[0], 64, 3, 1, 1, bias=False)
    net.maxpool = nn.Identity()
    dim = net.fc.in_features
    net.fc = nn.Identity()
    return net, dim


def resnet18(in_shape):
    """torchvision's ResNet-18 with the CIFAR stem: a 3x3 stride-1 first convolution and no max-pool.
    Introduced in Chapter 1."""
    import torchvision
    return _cifar_stem(torchvision.models.resnet18(num_classes=10), in_shape)


def resnet50(in_shape):
    """torchvision's ResNet-50 with the CIFAR stem (3x3 stride-1 first convolution, no max-pool): the architecture
    of Ilyas et al. (2019) on CIFAR-10, used by the paper profile (`defaults.PAPER`)."""
    import torchvision
    return _cifar_stem(torchvision.models.resnet50(num_classes=10), in_shape)


def vgg11(in_shape):
    """torchvision's VGG-11 with batch norm, its classifier replaced by global pooling for 32x32 inputs.
    Introduced in Chapter 1."""
    import torchvision
    net = torchvision.models.vgg11_bn(num_classes=10)
    if in_shape[0] != 3:
        net.features[0] = nn.Conv2d(in_shape[0], 64, 3, padding=1)
    return nn.Sequential(net.features, nn.AdaptiveAvgPool2d(1), nn.Flatten()), 512


def densenet121(in_shape):
    """torchvision's DenseNet-121 with a 3x3 stride-1 stem and no pooling before the dense blocks.
    Introduced in Chapter 1."""
    import torchvision
    net = torchvision.models.densenet121(num_classes=10)
    net.features.conv0 = nn.Conv2d(in_shape[0], 64, 3, 1, 1, bias=False)
    net.features.pool0 = nn.Identity()
    dim = net.classifier.in_features
    return nn.Sequential(net.features, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()), dim


def small_vgg(in_shape, width=16, hidden=128, batch_norm=False):
    """VGG's pattern in small: two stages of two 3x3 convolutions (width, 2*width channels), each stage
    max-pooled, and a hidden layer; no batch norm unless `batch_norm` (then one after every convolution, as in
    VGG-BN: without it, this network often does not start learning within a few epochs of the quick profile).
    The quick profile's fifth architecture in Chapter 5. Introduced in Chapter 5."""
    c, h, w = in_shape

    def conv(cin, cout):
        layer = nn.Conv2d(cin, cout, 3, padding=1)
        return [layer, nn.BatchNorm2d(cout)] if batch_norm else [layer]

    features = nn.Sequential(
        *conv(c, width), nn.ReLU(), *conv(width, width), nn.MaxPool2d(2),
        nn.ReLU(), *conv(width, 2 * width), nn.ReLU(),
        *conv(2 * width, 2 * width), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(2 * width * (h // 4) * (w // 4), hidden), nn.ReLU(),
    )
    return features, hidden


def vgg16(in_shape):
    """torchvision's VGG-16 with batch norm, adapted as `vgg11` (global pooling for 32x32 inputs): the VGG of
    Ilyas et al.'s Figure 3. Introduced in Chapter 5."""
    import torchvision
    net = torchvision.models.vgg16_bn(num_classes=10)
    if in_shape[0] != 3:
        net.features[0] = nn.Conv2d(in_shape[0], 64, 3, padding=1)
    return nn.Sequential(net.features, nn.AdaptiveAvgPool2d(1), nn.Flatten()), 512


def googlenet(in_shape):
    """torchvision's GoogLeNet (Inception-v1) with a 3x3 stride-1 stem and no pooling before the inception
    blocks, without auxiliary heads: the nearest here to the Inception-v3 of Ilyas et al.'s Figure 3, whose
    stem needs inputs of at least 75x75. Introduced in Chapter 5."""
    import torchvision
    from torchvision.models.googlenet import BasicConv2d
    net = torchvision.models.googlenet(num_classes=10, aux_logits=False, transform_input=False, init_weights=True)
    net.conv1 = BasicConv2d(in_shape[0], 64, kernel_size=3, stride=1, padding=1)
    net.maxpool1 = nn.Identity()
    net.maxpool2 = nn.Identity()
    dim = net.fc.in_features
    net.fc = nn.Identity()
    return net, dim


def linear(in_shape):
    """No hidden layer: the representation is the normalised image itself and the head a linear map of it
    (softmax regression). The simplest of Chapter 5's architectures. Introduced in Chapter 5."""
    c, h, w = in_shape
    return nn.Flatten(), c * h * w


def deep_mlp(in_shape, width=256, depth=4):
    """An MLP with `depth` hidden ReLU layers of `width` units (`mlp` has two). Introduced in Chapter 5."""
    c, h, w = in_shape
    layers, dim = [nn.Flatten()], c * h * w
    for _ in range(depth):
        layers += [nn.Linear(dim, width), nn.ReLU()]
        dim = width
    return nn.Sequential(*layers), width


def deep_cnn(in_shape, width=16, hidden=128):
    """`small_cnn` with a third conv block (width, 2*width, 4*width channels, each block max-pooled): a depth
    variant. Introduced in Chapter 5."""
    c, h, w = in_shape
    features = nn.Sequential(
        nn.Conv2d(c, width, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(2 * width, 4 * width, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(4 * width * (h // 8) * (w // 8), hidden), nn.ReLU(),
    )
    return features, hidden


ARCHITECTURES = {
    "mlp": mlp, "small_cnn": small_cnn, "wide_cnn": lambda s: small_cnn(s, width=64, hidden=256),
    "small_resnet": small_resnet, "resnet18": resnet18, "resnet50": resnet50, "vgg11": vgg11, "densenet121": densenet121,
    "small_vgg": small_vgg, "vgg16": vgg16, "googlenet": googlenet,
    # Chapter 5's width and depth variants of the quick profile's small architectures (new names: the five above
    # keep their weights, and every cached model of them stays valid)
    "linear": linear, "narrow_mlp": lambda s: mlp(s, width=64), "deep_mlp": deep_mlp,
    "narrow_cnn": lambda s: small_cnn(s, width=8, hidden=64), "deep_cnn": deep_cnn,
    "narrow_vgg": lambda s: small_vgg(s, width=8, hidden=64, batch_norm=True),
    "vgg_bn": lambda s: small_vgg(s, batch_norm=True), "narrow_resnet": lambda s: small_resnet(s, width=8),
}
# the small architectures, for 28x28 and 32x32 inputs (the quick profile's)
SMALL_ARCHITECTURES = ("mlp", "small_cnn", "wide_cnn", "small_resnet", "small_vgg", "linear", "narrow_mlp",
                       "deep_mlp", "narrow_cnn", "deep_cnn", "narrow_vgg", "vgg_bn", "narrow_resnet")


def make_classifier(arch: str, dataset: str = "mnist", num_classes: int = None, seed: int = 0) -> Classifier:
    """A freshly initialised classifier `arch` for `dataset`'s image shape and normalisation (seeded init).
    Introduced in Chapter 1."""
    checks.one_of(arch, ARCHITECTURES, "arch", "models.make_classifier")
    checks.one_of(dataset, INFO, "dataset", "models.make_classifier")
    if num_classes is not None:
        checks.integer(num_classes, "num_classes", "models.make_classifier")
    checks.integer(seed, "seed", "models.make_classifier", low=0)
    info = INFO[dataset]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        features, dim = ARCHITECTURES[arch](info["shape"])
        model = Classifier(features, dim, num_classes or len(info["classes"]), info["mean"], info["std"])
    model.arch = arch
    return model


class FakeReLU(torch.autograd.Function):
    """ReLU forward, identity backward: a unit that is off for z still passes the gradient of the representation
    distance, so representation matching can turn it on (the robustness library's `fake_relu`, which Ilyas et al.
    use to build D_R). Introduced in Chapter 3."""

    @staticmethod
    def forward(ctx, x):
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        return grad


# architectures whose representation ends in an nn.ReLU module (GoogLeNet's ends in a functional ReLU, linear's
# in none)
FAKE_RELU_ARCHITECTURES = tuple(a for a in ARCHITECTURES if a not in ("googlenet", "linear"))


@contextlib.contextmanager
def fake_relu(model: Classifier, like: torch.Tensor):
    """Within the block, the last ReLU of `model.representation` is a `FakeReLU`: the same values, but the
    gradient passes through it as through the identity. `like` is an input batch of the model's shape (one
    example suffices): a forward pass on it finds the last ReLU call (a module may be called more than once per
    pass, as torchvision's residual blocks do). Restored on leaving. Introduced in Chapter 3."""
    arch = getattr(model, "arch", None)
    if arch not in FAKE_RELU_ARCHITECTURES:
        checks.fail("fake_relu", "model",
                    f"be a classifier of one of {FAKE_RELU_ARCHITECTURES} (models.make_classifier)", got=repr(arch))
    relus = [m for m in model.features.modules() if isinstance(m, nn.ReLU)]
    calls = []
    probes = [m.register_forward_hook(lambda m, inputs, output: calls.append(m)) for m in relus]
    try:
        with torch.no_grad(), evaluating(model):
            model.representation(like[:1])
    finally:
        for probe in probes:
            probe.remove()
    last = calls[-1]
    index = calls.count(last) - 1  # the last call of that module within one pass
    seen = [0]

    def reset(module, inputs):
        seen[0] = 0

    def fake(module, inputs, output):
        seen[0] += 1
        if seen[0] - 1 == index:
            return FakeReLU.apply(inputs[0])
        return output

    inplace, last.inplace = last.inplace, False  # the hook needs the input as it was
    hooks = [model.features.register_forward_pre_hook(reset), last.register_forward_hook(fake)]
    try:
        yield model
    finally:
        for hook in hooks:
            hook.remove()
        last.inplace = inplace


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@contextlib.contextmanager
def channels_last(model: nn.Module):
    """Within the block, `model`'s convolution weights (its 4-D parameters) are stored channels-last.

    Only the memory layout changes, never a value; the previous layout is restored on leaving. Yields True
    when the model has convolution weights (4-D inputs should then be made channels-last too) and False
    otherwise (nothing changes). Nested blocks, and models already channels-last, cost nothing.
    Introduced in Chapter 1.
    """
    weights, moved = [p for p in model.parameters() if p.dim() == 4], []
    for p in weights:
        # `to` restrides a weight with one input channel too, where `contiguous` would see nothing to do
        data = p.data
        converted = data.to(memory_format=torch.channels_last)
        if converted is not data:
            p.data = converted
            moved.append(p)
    try:
        yield bool(weights)
    finally:
        for p in moved:
            p.data = p.data.to(memory_format=torch.contiguous_format)


@contextlib.contextmanager
def evaluating(model: nn.Module):
    """Within the block, `model` is in eval mode; its previous mode (training or eval) is restored on leaving,
    also when the block raises. Introduced in Chapter 1."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@contextlib.contextmanager
def frozen(model: nn.Module):
    """Within the block, no parameter of `model` requires a gradient; each one's flag is restored on leaving.

    Attacks need input gradients only. Eager autograd already skips parameter gradients nobody asks for, but a
    compiled backward computes every gradient its graph was traced with: it must be traced with them off.
    Introduced in Chapter 1.
    """
    changed = [p for p in model.parameters() if p.requires_grad]
    for p in changed:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p in changed:
            p.requires_grad_(True)


def _forward(model, x):
    return model(x)


def _representation(model, x):
    return model.representation(x)


_COMPILED = {}


def _through_compile(fn, compile):
    """`fn` itself, or (with `compile`) its `torch.compile`d version, made once per process and shared by every
    model: parameters are graph inputs, so one graph serves every model of an architecture, mode and input shape."""
    if not compile:
        return fn
    if fn not in _COMPILED:
        _COMPILED[fn] = torch.compile(fn)
    return _COMPILED[fn]


def forward(model: nn.Module, x: torch.Tensor, compile: bool = False) -> torch.Tensor:
    """`model(x)`; with `compile`, through `torch.compile` (the first call per architecture, mode and input shape
    compiles: seconds on a GPU, up to a minute for ResNet-18 on a CPU; a second input shape compiles once more,
    for any batch size). Introduced in Chapter 1."""
    return _through_compile(_forward, compile)(model, x)


def representation(model: nn.Module, x: torch.Tensor, compile: bool = False) -> torch.Tensor:
    """`model.representation(x)`, eagerly or (with `compile`) through `torch.compile`, as `forward`.
    Introduced in Chapter 1."""
    return _through_compile(_representation, compile)(model, x)
