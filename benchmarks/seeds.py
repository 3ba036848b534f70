"""Seeds at the price of one? Training K replicates together (`replicates.py`, here) against one by one.

    python benchmarks/seeds.py                                  # small CNN and MLP, 3 seeds, 2,000 MNIST images
    python benchmarks/seeds.py --arch small_cnn --models 3 6 --objective gradient_norm --threads 1

`measure(...)` trains `n_models` models of `arch` (seeds 0, 1, ...; each on its own seeded MNIST subset, as the zoo
trains them) with `replicates.train_together` and with `train.train` one after another, alternating the two
`reps` times, and returns the median rates; `make bench` runs it as its part "seeds" (`--only seeds`). On a CPU
the clock is the process's CPU time (all its threads), on a GPU wall time (benchmarks/timing.py).
"""
import argparse

import torch

from pagutils import data, models, train
from pagutils.core.device import resolve
import replicates
from timing import CLOCKS, Timer, clock_name


def measure(n_models=3, n_train=2000, epochs=1, arch="small_cnn", objective="standard", objective_args=None,
            reps=2, device=None, timer=None) -> dict:
    """Models trained per second together (`replicates.train_together`) and one by one (`train.train`), and their
    ratio `speedup`, for `n_models` seeds of `arch` trained `epochs` epochs on `n_train` MNIST images each (the
    median of `reps` alternating runs after one untimed run of each, by `timer`: by default the process's CPU
    time on a CPU, wall time on a GPU). Also returns the largest weight difference between the two ways (they
    train the same models, so it is float rounding)."""
    device = resolve(device)
    timer = timer or Timer(device, CLOCKS[clock_name(device.type)])
    recipes = [train.Recipe(epochs=epochs, objective=objective, objective_args=objective_args or {}, seed=seed)
               for seed in range(n_models)]
    sets = [data.load("mnist", "train", n=n_train, seed=r.seed, device=device) for r in recipes]
    fresh = lambda: [models.make_classifier(arch, "mnist", seed=r.seed).to(device) for r in recipes]
    trained = {}

    def together():
        trained["together"] = fresh()
        replicates.train_together(trained["together"], sets, recipes, show_progress=False)

    def one_by_one():
        trained["one_by_one"] = fresh()
        for model, train_set, recipe in zip(trained["one_by_one"], sets, recipes):
            train.train(model, train_set, recipe, show_progress=False)

    median = timer.alternate({"together": together, "one_by_one": one_by_one}, reps)
    difference = max((a - b).abs().max().item() for m, s in zip(trained["together"], trained["one_by_one"])
                     for a, b in zip(m.parameters(), s.parameters()))
    return dict(arch=arch, objective=objective, models=n_models, n_train=n_train, epochs=epochs,
                models_per_second_together=n_models / median["together"],
                models_per_second_one_by_one=n_models / median["one_by_one"],
                speedup=median["one_by_one"] / median["together"], seconds_together=median["together"],
                seconds_one_by_one=median["one_by_one"], device=str(device), threads=torch.get_num_threads(),
                max_weight_difference=difference)


def table(rows):
    """The rows of `measure` as printed lines."""
    header = (f"{'arch':10s} {'objective':14s} {'models':>6s} {'together s':>11s} {'one by one s':>13s} "
              f"{'models/s together':>18s} {'one by one':>11s} {'speedup':>8s} {'max |dw|':>9s}")
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r['arch']:10s} {r['objective']:14s} {r['models']:6d} {r['seconds_together']:11.2f} "
                     f"{r['seconds_one_by_one']:13.2f} {r['models_per_second_together']:18.3f} "
                     f"{r['models_per_second_one_by_one']:11.3f} {r['speedup']:7.2f}x {r['max_weight_difference']:9.1e}")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", nargs="+", default=["small_cnn", "mlp"])
    parser.add_argument("--models", nargs="+", type=int, default=[3])
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--objective", default="standard", help="standard, gradient_norm (lam=1), pgd (eps=1.5)")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch's CPU threads (default: torch's own)")
    options = parser.parse_args()
    if options.threads:
        torch.set_num_threads(options.threads)
    args = {"standard": {}, "gradient_norm": dict(lam=1.0), "pgd": dict(eps=1.5, steps=5),
            "noise_augmentation": dict(sigma=0.5), "noise_consistency": dict(lam=1.0)}[options.objective]
    rows = [measure(n, options.n_train, options.epochs, arch, options.objective, args, options.reps, options.device)
            for arch in options.arch for n in options.models]
    print("\n".join(table(rows)))
    print(f"({'wall' if rows[-1]['device'].startswith('cuda') else 'CPU'} time on {rows[-1]['device']}, "
          f"{rows[-1]['threads']} threads; {options.n_train} MNIST images, {options.epochs} epoch(s), the median "
          f"of {options.reps} alternating runs)")


if __name__ == "__main__":
    main()
