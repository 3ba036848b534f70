"""A cache of tensors keyed by configuration: "compute once, reuse everywhere".

Each artefact (a trained model's weights, a constructed dataset) is one safetensors file named by a
hash of its configuration, which is also stored inside the file and checked on load. Files are
written to a temporary name and renamed into place, under a file lock, so an interrupted run never
leaves a half-written file and two processes building the same artefact do not collide. A file that
is truncated, corrupt or made for another configuration is reported and rebuilt, never used: the file
holds its configuration and a SHA-256 digest of its tensors (both checked on load), and a caller may
give the tensor shapes it expects (`expect`), so a file whose tensors do not fit is rebuilt too. (A file
written before digests were stored is checked for its configuration and shapes only.)
Only safetensors files are read: loading one never runs code.

The key also holds the versions of the algorithms that made the artefact (`pagutils.core.versions`: its kind's, and
those of every objective, construction, model kind and evaluation its configuration names), and the file stores
them. Bump the version in the commit that changes the algorithm: its artefacts are then rebuilt, the others kept.
`cached_values` caches a list of numbers, such as a robust-accuracy curve, the same way.
"""
import contextlib
import hashlib
import json
import os
import warnings
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from . import checks, paths, versions

try:
    import fcntl
except ImportError:  # Windows: write-then-rename still keeps files whole
    fcntl = None


def canonical(config: dict) -> str:
    """The configuration as canonical JSON (sorted keys), the text its key is hashed from. Introduced in Chapter 1."""
    try:
        return json.dumps(config, sort_keys=True, separators=(",", ":"))
    except TypeError as error:
        problem = str(error)
    checks.fail("cache", "config", "hold only JSON values (numbers, strings, lists, dicts)", got=problem)


def config_key(config: dict) -> str:
    return hashlib.sha256(canonical(config).encode()).hexdigest()[:16]


def path_for(kind: str, config: dict) -> Path:
    """The file of `config`'s artefact of `kind`: named by a hash of `config` and of the versions of the
    algorithms that make it (`versions.of`; a kind or name without a version is an error). Introduced in Chapter 1."""
    if not isinstance(kind, str) or not kind or any(c in kind for c in "/\\.") :
        checks.fail("cache", "kind", "be a non-empty folder name (no '/', '\\' or '.')", got=repr(kind))
    checks.mapping(config, "config", "cache")
    canonical(config)  # a configuration that is not JSON is refused before its versions are looked up
    key = config_key({"config": config, "versions": versions.of(kind, config)})
    return paths.cache_dir() / kind / f"{key}.safetensors"


