"""The benchmark's parts, registered in the order they run and print: PGD against torchattacks and the floor,
bfloat16's accuracy cost, the equivalence of the two PGDs, training, the constructions, CPU memory,
torch.compile and where the CPU floor's time goes. Each `run_*` function is a part (see registry.py); the
functions it calls measure one model or batch, with their arguments spelled out.
"""
import copy
import json
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

import tables
from pagutils import attacks, features, models, train
from pagutils.core.attacks import Attack
from registry import part
from timing import Timer, high_water_added_mb, peak_memory_mb, rates
from workloads import (CONSTRUCT, MODELS, STEPS, WORK, as_data, floor, model_and_batch, radius,
                       torchattacks_attack)


# ---------------------------------------------------------------------------------------------------------------
# PGD


def bench_pgd(ctx, name, batch, norm, reps):
    """pagutils' PGD (float32 and bfloat16) against torchattacks and the floors on one batch: median seconds,
    throughput (images x steps per second) and their ratios; on a GPU the peak memory of both attacks."""
    device = ctx.device
    model, x, y = model_and_batch(name, batch, device)
    plain = copy.deepcopy(model)  # never converted: what a user hands to torchattacks
    eps = radius(name, norm)
    generator = torch.Generator().manual_seed(0)
    ta = torchattacks_attack(plain, norm, eps, STEPS)
    ta_cl = torchattacks_attack(model, norm, eps, STEPS)

    def ta_channels_last():  # torchattacks calls .view on inputs and gradients: with three channels it fails
        with models.channels_last(model):
            ta_cl(x, y)

    variants = {
        "pagutils": lambda: attacks.pgd(model, x, y, Attack(norm, eps, STEPS), generator=generator),
        "pagutils_bf16": lambda: attacks.pgd(model, x, y, Attack(norm, eps, STEPS, precision="bfloat16"),
                                             generator=generator),
        "torchattacks": lambda: ta(x, y),
        "floor": floor(plain, x, y, STEPS),
        "floor_channels_last": floor(model, x, y, STEPS, layout=True),
    }
    if x.shape[1] == 1:
        variants["torchattacks_channels_last"] = ta_channels_last
    seconds = ctx.timer.alternate(variants, reps)
    memory = {k: peak_memory_mb(v, device) if device.type == "cuda" else None for k, v in variants.items()
              if k in ("pagutils", "torchattacks")}
    return dict(model=name, batch=batch, norm=norm, steps=STEPS, seconds=seconds,
                throughput=rates(batch * STEPS, seconds), peak_memory_mb=memory,
                speedup_vs_torchattacks=seconds["torchattacks"] / seconds["pagutils"],
                bf16_speedup_vs_torchattacks=seconds["torchattacks"] / seconds["pagutils_bf16"],
                pagutils_over_floor=seconds["pagutils"] / seconds["floor"],
                pagutils_over_own_floor=seconds["pagutils"] / seconds["floor_channels_last"],
                torchattacks_over_floor=seconds["torchattacks"] / seconds["floor"])


@part("pgd", needs=("torchattacks",), show=tables.pgd)
def run_pgd(ctx):
    """Every model, PGD batch size and norm; a progress line after each."""
    rows = []
    for name in ctx.models:
        for batch in ctx.batches[name]:
            for norm in ("l2", "linf"):
                rows.append(r := bench_pgd(ctx, name, batch, norm, ctx.reps[name]))
                print(f"  {name} batch {batch} {norm}: speedup {r['speedup_vs_torchattacks']:.2f}, "
                      f"pagutils/floor {r['pagutils_over_floor']:.2f}", flush=True)
    return rows


# ---------------------------------------------------------------------------------------------------------------
# bfloat16's cost in accuracy


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
    train.train(model, train_set, train.Recipe(epochs=2, lr=0.05, batch_size=128), show_progress=False)
    rows = [dict(eps=0.0, float32=attacks.accuracy(model, test_set), bfloat16=None)]
    for eps in eps_list:
        rows.append(dict(eps=eps, **{p: attacks.robust_accuracy(model, test_set, Attack("l2", eps, STEPS, precision=p),
                                                                 seed=0, show_progress=False)
                                     for p in attacks.PRECISIONS}))
    return dict(model="small_cnn", dataset="mnist", n_train=n_train, n_test=n_test, steps=STEPS, rows=rows)


@part("bf16_cost", show=tables.bf16_cost)
def run_bf16_cost(ctx):
    return bf16_cost(ctx.device)


# ---------------------------------------------------------------------------------------------------------------
# the same adversarial examples


