"""Benchmarks of pagutils' attack, training and construction loops against torchattacks and the model's floor.

    python benchmarks/run.py                 # the device pagutils would pick (cuda > mps > cpu)
    python benchmarks/run.py --device cpu    # or cuda; --reps, --threads, --only, --no-save

Every measurement alternates its variants (pagutils, torchattacks, the floor) repetition by repetition on the
same model and inputs, and reports the median. Throughput is images x steps per second. The floor is the
model's bare forward plus input-gradient backward on the same batch, `steps` times: PGD time over the floor
above 1 is the attack's own overhead. The table is printed; the numbers go to benchmarks/results/*.json.
"""
import argparse
import atexit
import contextlib
import copy
import datetime
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("KINETO_LOG_LEVEL", "5")  # the profiler's log: no "gpuGetDeviceCount failed" without a GPU
import torch
import torch.nn.functional as F

import pagutils
from pagutils import attacks, features, models, train
from pagutils.data import Data, INFO
from pagutils.device import resolve

HERE = Path(__file__).resolve().parent
STEPS = 10
# model name -> (arch, dataset, L2 eps, Linf eps, PGD steps of adversarial training)
MODELS = {"small_cnn": ("small_cnn", "mnist", 1.5, 0.1, 5), "resnet18": ("resnet18", "cifar10", 0.5, 8 / 255, 7)}
# batch sizes per device and model
BATCHES = {"cpu": {"small_cnn": [128, 256], "resnet18": [8, 16]},
           "cuda": {"small_cnn": [128, 512, 2048], "resnet18": [128, 512]}}
# repetitions per device and model (ResNet-18 on a CPU takes seconds a call)
REPS = {"cpu": {"small_cnn": 5, "resnet18": 3}, "cuda": {"small_cnn": 10, "resnet18": 10}}
# images for the training and the construction benchmarks, per device and model
WORK = {"cpu": {"small_cnn": 1024, "resnet18": 32}, "cuda": {"small_cnn": 16384, "resnet18": 2048}}
CONSTRUCT = {"cpu": {"small_cnn": 256, "resnet18": 8}, "cuda": {"small_cnn": 4096, "resnet18": 1024}}


# ---------------------------------------------------------------------------------------------------------------
# timing and memory


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# On a CPU shared with other work, the process's CPU time (all its threads) measures the work itself; wall time
# also counts the time other processes held the cores. `--clock` picks; GPU timings are always wall time.
CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter


def timed(fn, device):
    """Seconds one call of `fn` takes (the device synchronised before and after)."""
    sync(device)
    started = clock()
    fn()
    sync(device)
    return clock() - started


def alternate(variants, device, reps, warmup=1):
    """Median seconds of every variant (a dict name -> fn), called in turn `reps` times, the order rotating."""
    names = list(variants)
    for _ in range(warmup):
        for name in names:
            variants[name]()
    times = {name: [] for name in names}
    for rep in range(reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            times[name].append(timed(variants[name], device))
    return {name: statistics.median(t) for name, t in times.items()}


def _rss_bytes():
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
    before, peak, done = _rss_bytes(), [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        fn()
    finally:
        done.set()
        sampler.join()
    return (max(peak[0], _rss_bytes()) - before) / 2**20


# ---------------------------------------------------------------------------------------------------------------
# what is timed


def floor(model, x, y, steps, layout=False, compile=False):
    """`steps` bare forward + input-gradient backward passes (channels-last weights and inputs with `layout`;
    with `compile`, the model runs through torch.compile with its parameters frozen, as `attacks.pgd` runs it)."""
    def run():
        with (models.channels_last(model) if layout else contextlib.nullcontext(),
              models.frozen(model) if compile else contextlib.nullcontext()):
            xs = x.contiguous(memory_format=torch.channels_last) if layout else x
            for _ in range(steps):
                xs = xs.detach().requires_grad_(True)
                logits = models.forward(model, xs, compile)
                torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), xs)
    return run


