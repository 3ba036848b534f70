"""Profiles and notebook parameters.

Every chapter has a papermill `parameters` cell that sets `profile = None` and one `None` per
overridable setting, followed by

    cfg = pagutils.settings(globals(), quick=dict(...), full=dict(...), paper=PAPER_SETTINGS["chNN_..."])

`profile` None means the `PAG_PROFILE` environment variable, else 'quick'. The 'paper' profile takes the
`paper` dict's values (the papers' recipes, `defaults.PAPER_SETTINGS`) and the full profile's for any name
it leaves out. A value given with
papermill `-p name value` replaces that profile's default. An unknown profile, an unknown parameter
name, a value of the wrong type or an invalid value is an error raised here, in the settings cell. A
number (or list of numbers) must be finite and keep the sign of its defaults: where both profiles'
defaults are > 0 (epochs, step sizes, radii) a given value must be > 0, where they are >= 0 it must be
>= 0; a list whose defaults are non-empty must not be empty.
"""
import math
import os
import time

from . import checks

PROFILES = ("quick", "full", "paper")
_IGNORED = {"In", "Out", "get_ipython", "exit", "quit", "open"}
PLAIN = (type(None), bool, int, float, str, list, tuple, dict)


class Settings(dict):
    """A chapter's settings: a dict whose keys also read as attributes (cfg.epochs). Introduced in Chapter 1."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no setting {name!r}; settings are {sorted(self)}") from None

    def _repr_html_(self):
        rows = "".join(f"<tr><td><code>{k}</code></td><td>{v!r}</td></tr>" for k, v in self.items()
                       if k != "started")
        return f"<table><tr><th>setting</th><th>value</th></tr>{rows}</table>"


def _parameters(namespace: dict) -> dict:
    """The plain values a notebook has defined so far (its parameters: None, numbers, strings, lists, dicts, as
    papermill writes them), without modules, functions or objects such as `pagutils.core.defaults.QUICK`."""
    return {name: value for name, value in namespace.items()
            if not name.startswith("_") and name not in _IGNORED and isinstance(value, PLAIN)}


def _check_type(name, value, default):
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, (list, tuple)):
        ok = isinstance(value, (list, tuple))
        value = type(default)(value) if ok else value
    else:
        ok = isinstance(value, type(default))
    if not ok:
        checks.fail("settings", f"parameter {name!r}", f"be a {type(default).__name__} like its default {default!r}",
                    got=f"{value!r} ({type(value).__name__})", error=checks.ArgumentTypeError)
    return value


def _numbers(value):
    """The numbers a setting holds (itself, or a list's entries), or None when it holds anything else."""
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
        return items
    return None


def _check_value(name, value, defaults):
    """A given value must be finite, keep the sign of the profiles' defaults, and not be an empty list."""
    if isinstance(value, (list, tuple)) and not value and any(isinstance(d, (list, tuple)) and d for d in defaults):
        checks.fail("settings", f"parameter {name!r}", "be a non-empty list", got=repr(value))
    numbers = _numbers(value)
    reference = [v for d in defaults for v in (_numbers(d) or [])]
    if not numbers or not reference or any(_numbers(d) is None for d in defaults):
        return
    if not all(math.isfinite(v) for v in numbers):
        checks.fail("settings", f"parameter {name!r}", "be finite (no NaN or infinity)", got=repr(value))
    if min(reference) > 0 and min(numbers) <= 0:
        checks.fail("settings", f"parameter {name!r}", f"be > 0, like its defaults {defaults[0]!r} (quick) and "
                    f"{defaults[1]!r} (full)", got=repr(value))
    if min(reference) >= 0 and min(numbers) < 0:
        checks.fail("settings", f"parameter {name!r}", f"be >= 0, like its defaults {defaults[0]!r} (quick) and "
                    f"{defaults[1]!r} (full)", got=repr(value))


def settings(namespace: dict, quick: dict, full: dict, paper: dict = None, **choices) -> Settings:
    """Resolve a chapter's settings from its parameters cell (`namespace`, usually `globals()`).

    `quick` and `full` give every setting's default per profile (the same names in both); `paper` the paper
    profile's values for some of those names (the rest keep the full profile's).
    `choices` restricts a setting to a set of values, e.g. dataset=("mnist", "fashion_mnist").
    Introduced in Chapter 1.
    """
    if set(quick) != set(full):
        checks.fail("settings", "quick and full profiles", "name the same settings",
                    got=f"profiles that differ in {set(quick) ^ set(full)}")
    stray = sorted(set(paper or {}) - set(full))
    if stray:
        checks.fail("settings", "the paper profile", "name only settings the chapter has",
                    got=f"settings the chapter does not have: {stray}")
    given = _parameters(namespace)
    profile = given.pop("profile", None) or os.environ.get("PAG_PROFILE") or "quick"
    if profile not in PROFILES:
        checks.fail("settings", "profile", f"be one of {PROFILES} (parameter or PAG_PROFILE)", got=repr(profile))
    unknown = sorted(set(given) - set(quick))
    if unknown:
        raise NameError(f"unknown parameter(s) {unknown}; this chapter takes: profile, {', '.join(sorted(quick))}")
    chosen = dict(quick if profile == "quick" else full)
    if profile == "paper":
        chosen.update(paper or {})
    for name, value in given.items():
        if value is not None:
            chosen[name] = _check_type(name, value, chosen[name])
            _check_value(name, chosen[name], (quick[name], full[name]))
    for name, allowed in choices.items():
        if chosen.get(name) not in allowed:
            checks.fail("settings", f"parameter {name!r}", f"be one of {tuple(allowed)}", got=repr(chosen.get(name)))
    return Settings(profile=profile, **chosen, started=time.perf_counter())
