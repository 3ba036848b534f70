"""What a results file records besides the timings, and where it goes: the machine, the measured code (its
commit, whether the tree was dirty, torch, the device, the command line), and a file name that no later run
overwrites."""
import itertools
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

import torch

import pagutils

UNKNOWN = "unknown"


def machine(device):
    """The CPU, the GPU, the threads and the versions a run measured on."""
    cpu = platform.processor() or platform.machine()
    if os.path.exists("/proc/cpuinfo"):
        names = [line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")]
        cpu = names[0] if names else cpu
    info = dict(device=device.type, cpu=cpu, cpu_count=os.cpu_count(), torch_threads=torch.get_num_threads(),
                platform=platform.platform(), python=platform.python_version(), torch=torch.__version__,
                pagutils=getattr(pagutils, "__version__", "dev"))
    try:
        import torchattacks
        info["torchattacks"] = torchattacks.__version__
    except ImportError:
        info["torchattacks"] = None
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    if hasattr(os, "getloadavg"):
        info["load_average_start"] = os.getloadavg()
    return info


def slug(info):
    """The machine's part of a results file's name: the GPU's name, or the CPU threads."""
    if info["device"] == "cuda":
        return info["gpu"].lower().replace(" ", "-")
    return f"cpu-{info['torch_threads']}thread"


def _git(directory, *args):
    return subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True, check=True,
                          timeout=60).stdout


def commit(directory):
    """The git commit checked out at `directory` and whether its tree was dirty (uncommitted changes, untracked
    files included; `changed` lists them), or "unknown" for both outside git or without git."""
    try:
        head, status = _git(directory, "rev-parse", "HEAD").strip(), _git(directory, "status", "--porcelain")
    except (OSError, subprocess.SubprocessError):  # no git, not a repository, or git failed
        return dict(commit=UNKNOWN, dirty=UNKNOWN, changed=[])
    changed = [line[3:] for line in status.splitlines()]
    return dict(commit=head, dirty=bool(changed), changed=changed)


def provenance(device, argv):
    """What was measured and how: the commit of pagutils' checkout, torch, the device and the command line."""
    command = shlex.join([Path(sys.executable).name, "benchmarks/run.py", *argv])
    return dict(**commit(Path(pagutils.__file__).resolve().parent), torch=torch.__version__, device=str(device),
                command=command)


def save(results, directory, stem):
    """Write `results` to `directory`/`stem`.json, or to `stem`-2.json, -3, ... when taken: never over a file."""
    directory.mkdir(parents=True, exist_ok=True)
    for n in itertools.count(1):
        path = directory / (f"{stem}.json" if n == 1 else f"{stem}-{n}.json")
        try:
            with open(path, "x") as f:  # "x": fails if the file exists, even one another run just wrote
                f.write(json.dumps(results, indent=1))
        except FileExistsError:
            continue
        return path
