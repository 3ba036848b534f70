"""Fill the zoo's cache for a chapter before the book runs it: a SLURM job array, one GPU per model.

    python -m pagutils.scale.prefill ch10_four_ways_three_regimes --profile paper --list   # what it needs, what is cached
    python -m pagutils.scale.prefill ch10_four_ways_three_regimes --profile paper          # build the missing ones
    python -m pagutils.scale.prefill ch01_adversarial_examples --profile paper --slurm-partition gpu --timeout-min 2880

The configurations are those the chapter asks `zoo.get` for (its zoo classifiers; sets it constructs and the
models trained on them come later, in the chapter), read from the chapter's experiment spec
(`pagutils.experiments`: `spec.zoo_models(spec.settings(profile=...))`), the same object the notebook reads, so
the chapter finds every one in the cache. `--set NAME=VALUE` replaces a setting as papermill's `-p` does. The missing configurations run as one job array through submitit
(`submitit.AutoExecutor`: SLURM where `sbatch` exists, else its local executor; `--executor local` forces it),
one task and one GPU each, no scheduler of our own. Each task trains resumably (`pagutils.core.checkpoint`, a
checkpoint every epoch and every `--checkpoint-steps` steps, under the submitit folder) and is requeued by
submitit when SLURM times it out or preempts it. A second call finds everything cached and submits nothing.
"""
import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..core import cache, checks, paths
from .. import experiments
from ..core.profiles import PROFILES


def chapters() -> list:
    """The chapters, by their notebooks' names (`pagutils.experiments.CHAPTERS`)."""
    return list(experiments.CHAPTERS)


def chapter_settings(chapter: str, profile: str, overrides: dict = None) -> dict:
    """`chapter`'s settings in `profile` after `overrides` (as papermill's `-p`), from its experiment spec."""
    checks.one_of(chapter, chapters(), "chapter", "prefill")
    checks.one_of(profile, PROFILES, "profile", "prefill")
    spec = experiments.get(chapter)
    unknown = sorted(set(overrides or {}) - set(spec.full))
    if unknown:
        checks.fail("prefill", "overrides", f"name settings of {chapter}, which takes {', '.join(sorted(spec.full))}",
                    got=f"the unknown setting(s) {unknown}")
    return spec.settings(profile=profile, **(overrides or {}))


def configurations(chapter: str, profile: str = "quick", overrides: dict = None) -> list:
    """The zoo configurations `chapter` asks for in `profile` (after `overrides`), without repeats: its spec's
    `zoo_models`, the very list the notebook asks `zoo.get` for."""
    cfg = chapter_settings(chapter, profile, overrides)
    unique = {cache.config_key(c): c for c in experiments.get(chapter).zoo_models(cfg).values()}
    return list(unique.values())


def missing(configs: list) -> list:
    """The configurations whose model is not in the cache (a whole, matching file)."""
    return [c for c in configs if cache.read(cache.path_for("models", c), c, warn=False) is None]


def build(config: dict, cache_dir: str, data_dir: str, checkpoint_dir: str, checkpoint_steps: int) -> str:
    """One task of the array: train `config` resumably and cache it (`zoo.cached_model`). Returns its file."""
    os.environ["PAG_CACHE_DIR"] = cache_dir
    if data_dir:
        os.environ["PAGUTILS_DATA_DIR"] = data_dir
    from ..core.checkpoint import Checkpoint
    from ..core.data import load
    from ..core.device import resolve
    from ..core.models import make_classifier
    from ..core.train import Recipe, train
    from ..core.zoo import cached_model, training_set
    device, recipe = resolve(None), Recipe.from_config(config)
    model = make_classifier(config["arch"], config["dataset"], seed=recipe.seed).to(device)
    ckpt = Checkpoint(Path(checkpoint_dir) / f"{cache.config_key(config)}.safetensors", every_steps=checkpoint_steps)

    def fit(model):
        data = training_set(config, device=device)  # the zoo's own draw (disjoint where the config says so)
        return train(model, data, recipe, show_progress=False, checkpoint=ckpt)

    cached_model(config, model, fit, device)
    return str(cache.path_for("models", config))


def _requeueable():
    """`build` as a submitit Checkpointable: a task SLURM times out or preempts is requeued with its arguments
    (and resumes from its training checkpoint)."""
    import submitit

    class Build(submitit.helpers.Checkpointable):
        def __call__(self, *args):
            return build(*args)
    return Build()