def _versions_at(path: Path, config: dict):
    """The versions a file at `path` records: those of its kind (its folder) when it lies in the cache, where
    `path_for` puts it, else None."""
    return versions.of(path.parent.name, config) if path.parent.parent == paths.cache_dir() else None


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    with open(path.with_suffix(".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def tensor_digest(tensors: dict) -> str:
    """A SHA-256 digest of tensors' names, dtypes, shapes and bytes (16 hex digits). Introduced in Chapter 1."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()[:16]


def shapes(tensors) -> dict:
    """name -> shape of a dict of tensors or of a module's state: the `expect` of its cached copy.
    Introduced in Chapter 1."""
    state = tensors.state_dict() if hasattr(tensors, "state_dict") else tensors
    return {name: tuple(t.shape) for name, t in state.items()}


def mismatch(tensors: dict, expect: dict) -> str:
    """Why `tensors` do not fit `expect` (name -> shape, None for any size along an axis), or '' if they do.
    Introduced in Chapter 1."""
    for name, shape in (expect or {}).items():
        if name not in tensors:
            return f"it has no tensor {name!r}"
        actual = tuple(tensors[name].shape)
        if len(actual) != len(shape) or any(e is not None and e != a for e, a in zip(shape, actual)):
            wanted = "(" + ", ".join("any" if e is None else str(e) for e in shape) + ("," if len(shape) == 1 else "") + ")"
            return f"its tensor {name!r} has shape {actual}, expected {wanted}"
    return ""


def read(path: Path, config: dict, device="cpu", expect: dict = None, warn: bool = True):
    """(tensors, info) from `path` if it is a whole file made for `config` (and holding tensors of the
    shapes `expect` gives), else None (with a warning). Introduced in Chapter 1."""
    if not path.is_file():
        return None
    made_by = _versions_at(path, config)
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        if metadata.get("config") != canonical(config):
            raise checks.CorruptFileError("it was made for another configuration")
        if made_by is not None and metadata.get("versions", canonical(made_by)) != canonical(made_by):
            raise checks.CorruptFileError(f"it was made by other versions of the algorithms ({metadata['versions']}, "
                                          f"now {canonical(made_by)})")
        tensors = load_file(str(path), device="cpu")
        if "digest" in metadata and tensor_digest(tensors) != metadata["digest"]:
            raise checks.CorruptFileError("its tensors do not match the digest stored with them (the file is corrupt)")
        problem = mismatch(tensors, expect)
        if problem:
            raise checks.CorruptFileError(f"{problem} (made by another version of the code?)")
        info = json.loads(metadata.get("info", "{}"))
        return {name: t.to(device) for name, t in tensors.items()}, info
    except Exception as error:  # safetensors raises its own error type for truncated or corrupt files
        if warn:
            warnings.warn(f"Ignoring the cache file {path} and rebuilding it: {error}", stacklevel=3)
        return None


def write(path: Path, config: dict, tensors: dict, info: dict = None):
    """Write tensors atomically: to a temporary file beside `path`, then rename it into place. A file in the
    cache also records the versions of the algorithms that made it. Introduced in Chapter 1."""
    made_by = _versions_at(path, config)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    cpu = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    metadata = {"config": canonical(config), "info": json.dumps(info or {}), "digest": tensor_digest(cpu)}
    if made_by is not None:
        metadata["versions"] = canonical(made_by)
    try:
        save_file(cpu, str(temporary), metadata=metadata)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def cached(kind: str, config: dict, build, device="cpu", expect: dict = None):
    """(tensors, info) for `config`: read from the cache, or `build()` -> (tensors, info) and stored.

    `kind` names the cache sub-folder ('models', 'datasets', ...). `expect` (name -> shape, None for any
    size along an axis) is what the tensors must look like: a cached file that does not fit is rebuilt,
    and a build that does not fit is an error. Returns a third value, `built`, True when `build` ran.
    Introduced in Chapter 1.
    """
    path = path_for(kind, config)
    if not callable(build):
        checks.fail("cache", "build", "be a function returning (tensors, info)", build, error=checks.ArgumentTypeError)
    found = read(path, config, device, expect)
    if found is not None:
        return (*found, False)
    with _locked(path):
        found = read(path, config, device, expect, warn=False)  # another process may have built it meanwhile
        if found is not None:
            return (*found, False)
        tensors, info = _check_built(build(), expect, kind)
        write(path, config, tensors, info)
    return {name: t.to(device) for name, t in tensors.items()}, info, True


def _check_built(result, expect, kind):
    ok = (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], dict)
          and all(isinstance(t, torch.Tensor) for t in result[0].values()) and isinstance(result[1] or {}, dict))
    if not ok:
        checks.fail("cache", f"build for {kind!r}", "return (dict of tensors, info dict)", result,
                    error=checks.ArgumentTypeError)
    problem = mismatch(result[0], expect)
    if problem:
        checks.fail("cache", f"the {kind!r} artefact just built", "fit its expected shapes", got=problem)
    return result


def cached_values(kind: str, config: dict, build):
    """(values, built): a list of numbers for `config`, read from the cache or computed by `build() -> list`.

    For evaluations too slow to repeat, such as a robust-accuracy curve: `config` names the evaluation
    (`config['evaluation']`, whose version enters the key) and everything the numbers depend on. They are stored
    as one float64 tensor (exact for Python floats). `built` is True when `build` ran. Introduced in Chapter 1.
    """
    where = "cache.cached_values"
    checks.mapping(config, "config", where, required=("evaluation",))
    if not callable(build):
        checks.fail(where, "build", "be a function returning a list of numbers", build, error=checks.ArgumentTypeError)

    def build_tensors():
        values = build()
        if not isinstance(values, (list, tuple)) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            checks.fail(where, f"build for {config['evaluation']!r}", "return a list of numbers", values,
                        error=checks.ArgumentTypeError)
        return {"values": torch.tensor([float(v) for v in values], dtype=torch.float64)}, {}

    tensors, _, built = cached(kind, config, build_tensors, expect={"values": (None,)})
    return tensors["values"].tolist(), built


def remove(kind: str, config: dict):
    """Delete the cached artefact of `config` (if any). Introduced in Chapter 1."""
    path_for(kind, config).unlink(missing_ok=True)
