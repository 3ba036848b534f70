"""Bad inputs to public functions: each must fail at once with a clear error naming the argument.

`CASES` is a table (what is passed -> error type and message); every row is one test.
"""
import math

import pytest
import torch
from torch import nn

from pagutils import (attacks, cache, checks, data, distractor, features, gaussian, generation, gradients, manifold,
                      models, plots, profiles, report, robust_losses, synthetic, train, zoo)

X = torch.rand(4, 1, 28, 28)
Y = torch.tensor([0, 1, 2, 3])
SOURCE = dict(name="an untrained mlp")


def _model():
    return models.make_classifier("mlp", "mnist", seed=0).eval()


def _data(n=8, label=None):
    y = torch.arange(n) % 10 if label is None else torch.full((n,), label)
    return data.Data(torch.rand(n, 1, 28, 28), y.long(), data.MNIST_DIGITS, "random")


def _with(x, index, value):
    x = x.clone()
    x.view(-1)[index] = value
    return x


class Returns(nn.Module):
    """A 'model' whose output is whatever `make(x)` gives."""

    def __init__(self, make):
        super().__init__()
        self.make = make

    def forward(self, x):
        return self.make(x)


def _settings(**given):
    return profiles.settings(dict(profile=None, **given), quick=dict(eps=1.5, epochs=3, eps_list=[0.0, 0.5]),
                             full=dict(eps=0.5, epochs=30, eps_list=[0.0, 0.25]))


TINY = zoo.standard("mnist", "quick", arch="mlp", n_train=100, epochs=1)
A = attacks.Attack("l2", 1.0)