def torchattacks_attack(model, norm, eps, steps, random_start=True, targeted=False):
    import torchattacks
    kind = torchattacks.PGDL2 if norm == "l2" else torchattacks.PGD
    attack = kind(model, eps=eps, alpha=2.5 * eps / steps, steps=steps, random_start=random_start)
    if targeted:
        attack.set_mode_targeted_by_label(quiet=True)
    return attack


def model_and_batch(name, n, device, dtype=torch.float32, seed=0):
    arch, dataset = MODELS[name][:2]
    model = models.make_classifier(arch, dataset, seed=seed).to(device=device, dtype=dtype).eval()
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand((n, *INFO[dataset]["shape"]), generator=generator).to(device=device, dtype=dtype)
    y = torch.randint(0, 10, (n,), generator=generator).to(device)
    return model, x, y


# ---------------------------------------------------------------------------------------------------------------
# benchmarks


def check_same_examples(name, device):
    """pagutils and torchattacks with the random start off: the largest difference of their adversarial
    examples after STEPS steps, in float64 (where two correct implementations agree to rounding) and float32."""
    rows = []
    n = 8 if name == "small_cnn" else 2
    for dtype in (torch.float64, torch.float32):
        if dtype == torch.float64 and device.type == "mps":
            continue
        model, x, y = model_and_batch(name, n, device, dtype)
        for norm, eps in (("l2", MODELS[name][2]), ("linf", MODELS[name][3])):
            ours = attacks.pgd(model, x, y, eps, norm, STEPS, random_start=False)
            theirs = torchattacks_attack(model, norm, eps, STEPS, random_start=False)(x, y)
            rows.append(dict(model=name, norm=norm, dtype=str(dtype).replace("torch.", ""), n=n,
                             max_abs_diff=(ours - theirs).abs().max().item(),
                             moved=(ours - x).abs().max().item()))
    return rows


def bench_pgd(name, batch, norm, device, reps):
    model, x, y = model_and_batch(name, batch, device)
    plain = copy.deepcopy(model)  # never converted: what a user hands to torchattacks
    eps = MODELS[name][2] if norm == "l2" else MODELS[name][3]
    generator = torch.Generator().manual_seed(0)
    ta = torchattacks_attack(plain, norm, eps, STEPS)
    ta_cl = torchattacks_attack(model, norm, eps, STEPS)

    def ta_channels_last():  # torchattacks calls .view on inputs and gradients: with three channels it fails
        with models.channels_last(model):
            ta_cl(x, y)

    variants = {
        "pagutils": lambda: attacks.pgd(model, x, y, eps, norm, STEPS, generator=generator),
        "pagutils_bf16": lambda: attacks.pgd(model, x, y, eps, norm, STEPS, generator=generator, precision="bfloat16"),
        "torchattacks": lambda: ta(x, y),
        "floor": floor(plain, x, y, STEPS),
        "floor_channels_last": floor(model, x, y, STEPS, layout=True),
    }
    if x.shape[1] == 1:
        variants["torchattacks_channels_last"] = ta_channels_last
    seconds = alternate(variants, device, reps)
    memory = {k: peak_memory_mb(v, device) if device.type == "cuda" else None for k, v in variants.items()
              if k in ("pagutils", "torchattacks")}
    work = batch * STEPS
    return dict(model=name, batch=batch, norm=norm, steps=STEPS, seconds=seconds,
                throughput={k: work / s for k, s in seconds.items()}, peak_memory_mb=memory,
                speedup_vs_torchattacks=seconds["torchattacks"] / seconds["pagutils"],
                bf16_speedup_vs_torchattacks=seconds["torchattacks"] / seconds["pagutils_bf16"],
                pagutils_over_floor=seconds["pagutils"] / seconds["floor"],
                pagutils_over_own_floor=seconds["pagutils"] / seconds["floor_channels_last"],
                torchattacks_over_floor=seconds["torchattacks"] / seconds["floor"])