def executor(folder, kind="auto", partition=None, timeout_min=60 * 24, parallelism=None):
    """A submitit executor: SLURM (one task, one GPU each) where it is available, else the local executor."""
    import submitit
    ex = submitit.AutoExecutor(folder=folder, cluster="local" if kind == "local" else None)
    params = dict(timeout_min=timeout_min, tasks_per_node=1, nodes=1)
    if ex.cluster == "slurm":
        params.update(gpus_per_node=1, slurm_partition=partition, slurm_array_parallelism=parallelism or 64)
    elif ex.cluster == "local":
        params.update(gpus_per_node=1 if _has_cuda() else 0)
    ex.update_parameters(**{k: v for k, v in params.items() if v is not None})
    return ex


def _has_cuda():
    import torch
    return torch.cuda.is_available()


@dataclass(frozen=True)
class Jobs:
    """How `run` submits the missing configurations: `kind` 'auto' (SLURM where `sbatch` exists, else local) or
    'local'; submitit's logs and the checkpoints under `folder` (None: next to the cache); the SLURM `partition`;
    each task's time limit `timeout_min` (minutes) and a checkpoint every `checkpoint_steps` training steps."""
    kind: str = "auto"
    folder: str = None
    partition: str = None
    timeout_min: int = 60 * 24
    checkpoint_steps: int = 500

    def __post_init__(self):
        checks.one_of(self.kind, ("auto", "local"), "kind", "Jobs")
        checks.integer(self.timeout_min, "timeout_min", "Jobs")
        checks.integer(self.checkpoint_steps, "checkpoint_steps", "Jobs")


def run(chapter, profile="quick", overrides=None, jobs: Jobs = None, list_only=False, log=print) -> list:
    """List `chapter`'s configurations in `profile` (after `overrides`) and build the missing ones as a job array
    submitted as `jobs` says (None: `Jobs()`); returns the configurations built (empty when everything was
    cached)."""
    jobs = Jobs() if jobs is None else jobs
    if not isinstance(jobs, Jobs):
        checks.fail("prefill", "jobs", "be a pagutils.scale.prefill.Jobs", jobs, error=checks.ArgumentTypeError)
    configs = configurations(chapter, profile, overrides)
    todo = missing(configs)
    for config in configs:
        state = "missing" if config in todo else "cached"
        log(f"{state:8} {cache.config_key(config)} {config['arch']} {config['objective']} "
            f"{config.get('objective_args') or ''} seed={config.get('seed', 0)}")
    log(f"{chapter} ({profile}): {len(configs)} models, {len(todo)} missing")
    if list_only or not todo:
        return []
    folder = Path(jobs.folder or paths.cache_dir().parent / "prefill")
    ex = executor(folder / "%j", jobs.kind, jobs.partition, jobs.timeout_min)
    cache_dir, data_dir = str(paths.cache_dir()), os.environ.get("PAGUTILS_DATA_DIR", "")
    count = len(todo)
    tasks = ex.map_array(_requeueable(), todo, [cache_dir] * count, [data_dir] * count,
                         [str(folder / "checkpoints")] * count, [jobs.checkpoint_steps] * count)
    log(f"submitted {count} tasks ({ex.cluster}): job {tasks[0].job_id.split('_')[0]}")
    for task in tasks:
        task.result()  # raises the task's error, with its log
    return todo


def _value(text):
    """A `--set` value as JSON (numbers, lists, true/false), else the plain string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m pagutils.scale.prefill", description=__doc__.split("\n")[0])
    parser.add_argument("chapter", help="e.g. ch01_adversarial_examples")
    parser.add_argument("--profile", default="quick", help=f"one of {PROFILES}")
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE", help="replace a chapter setting")
    parser.add_argument("--list", action="store_true", help="only list the configurations and what is cached")
    parser.add_argument("--executor", choices=("auto", "local"), default="auto")
    parser.add_argument("--folder", default=None, help="submitit's logs and the checkpoints")
    parser.add_argument("--slurm-partition", default=None)
    parser.add_argument("--timeout-min", type=int, default=60 * 24)
    parser.add_argument("--checkpoint-steps", type=int, default=500)
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.set:
        if "=" not in item:
            parser.error(f"--set takes NAME=VALUE, got {item!r}")
        name, value = item.split("=", 1)
        overrides[name] = _value(value)
    try:
        jobs = Jobs(args.executor, args.folder, args.slurm_partition, args.timeout_min, args.checkpoint_steps)
        run(args.chapter, args.profile, overrides, jobs, args.list)
    except ValueError as error:  # an unknown chapter, profile or setting: one line, not a traceback
        parser.error(str(error))


if __name__ == "__main__":
    main()