def check_same_examples(name, device):
    """pagutils and torchattacks with the random start off: the largest difference of their adversarial
    examples after STEPS steps, in float64 (where two correct implementations agree to rounding) and float32."""
    rows = []
    n = 8 if name == "small_cnn" else 2
    for dtype in (torch.float64, torch.float32):
        if dtype == torch.float64 and device.type == "mps":
            continue
        model, x, y = model_and_batch(name, n, device, dtype)
        for norm in ("l2", "linf"):
            eps = radius(name, norm)
            ours = attacks.pgd(model, x, y, Attack(norm, eps, STEPS, random_start=False))
            theirs = torchattacks_attack(model, norm, eps, STEPS, random_start=False)(x, y)
            rows.append(dict(model=name, norm=norm, dtype=str(dtype).replace("torch.", ""), n=n,
                             max_abs_diff=(ours - theirs).abs().max().item(),
                             moved=(ours - x).abs().max().item()))
    return rows


@part("equivalence", needs=("torchattacks",), show=tables.equivalence)
def run_equivalence(ctx):
    return [row for name in ctx.models for row in check_same_examples(name, ctx.device)]


# ---------------------------------------------------------------------------------------------------------------
# training


def bench_training(ctx, name, reps):
    """Images per second of one epoch: standard and PGD adversarial training with pagutils.core.train, and the same
    adversarial training written as a plain loop with torchattacks (what one would otherwise write)."""
    device, eps, train_steps = ctx.device, MODELS[name][2], MODELS[name][4]
    n = WORK[ctx.kind][name]
    batch = 128 if name == "small_cnn" else (16 if ctx.kind == "cpu" else 256)
    model, x, y = model_and_batch(name, n, device)
    data = as_data(name, x, y)

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

    def fit(objective="standard", **attack):
        """One epoch of pagutils.core.train on `objective` (PGD's arguments updated by `attack`)."""
        args = dict(eps=eps, norm="l2", steps=train_steps, **attack) if objective == "pgd" else {}
        recipe = train.Recipe(epochs=1, objective=objective, objective_args=args, lr=0.01, batch_size=batch)
        return lambda: train.train(model, data, recipe, show_progress=False)

    baseline = copy.deepcopy(model)
    variants = {
        "standard": fit(),
        "adversarial": fit("pgd"),
        "adversarial_bf16_attack": fit("pgd", attack_precision="bfloat16"),
        "adversarial_torchattacks_loop": plain_loop,
    }
    if ctx.kind == "cuda":  # on a CPU compiling measured no faster (the compile part) and costs a minute
        variants["adversarial_compiled_attack"] = fit("pgd", attack_compile=True)
    seconds = ctx.timer.alternate(variants, reps)
    memory = {k: peak_memory_mb(v, device) for k, v in variants.items()} if ctx.kind == "cuda" else {}
    return dict(model=name, n=n, batch=batch, attack_steps=train_steps, seconds=seconds,
                images_per_second=rates(n, seconds), peak_memory_mb=memory,
                adversarial_speedup_vs_torchattacks=seconds["adversarial_torchattacks_loop"] / seconds["adversarial"])


