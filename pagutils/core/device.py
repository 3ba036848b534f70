"""Compute-device selection: cuda, then mps, then cpu; `PAG_DEVICE` overrides. `PAG_COMPILE=1` makes attacks
run their models through torch.compile by default."""
import os

import torch

from . import checks


def default_device() -> torch.device:
    """The device pagutils computes on: `PAG_DEVICE` if set, else cuda, mps, cpu in that order."""
    requested = os.environ.get("PAG_DEVICE")
    if requested:
        try:
            device = torch.device(requested)
        except RuntimeError as error:
            checks.fail("device.default_device", "PAG_DEVICE", "name a torch device ('cpu', 'cuda', 'cuda:1', 'mps')",
                        got=repr(requested), cause=error)
        if device.type == "cuda" and not torch.cuda.is_available():
            checks.fail("device.default_device", "PAG_DEVICE",
                        "name a device this torch build sees (it sees no CUDA GPU)", got=repr(requested))
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve(device=None) -> torch.device:
    """`device` as a torch.device, or the default device when it is None."""
    return default_device() if device is None else torch.device(device)


def compile_default() -> bool:
    """Whether attacks compile their model when not told (`compile=None`): `PAG_COMPILE=1`; off when unset or 0."""
    value = os.environ.get("PAG_COMPILE", "0").strip()
    if value not in ("0", "1", ""):
        checks.fail("device.compile_default", "PAG_COMPILE",
                    "be '1' (compile attacked models) or '0' (run them eagerly)", got=repr(value))
    return value == "1"


def resolve_compile(compile, where) -> bool:
    """`compile` (True or False), or `compile_default()` when it is None; anything else fails, naming `where`."""
    if compile is None:
        return compile_default()
    if not isinstance(compile, bool):
        checks.fail(where, "compile", "be True, False or None (None: the PAG_COMPILE environment variable decides)",
                    compile, error=checks.ArgumentTypeError)
    return compile


def shard() -> tuple:
    """(rank, world size) of this process: from the initialised process group, else (0, 1). Part I's
    constructions shard their images by it; `pagutils.scale.distributed` starts the group."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def barrier():
    """Wait for every rank (nothing to wait for in a single process)."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
