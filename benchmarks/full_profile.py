"""An estimate of every chapter's CIFAR-10 work in the full profile, in hours on one GPU (and per profile).

    python benchmarks/full_profile.py                       # newest GPU results file, else the assumed rates
    python benchmarks/full_profile.py --results benchmarks/results/<gpu>-<date>.json
    python benchmarks/full_profile.py --train-ips 15000 --attack-ips 20000

Work is counted from the chapters' full settings in ResNet-18 units: training images (a forward and a full
backward pass) and attack image-steps (a forward and an input-gradient backward pass: PGD steps, targeted
PGD for D_rand/D_det, representation-matching iterations for D_R). Other architectures count by their cost
relative to ResNet-18 (COST). Zoo models are trained once, by the first chapter that asks (book order).
The hours are an estimate: measured throughput (from `benchmarks/run.py --device cuda`) times counted work.

A second table gives GPU-hours per chapter and profile: quick (measured: the chapters' wall time in a cold
`make book` on 2 CPU cores, `QUICK_SECONDS`; on a GPU it is shorter), full (the table above) and paper
(`PAPER_WORK`: the paper profile's recipes, `pagutils.core.defaults.PAPER` / `PAPER_SETTINGS`, counted the same way,
ResNet-50 at its operation count relative to ResNet-18, an ASSUMED time ratio).

A bound that needs no GPU follows the table: the same work in floating-point operations (ResNet-18's, counted by
torch's FlopCounterMode on one batch) over a GPU's peak rate (`--peak-tflops`; default the H100 SXM's dense
bfloat16 989 TFLOP/s), and the share of that peak the 60-minute target would need.
"""
import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
M = 1e6
EPOCH = 50_000 * 30  # 30 epochs of CIFAR-10's 50,000 training images
# time of a training image relative to ResNet-18 (32x32 inputs; a rough FLOP and kernel-efficiency ratio)
COST = {"resnet18": 1.0, "vgg11": 0.4, "densenet121": 3.0, "autoencoder": 0.2}
# images/s (ResNet-18, CIFAR-10 shapes) used when no GPU results file is given: ASSUMED, not measured
ASSUMED = dict(train_ips=15_000, attack_ips=20_000)

PAPER_EPOCH = 50_000 * 150   # Ilyas et al.: 150 epochs
SRINIVAS_EPOCH = 50_000 * 200  # Srinivas et al.: 200 epochs
# ResNet-50 (CIFAR stem) relative to ResNet-18 by FlopCounterMode's counts (5.2 / 2.2 GFLOP an attack step): ASSUMED
# to be its time ratio too (`arch_gflops` recounts it)
COST["resnet50"] = 2.35
# seconds each chapter took in a cold `make book` (quick profile, 2 quiet CPU cores, 2026-11-23): MEASURED
QUICK_SECONDS = {"ch01": 106, "ch02": 18, "ch03": 124, "ch04": 73, "ch05": 105, "ch06": 29, "ch07": 25, "ch08": 44,
                 "ch09": 56, "ch10": 82}
_R50, _SWEEP = COST["resnet50"], 3 * 30  # Chapter 10: 3 replicates x 30 strengths per method
# chapter -> (training images, attack image-steps) of the paper profile, in ResNet-18 units
PAPER_WORK = {
    "ch01 adversarial examples": (2 * PAPER_EPOCH * _R50, 7 * PAPER_EPOCH * _R50 + 9 * 10_000 * 20 * _R50),
    "ch02 robust features (Gaussian)": (0, 0),
    "ch03 robustified datasets": (2 * PAPER_EPOCH * _R50, 2 * 50_000 * 1000 * _R50 + 4 * 1000 * 20 * _R50),
    "ch04 non-robust features": (2 * PAPER_EPOCH * _R50, 2 * 50_000 * 100 * _R50),
    "ch05 transferability": (2 * PAPER_EPOCH * (COST["vgg11"] + COST["densenet121"]), 1000 * 20 * _R50),
    "ch06 perceptually aligned gradients": (PAPER_EPOCH * COST["vgg11"], 200 * 3 * (60 + 60 + 40 + 60) * _R50),
    "ch07 off-manifold theory": (0, 0),
    "ch08 distractor": (0, 0),
    "ch09 manifold of real images": (EPOCH * COST["autoencoder"], 1000 * 8 * 10 * _R50),
    "ch10 four ways, three regimes": (SRINIVAS_EPOCH * (_SWEEP * (3 + 2 + 1 + 1) + 3),
                                      _SWEEP * 10 * SRINIVAS_EPOCH),
}

# chapter -> (training images, attack image-steps, what dominates)
WORK = {
    "ch01 adversarial examples": (2 * EPOCH, 7 * EPOCH + 30 * 1000 * 10 + 2 * 7 * 1000 * 20,
                                  "zoo standard and robust ResNet-18 (7-step PGD training)"),
    "ch02 robust features (Gaussian)": (0, 0, "closed form on synthetic data"),
    "ch03 robustified datasets": (2 * EPOCH, 2 * 50_000 * 1000 + 4 * 1000 * 20,
                                  "D_R and D_NR: 50,000 images x 1,000 matching steps each"),
    "ch04 non-robust features": (2 * EPOCH, 2 * 50_000 * 100, "D_rand and D_det: 50,000 x 100 targeted steps each"),
    "ch05 transferability": (2 * EPOCH * (COST["vgg11"] + COST["densenet121"]), 1000 * 20,
                             "VGG-11 and DenseNet-121, on D_rand and standard"),
    "ch06 perceptually aligned gradients": (EPOCH * COST["vgg11"], 200 * 3 * (60 + 60 + 40 + 60),
                                            "the VGG-11 judge"),
    "ch07 off-manifold theory": (0, 0, "synthetic data, small MLPs"),
    "ch08 distractor": (0, 0, "MNIST in both profiles"),
    "ch09 manifold of real images": (EPOCH * COST["autoencoder"], 1000 * 8 * 10, "the autoencoder"),
    "ch10 four ways, three regimes": (6 * EPOCH * (3 + 2 + 1 + 1), 6 * 10 * EPOCH,
                                      "24 ResNet-18: gradient norm (~3x), consistency (~2x), noise, 10-step PGD"),
}


