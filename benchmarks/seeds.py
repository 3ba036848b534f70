"""Seeds at the price of one? Training K replicates together (`pagutils.replicates`) against one by one.

    python benchmarks/seeds.py                                  # small CNN and MLP, 3 seeds, 2,000 MNIST images
    python benchmarks/seeds.py --arch small_cnn --models 3 6 --objective gradient_norm --threads 1

`measure(...)` trains `n_models` models of `arch` (seeds 0, 1, ...; each on its own seeded MNIST subset, as the zoo
trains them) with `replicates.train_together` and with `train.train` one after another, alternating the two
`reps` times, and returns the median rates. It is not part of `benchmarks/run.py`. On a CPU the clock is the
process's CPU time (all its threads): on cores shared with other work it counts the work itself, where wall time
would also count the other processes; on a GPU it is wall time, the device synchronised.
"""
import argparse
import statistics
import time

import torch

from pagutils import data, models, replicates, train
from pagutils.device import resolve


def _clock(device):
    if device.type == "cuda":
        def now():
            torch.cuda.synchronize(device)
            return time.perf_counter()
        return now, "wall"
    return time.process_time, "cpu"


def measure(n_models=3, n_train=2000, epochs=1, arch="small_cnn", objective="standard", objective_args=None,
            reps=2, device=None) -> dict:
    """Models trained per second together (`replicates.train_together`) and one by one (`train.train`), and their
    ratio `speedup`, for `n_models` seeds of `arch` trained `epochs` epochs on `n_train` MNIST images each (the
    median of `reps` alternating runs; a first, untimed run of each warms up). Also returns the clock used and
    the wall seconds and the largest weight difference between the two ways (they train the same models)."""
    device = resolve(device)
    now, clock = _clock(device)
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

    variants = {"together": together, "one_by_one": one_by_one}
    seconds, walls = {name: [] for name in variants}, {name: [] for name in variants}
    for rep in range(reps + 1):
        for name in (list(variants) if rep % 2 == 0 else list(variants)[::-1]):
            started, wall = now(), time.perf_counter()
            variants[name]()
            if rep:  # the first round warms up
                seconds[name].append(now() - started)
                walls[name].append(time.perf_counter() - wall)
    median = {name: statistics.median(s) for name, s in seconds.items()}
    wall = {name: statistics.median(s) for name, s in walls.items()}
    difference = max((a - b).abs().max().item() for m, s in zip(trained["together"], trained["one_by_one"])
                     for a, b in zip(m.parameters(), s.parameters()))
    return dict(models_per_second_together=n_models / median["together"],
                models_per_second_one_by_one=n_models / median["one_by_one"],
                speedup=median["one_by_one"] / median["together"],
                seconds_together=median["together"], seconds_one_by_one=median["one_by_one"],
                wall_seconds_together=wall["together"], wall_seconds_one_by_one=wall["one_by_one"],
                clock=clock, device=str(device), threads=torch.get_num_threads(), max_weight_difference=difference)


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
    header = f"{'arch':10s} {'objective':14s} {'models':>6s} {'together s':>11s} {'one by one s':>13s} " \
             f"{'models/s together':>18s} {'one by one':>11s} {'speedup':>8s} {'wall speedup':>13s} {'max |dw|':>9s}"
    print(header)
    print("-" * len(header))
    for arch in options.arch:
        for n in options.models:
            r = measure(n, options.n_train, options.epochs, arch, options.objective, args, options.reps, options.device)
            print(f"{arch:10s} {options.objective:14s} {n:6d} {r['seconds_together']:11.2f} {r['seconds_one_by_one']:13.2f} "
                  f"{r['models_per_second_together']:18.3f} {r['models_per_second_one_by_one']:11.3f} "
                  f"{r['speedup']:7.2f}x {r['wall_seconds_one_by_one'] / r['wall_seconds_together']:12.2f}x "
                  f"{r['max_weight_difference']:9.1e}")
    print(f"({r['clock']} time on {r['device']}, {r['threads']} threads; {options.n_train} MNIST images, "
          f"{options.epochs} epoch(s), the median of {options.reps} alternating runs)")


if __name__ == "__main__":
    main()
