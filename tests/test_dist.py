"""The course's repository in one place, and grading without it.

- `repository.url` in `_config.yml` is the one setting (pagutils/course/repository.py). Unset, the book shows no launch
  or repository button and no install command from a repository (a tiny book is built both ways); every book
  notebook's first cell is the install cell that the setting gives (`python -m pagutils.course.repository sync`).
- `make dist` builds the pagutils wheel of the checkout; every autograder zip carries it and installs pagutils
  from it, which is checked by installing from an autograder zip's own contents, offline, into a fresh venv.
"""
import html
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = "pag-course/pag-course"


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


repository = _load("pagutils_repository", ROOT / "pagutils" / "course" / "repository.py")
teaching = _load("teaching", ROOT / "assignments" / "teaching.py")
extension = _load("course_repository", ROOT / "book" / "_ext" / "course_repository.py")
URL = "https://github.com/some-university/robust-features-course"


# ---------------------------------------------------------------------------------------------------------------
# the setting


def test_the_setting_is_read_from_config_yml(tmp_path):
    current = repository.setting()
    assert current["url"] is None or re.match(r"^https://[^/]+/[^/]+/[^/]+$", current["url"])
    config = tmp_path / "_config.yml"
    for value, expected in [('""', None), ("", None), (f"{URL}.git", URL), (f"{URL}/", URL),
                            ("https://github.com/executablebooks/jupyter-book", None)]:
        config.write_text(f"repository:\n  url: {value}\n  branch: course\n")
        assert repository.setting(config) == dict(url=expected, branch="course")
    config.write_text("title: no repository\n")
    assert repository.setting(config) == dict(url=None, branch="main")
    config.write_text("repository:\n  url: github.com/someone\n")
    with pytest.raises(ValueError, match="repository.url"):
        repository.setting(config)
    config.write_text(f"repository:\n  url: {URL}\n  branch: 'main\"; rm -rf ~'\n")
    with pytest.raises(ValueError, match="repository.branch"):
        repository.setting(config)


def test_no_file_names_the_placeholder_repository():
    files = [ROOT / "_config.yml", ROOT / "book" / "teacher.md", ROOT / "assignments" / "requirements.txt",
             ROOT / "README.md", *sorted((ROOT / "book").glob("*.md")), *repository.notebooks()]
    named = [str(path.relative_to(ROOT)) for path in files if PLACEHOLDER in path.read_text()]
    assert not named, f"{named} name the placeholder repository {PLACEHOLDER}: run `python -m pagutils.course.repository sync`"


def test_every_notebook_starts_with_the_install_cell_of_the_setting():
    """Passes once `python -m pagutils.course.repository sync` has rewritten the notebooks."""
    current = repository.setting()
    stale = [path.name for path in repository.out_of_step()]
    assert not stale, (f"the install cell of {stale} is not the one of _config.yml's repository.url "
                       f"({current['url'] or 'unset'}): run `python -m pagutils.course.repository sync`")
    for path in repository.notebooks():
        cell = json.loads(path.read_text())["cells"][0]
        assert {"remove-cell", repository.TAG} <= set(cell["metadata"]["tags"]) and not cell["outputs"]


def _run_cell(source: str, missing: bool) -> list:
    """Run an install cell in IPython, where pagutils is `missing` or not; the lines given to %pip."""
    from IPython.core.interactiveshell import InteractiveShell
    shell, pip = InteractiveShell(), []
    shell.register_magic_function(pip.append, "line", "pip")
    if missing:
        source = source.replace("import pagutils", "import pagutils_is_not_installed")
    result = shell.run_cell(source, silent=True)
    InteractiveShell.clear_instance()
    if not result.success:
        raise result.error_in_exec
    return pip


@pytest.mark.parametrize("url", [URL, "https://gitlab.example.edu/a-department-of-computer-science/a-course-on-"
                                      "robust-features-and-perceptually-aligned-gradients"])
def test_the_install_cell_installs_from_the_setting_only(url):
    unset, set_ = repository.install_cell(None), repository.install_cell(url, "course")
    assert "%pip" not in unset and "git+" not in unset and "import pagutils" in unset
    assert max(len(line) for line in (unset + "\n" + set_).split("\n")) <= 79  # tests/test_notebooks.py
    assert _run_cell(set_, missing=False) == [] and _run_cell(unset, missing=False) == []
    assert _run_cell(set_, missing=True) == [f'install -q "pagutils @ git+{url}@course"',
                                             f"install -q --no-deps {repository.attacks_pin()}"]
    with pytest.raises(ImportError, match="make dist"):
        _run_cell(unset, missing=True)


