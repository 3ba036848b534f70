"""An estimate of every chapter's CIFAR-10 work in the full profile, in hours on one GPU.

    python benchmarks/full_profile.py                       # newest GPU results file, else the assumed rates
    python benchmarks/full_profile.py --results benchmarks/results/<gpu>-<date>.json
    python benchmarks/full_profile.py --train-ips 15000 --attack-ips 20000

Work is counted from the chapters' full settings in ResNet-18 units: training images (a forward and a full
backward pass) and attack image-steps (a forward and an input-gradient backward pass: PGD steps, targeted
PGD for D_rand/D_det, representation-matching iterations for D_R). Other architectures count by their cost
relative to ResNet-18 (COST). Zoo models are trained once, by the first chapter that asks (book order).
The hours are an estimate: measured throughput (from `benchmarks/run.py --device cuda`) times counted work.

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


if __name__ == "__main__":
    main()