# (input, call, error type, message pattern)
CASES = [
    # attacks.pgd: images
    ("pgd: x a list", lambda: attacks.pgd(_model(), X.tolist(), Y, A), TypeError, r"pgd: x must be a float tensor"),
    ("pgd: x uint8 images", lambda: attacks.pgd(_model(), (X * 255).byte(), Y, A), ValueError,
     r"pgd: x must be a float tensor of shape"),
    ("pgd: x in [0, 255]", lambda: attacks.pgd(_model(), X * 255, Y, A), ValueError,
     r"pgd: x must hold pixel values in \[0, 1\], got values in"),
    ("pgd: x holds NaN", lambda: attacks.pgd(_model(), _with(X, 5, math.nan), Y, A), ValueError,
     r"pgd: x must be finite, got a tensor holding NaN"),
    ("pgd: x holds inf", lambda: attacks.pgd(_model(), _with(X, 5, math.inf), Y, A), ValueError,
     r"pgd: x must hold pixel values in \[0, 1\], got values in \[.*, inf\]"),
    ("pgd: empty batch", lambda: attacks.pgd(_model(), X[:0], Y[:0], A), ValueError,
     r"pgd: x must hold at least one example"),
    # an Attack: its fields are checked when it is made; pgd checks what depends on the batch
    ("Attack: eps=-1.0", lambda: attacks.Attack("l2", -1.0), ValueError, r"Attack: eps must be >= 0 .*got -1.0"),
    ("Attack: eps=nan", lambda: attacks.Attack("l2", math.nan), ValueError, r"Attack: eps must be finite"),
    ("Attack: eps='big'", lambda: attacks.Attack("l2", "big"), TypeError, r"Attack: eps must be >= 0"),
    ("Attack: eps tensor with a negative", lambda: attacks.Attack("l2", torch.tensor([1.0, -1, 1, 1])),
     ValueError, r"Attack: eps must be >= 0 .*got values in \[-1, 1\]"),
    ("Attack: step_size=0", lambda: attacks.Attack("l2", 1.0, step_size=0.0), ValueError,
     r"Attack: step_size must be > 0"),
    ("Attack: steps=2.5", lambda: attacks.Attack("l2", 1.0, steps=2.5), TypeError,
     r"Attack: steps must be a non-negative int, got 2.5"),
    ("Attack: steps=-1", lambda: attacks.Attack("l2", 1.0, steps=-1), ValueError,
     r"Attack: steps must be a non-negative int, got -1"),
    ("Attack: norm='l1'", lambda: attacks.Attack("l1", 1.0), ValueError,
     r"Attack: norm must be 'l2' or 'linf', got 'l1'"),
    ("Attack: random_start=None", lambda: attacks.Attack("l2", 1.0, random_start=None), TypeError,
     r"Attack: random_start must be True or False, got None"),
    ("Attack.at: eps=-2", lambda: A.at(-2.0), ValueError, r"Attack: eps must be >= 0 .*got -2.0"),
    ("pgd: eps tensor of 3 for 4 images", lambda: attacks.pgd(_model(), X, Y, attacks.Attack("l2", torch.ones(3))),
     ValueError, r"pgd: attack.eps must be a number or a \(4,\) tensor"),
    ("pgd: a radius instead of an Attack", lambda: attacks.pgd(_model(), X, Y, 1.0), TypeError,
     r"pgd: attack must be a pagutils.core.attacks.Attack \(e.g. Attack\('l2', eps=1.0, steps=10\)\), got 1.0"),
    ("pgd: an Attack without a radius", lambda: attacks.pgd(_model(), X, Y, attacks.Attack("linf")), ValueError,
     r"pgd: attack.eps must be set: give the attack a radius \(Attack\(..., eps=1.0\) or attack.at\(1.0\)\), got None"),
    # attacks.pgd: labels and model
    ("pgd: 3 labels for 4 images", lambda: attacks.pgd(_model(), X, Y[:3], A), ValueError,
     r"pgd: y must be a tensor of 4 labels"),
    ("pgd: float labels", lambda: attacks.pgd(_model(), X, Y.float(), A), TypeError,
     r"pgd: y must be an integer tensor of 4 labels"),
    ("pgd: label 10 of 10 classes", lambda: attacks.pgd(_model(), X, torch.tensor([0, 1, 2, 10]), A), ValueError,
     r"pgd: y must hold class indices in \[0, 10\), got values in \[0, 10\]"),
    ("pgd: label -1", lambda: attacks.pgd(_model(), X, torch.tensor([0, -1, 2, 3]), A), ValueError,
     r"pgd: y must hold class indices in \[0, 10\)"),
    ("pgd: model returns a tuple", lambda: attacks.pgd(Returns(lambda x: (x, x)), X, Y, A), ValueError,
     r"pgd: model must return a batch of logits, a float tensor of shape \(1, num_classes\), got a tuple"),
    ("pgd: model returns images", lambda: attacks.pgd(Returns(lambda x: x), X, Y, A), ValueError,
     r"pgd: model must return a batch of logits, .* got a tensor of shape \(1, 1, 28, 28\)"),
    ("pgd: model is not callable", lambda: attacks.pgd("resnet", X, Y, A), TypeError,
     r"pgd: model must be a model"),
    ("pgd: model fails on the input", lambda: attacks.pgd(models.make_classifier("mlp", "cifar10"), X, Y, A), ValueError,
     r"pgd: model must run on an input of shape \(1, 1, 28, 28\)"),
    # other attack helpers
    ("predict: model returns (N,)", lambda: attacks.predict(Returns(lambda x: x.sum((1, 2, 3))), X), ValueError,
     r"predict: model must return a batch of logits"),
    ("accuracy: empty data", lambda: attacks.accuracy(_model(), _data()[:0]), ValueError,
     r"accuracy: data must hold at least one example, got an empty data set"),
    ("accuracy: (x, y) tuple instead of Data", lambda: attacks.accuracy(_model(), (X, Y)), TypeError,
     r"accuracy: data must be a pagutils.core.data.Data set"),
    ("robust_accuracy: a radius per example",
     lambda: attacks.robust_accuracy(_model(), _data(), attacks.Attack("l2", torch.ones(8))), TypeError,
     r"robust_accuracy: attack.eps must be a non-negative number"),
    ("robust_accuracy: a targeted attack",
     lambda: attacks.robust_accuracy(_model(), _data(), A.replace(targeted=True)), ValueError,
     r"robust_accuracy: attack must be untargeted"),
    ("accuracy_vs_eps: eps_list=1.0", lambda: attacks.accuracy_vs_eps(_model(), _data(), 1.0, A), TypeError,
     r"accuracy_vs_eps: eps_list must be a non-empty list"),
    ("accuracy_vs_eps: the attack a dict",
     lambda: attacks.accuracy_vs_eps(_model(), _data(), [1.0], dict(norm="l2", steps=3)), TypeError,
     r"accuracy_vs_eps: attack must be a pagutils.core.attacks.Attack"),
    # training
    ("train: empty data", lambda: train.train(_model(), _data()[:0], train.Recipe(1)), ValueError, r"train: data must hold at least one example, got an empty data set"),
    ("train: epochs=0", lambda: train.train(_model(), _data(), train.Recipe(0)), ValueError, r"train: epochs must be a positive int"),
    ("train: lr=-0.1", lambda: train.Recipe(1, lr=-0.1), ValueError,
     r"train: lr must be a positive number, got -0.1"),
    ("train: lr=nan", lambda: train.Recipe(1, lr=math.nan), ValueError,
     r"train: lr must be a positive number, got nan"),
    ("train: batch_size=0", lambda: train.Recipe(1, batch_size=0), ValueError,
     r"train: batch_size must be a positive int"),
    ("train: schedule='linear'", lambda: train.Recipe(1, schedule="linear"), ValueError,
     r"train: schedule must be one of \('cosine', 'step', 'step_thirds', 'constant'\), got 'linear'"),
    ("train: labels 12 for a 10-class model", lambda: train.train(_model(), _data(label=12), train.Recipe(1)), ValueError,
     r"train: data.y must hold class indices in \[0, 10\), got values in \[12, 12\]"),
    ("train: model returns images", lambda: train.train(Returns(lambda x: x), _data(), train.Recipe(1)), ValueError,
     r"train: model must return a batch of logits"),
    ("train: recipe an int", lambda: train.train(_model(), _data(), 3), TypeError,
     r"train: recipe must be a pagutils.core.train.Recipe \(e.g. Recipe\(epochs=3\)\), got 3"),
    ("train: objective 'magic'", lambda: train.Recipe(1, objective="magic"), ValueError,
     r"objective must be one of"),
    ("train: pgd objective_args {'epsilon': 1}",
     lambda: train.Recipe(1, "pgd", {"epsilon": 1.0}), TypeError,
     r"train.objective: objective_args must be arguments of objective 'pgd', which takes \(eps, norm='l2', steps=7, step_size=None, attack_precision='float32', attack_compile=None\), got \{'epsilon': 1.0\}"),
    ("train: pgd objective eps=-1", lambda: train.Recipe(1, "pgd", {"eps": -1.0}), ValueError,
     r"objective 'pgd': eps must be a positive number, got -1.0"),
    ("train: pgd objective attack_precision='fp16'",
     lambda: train.Recipe(1, "pgd", {"eps": 1.0, "attack_precision": "fp16"}), ValueError,
     r"objective 'pgd': attack_precision must be one of \('float32', 'bfloat16'\), got 'fp16'"),
    ("train: pgd objective norm='l1'", lambda: train.Recipe(1, "pgd", {"eps": 1.0, "norm": "l1"}), ValueError,
     r"objective 'pgd': norm must be 'l2' or 'linf', got 'l1'"),
    ("train: eval_attack without a radius",
     lambda: train.train(_model(), _data(), train.Recipe(1), eval_data=_data(), eval_attack=attacks.Attack("l2")),
     ValueError, r"train: eval_attack.eps must be set: give the attack a radius"),
    ("train: eval_attack a radius",
     lambda: train.train(_model(), _data(), train.Recipe(1), eval_data=_data(), eval_attack=1.0), TypeError,
     r"train: eval_attack must be a pagutils.core.attacks.Attack"),
    ("AdamRecipe: lr=0", lambda: train.AdamRecipe(1, lr=0.0), ValueError, r"AdamRecipe: lr must be a positive number"),
    ("fit_with_adam: recipe a dict",
     lambda: train.fit_with_adam(nn.Linear(2, 2), torch.ones(4, 2), None, dict(epochs=1), None, "x"), TypeError,
     r"fit_with_adam: recipe must be a pagutils.core.train.AdamRecipe"),
    # models, data, zoo, cache
    ("models.make_classifier: arch 'resnet101'", lambda: models.make_classifier("resnet101"), ValueError, r"arch must be one of"),
    ("models.make_classifier: num_classes=0", lambda: models.make_classifier("mlp", "mnist", num_classes=0), ValueError,
     r"models.make_classifier: num_classes must be a positive int, got 0"),
    ("data.load: dataset 'imagenet'", lambda: data.load("imagenet"), ValueError, r"dataset must be one of"),
    ("data.load: n=20000 of 10000", lambda: data.load("mnist", "test", n=20000), ValueError,
     r"n must be an int between 1 and 10000"),
    ("data.load: seed='0'", lambda: data.load("mnist", "test", seed="0"), TypeError, r"load: seed must be an int"),
    ("Data: x of shape (4, 28, 28)", lambda: data.Data(torch.zeros(4, 28, 28), Y), ValueError,
     r"Data: x must be a float tensor of shape \(N, C, H, W\)"),
    ("augment_crop_flip: padding=-1", lambda: data.augment_crop_flip(X, padding=-1), ValueError,
     r"augment_crop_flip: padding must be a non-negative int"),
    ("zoo.get: config without epochs", lambda: zoo.get({k: v for k, v in TINY.items() if k != "epochs"}),
     ValueError, r"zoo.get: config must have the key\(s\) .*, got a dict missing the key\(s\) \['epochs'\]"),
    ("zoo.robust: eps=-1", lambda: zoo.robust("mnist", eps=-1), ValueError, r"zoo.robust: eps must be a positive"),
    ("zoo.robust: norm='l1'", lambda: zoo.robust("mnist", eps=1.0, norm="l1"), ValueError,
     r"zoo.robust: norm must be 'l2' or 'linf'"),
    ("zoo.standard: dataset 'cifar'", lambda: zoo.standard("cifar"), ValueError,
     r"zoo.standard: dataset must be one of"),
    ("cache.cached: kind '../x'", lambda: cache.cached("../x", {}, lambda: ({}, {})), ValueError,
     r"cache: kind must be a non-empty folder name"),
    ("cache.cached: config with an object", lambda: cache.cached("things", {"m": object()}, lambda: ({}, {})),
     ValueError, r"config must hold only JSON values"),
    ("cache.cached: build returns a tensor", lambda: cache.cached("things", {"a": 1}, lambda: torch.ones(2)),
     TypeError, r"cache: build for 'things' must return \(dict of tensors, info dict\)"),
    ("cache.cached: build of the wrong shape",
     lambda: cache.cached("things", {"a": 2}, lambda: ({"w": torch.ones(3)}, {}), expect={"w": (4,)}), ValueError,
     r"cache: the 'things' artefact just built must fit its expected shapes, got its tensor 'w' has shape \(3,\)"),
    # notebook parameters
    ("settings: unknown parameter 'epoch'", lambda: _settings(epoch=3), NameError, r"unknown parameter\(s\) \['epoch'\]"),
    ("settings: eps=-1.0", lambda: _settings(eps=-1.0), ValueError,
     r"parameter 'eps' must be > 0, like its defaults 1.5 \(quick\) and 0.5 \(full\), got -1.0"),
    ("settings: eps=nan", lambda: _settings(eps=math.nan), ValueError, r"parameter 'eps' must be finite"),
    ("settings: epochs=0", lambda: _settings(epochs=0), ValueError, r"parameter 'epochs' must be > 0"),
    ("settings: epochs=2.5", lambda: _settings(epochs=2.5), TypeError, r"parameter 'epochs' must be a int"),
    ("settings: eps_list=[-0.5, 1.0]", lambda: _settings(eps_list=[-0.5, 1.0]), ValueError,
     r"parameter 'eps_list' must be >= 0"),
    ("settings: eps_list=[]", lambda: _settings(eps_list=[]), ValueError,
     r"parameter 'eps_list' must be a non-empty list"),
    # results, figures
    ("report.record: rows a dict", lambda: report.record("ch", {"metric": "a", "value": 1}, {}), TypeError,
     r"record: rows must be a list of dicts"),
    ("report.record: chapter '../x'", lambda: report.record("../x", [], {}), ValueError,
     r"record: chapter must be a file-name-like id"),
    ("report.record: value a tensor", lambda: report.record("ch", [dict(metric="a", value=torch.ones(2))], {}),
     ValueError, r"rows\[0\]\['value'\] must be a number, a string or None"),
    ("plots.image_grid: no rows", lambda: plots.image_grid([]), TypeError,
     r"image_grid: rows must be a non-empty list"),
    ("plots.image_grid: a row of (28, 28)", lambda: plots.image_grid([X, X[0, 0]]), ValueError,
     r"image_grid: rows\[1\] must be a tensor with 4 dimensions"),
    ("plots.accuracy_curves: 2 accuracies for 3 eps", lambda: plots.accuracy_curves([0, 1, 2], {"a": [1, 0.5]}),
     ValueError, r"accuracy_curves: curves\['a'\] must hold one accuracy per epsilon \(3\), got 2"),
    ("plots.magnified: percentile=0", lambda: plots.magnified(X, percentile=0), ValueError,
     r"magnified: percentile must be a number > 0 and <= 100, got 0.0"),
    # Part I and II modules
    ("input_gradient: label 10", lambda: gradients.input_gradient(_model(), X, torch.tensor([0, 1, 2, 10])),
     ValueError, r"input_gradient: y must hold class indices in \[0, 10\)"),
    ("input_gradient: x holds NaN", lambda: gradients.input_gradient(_model(), _with(X, 0, math.nan), Y), ValueError,
     r"input_gradient: x must be finite, got a tensor holding NaN"),
    ("smoothgrad: sigma=-0.1", lambda: gradients.smoothgrad(_model(), X, Y, sigma=-0.1), ValueError,
     r"smoothgrad: sigma must be a non-negative number"),
    ("generate: target 12", lambda: generation.generate(_model(), X, 12, generation.Ascent(1, 0.1)), ValueError,
     r"target must hold class indices in \[0, 10\)"),
    ("Ascent: step_size=nan", lambda: generation.Ascent(1, math.nan), ValueError,
     r"Ascent: step_size must be a positive number, got nan"),
    ("Ascent: noise=-0.1", lambda: generation.Ascent(1, 0.1, noise=-0.1), ValueError,
     r"Ascent: noise must be a non-negative number, got -0.1"),
    ("generate: target 1.5", lambda: generation.generate(_model(), X, 1.5, generation.Ascent(1, 0.1)), TypeError,
     r"target must be a class index"),
    ("generate: steps and step size as numbers", lambda: generation.generate(_model(), X, 1, 1, 0.1), TypeError,
     r"generate: ascent must be a pagutils.aligned_gradients.generation.Ascent \(e.g. Ascent\(steps=60, step_size=0.5\)\), got 1"),
    ("generate: ascent a tuple", lambda: generation.generate(_model(), X, 1, (1, 0.1)), TypeError,
     r"generate: ascent must be a pagutils.aligned_gradients.generation.Ascent"),
    ("make_d_det: eps=0", lambda: features.make_d_det(_model(), _data(), attacks.Attack("l2", 0.0, 1), source=SOURCE),
     ValueError, r"make_d_det: attack.eps must be a positive number, got 0.0"),
    ("make_d_rand: a radius instead of an Attack", lambda: features.make_d_rand(_model(), _data(), 1.0, source=SOURCE),
     TypeError, r"make_d_rand: attack must be a pagutils.core.attacks.Attack"),
    ("make_d_rand: a batch budget",
     lambda: features.make_d_rand(_model(), _data(), A.replace(budget="batch"), source=SOURCE), ValueError,
     r"make_d_rand: attack must have budget='example' and restarts=1 .*, got budget='batch'"),
    ("robustify: empty data", lambda: features.robustify(_model(), _data()[:0], features.Matching(1), source=SOURCE), ValueError,
     r"data must hold at least one example, got an empty data set"),
    ("robustify: data.x in [0, 255]",
     lambda: features.robustify(_model(), data.Data(X * 255, Y), features.Matching(1), source=SOURCE), ValueError,
     r"data.x must hold pixel values in \[0, 1\]"),
    ("match_representation: z0 of 3 images for 4", lambda: features.match_representation(_model(), X, X[:3], features.Matching(1)),
     ValueError, r"match_representation: x and z0 must have the same shape, got \(4, 1, 28, 28\) and \(3, 1, 28, 28\)"),
    ("relabel_by_attack: 3 targets for 8 images",
     lambda: features.relabel_by_attack(_model(), _data(), torch.tensor([0, 1, 2]), A, config={}), ValueError,
     r"relabel_by_attack: targets must be a tensor of 8 labels"),
    ("noise_sensitivity: sigma=-1",
     lambda: distractor.noise_sensitivity(_model(), X, torch.ones(4, 1, 28, 28), -1.0), ValueError,
     r"noise_sensitivity: sigma must be a non-negative number"),
    ("project_onto: basis for other D", lambda: manifold.project_onto(X, torch.rand(4, 10, 2)), ValueError,
     r"basis must have shape \(4, 784, k\)"),
    ("make_generator: dim=2", lambda: synthetic.make_generator(dim=2), ValueError, r"dim must be an int >= 3"),
    ("synthetic.classifier: recipe a dict", lambda: synthetic.classifier(synthetic.make_generator(), dict(epochs=1)),
     TypeError, r"classifier: recipe must be a pagutils.core.train.Recipe"),
    ("gaussian.sample: n=0", lambda: gaussian.sample(0, [1.0], [[1.0]]), ValueError, r"n must be a positive int"),
    ("zoo.trained_with: method 'mixup'", lambda: zoo.trained_with("mixup", 1.0, "mnist"), ValueError,
     r"method must be one of"),
    ("divergence: logits of other shapes", lambda: robust_losses.divergence(torch.ones(4, 10), torch.ones(4, 9)),
     ValueError, r"divergence: logits_a and logits_b must have the same shape"),
]


