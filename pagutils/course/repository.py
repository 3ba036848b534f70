"""The course's repository: one setting, `repository.url` in `_config.yml` (with `repository.branch`).

Unset (an empty string, as the course ships), nothing points at a repository: the book shows no launch button
(Colab, Binder) and no repository button, each notebook's first cell installs nothing (pagutils comes with the
checkout) and the teacher page names the wheel that `make dist` builds. Set to the `https://github.com/<owner>/
<name>` that holds a course's copy, the launch buttons open it, the first cell installs `pagutils` from it
where it is missing (Colab, Binder) and the teacher page gives that command. The autograder never reads it: its
zip carries a wheel built from the checkout (assignments/teaching.py).

The book build reads the setting (book/_ext/repository.py). Colab opens a chapter's notebook alone, without
`_config.yml`, so the first cell holds the URL itself, written from the setting:

    python -m pagutils.course.repository sync     # rewrite the install cell of every book/*.ipynb from _config.yml
    python -m pagutils.course.repository check    # list the notebooks whose install cell is out of step (exit status 1)

The book build warns (fails under -W) and tests/test_dist.py fails while a notebook is out of step.
"""
import argparse
import json
import re
import sys
from pathlib import Path

# Jupyter Book fills an absent `repository.url` with its own repository: that is unset too
UNSET = ("", None, "https://github.com/executablebooks/jupyter-book")
TAG = "install-pagutils"  # the install cell's tag (with remove-cell: it is not shown on the page)
_URL = re.compile(r"^https://[A-Za-z0-9.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_BRANCH = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_./-]*$")


def project_root() -> Path:
    """The course checkout (as `pagutils.core.paths.project_root` finds it; this module imports nothing of pagutils, so
    that the book build and the scripts load it by its path without torch)."""
    for folder in [Path(__file__).resolve().parent.parent, Path.cwd().resolve(), *Path.cwd().resolve().parents]:
        if (folder / "_config.yml").is_file() and (folder / "pagutils").is_dir():
            return folder
    return Path.cwd().resolve()


def normalise(url):
    """`url` as the setting's value: None when unset, else `https://<host>/<owner>/<name>` (no `.git`, no
    trailing slash). ValueError for anything else, naming the setting."""
    url = url.strip() if isinstance(url, str) else url
    if url in UNSET:
        return None
    url = re.sub(r"\.git$", "", url.rstrip("/"))
    if not _URL.match(url):
        raise ValueError(f"_config.yml's repository.url must be empty (no repository) or "
                         f"https://<host>/<owner>/<name>, got {url!r}")
    return url


def setting(config=None) -> dict:
    """`_config.yml`'s repository setting as dict(url=<normalised URL or None>, branch=<branch, default main>)."""
    import yaml
    config = Path(config) if config else project_root() / "_config.yml"
    repository = (yaml.safe_load(config.read_text()) or {}).get("repository") or {}
    return dict(url=normalise(repository.get("url")), branch=branch_name(repository.get("branch")))


def branch_name(branch) -> str:
    """`repository.branch` (default main); ValueError for what is not a branch name."""
    branch = str(branch or "main")
    if not _BRANCH.match(branch):
        raise ValueError(f"_config.yml's repository.branch must be a branch name, got {branch!r}")
    return branch


def requirement(url, branch="main") -> str:
    """pip's requirement for pagutils from the repository (url set)."""
    return f"pagutils @ git+{url}@{branch}"


WIDTH = 79  # a notebook's code lines (tests/test_notebooks.py)


def _assignment(name: str, value: str, indent: str) -> list:
    """`name = "value"` as lines of at most WIDTH characters: the string in pieces, cut after slashes where it
    or before the branch's @ (value holds no quote or backslash: normalise and branch_name allow none)."""
    line = f'{indent}{name} = "{value}"'
    if len(line) <= WIDTH:
        return [line]
    room = WIDTH - len(indent) - len(name) - 7  # `name = ("` ... `")`
    tokens = [token for token in re.findall(r"@?[^/@]*/?", value) if token]
    parts = [token[i:i + room] for token in tokens for i in range(0, len(token), room)]
    pieces = [""]
    for part in parts:
        if len(pieces[-1]) + len(part) > room:
            pieces.append("")
        pieces[-1] += part
    pad = " " * (len(indent) + len(name) + 4)
    return [f'{indent}{name} = ("{pieces[0]}"', *[f'{pad}"{p}"' for p in pieces[1:]]][:-1] + \
        [(f'{pad}"{pieces[-1]}")' if len(pieces) > 1 else f'{indent}{name} = ("{pieces[0]}")')]


def attacks_pin() -> str:
    """torchattacks' pin, as requirements-attacks.txt (the attack ladder's dependency) writes it."""
    for line in (project_root() / "requirements-attacks.txt").read_text().splitlines():
        if line.split("#", 1)[0].strip().startswith("torchattacks"):
            return line.split("#", 1)[0].strip()
    raise LookupError("requirements-attacks.txt must name a torchattacks pin, got none")


