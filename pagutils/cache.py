"""A cache of tensors keyed by configuration: "compute once, reuse everywhere".

Each artefact (a trained model's weights, a constructed dataset) is one safetensors file named by a
hash of its configuration, which is also stored inside the file and checked on load. Files are
written to a temporary name and renamed into place, under a file lock, so an interrupted run never
leaves a half-written file and two processes building the same artefact do not collide. A file that
is truncated, corrupt or made for another configuration is reported and rebuilt, never used.
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

from . import paths

try:
    import fcntl
except ImportError:  # Windows: write-then-rename still keeps files whole
    fcntl = None


def canonical(config: dict) -> str:
    """The configuration as canonical JSON (sorted keys), the text its key is hashed from."""
    try:
        return json.dumps(config, sort_keys=True, separators=(",", ":"))
    except TypeError as error:
        raise ValueError(f"config must hold only JSON values (numbers, strings, lists, dicts): {error}") from None


def config_key(config: dict) -> str:
    return hashlib.sha256(canonical(config).encode()).hexdigest()[:16]


def path_for(kind: str, config: dict) -> Path:
    return paths.cache_dir() / kind / f"{config_key(config)}.safetensors"


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


def read(path: Path, config: dict, device="cpu"):
    """(tensors, info) from `path` if it is a whole file made for `config`, else None (with a warning)."""
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        if metadata.get("config") != canonical(config):
            raise ValueError("it was made for another configuration")
        tensors = load_file(str(path), device=str(device))
        return tensors, json.loads(metadata.get("info", "{}"))
    except Exception as error:  # safetensors raises its own error type for truncated or corrupt files
        warnings.warn(f"Ignoring the cache file {path} and rebuilding it: {error}", stacklevel=3)
        return None


def write(path: Path, config: dict, tensors: dict, info: dict = None):
    """Write tensors atomically: to a temporary file beside `path`, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    cpu = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    try:
        save_file(cpu, str(temporary), metadata={"config": canonical(config), "info": json.dumps(info or {})})
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def cached(kind: str, config: dict, build, device="cpu"):
    """(tensors, info) for `config`: read from the cache, or `build()` -> (tensors, info) and stored.

    `kind` names the cache sub-folder ('models', 'datasets', ...). Returns a third value, `built`,
    True when `build` ran.
    """
    path = path_for(kind, config)
    found = read(path, config, device)
    if found is not None:
        return (*found, False)
    with _locked(path):
        found = read(path, config, device)  # another process may have built it while we waited
        if found is not None:
            return (*found, False)
        tensors, info = build()
        write(path, config, tensors, info)
    return {name: t.to(device) for name, t in tensors.items()}, info, True
