"""Classroom assignments: instructor sources, student editions, book pages and the autograder.

The grading tests run notebooks in Jupyter kernels (about 5 s each): instructor solutions score full marks,
untouched student editions score zero, a wrong solution loses exactly its question's points, and misbehaving
submissions (raising, looping, crashing the kernel, edited tests, not a notebook) are graded without a crash.
"""
import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

from pagutils import assign

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "assignments"
ASSIGNMENTS = assign.load_all(ROOT / "assignments")
NAMES = sorted(ASSIGNMENTS)
LIMITS = dict(time_limit=30, cell_time_limit=30)


def _copy(nb):
    return nbformat.from_dict(json.loads(json.dumps(nb)))


def _submission(name, replace=None, drop_hidden=True):
    """The instructor notebook of `name` as a submission: hidden tests dropped, `replace` = {cell id: new code of
    its solution block}."""
    nb = _copy(ASSIGNMENTS[name].notebook)
    if drop_hidden:
        nb.cells = [c for c in nb.cells if "hidden-test" not in c.metadata.get("tags", [])]
    for cell in nb.cells:
        if replace and cell.get("id") in replace:
            cell.source = assign.fill(cell.source, replace[cell["id"]])
    return nb


def _write(nb, path):
    nbformat.write(nb, path)
    return path


def _scores(result):
    return {q: v["score"] for q, v in result["questions"].items()}


def _full(name):
    return {q: v["points"] for q, v in ASSIGNMENTS[name].questions.items()}


# ---------------------------------------------------------------------------------------------------------------
# sources and editions (no kernel)


def test_at_least_five_assignments_tied_to_chapters_with_graded_questions():
    assert len(ASSIGNMENTS) >= 5
    for name, a in ASSIGNMENTS.items():
        assert (ROOT / "book" / f"{a.chapter}.ipynb").is_file(), f"{name}: chapter {a.chapter!r} is not in book/"
        assert len(a.questions) >= 3, f"{name} has fewer than three questions"
        for qid in a.questions:
            checks = [c for c in a.checks if c.question == qid]
            assert any(not c.hidden for c in checks) and any(c.hidden for c in checks), \
                f"{name} {qid} needs visible and hidden checks"
        for qid in a.questions:
            assert any(re.search(r"manual_seed\(|seed=\d", c.code) for c in a.checks if c.question == qid), \
                f"{name} {qid}: no check on seeded random inputs"
        for check in a.checks:
            for line in check.code.split("\n"):
                assert not re.search(r"torch\.rand(n|int|perm)?\(", line) or "generator=" in line, \
                    f"{name} {check.title}: unseeded random numbers in {line.strip()!r}"
        assert list(FIXTURES.glob(f"{name}.wrong-q*.ipynb")), f"{name} has no wrong-solution fixture"


def test_stub_fill_and_solution_code():
    source = "def f(x):\n    \"\"\"Doc.\"\"\"\n    ### BEGIN SOLUTION\n    ### HINT: double it.\n    return 2 * x\n" \
             "    ### END SOLUTION\n\nprint(1)"
    student = assign.stub(source)
    assert "return 2 * x" not in student and "BEGIN" not in student and "print(1)" in student
    assert "    raise NotImplementedError('double it.')" in student
    namespace = {}
    exec(student, namespace)
    with pytest.raises(NotImplementedError, match="double it"):
        namespace["f"](1)
    assert "    return 3 * x" in assign.fill(source, "return 3 * x")
    assert assign.solution_code(source) == "def f(x):\n    \"\"\"Doc.\"\"\"\n    return 2 * x\n\nprint(1)"
    assert "raise NotImplementedError('Replace this line with your code.')" in assign.stub(
        "### BEGIN SOLUTION\nx = 1\n### END SOLUTION")
    with pytest.raises(assign.AssignmentError, match="without an ### END SOLUTION"):
        assign.stub("### BEGIN SOLUTION\nx = 1")
    with pytest.raises(assign.AssignmentError, match="without a ### BEGIN SOLUTION"):
        assign.stub("x = 1\n### END SOLUTION")


