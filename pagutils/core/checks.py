"""Argument checks shared by every public function: each raises an error that names the function, the
argument, what was expected and what was given, e.g.

    pgd: eps must be >= 0 (a number, or a (N,) tensor with one per example), got -1.0

A wrong kind of value (a list where a tensor is expected, a float where an int is) raises
`ArgumentTypeError`, which is both a `TypeError` and a `ValueError`; a value of the right kind that is out
of range, of the wrong shape or not finite raises `ValueError`. Checks are cheap: a tensor's range, NaN
and infinity are found by one min/max pass, and nothing here runs inside an inner loop.
"""
import math
import numbers
import weakref

import torch


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (a TypeError, and also a ValueError so `except ValueError` catches every
    bad argument)."""


class CorruptFileError(OSError):
    """A file on disk (a dataset file, a cache file) whose contents are not what they must be."""


def brief(value) -> str:
    """A short description of a value for error messages: a tensor's shape and dtype, else its repr."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 60 else f"a {type(value).__name__}"


def _prefix(where):
    return f"{where}: " if where else ""


_UNSET = object()


def fail(where, name, must, value=_UNSET, *, got=None, error=ValueError, kind=None, cause=None):
    """Raise `error` worded as every argument error of the library is worded:

        where: name must <must>, got <value, briefly>

    `where` names the public function the user called, `name` the argument, `must` what it must be or hold
    ("be a positive int", "hold pixel values in [0, 1]"). `got` replaces the brief description of `value`
    where a phrase says more ("values in [-0.1, 1.2]"); with neither, the message ends after `must`. Every
    check below raises through this, and so does every public function that checks something no check here
    covers (a relation between two arguments, say): one wording, and `ArgumentTypeError` for a wrong kind.
    `kind`, a type (or tuple of types) that `value` should be, picks the error: `ArgumentTypeError` when `value`
    is not one, else `error`. `cause`, an exception, is chained as the error's cause (`raise ... from cause`)."""
    if kind is not None and not isinstance(value, kind):
        error = ArgumentTypeError
    if got is None and value is not _UNSET:
        got = brief(value)
    exception = error(f"{_prefix(where)}{name} must {must}" + (f", got {got}" if got is not None else ""))
    if cause is not None:
        raise exception from cause
    raise exception


def _fail(where, name, expected, value, error=ValueError):
    fail(where, name, f"be {expected}", value, error=error)


# ------------------------------------------------------------------------------------------- numbers
def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def number(value, name, where=None, low=None, high=None, strict=False, finite=True) -> float:
    """A real number (not a bool) in [low, high] (or (low, high] with `strict`); returned as float. It must be
    finite, unless `finite` is False, which allows +inf (a limit such as λ = inf)."""
    bounds = [f"{'>' if strict else '>='} {low:g}"] if low is not None else []
    bounds += [f"<= {high:g}"] if high is not None else []
    expected = " ".join(["a number", " and ".join(bounds)]).strip()
    if not _is_number(value):
        _fail(where, name, expected, value, ArgumentTypeError)
    value = float(value)
    if math.isnan(value) or (not math.isfinite(value) and (finite or value < 0)):
        _fail(where, name, f"a finite number{' ' + ' and '.join(bounds) if bounds else ''}", value)
    if (low is not None and (value < low or (strict and value == low))) or (high is not None and value > high):
        _fail(where, name, expected, value)
    return value


def positive(value, name, where=None, allow_zero=False) -> float:
    """A finite number > 0 (>= 0 with `allow_zero`): step sizes, radii, noise levels, learning rates."""
    if not _is_number(value) or not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        kind = "a non-negative number" if allow_zero else "a positive number"
        _fail(where, name, kind, value, ValueError if _is_number(value) else ArgumentTypeError)
    return float(value)