def test_sync_rewrites_the_old_install_cell_and_puts_one_before_a_notebook_without(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "_config.yml").write_text(f"repository:\n  url: {URL}\n  branch: main\n")
    old = {"cell_type": "code", "execution_count": None, "id": "abc", "metadata": {"tags": ["remove-cell"]},
           "outputs": [], "source": ["try:\n", "    import pagutils\n", "except ImportError:\n",
                                     f'    %pip install -q "pagutils @ git+https://github.com/{PLACEHOLDER}"']}
    title = {"cell_type": "markdown", "id": "t", "metadata": {}, "source": ["# A chapter"]}
    meta = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "book" / "a.ipynb").write_text(repository.dumps({**meta, "cells": [old, title]}))
    (tmp_path / "book" / "b.ipynb").write_text(repository.dumps({**meta, "cells": [title]}))
    assert len(repository.out_of_step(tmp_path)) == 2
    assert len(repository.sync(tmp_path)) == 2 and repository.sync(tmp_path) == []
    assert repository.out_of_step(tmp_path) == []
    a, b = (json.loads((tmp_path / "book" / f"{n}.ipynb").read_text()) for n in "ab")
    assert a["cells"][0]["id"] == "abc" and len(a["cells"]) == 2 and PLACEHOLDER not in json.dumps(a)
    assert len(b["cells"]) == 2 and b["cells"][1] == title
    assert "".join(a["cells"][0]["source"]) == "".join(b["cells"][0]["source"]) == repository.install_cell(URL)
    (tmp_path / "_config.yml").write_text('repository:\n  url: ""\n')
    assert len(repository.out_of_step(tmp_path)) == 2 and len(repository.sync(tmp_path)) == 2
    assert "git+" not in (tmp_path / "book" / "a.ipynb").read_text()


def test_the_extension_shows_buttons_and_commands_only_with_a_url():
    options = dict(launch_buttons=dict(notebook_interface="classic", binderhub_url="https://mybinder.org",
                                       colab_url="https://colab.research.google.com"), use_download_button=True)
    unset = extension.theme_options(json.loads(json.dumps(options)), None)
    assert unset["launch_buttons"] == dict(notebook_interface="classic") and unset["repository_url"] == ""
    assert not any(unset[button] for button in extension.BUTTONS) and unset["use_download_button"]
    set_ = extension.theme_options(json.loads(json.dumps(options)), URL)
    assert set_["launch_buttons"] == options["launch_buttons"] and set_["use_repository_button"]
    text = extension.substitutions(None, "main", "pagutils-0.1.0-py3-none-any.whl")
    assert "git+" not in str(text) and "make dist" in text["pagutils_install"] and text["course_repository"] == "empty"
    text = extension.substitutions(URL, "main", "pagutils-0.1.0-py3-none-any.whl")
    assert f'"pagutils @ git+{URL}@main"' in text["pagutils_install"] and URL in text["course_repository"]