@part("training", needs=("torchattacks",), show=tables.training)
def run_training(ctx):
    return [bench_training(ctx, name, max(3, ctx.reps[name] // 2)) for name in ctx.models]


# ---------------------------------------------------------------------------------------------------------------
# constructions


def bench_constructions(ctx, name, reps):
    """Representation matching (the inner loop of features.robustify, D_R) and targeted PGD (D_rand) against the
    floor, and D_rand's targeted PGD against torchattacks: images x iterations per second."""
    device, eps = ctx.device, MODELS[name][2]
    n = CONSTRUCT[ctx.kind][name]
    model, x, y = model_and_batch(name, n, device)
    plain = copy.deepcopy(model)
    z0 = x.flip(0)
    target = (y + 1) % 10
    steps = 20
    ta = torchattacks_attack(plain, "l2", eps, steps, random_start=False, targeted=True)
    relabelling = Attack("l2", eps, steps, targeted=True, random_start=False)  # D_rand's attack

    def representation_floor():
        with torch.no_grad():
            goal = plain.representation(x)
        z = z0
        for _ in range(steps):
            z = z.detach().requires_grad_(True)
            torch.autograd.grad((plain.representation(z) - goal).norm(dim=1).sum(), z)

    variants = {
        "robustify": lambda: features.match_representation(model, x, z0, features.Matching(steps, 0.1, record_every=steps)),
        "robustify_floor": representation_floor,
        "d_rand_pagutils": lambda: attacks.pgd(model, x, target, relabelling),
        "d_rand_torchattacks": lambda: ta(x, target),
    }
    if ctx.kind == "cuda":
        variants["d_rand_pagutils_compiled"] = lambda: attacks.pgd(model, x, target,
                                                                   relabelling.replace(compile=True))
    seconds = ctx.timer.alternate(variants, reps)
    memory = ({k: peak_memory_mb(v, device) for k, v in variants.items() if not k.endswith("floor")}
              if ctx.kind == "cuda" else {})
    return dict(model=name, n=n, steps=steps, seconds=seconds, throughput=rates(n * steps, seconds),
                peak_memory_mb=memory, robustify_over_floor=seconds["robustify"] / seconds["robustify_floor"],
                d_rand_speedup_vs_torchattacks=seconds["d_rand_torchattacks"] / seconds["d_rand_pagutils"])


@part("constructions", needs=("torchattacks",), show=tables.constructions)
def run_constructions(ctx):
    return [bench_constructions(ctx, name, max(3, ctx.reps[name] // 2)) for name in ctx.models]


# ---------------------------------------------------------------------------------------------------------------
# CPU memory


def memory_probe(spec, device):
    """(Run in a fresh process: `run.py --memory-probe name:batch:norm:variant`.) Peak RSS one call of a PGD
    variant adds to the process, in MB."""
    name, batch, norm, variant = spec.split(":")
    model, x, y = model_and_batch(name, int(batch), device)
    eps = radius(name, norm)
    run = {"pagutils": lambda: attacks.pgd(model, x, y, Attack(norm, eps, STEPS)),
           "torchattacks": lambda: torchattacks_attack(model, norm, eps, STEPS)(x, y)}[variant]
    return dict(model=name, batch=int(batch), norm=norm, variant=variant, peak_rss_added_mb=high_water_added_mb(run))


def cpu_memory(name, batch, threads):
    """Peak CPU memory of pagutils' and torchattacks' PGD (L2), each measured in a fresh process."""
    rows = []
    for variant in ("pagutils", "torchattacks"):
        command = [sys.executable, str(Path(__file__).with_name("run.py")), "--device", "cpu",
                   "--memory-probe", f"{name}:{batch}:l2:{variant}"]
        command += ["--threads", str(threads)] if threads else []
        rows.append(json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout.splitlines()[-1]))
    return rows


@part("memory", devices=("cpu",), needs=("torchattacks", "procfs"), key="cpu_memory", show=tables.cpu_memory)
def run_memory(ctx):
    return [cpu_memory(name, ctx.batches[name][-1], ctx.threads) for name in ctx.models]


# ---------------------------------------------------------------------------------------------------------------
# torch.compile


def bench_compile(ctx, name, batch, reps):
    """pagutils PGD (L2) eager and with `compile=True`, against the own floor eager and compiled. The first
    (warm-up) call compiles; its wall seconds are reported apart."""
    model, x, y = model_and_batch(name, batch, ctx.device)
    eps = MODELS[name][2]
    variants = {"pagutils": lambda: attacks.pgd(model, x, y, Attack("l2", eps, STEPS, compile=False)),
                "pagutils_compiled": lambda: attacks.pgd(model, x, y, Attack("l2", eps, STEPS, compile=True)),
                "floor_channels_last": floor(model, x, y, STEPS, layout=True),
                "floor_compiled": floor(model, x, y, STEPS, layout=True, compile=True)}
    out = dict(model=name, batch=batch, norm="l2", steps=STEPS)
    try:
        out["compile_seconds"] = Timer(ctx.device).seconds(variants["pagutils_compiled"])
    except Exception as error:  # torch.compile needs a C++ compiler (CPU) or triton (GPU): record why it failed
        out["compile_error"] = f"{type(error).__name__}: {error}"[:300]
        return out
    seconds = ctx.timer.alternate(variants, reps)
    out.update(seconds=seconds, throughput=rates(batch * STEPS, seconds),
               compiled_speedup=seconds["pagutils"] / seconds["pagutils_compiled"],
               compiled_over_compiled_floor=seconds["pagutils_compiled"] / seconds["floor_compiled"])
    return out


@part("compile", show=tables.compiled)
def run_compile(ctx):
    return [bench_compile(ctx, name, ctx.batches[name][-1], ctx.reps[name]) for name in ctx.models]


# ---------------------------------------------------------------------------------------------------------------
# where the CPU floor's time goes


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


@part("floor_profile", devices=("cpu",), show=tables.floor_profile)
def run_floor_profile(ctx):
    return [floor_profile(name, ctx.batches[name][-1]) for name in ctx.models]


@part("seeds", devices=("cpu", "cuda"), show=tables.seeds)
def run_seeds(ctx):
    """Seeds at the price of one: 3 seeds of a small model trained together (benchmarks/replicates.py) against
    one by one, models per second (benchmarks/seeds.py)."""
    import seeds
    return [seeds.measure(3, 2000, 1, arch, device=ctx.device, timer=ctx.timer) for arch in ("small_cnn", "mlp")]


# ---------------------------------------------------------------------------------------------------------------
# A new part goes here: one function decorated with @part (registry.py).