def bf16_cost(device, n_train=4000, n_test=500, eps_list=(1.0, 2.0)):
    """What bfloat16 attacks cost in accuracy: a small CNN trained for two epochs on MNIST, attacked with L2 PGD
    (10 steps) in float32 and in bfloat16 on the same test images and random starts. None without MNIST."""
    from pagutils import data as datasets
    try:
        train_set = datasets.load("mnist", "train", n=n_train, seed=0, device=device)
        test_set = datasets.load("mnist", "test", n=n_test, seed=1, device=device)
    except (OSError, RuntimeError) as error:  # missing (FileNotFoundError) or corrupt files
        print(f"  bf16 cost skipped: {type(error).__name__}: {str(error)[:200]}")
        return None
    model = models.make_classifier("small_cnn", "mnist", seed=0).to(device)
    train.train(model, train_set, 2, lr=0.05, batch_size=128, show_progress=False)
    rows = [dict(eps=0.0, float32=attacks.accuracy(model, test_set), bfloat16=None)]
    for eps in eps_list:
        rows.append(dict(eps=eps, **{p: attacks.robust_accuracy(model, test_set, eps, "l2", STEPS, seed=0,
                                                                 show_progress=False, precision=p)
                                     for p in attacks.PRECISIONS}))
    return dict(model="small_cnn", dataset="mnist", n_train=n_train, n_test=n_test, steps=STEPS, rows=rows)


def floor_shares(self_times):
    """Shares of a floor's time: {name: self time} of profiled operators -> the forward convolutions, their
    input-gradient convolutions and everything else, each a fraction of the total, and the most that removing
    everything else could speed the floor up (1 / the convolutions' share)."""
    kinds = dict(convolution=0.0, convolution_backward=0.0, other=0.0)
    for name, seconds in self_times.items():
        lower = name.lower()
        kind = ("convolution_backward" if "backward" in lower else "convolution") if "convolution" in lower else "other"
        kinds[kind] += seconds
    total = sum(kinds.values())
    if total <= 0:
        raise ValueError(f"floor_shares: self_times must hold some positive time, got {self_times!r}")
    shares = {kind: seconds / total for kind, seconds in kinds.items()}
    shares["bound_without_other"] = 1 / (1 - shares["other"]) if shares["other"] < 1 else float("inf")
    return shares


def floor_profile(name, batch, steps=5):
    """Where the CPU floor's time goes: the own floor (channels-last, parameters frozen) under torch.profiler,
    operators' self CPU time split by `floor_shares`."""
    from torch.profiler import ProfilerActivity, profile
    model, x, y = model_and_batch(name, batch, torch.device("cpu"))
    run = floor(model, x, y, steps, layout=True)
    with models.frozen(model):
        run()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            run()
    times = {e.key: e.self_cpu_time_total / 1e6 for e in prof.key_averages()}
    return dict(model=name, batch=batch, steps=steps, **floor_shares(times))


def bench_compile(name, batch, device, reps):
    """pagutils PGD (L2) eager and with `compile=True`, against the own floor eager and compiled. The first
    (warm-up) call compiles; its seconds are reported apart."""
    model, x, y = model_and_batch(name, batch, device)
    eps = MODELS[name][2]
    variants = {"pagutils": lambda: attacks.pgd(model, x, y, eps, "l2", STEPS, compile=False),
                "pagutils_compiled": lambda: attacks.pgd(model, x, y, eps, "l2", STEPS, compile=True),
                "floor_channels_last": floor(model, x, y, STEPS, layout=True),
                "floor_compiled": floor(model, x, y, STEPS, layout=True, compile=True)}
    out = dict(model=name, batch=batch, norm="l2", steps=STEPS)
    try:
        started = time.perf_counter()
        variants["pagutils_compiled"]()
        out["compile_seconds"] = time.perf_counter() - started
    except Exception as error:  # torch.compile needs a C++ compiler (CPU) or triton (GPU): record why it failed
        out["compile_error"] = f"{type(error).__name__}: {error}"[:300]
        return out
    seconds = alternate(variants, device, reps)
    out.update(seconds=seconds, throughput={k: batch * STEPS / s for k, s in seconds.items()},
               compiled_speedup=seconds["pagutils"] / seconds["pagutils_compiled"],
               compiled_over_compiled_floor=seconds["pagutils_compiled"] / seconds["floor_compiled"])
    return out


