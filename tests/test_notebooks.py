"""The book's execution machinery: papermill parameters, and raising cells failing both commands."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CHAPTER_1 = ROOT / "book" / "ch01_adversarial_examples.ipynb"


def _raising_notebook(path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# A chapter that raises"), nbformat.v4.new_code_cell("x = 1 / 0")]
    nbformat.write(nb, path)


def test_every_chapter_has_a_parameters_cell_and_no_outputs():
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{path.name} needs exactly one papermill parameters cell"
        assert "profile = None" in tagged[0].source, f"{path.name}: the parameters cell must set profile = None"
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{path.name} has outputs"
        assert nb.metadata["kernelspec"]["name"] == "python3"


def test_every_cell_has_a_unique_id():
    """nbformat 4.5 requires an id on every cell (nbconvert warns without one; a later nbformat will refuse)."""
    import json
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        nb = json.loads(path.read_text())  # as written: nbformat.read would add missing ids
        ids = [c.get("id") for c in nb["cells"]]
        assert None not in ids, f"{path.name}: cell {ids.index(None)} has no id"
        assert len(set(ids)) == len(ids), f"{path.name}: two cells share an id"


CHAPTERS = sorted((ROOT / "book").glob("ch[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_reads_on_the_page(path):
    """What a reader meets: code that does not scroll, figures with alt text, settings folded away, a title
    without LaTeX (it is also the browser tab's), objectives at the top and takeaways and questions at the end."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        wide = [line for line in cell.source.splitlines() if len(line) > 79]
        assert not wide, f"{path.name}: code lines over 79 characters: {wide}"
        mystnb = cell.metadata.get("mystnb", {})
        if "figure" in mystnb:
            assert mystnb.get("image", {}).get("alt", "").strip(), \
                f"{path.name}: figure {mystnb['figure'].get('name')} has no alt text (mystnb.image.alt)"
        if "parameters" in cell.metadata.get("tags", []) or "spec.settings(" in cell.source:
            assert "hide-cell" in cell.metadata.get("tags", []), f"{path.name}: the settings are not folded away"
            assert mystnb.get("code_prompt_show", "").startswith("Settings of this run")
            if "spec.settings(" in cell.source:
                assert "use_course_style()" in cell.source, f"{path.name}: the import cell sets no figure style"
    prompts = [c.metadata.get("mystnb", {}).get("code_prompt_show") for c in nb.cells
               if c.metadata.get("mystnb", {}).get("code_prompt_show")]
    assert len(prompts) == len(set(prompts)), f"{path.name}: two dropdowns with one title: {prompts}"
    title = nb.cells[1].source.splitlines()[0]
    assert title.startswith("# ") and "$" not in title and "\\" not in title, f"{path.name}: title {title!r}"
    assert "In this chapter" in nb.cells[1].source, f"{path.name}: no learning objectives at the top"
    assert "Key takeaways" in nb.cells[-1].source and "{dropdown} Answer" in nb.cells[-1].source


def _typed_outcomes(code):
    """String literals of `code` that spell a claim's outcome ("holds", "does not hold", "untested"), leaving out
    a subscript's key such as `rule["holds"]` (a rule's result, not an outcome shown to the reader)."""
    import ast
    import re
    tree = ast.parse(code)
    keys = {id(node.slice) for node in ast.walk(tree) if isinstance(node, ast.Subscript)}
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in keys and re.search(r"\b(holds|does not hold|untested)\b", node.value)]