@pytest.mark.parametrize("call, error, pattern", [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_bad_input_gets_a_clear_error(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_type_errors_are_also_value_errors():
    """Callers that catch ValueError for every bad argument keep working."""
    with pytest.raises(ValueError):
        attacks.Attack("l2", 1.0, steps=2.5)
    assert issubclass(checks.ArgumentTypeError, TypeError) and issubclass(checks.ArgumentTypeError, ValueError)


def test_checks_accept_good_values_and_return_them():
    assert checks.positive(2, "a") == 2.0 and checks.integer(3, "n") == 3
    assert checks.number(0.5, "p", low=0, high=1) == 0.5
    eps = torch.tensor([0.0, 1.0])
    assert checks.radius(eps, "eps", n=2) is eps
    assert checks.labels(Y, num_classes=10, n=4) is Y
    assert checks.images(X) is X
    assert checks.model_logits(_model(), X) == 10
    assert checks.one_of("l2", ("l2", "linf"), "norm") == "l2"


def test_model_mode_is_restored_by_the_logits_probe():
    model = _model().train()
    checks.model_logits(model, X)
    assert model.training


def test_every_error_is_worded_by_fail():
    """`checks.fail` words every argument error alike: where, the argument, what it must be, what it got."""
    with pytest.raises(ValueError, match=r"^attack: k must be at most D=3, got 4$"):
        checks.fail("attack", "k", "be at most D=3", 4)
    with pytest.raises(checks.ArgumentTypeError, match=r"^k must be an int, got 'a'$"):
        checks.fail(None, "k", "be an int", "a", error=checks.ArgumentTypeError)
    with pytest.raises(ValueError, match=r"^f: x must be finite, got a tensor holding NaN$"):
        checks.fail("f", "x", "be finite", torch.ones(2), got="a tensor holding NaN")
    with pytest.raises(ValueError, match=r"^f: seeds must name one seed$"):
        checks.fail("f", "seeds", "name one seed")
    # kind: the wrong kind of value is an ArgumentTypeError, the right kind a plain ValueError
    with pytest.raises(checks.ArgumentTypeError, match=r"^f: x must be a 2-d tensor, got 3$"):
        checks.fail("f", "x", "be a 2-d tensor", 3, kind=torch.Tensor)
    with pytest.raises(ValueError) as raised:
        checks.fail("f", "x", "be a 2-d tensor", torch.ones(2), kind=torch.Tensor)
    assert type(raised.value) is ValueError
    cause = KeyError("boom")
    with pytest.raises(ValueError) as raised:
        checks.fail("f", "model", "run", got="KeyError", cause=cause)
    assert raised.value.__cause__ is cause
    assert checks.sequence((1, 2), "seeds") == [1, 2]
    with pytest.raises(ValueError, match=r"^f: seeds must be a non-empty list of seeds, got \[\]$"):
        checks.sequence([], "seeds", "f", of="seeds")
    with pytest.raises(TypeError, match=r"seeds must be a non-empty list of values, got 3"):
        checks.sequence(3, "seeds")


ARGUMENT_ERRORS = {"ValueError", "TypeError", "ArgumentTypeError"}
# modules that word their errors themselves, and why
OWN_WORDING = {
    "core/checks.py": "the checks themselves",
    "course/repository.py": "checks _config.yml for the book build, which loads it by file path before pagutils "
                            "(and torch) can be imported; its messages read as the checks' do",
}


def _inline_argument_errors(source):
    """(line, error) of every `raise ValueError(...)` / `TypeError` / `ArgumentTypeError` written in `source`
    (re-raising a caught error, `raise`, `raise error`, is not one)."""
    import ast
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            func = node.exc.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in ARGUMENT_ERRORS:
                found.append((node.lineno, name))
    return found


def test_the_library_raises_argument_errors_only_through_checks():
    """One validation dialect: no module words an argument error itself; each goes through `checks` (a check,
    or `checks.fail` for a condition no check covers), so every message reads alike and names its function."""
    from pathlib import Path
    import pagutils
    package = Path(pagutils.__file__).parent
    inline = {str(path.relative_to(package)): found for path in sorted(package.rglob("*.py"))
              if path.relative_to(package).as_posix() not in OWN_WORDING
              and (found := _inline_argument_errors(path.read_text()))}
    assert all((package / name).exists() for name in OWN_WORDING)
    assert not inline, f"argument errors raised outside pagutils.core.checks: {inline}"
    # the scan finds one where it is written
    assert _inline_argument_errors("def f(x):\n    if x:\n        raise ValueError(f'x {x}')\n") == [(3, "ValueError")]
    assert _inline_argument_errors("try:\n    g()\nexcept ValueError as e:\n    raise\n") == []