@pytest.mark.parametrize("name", NAMES)
def test_student_edition_has_stubs_no_solutions_and_no_hidden_tests(name):
    a = ASSIGNMENTS[name]
    student = assign.student_edition(a)
    text = "\n".join(c.source for c in student.cells)
    assert assign.BEGIN not in text and assign.END not in text and "hidden-test" not in json.dumps(student)
    solutions = [c.source for c in a.notebook.cells if c.cell_type == "code" and assign.solution_blocks(c.source)]
    elsewhere = {line.strip() for c in a.notebook.cells if c.source not in solutions for line in c.source.split("\n")}
    for source in solutions:
        for begin, end in assign.solution_blocks(source):
            for line in source.split("\n")[begin + 1:end]:
                if line.strip() and not line.strip().startswith("#") and line.strip() not in elsewhere:
                    assert line.strip() not in text, f"{name}: the solution line {line.strip()!r} leaked"
    assert text.count("raise NotImplementedError(") == len(solutions)
    visible = [c for c in student.cells if "visible-test" in c.metadata.get("tags", [])]
    assert len(visible) == sum(not c.hidden for c in a.checks)
    assert all(c.metadata["editable"] is False and c.metadata["deletable"] is False for c in visible)
    assert student.metadata["assign"] == {**a.notebook.metadata["assign"], "name": name, "edition": "student"}
    for cell in student.cells:
        if cell.cell_type == "code":
            ast.parse(cell.source)
    autograder = assign.autograder_edition(a)
    assert assign.BEGIN not in "\n".join(c.source for c in autograder.cells)


def test_the_autograder_edition_holds_every_check(tmp_path):
    written = assign.build(ROOT / "assignments", tmp_path)
    assert len(written) == 2 * len(ASSIGNMENTS)
    for name, a in ASSIGNMENTS.items():
        graded = assign.load(tmp_path / "autograder" / f"{name}.ipynb")
        key = [(c.question, c.points, c.code) for c in a.checks]
        assert [(c.question, c.points, c.code) for c in graded.checks] == key
        student = nbformat.read(tmp_path / "student" / f"{name}.ipynb", as_version=4)
        assert student.metadata["assign"]["edition"] == "student"


def test_load_names_what_is_wrong_with_a_source(tmp_path):
    nb = _copy(ASSIGNMENTS["ch01_pgd_step"].notebook)
    q1 = next(c for c in nb.cells if c.get("id") == "q1-task")
    q1.source = q1.source.replace("(3 points)", "(5 points)")
    with pytest.raises(assign.AssignmentError, match="q1's heading says 5 points, its checks add up to 3"):
        assign.load(_write(nb, tmp_path / "ch01_pgd_step.ipynb"))
    nb = _copy(ASSIGNMENTS["ch01_pgd_step"].notebook)
    next(c for c in nb.cells if c.get("id") == "q1-visible-1").metadata["tags"] = []
    with pytest.raises(assign.AssignmentError, match="needs exactly one of the tags"):
        assign.load(_write(nb, tmp_path / "ch01_pgd_step.ipynb"))
    nb = _copy(ASSIGNMENTS["ch01_pgd_step"].notebook)
    cell = next(c for c in nb.cells if c.get("id") == "q2-solution")
    cell.source = cell.source.replace(assign.END, "")
    with pytest.raises(assign.AssignmentError, match="q2-solution"):
        assign.load(_write(nb, tmp_path / "ch01_pgd_step.ipynb"))


def test_exercise_pages_are_generated_from_the_sources():
    for name, a in ASSIGNMENTS.items():
        page = ROOT / "book" / "exercises" / f"{name}.md"
        assert page.is_file(), f"run `python -m pagutils.assign pages` to write {page}"
        assert page.read_text() == assign.exercise_page(a), \
            f"{page} is out of date: run `python -m pagutils.assign pages`"
        text = page.read_text()
        assert text.count("::::{exercise}") == len(a.questions) == text.count(":class: dropdown")
        assert assign.BEGIN not in text and "raise NotImplementedError" in text


