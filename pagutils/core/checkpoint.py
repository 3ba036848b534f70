"""Resumable training: an atomic checkpoint of a `train.train` run, and resuming from it.

A long run (the paper profile's 150-200 epochs) on a shared cluster is preempted: SLURM sends SIGTERM and,
after a grace period, SIGKILL. `train.train(..., checkpoint=Checkpoint(path, every_steps=N))` writes, every
epoch and every N steps, everything that decides the rest of the run: the model's weights, the optimiser's
momentum buffers, the step counter (the learning-rate schedule is a function of it), the training generator's
state at the start of the epoch and now, torch's global RNG state, and the epoch's running loss and history.
A SIGTERM makes the loop write one more checkpoint after the step in flight and exit (status 143). Run again
with the same arguments, training resumes there and ends with the same weights as an uninterrupted run
(bitwise on the CPU). The file is one safetensors file (tensors) whose metadata holds JSON (counters,
history, the recipe it belongs to): nothing is unpickled. It is written to a temporary name and renamed into
place, so a kill mid-write leaves the previous checkpoint whole, and no lock file is used. The checkpoint is
deleted when the run completes (the trained model is then the zoo's cache file).
"""
import contextlib
import json
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from . import checks

FORMAT = 1


@dataclass(frozen=True)
class Checkpoint:
    """Where a run's checkpoint lives and how often it is written (every epoch, and every `every_steps` steps
    when given). With `write=False` the run resumes from it but never writes or deletes it: the DDP ranks other
    than 0, whose states equal rank 0's, so every rank resumes from the one file rank 0 wrote.
    Introduced with the paper profile (README, 'When one machine is not enough')."""
    path: Path
    every_steps: int = None
    write: bool = True

    def __post_init__(self):
        if not isinstance(self.path, (str, os.PathLike)):
            checks.fail("Checkpoint", "path", "be a file path", self.path, error=checks.ArgumentTypeError)
        object.__setattr__(self, "path", Path(self.path))
        if self.every_steps is not None:
            checks.integer(self.every_steps, "every_steps", "Checkpoint")


def as_checkpoint(value) -> Checkpoint:
    """`value` as a `Checkpoint`: itself, or a path (checkpointed every epoch)."""
    return value if isinstance(value, Checkpoint) else Checkpoint(value)


@dataclass
class Position:
    """Where a run stands: `step` optimiser steps done in all, `done_in_epoch` of them in epoch `epoch`."""
    epoch: int = 1
    step: int = 0
    done_in_epoch: int = 0
    history: list = None
    loss_sum: torch.Tensor = None
    epoch_state: torch.Tensor = None  # the training generator's state when `epoch` began