def integer(value, name, where=None, low=1) -> int:
    """A Python (or numpy) int, not a bool, >= low."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        _fail(where, name, _int_phrase(low), value, ArgumentTypeError)
    if value < low:
        _fail(where, name, _int_phrase(low), value)
    return int(value)


def _int_phrase(low):
    return {0: "a non-negative int", 1: "a positive int"}.get(low, f"an int >= {low}")


def flag(value, name, where=None) -> bool:
    """`value` if it is True or False; else an error naming `name`."""
    if not isinstance(value, bool):
        _fail(where, name, "True or False", value, ArgumentTypeError)
    return value


def radius(value, name, where=None, n=None, allow_zero=True):
    """A radius or step size: a finite number, or a tensor of them with one per example ((n,) shaped).

    Negative values are refused, zero too unless `allow_zero`. Returns the value unchanged.
    """
    expected = (">= 0 (a number, or a (N,) tensor with one per example)" if allow_zero
                else "> 0 (a number, or a (N,) tensor with one per example)")
    if isinstance(value, torch.Tensor):
        if value.dim() > 1 or (value.dim() == 1 and n is not None and len(value) != n) or value.is_complex():
            _fail(where, name, f"a number or a ({n if n is not None else 'N'},) tensor with one per example", value)
        if value.numel() == 0:
            _fail(where, name, "a number or a non-empty (N,) tensor", value)
        lo, hi = value.double().min().item(), value.double().max().item()
        if not (math.isfinite(lo) and math.isfinite(hi)):
            fail(where, name, "be finite (no NaN or infinity)", got=f"values in [{lo:.3g}, {hi:.3g}]")
        if lo < 0 or (lo == 0 and not allow_zero):
            fail(where, name, f"be {expected}", got=f"values in [{lo:.3g}, {hi:.3g}]")
        return value
    if not _is_number(value):
        _fail(where, name, expected, value, ArgumentTypeError)
    if not math.isfinite(value):
        _fail(where, name, "finite (no NaN or infinity)", value)
    if value < 0 or (value == 0 and not allow_zero):
        _fail(where, name, expected, value)
    return value


def sequence(value, name, where=None, of="values", nonempty=True) -> list:
    """A list or tuple (of `of`, for the message), non-empty unless `nonempty` is False; returned as a list."""
    if not isinstance(value, (list, tuple)):
        _fail(where, name, f"a {'non-empty ' if nonempty else ''}list of {of}", value, ArgumentTypeError)
    if nonempty and not value:
        _fail(where, name, f"a non-empty list of {of}", value)
    return list(value)


# ------------------------------------------------------------------------------------------- tensors
def tensor(value, name, where=None, dims=None, floating=None):
    """A torch tensor, with `dims` dimensions (an int, or a tuple of allowed counts) and a float dtype when
    `floating` is True (an integer one when False)."""
    if not isinstance(value, torch.Tensor):
        _fail(where, name, "a torch tensor", value, ArgumentTypeError)
    if dims is not None:
        allowed = (dims,) if isinstance(dims, int) else tuple(dims)
        if value.dim() not in allowed:
            _fail(where, name, f"a tensor with {' or '.join(map(str, allowed))} dimensions", value)
    if floating is True and not value.is_floating_point():
        _fail(where, name, "a floating-point tensor", value, ArgumentTypeError)
    if floating is False and (value.is_floating_point() or value.is_complex() or value.dtype == torch.bool):
        _fail(where, name, "an integer tensor", value, ArgumentTypeError)
    return value


def finite(x, name, where=None):
    """A float tensor without NaN or infinite entries (one pass)."""
    tensor(x, name, where, floating=True)
    if x.numel():
        lo, hi = torch.aminmax(x.detach())
        if not (math.isfinite(lo.item()) and math.isfinite(hi.item())):
            bad = "NaN" if math.isnan(lo.item()) or math.isnan(hi.item()) else "infinite values"
            fail(where, name, "be finite", got=f"a tensor holding {bad}")
    return x


def images(x, name="x", where=None, dims=4, unit=True, nonempty=True):
    """A batch of images: a float tensor (N, C, H, W) (`dims`=4; `dims`=None allows any (N, ...) batch)
    with N >= 1, finite, and with pixel values in [0, 1] when `unit` (one min/max pass finds NaN, inf and
    out-of-range values at once)."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or (dims is not None and x.dim() != dims) \
            or x.dim() < 2:
        shape = "(N, C, H, W)" if dims == 4 else "(N, ...) with a batch dimension"
        _fail(where, name, f"a float tensor of shape {shape}", x,
              ValueError if isinstance(x, torch.Tensor) else ArgumentTypeError)
    if nonempty and len(x) == 0:
        fail(where, name, "hold at least one example", got=f"an empty batch of shape {tuple(x.shape)}")
    if x.numel():
        lo, hi = torch.aminmax(x.detach())
        lo, hi = lo.item(), hi.item()
        if math.isnan(lo) or math.isnan(hi):
            fail(where, name, "be finite", got="a tensor holding NaN")
        if unit and (lo < 0 or hi > 1):
            fail(where, name, "hold pixel values in [0, 1]", got=f"values in [{lo:.3g}, {hi:.3g}]")
        if not (math.isfinite(lo) and math.isfinite(hi)):
            fail(where, name, "be finite", got="a tensor holding infinite values")
    return x


def labels(y, name="y", where=None, n=None, num_classes=None):
    """Class labels: an integer tensor of shape (n,) with values in [0, num_classes)."""
    count = f"{n} labels" if n is not None else "labels"
    if not isinstance(y, torch.Tensor) or y.dim() != 1 or (n is not None and len(y) != n):
        _fail(where, name, f"a tensor of {count} (shape ({n if n is not None else 'N'},), integer dtype)", y,
              ValueError if isinstance(y, torch.Tensor) else ArgumentTypeError)
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        _fail(where, name, f"an integer tensor of {count} (e.g. int64)", y, ArgumentTypeError)
    if num_classes is not None and y.numel():
        lo, hi = torch.aminmax(y)
        if lo.item() < 0 or hi.item() >= num_classes:
            fail(where, name, f"hold class indices in [0, {num_classes})", got=f"values in [{lo.item()}, {hi.item()}]")
    return y


