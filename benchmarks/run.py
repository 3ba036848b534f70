"""Benchmarks of pagutils' attack, training and construction loops against torchattacks and the model's floor.

    python benchmarks/run.py                 # the device pagutils would pick (cuda > mps > cpu)
    python benchmarks/run.py --device cpu    # or cuda; --reps, --threads, --only, --models, --batches, --no-save

Every measurement alternates its variants (pagutils, torchattacks, the floor) repetition by repetition on the
same model and inputs, and reports the median. Throughput is images x steps per second. The floor is the
model's bare forward plus input-gradient backward on the same batch, `steps` times: PGD time over the floor
above 1 is the attack's own overhead. The table is printed; the numbers go to benchmarks/results/*.json, with
the commit of the measured code. The parts are registered in parts.py (registry.py says how to add one);
`--only` picks some by name.
"""
import argparse
import atexit
import datetime
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KINETO_LOG_LEVEL", "5")  # the profiler's log: no "gpuGetDeviceCount failed" without a GPU
import torch

import parts  # registers the parts
import record
import registry
from pagutils.core.device import resolve
from timing import CLOCKS, Timer, clock_name
from workloads import BATCHES, MODELS, REPS, kind

HERE = Path(__file__).resolve().parent


def parser():
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="auto", help="auto (pagutils' default device), cpu or cuda")
    p.add_argument("--reps", type=int, default=None, help="repetitions per variant (default: REPS)")
    p.add_argument("--memory-probe", default=None, help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--only", default=None, help=f"comma-separated parts to run (default all: {','.join(registry.PARTS)})")
    p.add_argument("--models", default="small_cnn,resnet18")
    p.add_argument("--batches", default=None, help="comma-separated PGD batch sizes for every model")
    p.add_argument("--clock", default=None, choices=sorted(CLOCKS),
                   help="cpu (process CPU time; default on CPU) or wall (default, and always, on GPU)")
    p.add_argument("--no-save", action="store_true", help="print only; write no results file")
    return p


def isolate(args):
    """Set the torch threads, silence progress bars, and point pagutils' cache at a fresh folder removed at
    exit: nothing measured is read from a cache."""
    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ.setdefault("PAG_PROGRESS", "0")
    os.environ["PAG_CACHE_DIR"] = tempfile.mkdtemp(prefix="pag-bench-")
    atexit.register(shutil.rmtree, os.environ["PAG_CACHE_DIR"], ignore_errors=True)


def context(args, device, clock):
    """What every part is given: the device, the models, their PGD batch sizes and repetitions, the timer."""
    size, names = kind(device), args.models.split(",")
    batches = {name: [int(b) for b in args.batches.split(",")] if args.batches else BATCHES[size][name]
               for name in names}
    return registry.Context(device=device, kind=size, models=names, batches=batches,
                            reps={name: args.reps or REPS[size][name] for name in MODELS},
                            threads=args.threads, timer=Timer(device, CLOCKS[clock]))


def measure(chosen, ctx, results):
    """Run every chosen part, its rows into `results` under its key; one that cannot run here is skipped and the
    reason kept under "skipped"."""
    for part in chosen:
        why = part.unmet(ctx.kind)
        if why:
            print(f"  {part.name} skipped: {why}", flush=True)
            results["skipped"][part.name] = why
        else:
            results[part.key] = part.measure(ctx)


def table(chosen, results):
    """Every chosen part's table that has rows, in registration order."""
    return "\n".join(line for part in chosen if results.get(part.key)
                     for line in part.lines(results[part.key], results))


def header(info, code):
    """The run's first line: the machine, the versions, the load, the commit."""
    dirty = " (dirty)" if code["dirty"] is True else ""
    return (f"{info['cpu']} / {info.get('gpu', 'no GPU')}: torch {info['torch']}, torchattacks {info['torchattacks']}, "
            f"{info['torch_threads']} threads, load {info.get('load_average_start')}, commit {code['commit'][:12]}{dirty}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    cli = parser()
    args = cli.parse_args(argv)
    try:
        chosen = registry.select(args.only)
    except registry.UnknownPart as error:
        cli.error(str(error))
    device = torch.device(resolve(None if args.device == "auto" else args.device))
    isolate(args)
    if args.memory_probe:
        return print(json.dumps(parts.memory_probe(args.memory_probe, device)))
    clock = clock_name(kind(device), args.clock)
    ctx = context(args, device, clock)
    info, code = record.machine(device), record.provenance(device, argv)
    print(header(info, code), flush=True)
    results = dict(machine=info, date=datetime.datetime.now().isoformat(timespec="seconds"), reps=ctx.reps,
                   clock=clock, provenance=code, skipped={})
    started = time.perf_counter()
    measure(chosen, ctx, results)
    results["seconds"] = time.perf_counter() - started
    results["cpu_seconds"] = time.process_time()  # this process's CPU time: the run's length on a quiet machine
    if hasattr(os, "getloadavg"):
        info["load_average_end"] = os.getloadavg()
    print(table(chosen, results))
    print(f"\n{results['seconds']:.0f} s in all ({results['cpu_seconds']:.0f} s of CPU time)")
    if not args.no_save:
        out = record.save(results, HERE / "results", f"{record.slug(info)}-{datetime.date.today().isoformat()}")
        print(f"results: {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
