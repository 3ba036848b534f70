"""The versions of the course's algorithms: one table, which enters every cache key (`pagutils.core.cache`).

A cached artefact is named by a hash of its configuration and of the versions of the algorithms that made it:
the version of its cache kind (the folder, 'models', 'datasets', ...) and of every objective, construction,
model kind and evaluation that its configuration names, at any depth. So a dataset built from a PGD-trained
model (its `source` names 'pgd') is rebuilt when PGD training changes, and so is a model trained on it.
Without versions, code that changes an algorithm but none of its settings would silently reuse what the old
code made.

Bump the version in the commit that changes the algorithm: what it made is rebuilt on next use, while the
artefacts of every other algorithm are kept (the old files stay on disk, unused). Every version starts at 1.
A name missing from its table is an error naming it, so nothing new can be cached before it has a version.

Introduced in Chapter 1.
"""
from . import checks

VERSIONS = {
    # the cache kind: the folder `cache.cached(kind, ...)` writes
    "cache": {"models": 1, "datasets": 1, "chunks": 1, "evaluations": 1},
    # config['objective']: a training objective of pagutils.core.train's registry (train.py's and robust_losses.py's)
    "objective": {"standard": 1, "pgd": 1, "gradient_norm": 1, "noise_consistency": 1, "noise_augmentation": 1},
    # config['construction']: a dataset construction of pagutils.robust_features.features (D_R and D_NR are 'robustify')
    "construction": {"robustify": 2, "d_rand": 2, "d_det": 2, "original": 1,
                     "drop_judged": 1},  # Chapter 4's control: a set less what its judge reads as t
    # config['kind']: a model trained by its own code, or a synthetic data generator
    "kind": {"autoencoder": 1, "denoiser": 1, "distractor": 1, "synthetic_classifier": 1, "synthetic_manifold": 1},
    # config['evaluation']: an evaluation cached by `cache.cached_values`
    "evaluation": {"accuracy_vs_eps": 1, "robust_ladder": 1},
}

# an objective's own arguments are settings, not names of algorithms (noise_consistency's `kind` is a divergence)
_SETTINGS = ("objective_args",)


def version(table: str, name: str) -> int:
    """The version of `name` in VERSIONS[table]; a ValueError naming it when it has none. Introduced in Chapter 1."""
    checks.one_of(table, VERSIONS, "table", "versions.version")
    if name not in VERSIONS[table]:
        checks.fail("versions.version", f"the {table} {name!r}", f"have a version (add it to VERSIONS[{table!r}] in "
                    f"pagutils/core/versions.py, starting at 1, in the commit that adds it)", got="none")
    return VERSIONS[table][name]


def names(config) -> list:
    """(table, name) for every algorithm `config` names at any depth: each string value of a key 'objective',
    'construction', 'kind' or 'evaluation' (not inside 'objective_args'). Introduced in Chapter 1."""
    found = []
    if isinstance(config, dict):
        for key, value in config.items():
            if key in VERSIONS and key != "cache" and isinstance(value, str):
                found.append((key, value))
            elif key not in _SETTINGS:
                found += names(value)
    elif isinstance(config, (list, tuple)):
        for value in config:
            found += names(value)
    return found


def of(kind: str, config: dict) -> dict:
    """The versions that enter the cache key of `config` stored under `kind`: {table: {name: version}}, the
    cache kind's and those of every algorithm `config` names (`names`). Introduced in Chapter 1."""
    found = {"cache": {kind: version("cache", kind)}}
    for table, name in names(config):
        found.setdefault(table, {})[name] = version(table, name)
    return found