def save(ckpt: Checkpoint, identity: dict, model, optimizer, generator, position: Position):
    """Write the checkpoint atomically: a temporary file beside `ckpt.path`, renamed into place."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    tensors = {f"model.{k}": v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    for i, p in enumerate(params):
        buffer = optimizer.state.get(p, {}).get("momentum_buffer")
        if buffer is not None:
            tensors[f"momentum.{i}"] = buffer.detach().to("cpu").contiguous()
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.generator"] = generator.get_state()
    tensors["rng.epoch"] = position.epoch_state
    tensors["loss_sum"] = torch.as_tensor(position.loss_sum).detach().to("cpu").reshape(1)
    meta = dict(format=FORMAT, identity=identity, epoch=position.epoch, step=position.step,
                done_in_epoch=position.done_in_epoch, history=position.history)
    ckpt.path.parent.mkdir(parents=True, exist_ok=True)
    temporary = ckpt.path.with_name(f".{ckpt.path.name}.{os.getpid()}.tmp")
    try:
        save_file(tensors, str(temporary), metadata={"checkpoint": json.dumps(meta)})
        os.replace(temporary, ckpt.path)
    finally:
        temporary.unlink(missing_ok=True)


def load(ckpt: Checkpoint, identity: dict, model, optimizer, generator, device) -> Position:
    """Restore a run from `ckpt` into `model`, `optimizer`, `generator` and torch's RNG; its `Position`, or a
    fresh one when there is no checkpoint. A checkpoint of another run (recipe or data) is an error."""
    if not ckpt.path.is_file():
        return Position(history=[], loss_sum=0.0)
    with safe_open(str(ckpt.path), framework="pt") as handle:
        meta = json.loads((handle.metadata() or {}).get("checkpoint", "{}"))
    if meta.get("identity") != identity:
        checks.fail("train", "checkpoint",
                    f"belong to this run ({identity}); delete it or give another checkpoint path",
                    got=f"{ckpt.path}, which belongs to another run ({meta.get('identity')})")
    tensors = load_file(str(ckpt.path), device="cpu")
    model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for i, p in enumerate(params):
        if f"momentum.{i}" in tensors:
            optimizer.state[p]["momentum_buffer"] = tensors[f"momentum.{i}"].to(device=p.device).clone(
                memory_format=torch.preserve_format)
    torch.set_rng_state(tensors["rng.torch"])
    generator.set_state(tensors["rng.generator"])
    return Position(epoch=meta["epoch"], step=meta["step"], done_in_epoch=meta["done_in_epoch"],
                    history=meta["history"], loss_sum=tensors["loss_sum"][0].to(device),
                    epoch_state=tensors["rng.epoch"])


class Preemption:
    """Within the block, a SIGTERM (SLURM's preemption signal) is remembered instead of ending the process, so
    the training loop can write a checkpoint after the step in flight; outside the main thread it does nothing."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._note)
        return self

    def _note(self, signum, frame):
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
        return False


class Preempted(SystemExit):
    """Raised after the checkpoint a SIGTERM asked for is written: the process exits with status 143."""

    def __init__(self, path):
        super().__init__(143)
        self.path = path


class Saver:
    """What the training loop asks of a run's checkpoint: where to `resume` from, a checkpoint after a step
    (every `every_steps` steps, and on SIGTERM, then exit) and at every epoch's end, and deleting it once the run
    is done. `Saver.of(None, ...)` is the saver of a run that is not resumable: it starts at the beginning and
    writes nothing."""

    def __init__(self, ckpt, identity, model, optimizer, generator):
        self.ckpt, self.identity = ckpt, identity
        self.model, self.optimizer, self.generator = model, optimizer, generator
        self.preemption = Preemption() if ckpt is not None else contextlib.nullcontext()

    @classmethod
    def of(cls, checkpoint, identity, model, optimizer, generator) -> "Saver":
        """The saver of `checkpoint` (a path, a `Checkpoint`, or None) for the run `identity` names."""
        return cls(None if checkpoint is None else as_checkpoint(checkpoint), identity, model, optimizer, generator)

    def resume(self, device) -> Position:
        """Where the run starts: the checkpoint's position (its state restored), else the beginning."""
        if self.ckpt is None:
            return Position(history=[], loss_sum=0.0)
        return load(self.ckpt, self.identity, self.model, self.optimizer, self.generator, device)

    def _save(self, position):
        if self.ckpt is not None and self.ckpt.write:
            save(self.ckpt, self.identity, self.model, self.optimizer, self.generator, position)

    def _stop_if_asked(self):
        if self.ckpt is not None and self.preemption.requested:
            raise Preempted(self.ckpt.path)

    def after_step(self, epoch, step, done, history, loss_sum, epoch_state):
        due = self.ckpt is not None and self.ckpt.every_steps and step % self.ckpt.every_steps == 0
        if due or (self.ckpt is not None and self.preemption.requested):
            self._save(Position(epoch, step, done, history, loss_sum, epoch_state))
        self._stop_if_asked()

    def after_epoch(self, next_epoch, step, history, generator):
        self._save(Position(next_epoch, step, 0, history, 0.0, generator.get_state()))
        self._stop_if_asked()

    def finish(self):
        """The run is done: its checkpoint is deleted (the trained model is the zoo's cache file)."""
        if self.ckpt is not None and self.ckpt.write:
            self.ckpt.path.unlink(missing_ok=True)

