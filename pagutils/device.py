"""Compute-device selection: cuda, then mps, then cpu; `PAG_DEVICE` overrides."""
import os

import torch


def default_device() -> torch.device:
    """The device pagutils computes on: `PAG_DEVICE` if set, else cuda, mps, cpu in that order."""
    requested = os.environ.get("PAG_DEVICE")
    if requested:
        try:
            device = torch.device(requested)
        except RuntimeError as error:
            raise ValueError(f"PAG_DEVICE={requested!r} is not a torch device (expected 'cpu', 'cuda', 'cuda:1', 'mps')") from error
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"PAG_DEVICE={requested!r} but this torch build sees no CUDA GPU")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve(device=None) -> torch.device:
    """`device` as a torch.device, or the default device when it is None."""
    return default_device() if device is None else torch.device(device)