def _tiny_book(folder: Path, url: str, cell_url=None) -> subprocess.CompletedProcess:
    """Build a book of one page and one notebook with this course's configuration (repository, launch buttons,
    the course_repository extension), not executed, with -W; the notebook's install cell is the one of `url`,
    or of `cell_url` where given."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    tiny = dict(title="tiny", execute=dict(execute_notebooks="off"), only_build_toc_files=True,
                parse=config["parse"], repository={**config["repository"], "url": url},
                launch_buttons=config["launch_buttons"], html=config["html"],
                sphinx=dict(local_extensions=dict(course_repository=str(ROOT / "book" / "_ext"))))
    (folder / "book").mkdir(parents=True)
    (folder / "_config.yml").write_text(yaml.safe_dump(tiny))
    (folder / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n- file: book/nb\n")
    (folder / "book" / "intro.md").write_text("# Intro\n\nStudents install: {{ pagutils_install }}.\n\n"
                                              "The repository: {{ course_repository }}.\n")
    nb = {"cells": [{"cell_type": "markdown", "id": "t", "metadata": {}, "source": ["# A notebook\n"]},
                    {"cell_type": "code", "execution_count": None, "id": "c", "metadata": {}, "outputs": [],
                     "source": ["x = 1"]}],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    (folder / "book" / "nb.ipynb").write_text(repository.dumps(repository.with_install_cell(
        nb, repository.normalise(url if cell_url is None else cell_url), config["repository"].get("branch", "main"))))
    return subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", str(folder), "-W", "-n", "-q"],
                          capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def _built_text(folder: Path) -> str:
    pages = folder / "_build" / "html"
    return html.unescape("\n".join(path.read_text(errors="replace") for path in sorted(pages.rglob("*"))
                                   if path.suffix in (".html", ".ipynb", ".md") and path.is_file()))


def test_an_unset_repository_puts_no_button_or_install_command_on_any_page(tmp_path):
    build = _tiny_book(tmp_path / "unset", "")
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    text = _built_text(tmp_path / "unset")
    for needle in ("colab.research.google.com", "mybinder.org", "git+", "github.com", "Launch on",
                   "repository-button", "%pip install"):
        assert needle not in text, f"with repository.url unset, a page still shows {needle!r}"
    assert "make dist" in text and "The repository: empty." in text
    assert '<meta name="course-repository" content="" />' in text
    build = _tiny_book(tmp_path / "set", URL)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    text = _built_text(tmp_path / "set")
    assert f"colab.research.google.com/github/{URL.split('github.com/')[1]}/blob/main/book/nb.ipynb" in text
    assert "mybinder.org/v2/gh/" in text and f"git+{URL}@main" in text
    assert f'<meta name="course-repository" content="{URL}" />' in text


# ---------------------------------------------------------------------------------------------------------------
# the wheel and the autograder zips


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    return teaching.build_wheel(tmp_path_factory.mktemp("dist"))


def test_the_wheel_holds_every_module_of_the_checkout(wheel):
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        metadata = next(whl.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / "pagutils").rglob("*.py") if "__pycache__" not in p.parts}
    assert modules <= names, f"missing from the wheel: {sorted(modules - names)}"
    version = re.search(r"^version = \"([^\"]+)\"", (ROOT / "pyproject.toml").read_text(), re.M)
    assert re.search(r"^Name: pagutils$", metadata, re.M)
    if version:
        assert wheel.name == f"pagutils-{version.group(1)}-py3-none-any.whl"
    assert not (ROOT / "build").exists(), "building the wheel left a build/ folder in the checkout"


def test_the_autograder_requirements_name_no_repository():
    lines = [line.strip() for line in (ROOT / "assignments" / "requirements.txt").read_text().split("\n")
             if line.strip() and not line.strip().startswith("#")]
    assert not [line for line in lines if line.startswith("pagutils") or "git+" in line], \
        "assignments/requirements.txt must not install pagutils: the autograder zip carries its wheel"


def _fresh_venv(folder: Path) -> Path:
    """A venv without pip whose only view of the course's environment is .venv's site-packages on its path (torch
    and the other dependencies, not the editable pagutils, whose finder only a site folder's .pth loads)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "course_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


@pytest.mark.skipif(importlib.util.find_spec("otter") is None,
                    reason="otter-grader comes with requirements-teaching.txt (make test installs it)")
def test_an_autograder_zip_installs_pagutils_offline_from_its_own_contents(wheel, tmp_path):
    name = sorted(teaching.masters())[0]
    teaching.build([name], out=tmp_path / "assignments", run_tests=False, wheel=wheel, capture_output=True)
    ag = teaching.autograder_zip(name, tmp_path / "assignments")
    source = tmp_path / "autograder" / "source"  # where Gradescope unpacks it
    with zipfile.ZipFile(ag) as zf:
        zf.extractall(source)
    pip = next(d["pip"] for d in yaml.safe_load((source / "environment.yml").read_text())["dependencies"]
               if isinstance(d, dict))
    lines = [line for line in pip if line.startswith("pagutils")]
    assert len(lines) == 1 and not any("git+" in line for line in pip), pip
    target = re.fullmatch(r"pagutils @ file:///autograder/source/(files/pagutils-[^/]+\.whl)", lines[0])
    assert target, lines[0]
    local = source / target.group(1)
    assert local.read_bytes() == wheel.read_bytes()
    # otter grade's Dockerfile copies the contents of requirements.* before it installs: the same path
    assert (source / teaching.WHEEL_FOLDER / target.group(1)).read_bytes() == wheel.read_bytes()
    python = _fresh_venv(tmp_path / "venv")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-index",
                    "--no-deps", "--find-links", str(local.parent), f"pagutils @ {local.as_uri()}"],
                   check=True, cwd=source)
    # the installed wheel imports and resolves one chapter's quick settings (its settings cell)
    script = ("import pagutils, pagutils.course.repository; from pagutils import experiments; "
              "experiments.get('ch01_adversarial_examples').settings(profile='quick'); print(pagutils.__file__)")
    shown = subprocess.run([str(python), "-c", script],
                           check=True, capture_output=True, text=True, cwd=tmp_path,
                           env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"OMP_NUM_THREADS": "1"})
    assert Path(shown.stdout.strip()).is_relative_to(tmp_path / "venv"), shown.stdout
    shutil.rmtree(tmp_path / "venv")


def test_a_notebook_out_of_step_with_the_setting_fails_the_build(tmp_path):
    build = _tiny_book(tmp_path / "stale", URL, cell_url="")
    assert build.returncode != 0 and "python -m pagutils.course.repository sync" in build.stdout + build.stderr