def same_shape(a, b, names=("a", "b"), where=None):
    """Two tensors of the same shape."""
    tensor(a, names[0], where)
    tensor(b, names[1], where)
    if a.shape != b.shape:
        fail(where, f"{names[0]} and {names[1]}", "have the same shape", got=f"{tuple(a.shape)} and {tuple(b.shape)}")


# ------------------------------------------------------------------------------------------- choices, data, models
def one_of(value, choices, name, where=None):
    """`value` must be one of `choices`."""
    try:
        ok = value in choices
    except TypeError:
        ok = False
    if not ok:
        fail(where, name, f"be one of {tuple(choices)}", got=repr(value))
    return value


def norm(value, where=None, name="norm"):
    """An attack norm: 'l2' or 'linf'."""
    if value not in ("l2", "linf"):
        fail(where, name, "be 'l2' or 'linf'", got=repr(value))
    return value


def nonempty(data, name="data", where=None):
    """A non-empty data set: anything with tensors `x` and `y` and a length, as `pagutils.core.data.Data` (checked by
    its shape, so this module imports nothing of the library's)."""
    if not (isinstance(getattr(data, "x", None), torch.Tensor) and isinstance(getattr(data, "y", None), torch.Tensor)
            and hasattr(data, "__len__")):
        _fail(where, name, "a pagutils.core.data.Data set (x, y tensors)", data, ArgumentTypeError)
    if len(data) == 0:
        fail(where, name, "hold at least one example", got="an empty data set")
    return data


def mapping(value, name, where=None, required=()):
    """A dict holding every key of `required`."""
    if not isinstance(value, dict):
        _fail(where, name, "a dict", value, ArgumentTypeError)
    missing = sorted(key for key in required if key not in value)
    if missing:
        fail(where, name, f"have the key(s) {sorted(required)}", got=f"a dict missing the key(s) {missing}")
    return value


def logits(out, batch, name="model", where=None):
    """A model's output for `batch` inputs must be a float tensor of logits shaped (batch, num_classes)."""
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or len(out) != batch or not out.is_floating_point() \
            or out.shape[1] < 1:
        fail(where, name, f"return a batch of logits, a float tensor of shape ({batch}, num_classes)", out)
    return out.shape[1]


_PROBED = weakref.WeakKeyDictionary()  # model -> {(input shape, dtype, device): number of classes}


def model_logits(model, x, name="model", where=None) -> int:
    """Run `model` on the first example of `x` (eval mode, no gradients, mode restored) and check that it
    returns logits; returns the number of classes. The answer is remembered per model and input shape, so
    calling this for every batch of a loop costs one forward pass of one example in all."""
    if not callable(model):
        _fail(where, name, "a model (a callable torch module returning logits)", model, ArgumentTypeError)
    key = (tuple(x.shape[1:]), x.dtype, str(x.device))
    try:
        known = _PROBED.get(model, {})
    except TypeError:  # not weak-referenceable: probe every time
        known = {}
    if key in known:
        return known[key]
    classes = _probe(model, x, name, where)
    try:
        _PROBED.setdefault(model, {})[key] = classes
    except TypeError:
        pass
    return classes


def _probe(model, x, name, where):
    was_training = getattr(model, "training", None)
    if was_training is not None:
        model.eval()
    try:
        with torch.no_grad():
            out = model(x[:1])
    except Exception as error:
        fail(where, name, f"run on an input of shape {tuple(x[:1].shape)}",
             got=f"{type(error).__name__}: {error}", cause=error)
    finally:
        if was_training is not None:
            model.train(was_training)
    return logits(out, 1, name, where)


def basis(v, basis, name="v", where=None):
    """`v` a float tensor (N, ...) and `basis` (N, D, k) orthonormal tangent-space columns that match it (D the
    size of one example of v, k at most D); else a ValueError naming both."""
    if not isinstance(v, torch.Tensor) or v.dim() < 2 or not v.is_floating_point():
        _fail(where, name, "a float tensor with a batch dimension (N, ...)", v)
    if not isinstance(basis, torch.Tensor) or basis.dim() != 3:
        _fail(where, "basis", "a tensor of shape (N, D, k) with orthonormal columns", basis)
    n, d = v.shape[0], v[0].numel()
    if basis.shape[0] != n or basis.shape[1] != d:
        fail(where, "basis", f"have shape ({n}, {d}, k) to match {name} of shape {tuple(v.shape)}",
             got=str(tuple(basis.shape)))
    if basis.shape[2] > d:
        fail(where, "basis", f"have at most D={d} columns (k <= D)", got=f"k={basis.shape[2]}")
