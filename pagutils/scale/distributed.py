"""One model on several GPUs or nodes: torchrun and DistributedDataParallel around the existing training loop.

    torchrun --nproc_per_node=8 -m pagutils.scale.distributed config.json [more.json ...]   # one node, 8 GPUs
    torchrun --nnodes=4 --nproc_per_node=8 --rdzv-endpoint=HOST:29500 -m pagutils.scale.distributed config.json

`config.json` is a zoo configuration (`zoo.standard(...)`, `zoo.robust(...)`, written with `json.dump`). Every
rank loads the same training set and draws the same shuffled order; each takes its slice of every global batch
(`batch_size` in the configuration is the global batch, which the world size must divide), and DDP averages
the gradients, so one step is the single-process step up to floating-point summation order. The process group
is NCCL on GPUs and gloo on CPUs. Rank 0 writes the trained model to the zoo's cache in the format
`zoo.cached_model` writes (the file `zoo.get` reads); a configuration already cached is not trained again.
Each configuration is checked before anything trains. `--checkpoint PATH` makes the run resumable (`pagutils.core.checkpoint`; every rank restores the same state).

Constructions need nothing of this module: under torchrun, `features` builds each rank's share of a
construction's chunks (`shard()`, in `pagutils.core.device`, where the core keeps what a rank needs to know) and
assembles the set once every chunk exists.
"""
import argparse
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..core import cache, checks
from ..core.device import barrier, shard
from ..core.data import Data, load


@dataclass(frozen=True)
class Sharded(Data):
    """A training set of which this rank trains on slice `rank` of `world` of every (global) batch; the shuffled
    order is drawn as `Data.batches` draws it, so every rank sees the same global batches."""
    rank: int = 0
    world: int = 1

    def batches(self, batch_size, shuffle=False, generator=None):
        for x, y in Data.batches(self, batch_size, shuffle, generator):
            yield x.tensor_split(self.world)[self.rank], y.tensor_split(self.world)[self.rank]


def check_world(batch_size: int, world: int, what="batch_size"):
    """The world size must divide the global batch: every rank then trains on equally many examples per step."""
    if batch_size % world:
        checks.fail("distributed", what, f"be a multiple of the world size {world}, the number of processes "
                    f"(torchrun --nproc_per_node x --nnodes)", got=f"{batch_size}")


def _start(device_kind):
    """Join the process group torchrun describes (NCCL on GPUs, gloo on CPUs); the device this rank uses."""
    import torch.distributed as dist
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        if name not in os.environ:
            raise RuntimeError(f"distributed: {name} is not set: start this module with torchrun, e.g. "
                               f"`torchrun --nproc_per_node=2 -m pagutils.scale.distributed config.json`")
    cuda = device_kind == "cuda" or (device_kind is None and torch.cuda.is_available())
    local = int(os.environ["LOCAL_RANK"])
    device = torch.device("cuda", local) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    return device


def check_config(config: dict, world: int):
    """A zoo configuration that this world can train: its recipe (checked), its batch divided by `world`."""
    from ..core.train import Recipe
    from ..core.zoo import REQUIRED
    checks.mapping(config, "config", "distributed", REQUIRED)
    recipe = Recipe.from_config(config)
    check_world(recipe.batch_size, world)
    return recipe


def train_config(config: dict, device, checkpoint=None, show_progress=True):
    """Train the zoo configuration `config` on this process group with DDP; rank 0 caches it. Returns the model
    (the plain module, weights equal on every rank)."""
    from torch.nn.parallel import DistributedDataParallel
    from ..core.models import channels_last, make_classifier
    from ..core.train import train
    rank, world = shard()
    recipe = check_config(config, world)
    model = make_classifier(config["arch"], config["dataset"], seed=recipe.seed).to(device)
    expect = cache.shapes(model)
    found = cache.read(cache.path_for("models", config), config, device, expect, warn=False)
    if found is not None:
        model.load_state_dict(found[0])
        return model.eval()
    from ..core.zoo import training_set  # the zoo's own draw (disjoint where the config says so)
    full = training_set(config, device=device)
    local = Sharded(full.x, full.y, full.classes, full.name, rank=rank, world=world)
    started = time.perf_counter()
    # DDP's gradient buckets follow the parameters' layout when it is built: make them channels-last first, as
    # `train` would (built on contiguous weights that `train` then restrides, DDP reduces wrong gradients)
    with channels_last(model):
        wrapped = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        history = train(wrapped, local, recipe, checkpoint=_checkpoint(checkpoint, rank, config),
                        show_progress=show_progress and rank == 0)
    info = dict(history=_global_losses(history, device), train_seconds=time.perf_counter() - started,
                world_size=world)
    if rank == 0:
        cache.cached("models", config, lambda: (model.state_dict(), info), device=device, expect=expect)
    barrier()
    return model.eval()


def _global_losses(history, device):
    """The history with each epoch's loss over the whole training set: each rank's record sums its slices' losses
    over the global set size, so the ranks' records add up to the single-process mean."""
    import torch.distributed as dist
    losses = torch.tensor([record["loss"] for record in history], dtype=torch.float64, device=device)
    dist.all_reduce(losses)
    return [dict(record, loss=loss) for record, loss in zip(history, losses.tolist())]


def _checkpoint(path, rank, config):
    """The run's checkpoint, one file per configuration: rank 0 writes it and every rank resumes from it (DDP keeps
    the ranks' weights, momenta and generators equal), so ranks preempted a step apart still resume together."""
    if path is None:
        return None
    from ..core.checkpoint import Checkpoint
    path = Path(path)
    named = path.with_name(f"{path.stem}.{cache.config_key(config)}{path.suffix or '.safetensors'}")
    return Checkpoint(named, every_steps=500, write=rank == 0)


def _read_config(text: str) -> dict:
    """A zoo configuration from a JSON file path, or JSON text."""
    path = Path(text)
    try:
        return json.loads(path.read_text() if path.is_file() else text)
    except json.JSONDecodeError as error:
        problem = error
    # raised outside the except clause: the error is not chained to the JSON parser's
    checks.fail("distributed", "CONFIG", "be a JSON file or JSON text holding a zoo configuration",
                got=f"{text!r}: {problem}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m pagutils.scale.distributed", description=__doc__.split("\n")[0])
    parser.add_argument("configs", nargs="+", help="zoo configurations: JSON files, or JSON text (trained in turn)")
    parser.add_argument("--device", choices=("cuda", "cpu"), default=None, help="default: cuda when there is one")
    parser.add_argument("--checkpoint", default=None,
                        help="resumable: a checkpoint path (one file per configuration, written by rank 0)")
    args = parser.parse_args(argv)
    configs = [_read_config(text) for text in args.configs]
    for config in configs:
        check_config(config, int(os.environ.get("WORLD_SIZE", "1")))
    import torch.distributed as dist
    device = _start(args.device)
    try:
        for config in configs:
            train_config(config, device, args.checkpoint, show_progress=os.environ.get("PAG_PROGRESS") != "0")
            if dist.get_rank() == 0:
                print(f"cached: {cache.path_for('models', config)}")
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