def memory_probe(name, batch, norm, variant, device):
    """(Run in a fresh process.) Peak RSS one call of a PGD variant adds to the process, in MB: the kernel's
    high-water mark (VmHWM, reset first through /proc/self/clear_refs) over the RSS before the call."""
    model, x, y = model_and_batch(name, int(batch), device)
    eps = MODELS[name][2] if norm == "l2" else MODELS[name][3]
    run = {"pagutils": lambda: attacks.pgd(model, x, y, eps, norm, STEPS),
           "torchattacks": lambda: torchattacks_attack(model, norm, eps, STEPS)(x, y)}[variant]
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _rss_bytes()
    run()
    with open("/proc/self/status") as f:
        peak_kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    return dict(model=name, batch=int(batch), norm=norm, variant=variant,
                peak_rss_added_mb=(peak_kb * 1024 - before) / 2**20)


def cpu_memory(name, batch, threads):
    """Peak CPU memory of pagutils' and torchattacks' PGD (L2), each measured in a fresh process."""
    import subprocess
    rows = []
    for variant in ("pagutils", "torchattacks"):
        command = [sys.executable, __file__, "--device", "cpu", "--memory-probe", f"{name}:{batch}:l2:{variant}"]
        command += ["--threads", str(threads)] if threads else []
        rows.append(json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout.splitlines()[-1]))
    return rows


def _data(x, y, dataset):
    return Data(x, y, INFO[dataset]["classes"], "benchmark")


