"""Where pagutils finds data and keeps caches and results.

Every location can be set by an environment variable; the defaults live inside the
project checkout (found from the package's location, then from the working directory),
so a notebook finds the same folders whichever folder its kernel runs in.
"""
import os
from pathlib import Path


def project_root() -> Path:
    """The course checkout: the folder holding `_config.yml` and `pagutils/`, else the working directory."""
    candidates = [Path(__file__).resolve().parent.parent, *Path.cwd().resolve().parents, Path.cwd().resolve()]
    for folder in candidates:
        if (folder / "_config.yml").is_file() and (folder / "pagutils").is_dir():
            return folder
    return Path.cwd().resolve()


def _from_env(variable: str, default: Path) -> Path:
    value = os.environ.get(variable)
    return Path(value).expanduser().resolve() if value else default


def data_dir() -> Path:
    """Dataset root: `PAGUTILS_DATA_DIR`, else `data/` in the project."""
    return _from_env("PAGUTILS_DATA_DIR", project_root() / "data")


def cache_dir() -> Path:
    """Trained models and constructed datasets: `PAG_CACHE_DIR`, else `_build/cache` in the project."""
    return _from_env("PAG_CACHE_DIR", project_root() / "_build" / "cache")


def results_dir() -> Path:
    """One JSON results table per chapter: `PAG_RESULTS_DIR`, else `_build/results` in the project."""
    return _from_env("PAG_RESULTS_DIR", project_root() / "_build" / "results")


def write_atomic(target, text: str) -> Path:
    """Write `text` to `target` whole or not at all: into a temporary file beside it, then renamed into place, so
    that a reader never sees half a file (results tables, records). Creates the folder. Returns the path."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target
