"""The locks are in step with what they lock, and the version is written once.

Each environment has a requirements file (what it asks for, mirroring pyproject.toml) and a lock generated from it
by `make lock` (uv pip compile --generate-hashes), which `make` installs in pip's hash-checking mode. Offline: only
the files in the checkout are read.
"""
import importlib.metadata
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
BASE = "requirements.lock"
# requirements input -> (its lock, the pyproject.toml lists it mirrors: None is [project] dependencies)
ENVIRONMENTS = {
    "requirements.txt": (BASE, (None, "book", "test")),
    "requirements-teaching.txt": ("requirements-teaching.lock", ("teaching",)),
    "requirements-scale.txt": ("requirements-scale.lock", ("scale",)),
    "requirements-attacks.txt": ("requirements-attacks.lock", ("attacks",)),
}


def requirements(path: Path) -> list:
    """The requirements a requirements input names (comments and blank lines left out)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def lock(path: Path) -> dict:
    """A lock as {canonical name: (version, [hashes])}; every entry must be `name==version` with its hashes."""
    text = path.read_text().replace("\\\n", " ")
    entries = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        spec, *options = line.split()
        assert not spec.startswith("-"), f"{path.name}: an option outside an entry: {line}"
        requirement = Requirement(spec)
        pins = list(requirement.specifier)
        assert len(pins) == 1 and pins[0].operator == "==", f"{path.name}: {spec} is not pinned with =="
        name = canonicalize_name(requirement.name)
        assert name not in entries, f"{path.name}: {name} appears twice"
        hashes = [option.removeprefix("--hash=") for option in options if option.startswith("--hash=")]
        assert len(hashes) == len(options), f"{path.name}: {spec} has an option other than --hash: {options}"
        entries[name] = (pins[0].version, hashes)
    return entries


def key(requirement: Requirement) -> tuple:
    """What two spellings of one requirement share: the name, extras, specifier and marker."""
    return (canonicalize_name(requirement.name), tuple(sorted(map(canonicalize_name, requirement.extras))),
            frozenset(map(str, requirement.specifier)), str(requirement.marker or ""))


@pytest.mark.parametrize("source", list(ENVIRONMENTS))
def test_every_requirement_is_pinned_with_hashes_within_its_range(source):
    pinned = lock(ROOT / ENVIRONMENTS[source][0])
    for requirement in requirements(ROOT / source):
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{source} asks for {requirement} and {ENVIRONMENTS[source][0]} does not pin it: make lock"
        version, _ = pinned[name]
        assert requirement.specifier.contains(version, prereleases=True), \
            f"{ENVIRONMENTS[source][0]} pins {name}=={version}, outside {source}'s {requirement}: make lock"
    for name, (version, hashes) in pinned.items():  # hash-checking mode needs them on every entry, not only these
        assert hashes and all(h.startswith("sha256:") for h in hashes), f"{name}=={version} has no sha256 hash"


@pytest.mark.parametrize("extra", [lock_ for lock_, _ in ENVIRONMENTS.values() if lock_ != BASE])
def test_an_extra_lock_never_moves_a_base_pin(extra):
    base, pinned = lock(ROOT / BASE), lock(ROOT / extra)
    moved = {name: (base[name][0], version) for name, (version, _) in pinned.items()
             if name in base and base[name][0] != version}
    assert not moved, f"{extra} pins differently from {BASE} (base, extra): {moved}"


def test_the_attacks_lock_holds_only_what_it_names_as_make_installs_it_without_dependencies():
    named = {canonicalize_name(r.name) for r in requirements(ROOT / "requirements-attacks.txt")}
    assert set(lock(ROOT / "requirements-attacks.lock")) == named


def test_pyproject_declares_what_the_requirements_files_ask_for():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert set(extras) == {extra for _, lists in ENVIRONMENTS.values() for extra in lists if extra}
    for source, (_, lists) in ENVIRONMENTS.items():
        declared = [Requirement(r) for extra in lists for r in (project["dependencies"] if extra is None
                                                                 else extras[extra])]
        assert sorted(map(key, declared), key=str) == sorted(map(key, requirements(ROOT / source)), key=str), \
            f"{source} and pyproject.toml's {lists} differ"


def test_the_version_is_written_once():
    import pagutils

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert pagutils.__version__ == version
    assert str(yaml.safe_load((ROOT / "CITATION.cff").read_text())["version"]) == version


def test_a_source_checkout_that_is_not_installed_reads_pyproject(monkeypatch):
    import pagutils

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert pagutils._version() == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