def install_cell(url, branch="main") -> str:
    """The source of every notebook's first cell: with `url`, installs pagutils from it where it is missing;
    without, installs nothing and says where pagutils comes from. No line is over WIDTH characters."""
    if url:
        return "\n".join([
            "# Installs pagutils where it is missing (Colab, Binder) from the course's",
            "# repository, _config.yml's repository.url (written here by",
            "# `python -m pagutils.course.repository sync`). A no-op where pagutils",
            "# is installed.",
            "try:",
            "    import pagutils",
            "except ImportError:",
            *_assignment("_pagutils", f"git+{url}@{branch}", "    "),
            '    %pip install -q "pagutils @ {_pagutils}"',
            "    # AutoAttack's APGD for the attack ladder; --no-deps: torchattacks",
            "    # pins an old requests",
            f"    %pip install -q --no-deps {attacks_pin()}"])
    return "\n".join([
        "# pagutils comes with the course's checkout (make setup). No repository is",
        "# set (_config.yml's repository.url), so this cell installs nothing: see",
        "# the teacher page, and `python -m pagutils.course.repository sync`.",
        "try:",
        "    import pagutils",
        "except ImportError:",
        "    raise ImportError(",
        '        "pagutils is not installed: run `make setup` (or `pip install -e .`)"',
        '        " in the course\'s checkout, or pip install the wheel that `make dist`"',
        '        " builds") from None'])


def notebooks(root=None) -> list:
    """The book's notebooks, which each start with the install cell."""
    return sorted((Path(root) if root else project_root()).glob("book/*.ipynb"))


def _text(source) -> str:
    return source if isinstance(source, str) else "".join(source)


def _is_install_cell(cell) -> bool:
    """The install cell: tagged, or the one this module replaced (a %pip install of pagutils)."""
    source = _text(cell.get("source", ""))
    return cell.get("cell_type") == "code" and (
        TAG in cell.get("metadata", {}).get("tags", []) or
        ("import pagutils" in source and "%pip install" in source and len(source.split("\n")) <= 8))


def in_step(nb: dict, url, branch="main") -> bool:
    """Whether notebook `nb` (its JSON) starts with the install cell of this setting."""
    cells = nb.get("cells", [])
    return bool(cells) and _is_install_cell(cells[0]) and TAG in cells[0]["metadata"].get("tags", []) \
        and _text(cells[0]["source"]) == install_cell(url, branch)


def with_install_cell(nb: dict, url, branch="main") -> dict:
    """Notebook `nb` (its JSON, changed in place) with its first cell the install cell of this setting: the
    existing install cell rewritten (its id and other tags kept), or a new one put first."""
    source = install_cell(url, branch)
    lines = [line + "\n" for line in source.split("\n")]
    lines[-1] = lines[-1][:-1]
    cells = nb.setdefault("cells", [])
    if cells and _is_install_cell(cells[0]):
        cell = cells[0]
    else:
        cell = dict(cell_type="code", execution_count=None, id="install-pagutils", metadata={}, outputs=[],
                    source=[])  # in nbformat's order of keys
        if (nb.get("nbformat", 4), nb.get("nbformat_minor", 5)) < (4, 5):
            del cell["id"]
        cells.insert(0, cell)
    tags = cell.setdefault("metadata", {}).setdefault("tags", [])
    tags += [tag for tag in ("remove-cell", TAG) if tag not in tags]
    cell.update(source=lines, outputs=[], execution_count=None)
    return nb


def dumps(nb: dict) -> str:
    """A notebook's JSON as Jupyter writes it (nbformat's layout), so a rewrite changes only what changed."""
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def sync(root=None, config=None) -> list:
    """Rewrite the install cell of every notebook of the book (under `root`, default the checkout) from the
    setting in `config` (default `root`'s `_config.yml`); the notebooks changed."""
    root = Path(root) if root else project_root()
    current = setting(config or root / "_config.yml")
    changed = []
    for path in notebooks(root):
        text = path.read_text()
        new = dumps(with_install_cell(json.loads(text), current["url"], current["branch"]))
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed


def out_of_step(root=None, config=None) -> list:
    """The notebooks whose install cell is not the one the setting gives."""
    root = Path(root) if root else project_root()
    current = setting(config or root / "_config.yml")
    return [path for path in notebooks(root)
            if not in_step(json.loads(path.read_text()), current["url"], current["branch"])]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pagutils.course.repository", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["sync", "check", "show"])
    parser.add_argument("--root", default=None, help="the course checkout (default: this one)")
    args = parser.parse_args(argv)
    root = Path(args.root) if args.root else project_root()
    current = setting(root / "_config.yml")
    if args.command == "show":
        print(f"repository.url: {current['url'] or '(unset)'}, branch {current['branch']}")
        return 0
    if args.command == "sync":
        for path in sync(root):
            print(f"rewrote the install cell of {path.relative_to(root)}")
        return 0
    stale = out_of_step(root)
    for path in stale:
        print(f"{path.relative_to(root)}: its install cell is out of step with _config.yml's repository.url "
              f"({current['url'] or 'unset'}): run `python -m pagutils.course.repository sync`", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