def rates(args):
    if args.train_ips and args.attack_ips:
        return dict(train_ips=args.train_ips, attack_ips=args.attack_ips), "given"
    files = [Path(args.results)] if args.results else sorted((HERE / "results").glob("*.json"))
    for path in reversed(files):
        results = json.loads(path.read_text())
        if results["machine"]["device"] != "cuda":
            continue
        train = next(r for r in results["training"] if r["model"] == "resnet18")["images_per_second"]["standard"]
        attack = max(r["throughput"]["pagutils"] for r in results["pgd"] if r["model"] == "resnet18")
        return dict(train_ips=train, attack_ips=attack), f"measured: {path.name}"
    return ASSUMED, "ASSUMED (no GPU results file): run `make bench` on the GPU"


def resnet18_gflops():
    """GFLOP per image of a ResNet-18 training step (forward and full backward) and of an attack step (forward and
    input-gradient backward), CIFAR-10 shapes, counted by torch's FlopCounterMode."""
    import torch
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode
    from pagutils import models
    model, x, y = models.make_classifier("resnet18", "cifar10"), torch.rand(2, 3, 32, 32), torch.tensor([0, 1])
    counts = []
    for train in (True, False):
        model.train(train).requires_grad_(train)
        x.requires_grad_(not train)
        with FlopCounterMode(display=False) as counter:
            F.cross_entropy(model(x), y).backward()
        counts.append(counter.get_total_flops() / len(x) / 1e9)
    return counts


def hours(train, attack, rate) -> float:
    """GPU-hours of `train` training images and `attack` attack image-steps (ResNet-18 units) at `rate`."""
    return (train / rate["train_ips"] + attack / rate["attack_ips"]) / 3600


def profile_table(rate, source):
    """GPU-hours per chapter and profile (quick measured on 2 CPU cores, full and paper estimated), as markdown."""
    lines = [f"GPU-hours per chapter and profile (quick: MEASURED wall time on 2 CPU cores; full and paper: counted "
             f"work at the ResNet-18 rates above, {source}; ResNet-50 at {COST['resnet50']}x ResNet-18, ASSUMED)\n",
             "| chapter | quick (measured, CPU) | full (estimate) | paper (estimate) |", "|---|---:|---:|---:|"]
    totals = [0.0, 0.0, 0.0]
    for chapter, (train, attack, _) in WORK.items():
        row = [QUICK_SECONDS[chapter[:4]] / 3600, hours(train, attack, rate), hours(*PAPER_WORK[chapter], rate)]
        totals = [t + r for t, r in zip(totals, row)]
        lines.append(f"| {chapter} | {row[0]:.2f} | {row[1]:.1f} | {row[2]:.1f} |")
    lines.append(f"| all chapters | {totals[0]:.2f} | {totals[1]:.1f} | {totals[2]:.0f} |")
    return "\n".join(lines)


def arch_gflops(arch):
    """GFLOP per image of an attack step (forward and input-gradient backward) of `arch` on CIFAR-10 shapes."""
    import torch
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode
    from pagutils import models
    model, x, y = models.make_classifier(arch, "cifar10").eval(), torch.rand(2, 3, 32, 32), torch.tensor([0, 1])
    model.requires_grad_(False)
    x.requires_grad_(True)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    return counter.get_total_flops() / len(x) / 1e9


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", default=None)
    parser.add_argument("--train-ips", type=float, default=None)
    parser.add_argument("--attack-ips", type=float, default=None)
    parser.add_argument("--peak-tflops", type=float, default=989.0,
                        help="the GPU's peak TFLOP/s for the bound (default: H100 SXM, dense bfloat16)")
    args = parser.parse_args(argv)
    rate, source = rates(args)
    print(f"ResNet-18 rates ({source}): training {rate['train_ips']:.0f} images/s, "
          f"attack {rate['attack_ips']:.0f} image-steps/s\n")
    print(f"| chapter | training images (M) | attack image-steps (M) | hours (estimate) | dominated by |")
    print("|---|---:|---:|---:|---|")
    total, train_all, attack_all = 0.0, 0.0, 0.0
    for chapter, (train, attack, what) in WORK.items():
        train_all, attack_all = train_all + train, attack_all + attack
        hours = (train / rate["train_ips"] + attack / rate["attack_ips"]) / 3600
        total += hours
        print(f"| {chapter} | {train / M:.1f} | {attack / M:.1f} | {hours:.1f} | {what} |")
    print(f"| **all** | | | **{total:.0f}** | |")
    train_gflop, attack_gflop = resnet18_gflops()
    pflop = (train_all * train_gflop + attack_all * attack_gflop) / 1e6
    minutes = pflop * 1e3 / args.peak_tflops / 60
    print(f"\nThe same work in ResNet-18 operations ({train_gflop:.2f} GFLOP a training image, {attack_gflop:.2f} an "
          f"attack step): {pflop:.0f} PFLOP, {minutes:.0f} minutes at {args.peak_tflops:g} TFLOP/s (100% of the peak). "
          f"Under 60 minutes needs at least {100 * minutes / 60:.0f}% of that peak, all the time.")
    print("\n" + profile_table(rate, source))


if __name__ == "__main__":
    main()