def bench_training(name, device, reps):
    """Images per second of one epoch: standard and PGD adversarial training with pagutils.train, and the same
    adversarial training written as a plain loop with torchattacks (what one would otherwise write)."""
    arch, dataset, eps, _, train_steps = MODELS[name]
    n = WORK[device.type][name]
    batch = 128 if name == "small_cnn" else (16 if device.type == "cpu" else 256)
    model, x, y = model_and_batch(name, n, device)
    data = _data(x, y, dataset)
    args = dict(lr=0.01, batch_size=batch, show_progress=False)

    def plain_loop():
        attack = torchattacks_attack(baseline, "l2", eps, train_steps)
        optimizer = torch.optim.SGD(baseline.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4, nesterov=True)
        for start in range(0, n, batch):
            xb, yb = x[start:start + batch], y[start:start + batch]
            x_adv = attack(xb, yb)
            baseline.train()
            loss = F.cross_entropy(baseline(x_adv), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    baseline = copy.deepcopy(model)
    variants = {
        "standard": lambda: train.train(model, data, 1, **args),
        "adversarial": lambda: train.train(model, data, 1, "pgd", dict(eps=eps, norm="l2", steps=train_steps), **args),
        "adversarial_bf16_attack": lambda: train.train(model, data, 1, "pgd", dict(
            eps=eps, norm="l2", steps=train_steps, attack_precision="bfloat16"), **args),
        "adversarial_torchattacks_loop": plain_loop,
    }
    if device.type == "cuda":  # on a CPU compiling measured no faster (the compile part) and costs a minute
        variants["adversarial_compiled_attack"] = lambda: train.train(model, data, 1, "pgd", dict(
            eps=eps, norm="l2", steps=train_steps, attack_compile=True), **args)
    seconds = alternate(variants, device, reps)
    memory = {k: peak_memory_mb(v, device) for k, v in variants.items()} if device.type == "cuda" else {}
    return dict(model=name, n=n, batch=batch, attack_steps=train_steps, seconds=seconds,
                images_per_second={k: n / s for k, s in seconds.items()}, peak_memory_mb=memory,
                adversarial_speedup_vs_torchattacks=seconds["adversarial_torchattacks_loop"] / seconds["adversarial"])


def bench_constructions(name, device, reps):
    """Representation matching (the inner loop of features.robustify, D_R) and targeted PGD (D_rand) against the
    floor, and D_rand's targeted PGD against torchattacks: images x iterations per second."""
    arch, dataset, eps = MODELS[name][:3]
    n = CONSTRUCT[device.type][name]
    model, x, y = model_and_batch(name, n, device)
    plain = copy.deepcopy(model)
    z0 = x.flip(0)
    target = (y + 1) % 10
    steps = 20
    ta = torchattacks_attack(plain, "l2", eps, steps, random_start=False, targeted=True)

    def representation_floor():
        with torch.no_grad():
            goal = plain.representation(x)
        z = z0
        for _ in range(steps):
            z = z.detach().requires_grad_(True)
            torch.autograd.grad((plain.representation(z) - goal).norm(dim=1).sum(), z)

    variants = {
        "robustify": lambda: features.match_representation(model, x, z0, steps, 0.1, record_every=steps),
        "robustify_floor": representation_floor,
        "d_rand_pagutils": lambda: attacks.pgd(model, x, target, eps, "l2", steps, targeted=True, random_start=False),
        "d_rand_torchattacks": lambda: ta(x, target),
    }
    if device.type == "cuda":
        variants["d_rand_pagutils_compiled"] = lambda: attacks.pgd(model, x, target, eps, "l2", steps, targeted=True,
                                                                   random_start=False, compile=True)
    seconds = alternate(variants, device, reps)
    memory = ({k: peak_memory_mb(v, device) for k, v in variants.items() if not k.endswith("floor")}
              if device.type == "cuda" else {})
    return dict(model=name, n=n, steps=steps, seconds=seconds,
                throughput={k: n * steps / s for k, s in seconds.items()}, peak_memory_mb=memory,
                robustify_over_floor=seconds["robustify"] / seconds["robustify_floor"],
                d_rand_speedup_vs_torchattacks=seconds["d_rand_torchattacks"] / seconds["d_rand_pagutils"])


# ---------------------------------------------------------------------------------------------------------------
# the machine, the table, the file


def machine(device):
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
    if info["device"] == "cuda":
        return info["gpu"].lower().replace(" ", "-")
    return f"cpu-{info['torch_threads']}thread"


def table(results):
    lines = ["", f"PGD, 10 steps: images x steps per second (median, {results['clock']} clock); "
             "speedup = torchattacks time / pagutils time",
             f"{'model':<10} {'batch':>5} {'norm':<5} {'pagutils':>9} {'torchatk':>9} {'speedup':>7} "
             f"{'pag bf16':>9} {'bf16 spd':>8} "
             f"{'floor':>9} {'pag/floor':>9} {'pag/ownfl':>9} {'ta/floor':>8} {'ta+cl':>9} {'MB pag':>7} {'MB ta':>7}"]
    for r in results.get("pgd", []):
        t, m = r["throughput"], r["peak_memory_mb"]
        mb = lambda v: "-" if v is None else f"{v:.0f}"
        lines.append(f"{r['model']:<10} {r['batch']:>5} {r['norm']:<5} {t['pagutils']:>9.0f} {t['torchattacks']:>9.0f} "
                     f"{r['speedup_vs_torchattacks']:>7.2f} {t['pagutils_bf16']:>9.0f} "
                     f"{r['bf16_speedup_vs_torchattacks']:>8.2f} {t['floor']:>9.0f} {r['pagutils_over_floor']:>9.2f} "
                     f"{r['pagutils_over_own_floor']:>9.2f} {r['torchattacks_over_floor']:>8.2f} "
                     f"{t.get('torchattacks_channels_last', float('nan')):>9.0f} {mb(m['pagutils']):>7} "
                     f"{mb(m['torchattacks']):>7}")
    lines.append("pag bf16: pagutils with precision='bfloat16' (autocast; its accuracy cost is below); "
                 "floor: bare forward + input backward (the model as built); own floor: the same channels-last; "
                 "ta+cl: torchattacks given channels-last weights (it cannot run "
                 "them with 3-channel inputs: it calls .view on channels-last gradients)")
    if results.get("bf16_cost"):
        c = results["bf16_cost"]
        lines += ["", f"bfloat16 attacks' cost: accuracy of a {c['model']} ({c['dataset']}, {c['n_train']} training "
                  f"images) on {c['n_test']} test images under L2 PGD ({c['steps']} steps)"]
        for r in c["rows"]:
            bf = "-" if r["bfloat16"] is None else f"{r['bfloat16']:.3f}"
            lines.append(f"  eps {r['eps']:<4g} float32 {r['float32']:.3f}  bfloat16 {bf}")
    if results.get("equivalence"):
        lines += ["", "Same adversarial examples with the random start off (max |pagutils - torchattacks|):"]
        for r in results["equivalence"]:
            lines.append(f"  {r['model']:<10} {r['norm']:<5} {r['dtype']:<8} {r['max_abs_diff']:.2e}"
                         f"  (largest pixel change {r['moved']:.2f})")
    if results.get("training"):
        lines += ["", "Training, one epoch: images per second"]
        for r in results["training"]:
            s = r["images_per_second"]
            lines.append(f"  {r['model']:<10} n={r['n']:<6} standard {s['standard']:8.0f}  adversarial "
                         f"({r['attack_steps']} steps) {s['adversarial']:7.0f}  (bf16 attack "
                         f"{s['adversarial_bf16_attack']:7.0f})  torchattacks loop "
                         f"{s['adversarial_torchattacks_loop']:7.0f}  speedup {r['adversarial_speedup_vs_torchattacks']:.2f}"
                         + (f"  (compiled attack {s['adversarial_compiled_attack']:7.0f})"
                            if "adversarial_compiled_attack" in s else ""))
    if results.get("constructions"):
        lines += ["", "Constructions, 20 iterations: images x iterations per second"]
        for r in results["constructions"]:
            t = r["throughput"]
            lines.append(f"  {r['model']:<10} n={r['n']:<5} robustify {t['robustify']:7.0f} (floor "
                         f"{t['robustify_floor']:7.0f}, ratio {r['robustify_over_floor']:.2f})  D_rand pagutils "
                         f"{t['d_rand_pagutils']:7.0f} torchattacks {t['d_rand_torchattacks']:7.0f} speedup "
                         f"{r['d_rand_speedup_vs_torchattacks']:.2f}"
                         + (f" (compiled {t['d_rand_pagutils_compiled']:7.0f})" if "d_rand_pagutils_compiled" in t else ""))
    if results.get("cpu_memory"):
        lines += ["", "Peak CPU memory a PGD call adds (RSS, fresh process each):"]
        for pair in results["cpu_memory"]:
            lines.append("  " + "  ".join(f"{r['model']} batch {r['batch']} {r['variant']} {r['peak_rss_added_mb']:.0f} MB"
                                          for r in pair))
    if results.get("compile"):
        lines += ["", "torch.compile, L2 PGD: images x steps per second (compile seconds: the first call)"]
        for r in results["compile"]:
            if "compile_error" in r:
                lines.append(f"  {r['model']:<10} batch {r['batch']:<5} not compiled: {r['compile_error']}")
                continue
            t = r["throughput"]
            lines.append(f"  {r['model']:<10} batch {r['batch']:<5} eager {t['pagutils']:8.0f}  compiled "
                         f"{t['pagutils_compiled']:8.0f}  speedup {r['compiled_speedup']:.2f}  own floor "
                         f"{t['floor_channels_last']:8.0f}  compiled floor {t['floor_compiled']:8.0f}  "
                         f"compiled/compiled floor {r['compiled_over_compiled_floor']:.2f}  "
                         f"(compile {r['compile_seconds']:.0f} s)")
    if results.get("floor_profile"):
        lines += ["", "Where the own floor's CPU time goes (torch.profiler, operators' self time):"]
        for r in results["floor_profile"]:
            lines.append(f"  {r['model']:<10} batch {r['batch']:<5} convolutions {r['convolution']:.0%}  their input "
                         f"gradients {r['convolution_backward']:.0%}  everything else {r['other']:.0%}  (without it: "
                         f"at most {r['bound_without_other']:.2f}x faster)")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto", help="auto (pagutils' default device), cpu or cuda")
    parser.add_argument("--reps", type=int, default=None, help="repetitions per variant (default: REPS)")
    parser.add_argument("--memory-probe", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--only", default="equivalence,pgd,bf16_cost,training,constructions,memory,compile,floor_profile",
                        help="comma-separated parts to run")
    parser.add_argument("--models", default="small_cnn,resnet18")
    parser.add_argument("--batches", default=None, help="comma-separated PGD batch sizes for every model")
    parser.add_argument("--clock", default=None, choices=sorted(CLOCK),
                        help="cpu (process CPU time; default on CPU) or wall (default, and always, on GPU)")
    parser.add_argument("--no-save", action="store_true", help="print only; write no results file")
    args = parser.parse_args(argv)
    device = torch.device(resolve(None if args.device == "auto" else args.device))
    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ.setdefault("PAG_PROGRESS", "0")
    os.environ["PAG_CACHE_DIR"] = tempfile.mkdtemp(prefix="pag-bench-")  # nothing is read from a cache
    atexit.register(shutil.rmtree, os.environ["PAG_CACHE_DIR"], ignore_errors=True)
    kind = "cuda" if device.type == "cuda" else "cpu"
    if args.memory_probe:
        return print(json.dumps(memory_probe(*args.memory_probe.split(":"), device)))
    reps = {name: args.reps or REPS[kind][name] for name in MODELS}
    parts, names = args.only.split(","), args.models.split(",")
    global clock
    clock_name = "wall" if kind == "cuda" else (args.clock or "cpu")
    clock = CLOCK[clock_name]
    batches = {name: [int(b) for b in args.batches.split(",")] if args.batches else BATCHES[kind][name]
               for name in names}
    info = machine(device)
    print(f"{info['cpu']} / {info.get('gpu', 'no GPU')}: torch {info['torch']}, torchattacks {info['torchattacks']}, "
          f"{info['torch_threads']} threads, load {info.get('load_average_start')}", flush=True)
    results = dict(machine=info, date=datetime.datetime.now().isoformat(timespec="seconds"), reps=reps, clock=clock_name,
                   command=" ".join([Path(sys.executable).name, *sys.argv]))
    started = time.perf_counter()
    if "equivalence" in parts:
        results["equivalence"] = [row for name in names for row in check_same_examples(name, device)]
    if "pgd" in parts:
        results["pgd"] = []
        for name in names:
            for batch in batches[name]:
                for norm in ("l2", "linf"):
                    results["pgd"].append(bench_pgd(name, batch, norm, device, reps[name]))
                    r = results["pgd"][-1]
                    print(f"  {name} batch {batch} {norm}: speedup {r['speedup_vs_torchattacks']:.2f}, "
                          f"pagutils/floor {r['pagutils_over_floor']:.2f}", flush=True)
    if "bf16_cost" in parts:
        results["bf16_cost"] = bf16_cost(device)
    if "training" in parts:
        results["training"] = [bench_training(name, device, max(3, reps[name] // 2)) for name in names]
    if "constructions" in parts:
        results["constructions"] = [bench_constructions(name, device, max(3, reps[name] // 2)) for name in names]
    if "memory" in parts and kind == "cpu":
        results["cpu_memory"] = [cpu_memory(name, batches[name][-1], args.threads) for name in names]
    if "compile" in parts:
        results["compile"] = [bench_compile(name, batches[name][-1], device, reps[name]) for name in names]
    if "floor_profile" in parts and kind == "cpu":
        results["floor_profile"] = [floor_profile(name, batches[name][-1]) for name in names]
    results["seconds"] = time.perf_counter() - started
    results["cpu_seconds"] = time.process_time()  # this process's CPU time: the run's length on a quiet machine
    if hasattr(os, "getloadavg"):
        info["load_average_end"] = os.getloadavg()
    print(table(results))
    print(f"\n{results['seconds']:.0f} s in all ({results['cpu_seconds']:.0f} s of CPU time)")
    if not args.no_save:
        out = HERE / "results" / f"{slug(info)}-{datetime.date.today().isoformat()}.json"
        for n in range(2, 100):  # a later run of the same day gets the next free number, never overwrites
            if not out.exists():
                break
            out = out.with_name(f"{slug(info)}-{datetime.date.today().isoformat()}-{n}.json")
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(results, indent=1))
        print(f"results: {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
