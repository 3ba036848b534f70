"""`Experiment`: what one chapter runs and what it claims, written once.

The chapter's notebook (`spec.settings(globals())`, `spec.zoo_models(cfg)`, `spec.claim(key).read(...)`),
`pagutils.scale.prefill`, the full-profile test and the Reproduction page all read the same object.
"""
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Mapping, Tuple

from ..core import checks, profiles
from ..core.claims import Claim
from ..core.defaults import PAPER_SETTINGS_SOURCES, paper_settings


def _no_models(cfg) -> dict:
    return {}


def _no_check(cfg) -> None:
    return None


def shared_pair(cfg, n_train: int, epochs: int) -> dict:
    """The zoo's shared standard and robust models (`zoo.standard`, `zoo.robust` at the profile's radius unless
    `cfg.train_eps` says otherwise) of `cfg`'s dataset and profile, trained on `n_train` images for `epochs`."""
    from ..core import zoo
    recipe = dict(n_train=n_train, epochs=epochs)
    eps = cfg.train_eps if "train_eps" in cfg else None
    return dict(standard=zoo.standard(cfg.dataset, cfg.profile, **recipe),
                robust=zoo.robust(cfg.dataset, cfg.profile, eps=eps, **recipe))


def independent_seeds(cfg, models: dict, where: str = "settings") -> None:
    """Refuse training seeds (`cfg.seeds`, and `cfg.selection_seed` where there is one) that a source model of the
    chapter was trained from: a student must not share its initialisation and batch order with its source. `where`
    begins the error's message ("ch03 settings")."""
    used = {config.get("seed", 0) for config in models.values()}
    mine = list(cfg.seeds) + ([cfg.selection_seed] if "selection_seed" in cfg else [])
    shared = sorted(used & set(mine))
    if shared:
        checks.fail(where, "seeds", f"differ from the source models' seeds {sorted(used)}",
                    got=f"{shared} in seeds {list(cfg.seeds)}" + (f" / selection_seed {cfg.selection_seed}"
                                                                  if "selection_seed" in cfg else ""))


@dataclass(frozen=True)
class Experiment:
    """One chapter's spec. Introduced in Chapter 1.

    `chapter` is the notebook's name (`"ch03_robustified_datasets"`), `title` its results table's title;
    `quick` and `full` give every setting's default per profile (the paper profile's values and their sources are
    `defaults.PAPER_SETTINGS_SOURCES[chapter]`); `choices` restricts settings to sets of values; `check(cfg)`
    raises on settings that do not fit together. `models(cfg)` gives the zoo configurations the chapter asks
    `zoo.get` for, by name (what `pagutils.scale.prefill` prepares); `claims` the paper's claims it tests, unread.
    """
    chapter: str
    title: str
    quick: Mapping
    full: Mapping
    choices: Mapping = field(default_factory=dict)
    claims: Tuple[Claim, ...] = ()
    models: Callable = _no_models
    check: Callable = _no_check

    def __post_init__(self):
        for name in ("quick", "full", "choices"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))
        object.__setattr__(self, "claims", tuple(self.claims))
        if set(self.quick) != set(self.full):
            checks.fail(self.chapter, "quick and full", "name the same settings",
                        got=f"settings that differ in {sorted(set(self.quick) ^ set(self.full))}")
        keys = [c.key for c in self.claims]
        if len(set(keys)) != len(keys):
            checks.fail(self.chapter, "claim keys", "be unique", got=f"{keys}")

    @property
    def prefix(self) -> str:
        """The chapter's prefix of glued names and results ('ch03')."""
        return self.chapter.split("_")[0]

    @property
    def paper(self) -> dict:
        """The paper profile's settings (the rest keep the full profile's). Introduced in Chapter 1."""
        return paper_settings(self.chapter) if self.chapter in PAPER_SETTINGS_SOURCES else {}

    def settings(self, namespace: dict = None, profile: str = None, **overrides) -> profiles.Settings:
        """The chapter's settings: from a notebook's parameters cell (`namespace`, usually `globals()`), or from
        `profile` and `overrides` (as papermill's `-p`). Unknown names, wrong types and invalid values raise here.
        Introduced in Chapter 1."""
        given = dict(namespace or {})
        if profile is not None:
            given["profile"] = profile
        given.update(overrides)
        cfg = profiles.settings(given, quick=dict(self.quick), full=dict(self.full), paper=self.paper,
                                **dict(self.choices))
        self.check(cfg)
        return cfg

    def zoo_models(self, cfg) -> dict:
        """name -> the zoo configuration the chapter asks `zoo.get` for, in `cfg`'s profile. Introduced in
        Chapter 1."""
        return dict(self.models(cfg))

    def claim(self, key: str) -> Claim:
        """The claim named `key`, unread (outcome 'untested'). Introduced in Chapter 1."""
        for c in self.claims:
            if c.key == key:
                return c
        raise KeyError(f"{self.chapter} has no claim {key!r}; its claims are {[c.key for c in self.claims]}")
