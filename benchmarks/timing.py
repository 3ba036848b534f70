"""How long a call takes and how much memory it adds: the benchmark's clocks, medians, rates and peaks.

On a CPU shared with other work, the process's CPU time (all its threads) measures the work itself; wall time
also counts the time other processes held the cores. GPU timings are always wall time, the device synchronised.
"""
import os
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Callable

import torch

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def clock_name(kind, asked=None):
    """The clock a run uses: wall time on a GPU (`kind` "cuda"), else `asked` (`--clock`), by default CPU time."""
    return "wall" if kind == "cuda" else (asked or "cpu")


def sync(device):
    """Wait for the GPU's queued work, so that a clock read after it counts that work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rotation(names, rep):
    """The order of repetition `rep`: `names` rotated by `rep`, so that no variant always runs first."""
    shift = rep % len(names)
    return names[shift:] + names[:shift]


def rates(work, seconds):
    """Work per second of every variant: `work` (images, or images x steps) over each of `seconds` (name -> s)."""
    return {name: work / s for name, s in seconds.items()}


@dataclass(frozen=True)
class Timer:
    """Times calls on `device` by `clock` (a function returning seconds, one of CLOCKS)."""
    device: torch.device
    clock: Callable[[], float] = time.perf_counter

    def seconds(self, fn):
        """Seconds one call of `fn` takes (the device synchronised before and after)."""
        sync(self.device)
        started = self.clock()
        fn()
        sync(self.device)
        return self.clock() - started

    def alternate(self, variants, reps, warmup=1):
        """Median seconds of every variant (a dict name -> fn), after `warmup` untimed calls each, called in turn
        `reps` times, the order rotating: what a slow drift of the machine does falls on all variants alike."""
        names = list(variants)
        for _ in range(warmup):
            for name in names:
                variants[name]()
        times = {name: [] for name in names}
        for rep in range(reps):
            for name in rotation(names, rep):
                times[name].append(self.seconds(variants[name]))
        return {name: statistics.median(t) for name, t in times.items()}


def rss_bytes():
    """This process's resident memory now (Linux's /proc/self/statm)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_memory_mb(fn, device):
    """Peak memory one call of `fn` adds above what was in use before it: GPU max allocated, or CPU RSS
    (sampled every millisecond by a thread; Linux only, else None)."""
    if device.type == "cuda":
        sync(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        sync(device)
        return (torch.cuda.max_memory_allocated(device) - before) / 2**20
    if not os.path.exists("/proc/self/statm"):
        return None
    before, peak, done = rss_bytes(), [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_bytes())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        fn()
    finally:
        done.set()
        sampler.join()
    return (max(peak[0], rss_bytes()) - before) / 2**20


def high_water_added_mb(fn):
    """Peak RSS one call of `fn` adds to the process, in MB: the kernel's high-water mark (VmHWM, reset first
    through /proc/self/clear_refs) over the RSS before the call. Exact, unlike sampling, but it counts the whole
    process: run it in a fresh one."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = rss_bytes()
    fn()
    with open("/proc/self/status") as f:
        peak_kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    return (peak_kb * 1024 - before) / 2**20