def test_every_assignment_is_in_the_toc_and_on_the_teachers_page():
    toc, teacher = (ROOT / "_toc.yml").read_text(), (ROOT / "book" / "teacher.md").read_text()
    for name, a in ASSIGNMENTS.items():
        assert f"book/exercises/{name}" in toc, f"add book/exercises/{name} to the Teaching part of _toc.yml"
        assert f"`{name}`" in teacher and f"| {a.points} |" in teacher.split(f"`{name}`")[1].split("\n")[0]


def test_student_config_hides_solutions(tmp_path):
    import yaml
    path = assign.student_config(out=tmp_path / "student.yml")
    config = yaml.safe_load(path.read_text())
    assert config["sphinx"]["config"]["hide_solutions"] is True
    assert "sphinx_exercise" in config["sphinx"].get("extra_extensions", [])
    assert config["title"].endswith("(student edition)")


def test_check_helpers():
    assign.assert_close(torch.ones(3), torch.ones(3), "x")
    assign.assert_close(0.5, 0.5, "a number")
    with pytest.raises(AssertionError, match="x must have shape \\(3,\\), got \\(2,\\)"):
        assign.assert_close(torch.ones(2), torch.ones(3), "x")
    with pytest.raises(AssertionError, match="x differs from the reference by up to 1"):
        assign.assert_close(torch.zeros(3), torch.ones(3), "x")
    with pytest.raises(AssertionError, match="x contains NaN"):
        assign.assert_close(torch.tensor([float("nan")]), torch.ones(1), "x")
    with pytest.raises(AssertionError, match="must be a torch.Tensor"):
        assign.assert_close([1.0, 2.0], torch.ones(2), "x")
    namespace = {"f": "student"}
    with assign.substitute(namespace, f="reference", g="new"):
        assert namespace == {"f": "reference", "g": "new"}
    assert namespace == {"f": "student"}
    assert torch.equal(assign.random_images(2, seed=3), assign.random_images(2, seed=3))
    assert assign.random_images(2).min() >= 0 and assign.random_images(2).max() <= 1
    model = assign.tiny_classifier(seed=1)
    assert model(assign.random_images(2)).shape == (2, 4) and not model.training