def test_the_typed_outcome_check_finds_an_outcome_and_passes_a_rules_key():
    assert _typed_outcomes('x = "holds: decides by itself" if rule["holds"] else f"{y}, ok"') == [
        "holds: decides by itself"]
    assert _typed_outcomes('print("claim: untested (too few)")') == ["claim: untested (too few)"]
    assert _typed_outcomes('x = rule["holds"]; glue("k", claims.FAILS)') == []


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_no_chapter_builds_its_results_rows_or_verdicts_by_hand(path):
    """A chapter's results rows come from `report.Rows` (one wording for a row and for a spread over seeds), never
    from dicts or appends written in the notebook; an outcome it shows comes from `pagutils.core.claims`, never typed."""
    import re
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    typed = _typed_outcomes(code)
    assert not typed, f"{path.name} types an outcome instead of reading it from pagutils.core.claims: {typed}"
    assert "report.record(" in code, f"{path.name} records no results table"
    by_hand = re.findall(r"dict\(\s*metric=|[\"']metric[\"']\s*:|rows\.append\(|mean of \{", code)
    assert not by_hand, f"{path.name} builds results rows by hand: {by_hand}"
    assert "report.Rows()" in code, f"{path.name} does not build its rows with report.Rows"


@pytest.mark.slow
def test_papermill_override_takes_effect(tmp_path):
    """Chapter 1 run with values overridden on papermill's command line records those values."""
    env = dict(__import__("os").environ, PAG_CACHE_DIR=str(tmp_path / "cache"),
               PAG_RESULTS_DIR=str(tmp_path / "results"), PAG_PROGRESS="0")
    env.pop("MPLBACKEND", None)
    out = tmp_path / "ch01.ipynb"
    run = subprocess.run([str(BIN / "papermill"), str(CHAPTER_1), str(out), "-p", "n_train", "400",
                          "-p", "epochs", "1", "-p", "n_test", "100", "-p", "attack_steps", "3",
                          "-y", "seeds: [0, 1]", "--cwd", str(CHAPTER_1.parent)],
                         env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads((tmp_path / "results" / "ch01_adversarial_examples.json").read_text())
    assert results["settings"]["n_train"] == 400 and results["settings"]["epochs"] == 1
    assert results["settings"]["seeds"] == [0, 1]
    assert results["settings"]["attack_steps"] == 3 and results["settings"]["train_eps"] == 1.5
    assert results["profile"] == "quick"
    executed = nbformat.read(out, as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)


@pytest.mark.slow
def test_unknown_parameter_fails_at_the_settings_cell(tmp_path):
    env = dict(__import__("os").environ, PAG_RESULTS_DIR=str(tmp_path))
    run = subprocess.run([str(BIN / "papermill"), str(CHAPTER_1), str(tmp_path / "out.ipynb"), "-p", "epoch", "2"],
                         env=env, capture_output=True, text=True)
    assert run.returncode != 0
    assert "unknown parameter(s) ['epoch']" in run.stderr + run.stdout


@pytest.mark.slow
def test_a_raising_cell_fails_nbval(tmp_path):
    _raising_notebook(tmp_path / "raises.ipynb")
    run = subprocess.run([str(BIN / "pytest"), "--nbval-lax", "-p", "no:cacheprovider", str(tmp_path / "raises.ipynb")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode != 0 and "ZeroDivisionError" in run.stdout


@pytest.mark.slow
def test_a_raising_cell_fails_the_book_build(tmp_path):
    """The book's own _config.yml (execution on, -W -n) turns a raising cell into a failed build."""
    shutil.copy(ROOT / "_config.yml", tmp_path / "_config.yml")
    (tmp_path / "book").mkdir()
    shutil.copy(ROOT / "book" / "references.bib", tmp_path / "book" / "references.bib")
    shutil.copytree(ROOT / "book" / "_ext", tmp_path / "book" / "_ext")       # the config's local extensions
    if not (ROOT / "node_modules").is_dir():
        pytest.fail("node_modules is missing: the book's offline assets come from `npm ci` (make test runs it)")
    (tmp_path / "node_modules").symlink_to(ROOT / "node_modules")
    (tmp_path / "book" / "intro.md").write_text("# Intro\n")
    _raising_notebook(tmp_path / "book" / "raises.ipynb")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/raises\n")
    run = subprocess.run([str(BIN / "jupyter-book"), "build", str(tmp_path), "-W", "-n", "--keep-going"],
                         capture_output=True, text=True)
    assert run.returncode != 0
    assert "ZeroDivisionError" in run.stdout + run.stderr