def test_what_is_not_a_notebook_scores_zero_with_a_message(tmp_path):
    a = ASSIGNMENTS["ch01_pgd_step"]
    (tmp_path / "essay.txt").write_text("I did the homework in my head.")
    (tmp_path / "data.ipynb").write_text(json.dumps({"not": "a notebook"}))
    (tmp_path / "odd.ipynb").write_text(json.dumps({"cells": [42], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    for path in (tmp_path / "essay.txt", tmp_path / "data.ipynb", tmp_path / "odd.ipynb", tmp_path / "missing.ipynb"):
        result = assign.grade(path, a)
        assert result["score"] == 0 and result["max_score"] == a.points
        assert all(q["score"] == 0 for q in result["questions"].values())
        words = ("not a Jupyter notebook", "not a readable Jupyter notebook", "is not a file")
        assert any(w in result["notes"][0] for w in words), result["notes"]
        assert all(c["message"] == result["notes"][0] for c in result["checks"])


# ---------------------------------------------------------------------------------------------------------------
# grading in kernels


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_instructor_solution_scores_full_marks(name):
    result = assign.grade(ASSIGNMENTS[name].path, ASSIGNMENTS[name], **LIMITS)
    assert _scores(result) == _full(name), json.dumps(result, indent=1)
    assert result["score"] == result["max_score"] and not result["notes"]


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_untouched_student_edition_scores_zero(name, tmp_path):
    path = _write(assign.student_edition(ASSIGNMENTS[name]), tmp_path / f"{name}.ipynb")
    result = assign.grade(path, ASSIGNMENTS[name], **LIMITS)
    assert result["score"] == 0 and set(result["questions"]) == set(ASSIGNMENTS[name].questions)
    for qid, question in result["questions"].items():
        assert "NotImplementedError" in question["message"], f"{qid}: {question['message']}"


@pytest.mark.slow
def test_wrong_solutions_lose_exactly_their_question_from_the_command_line(tmp_path):
    """`python -m pagutils.assign grade <folder>` over every fixture (and a file that is not a notebook)."""
    folder = tmp_path / "submissions"
    folder.mkdir()
    fixtures = sorted(FIXTURES.glob("*.wrong-*.ipynb"))
    for path in fixtures:
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "ch01_pgd_step.photo.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a notebook")
    run = subprocess.run([sys.executable, "-m", "pagutils.assign", "grade", str(folder), "--out", str(tmp_path / "out"),
                          "--time-limit", "30"], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    for path in fixtures:
        name, lost = path.name.split(".")[0], path.name.split(".")[1].removeprefix("wrong-").split("-")
        result = json.loads((tmp_path / "out" / f"{path.stem}.json").read_text())
        expected = {q: 0 if q in lost else points for q, points in _full(name).items()}
        assert _scores(result) == expected, f"{path.name}: {json.dumps(result['questions'], indent=1)}"
        assert all("AssertionError" in result["questions"][q]["message"] for q in lost)
        assert f"{result['score']}/{result['max_score']} points" in run.stdout
    photo = json.loads((tmp_path / "out" / "ch01_pgd_step.photo.json").read_text())
    assert photo["score"] == 0 and "not a Jupyter notebook" in photo["notes"][0]
    rows = (tmp_path / "out" / "grades.csv").read_text().strip().split("\n")
    assert rows[0].startswith("submission,assignment,score,max_score,q1,q2,q3") and len(rows) == len(fixtures) + 2


@pytest.mark.slow
def test_raising_looping_and_edited_submission(tmp_path):
    """A function that loops forever and one that raises lose their questions only; a raising cell of the
    student's own, an edited visible test and a fake test cell change nothing."""
    nb = _submission("ch01_pgd_step", {"q1-solution": "while True:\n    pass",
                                       "q2-solution": "raise ValueError('no projection today')"})
    for cell in nb.cells:
        if cell.get("id") == "q1-visible-1":
            cell.source = cell.source.split("\n")[0] + "\npass"
    nb.cells.insert(2, nbformat.v4.new_code_cell("raise RuntimeError('a cell of mine that fails')"))
    nb.cells.append(nbformat.v4.new_code_cell("### TEST q2 (3 points): trust me\nassert True"))
    result = assign.grade(_write(nb, tmp_path / "loops.ipynb"), ASSIGNMENTS["ch01_pgd_step"], time_limit=4,
                          cell_time_limit=10)
    assert _scores(result) == {"q1": 0, "q2": 0, "q3": 4}, json.dumps(result, indent=1)
    messages = {q: v["message"] for q, v in result["questions"].items()}
    assert "the question's time limit of 4 s" in messages["q1"] and "ValueError: no projection today" in messages["q2"]
    assert any("RuntimeError: a cell of mine that fails" in note for note in result["notes"])


@pytest.mark.slow
def test_kernel_crash_and_unstoppable_cell_cost_only_their_part(tmp_path):
    """A function that kills the Python process and a cell that ignores interrupts: the kernel is restarted,
    the submission's cells are replayed, and the other questions score full marks."""
    nb = _submission("ch10_gradient_norm", {"q1-solution": "import os\nos._exit(1)"})
    stuck = "import time\nwhile True:\n    try:\n        time.sleep(0.05)\n    except KeyboardInterrupt:\n        pass"
    nb.cells.insert(2, nbformat.v4.new_code_cell(stuck))
    result = assign.grade(_write(nb, tmp_path / "crash.ipynb"), ASSIGNMENTS["ch10_gradient_norm"], time_limit=30,
                          cell_time_limit=3)
    assert _scores(result) == {"q1": 0, "q2": 3, "q3": 3}, json.dumps(result, indent=1)
    assert "kernel died" in result["questions"]["q1"]["message"]
    assert any("time limit of 3 s per cell" in note for note in result["notes"])
    assert any("did not stop when interrupted: the kernel was restarted" in note for note in result["notes"])
