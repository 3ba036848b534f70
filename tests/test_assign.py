"""The assignments on otter-grader: master notebooks, what `otter assign` writes, book pages, and grading.

The fast tests read the master notebooks. The slow ones run otter as `make assignments` and a teacher do:
`otter assign` on every master notebook (otter runs every test on the solutions and fails if one fails),
then grading without Docker, as CI and a laptop grade: every wrong-answer fixture loses exactly the points of
its wrong question, and submissions that are not notebooks, are empty, raise in every cell or never finish
score zero with a message without stopping the others.
"""
import csv
import importlib.util
import json
import re
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
import torch

pytest.importorskip("otter", reason="otter-grader comes with requirements-teaching.txt (make test installs it)")

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "assignments"
FIXTURES = ROOT / "tests" / "fixtures" / "assignments"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, FOLDER / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


teaching, checks = _load("teaching"), _load("checks")
MASTERS = {name: teaching.read_master(path) for name, path in teaching.masters().items()}
NAMES = sorted(MASTERS)


def _points(name):
    return {q["name"]: q["points"] for q in MASTERS[name]["questions"]}


def _graded_points(name):
    """The points of the questions the autograder scores (a question graded by hand is not in its results)."""
    return {q["name"]: q["points"] for q in MASTERS[name]["questions"] if not q["manual"]}


def _config(name):
    from otter.assign.blocks import get_cell_config, is_assignment_config_cell
    nb = nbformat.read(FOLDER / f"{name}.ipynb", as_version=4)
    return get_cell_config(next(c for c in nb.cells if is_assignment_config_cell(c)))


def _grades(path):
    """final_grades.csv as {file: row}, scores as floats where they are numbers."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {row["file"]: row for row in rows}


# ---------------------------------------------------------------------------------------------------------------
# master notebooks (no otter run)


def test_every_chapter_has_an_assignment():
    chapters = {path.stem[:4] for path in (ROOT / "book").glob("ch[0-9][0-9]_*.ipynb")}
    assert len(chapters) >= 10 and {"ch03", "ch05", "ch06"} <= chapters
    assert chapters <= {name[:4] for name in NAMES}, f"chapters without an assignment: {sorted(chapters - {n[:4] for n in NAMES})}"


def test_every_assignment_ends_with_one_interpretation_question_and_its_rubric():
    for name, master in MASTERS.items():
        manual = [q for q in master["questions"] if q["manual"]]
        assert len(manual) == 1 and master["questions"][-1] is manual[0], \
            f"{name} must end with one interpretation question (manual: true), has {[q['name'] for q in manual]}"
        q = manual[0]
        assert q["points"] > 0 and not q["tests"] and not q["solutions"], f"{name} {q['name']}: points, no code"
        rubric = "\n".join(q["rubric"])
        for grade in ("*Full credit (", "*Partial credit (", "*No credit (0)"):
            assert grade in rubric, f"{name} {q['name']}: the rubric must say what {grade.strip('*(')} is"
        assert re.search(r"\d+\s+to\s+\d+\s+words", "\n".join(q["prompt"])), f"{name} {q['name']}: say how long an answer is"


def test_assignments_with_visible_and_hidden_tests_on_seeded_inputs():
    assert {"ch03_representation_matching", "ch05_transfer_on_correct", "ch06_gradient_ascent", "ch08_noise_ratio",
            "ch09_tangent_space"} <= set(NAMES) and len(NAMES) >= 10
    for name, master in MASTERS.items():
        config = _config(name)
        assert config["name"] == name, f"{name}: the ASSIGNMENT CONFIG must name the assignment {name!r}"
        assert "checks.py" in config["files"] and config["tests"]["ok_format"] is False
        assert (ROOT / "book" / f"{master['chapter']}.ipynb").is_file()
        assert _graded_points(name) and len(master["questions"]) >= 2, f"{name} has no autograded question"
        for q in (q for q in master["questions"] if not q["manual"]):
            assert any(t["hidden"] for t in q["tests"]) and any(not t["hidden"] for t in q["tests"]), \
                f"{name} {q['name']} needs visible and hidden tests"
            assert all(t["points"] > 0 for t in q["tests"]), f"{name} {q['name']}: a test without points"
            assert any(re.search(r"manual_seed\(|seed=\d", t["source"]) for t in q["tests"]), \
                f"{name} {q['name']}: no test on seeded random inputs"
            for line in (line for t in q["tests"] for line in t["source"].split("\n")):
                assert not re.search(r"torch\.rand(n|int|perm)?\(", line) or "generator=" in line, \
                    f"{name} {q['name']}: unseeded random numbers in {line.strip()!r}"
        assert list(FIXTURES.glob(f"{name}.wrong-q*.ipynb")), f"{name} has no wrong-answer fixture"


def test_every_assignment_is_in_the_toc_and_on_the_teachers_page():
    toc, teacher = (ROOT / "_toc.yml").read_text(), (ROOT / "book" / "teacher.md").read_text()
    for name in NAMES:
        assert f"book/exercises/{name}" in toc, f"add book/exercises/{name} to the Teaching part of _toc.yml"
        row = next((line for line in teacher.split("\n") if line.startswith(f"| `{name}`")), None)
        assert row is not None, f"book/teacher.md has no table row for {name}"
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        stated = [int(p) for p in re.findall(r"\((\d+)\)", cells[2])]
        assert stated == list(_points(name).values()) and int(cells[3]) == sum(stated), \
            f"book/teacher.md states {stated} (total {cells[3]}) for {name}, the tests give {_points(name)}"


def test_exercise_pages_are_generated_from_the_masters():
    for name, master in MASTERS.items():
        page = ROOT / "book" / "exercises" / f"{name}.md"
        assert page.is_file() and page.read_text() == teaching.exercise_page(master), \
            f"{page} is out of date: run `make assignments` (or python assignments/teaching.py pages)"
        text = page.read_text()
        assert text.count("::::{exercise}") == len(master["questions"]) == text.count(":class: dropdown")
        assert "BEGIN" not in text and "END SOLUTION" not in text
        for q in master["questions"]:
            if q["manual"]:  # its rubric is in the solution's dropdown, after the exercise
                exercise, _, solution = text.partition(f"::::{{solution}} {name}-{q['name']}")
                assert f"{q['points']} points, graded by hand" in exercise and "Full credit" not in exercise
                assert "Full credit" in solution.split("::::")[0]
                continue
            stub = teaching.stub(q["solutions"][0])
            assert "raise NotImplementedError(" in stub, f"{name} {q['name']}: the stub gives no hint"
            body = teaching.solution_code(q["solutions"][0]).split('"""')[-1]  # after the docstring
            leaked = [line.strip() for line in body.split("\n") if line.strip() and line.strip() in stub]
            assert not leaked, f"{name} {q['name']}: solution lines in the student's stub: {leaked}"


def test_stub_and_solution_code():
    source = ('def f(x):\n    """Doc."""\n    """ # BEGIN PROMPT\n    raise NotImplementedError("double it")\n'
              '    """ # END PROMPT\n    # BEGIN SOLUTION NO PROMPT\n    y = 2 * x\n    return y\n    # END SOLUTION')
    assert teaching.stub(source) == 'def f(x):\n    """Doc."""\n    raise NotImplementedError("double it")'
    assert teaching.solution_code(source) == 'def f(x):\n    """Doc."""\n    y = 2 * x\n    return y'
    assert teaching.solution_code("z = 3  # SOLUTION") == "z = 3"


def test_reading_a_master_names_a_malformed_question(tmp_path):
    nb = nbformat.read(FOLDER / "ch01_pgd_step.ipynb", as_version=4)
    prompt = next(c for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## Question 2"))
    prompt.source = prompt.source.replace("## Question 2:", "## Q2 -")
    nbformat.write(nb, tmp_path / "ch01_pgd_step.ipynb")
    with pytest.raises(ValueError, match="question q2's prompt must start with '## Question <n>: <title>'"):
        teaching.read_master(tmp_path / "ch01_pgd_step.ipynb")
    with pytest.raises(ValueError, match="must start with the number of one chapter"):
        teaching.chapter_of("pgd_step")


def test_student_config_hides_solutions(tmp_path):
    import yaml
    config = yaml.safe_load(teaching.student_config(out=tmp_path / "student.yml").read_text())
    assert config["sphinx"]["config"]["hide_solutions"] is True
    assert "sphinx_exercise" in config["sphinx"].get("extra_extensions", [])
    assert config["title"].endswith("(student edition)")


def test_check_helpers():
    checks.assert_close(torch.ones(3), torch.ones(3), "x")
    checks.assert_close(0.5, 0.5, "a number")
    with pytest.raises(AssertionError, match=r"x must have shape \(3,\), got \(2,\)"):
        checks.assert_close(torch.ones(2), torch.ones(3), "x")
    with pytest.raises(AssertionError, match="x differs from the reference by up to 1"):
        checks.assert_close(torch.zeros(3), torch.ones(3), "x")
    with pytest.raises(AssertionError, match="x contains NaN"):
        checks.assert_close(torch.tensor([float("nan")]), torch.ones(1), "x")
    with pytest.raises(AssertionError, match="must be a torch.Tensor"):
        checks.assert_close([1.0, 2.0], torch.ones(2), "x")
    namespace = {"f": "student"}
    with checks.substitute(namespace, f="reference", g="new"):
        assert namespace == {"f": "reference", "g": "new"}
    assert namespace == {"f": "student"}
    images = checks.random_images(2, seed=3)
    assert torch.equal(images, checks.random_images(2, seed=3)) and 0 <= images.min() and images.max() <= 1
    assert checks.tiny_classifier(seed=1)(images).shape == (2, 4) and not checks.tiny_classifier().training
    top = torch.cat([torch.ones(1, 1, 4, 8), torch.zeros(1, 1, 4, 8)], 2)
    blind = checks.Masked(checks.tiny_classifier(seed=2), top)
    assert torch.equal(blind(images), blind(images + (1 - top) * 5.0)), "Masked must ignore the masked-out pixels"
    basis = torch.linalg.qr(torch.randn(64, 3, generator=torch.Generator().manual_seed(0)))[0]
    on, off = (checks.SubspaceClassifier(basis, complement=c, seed=1) for c in (False, True))
    along = (basis[:, 0] * 3).view(1, 1, 8, 8)
    assert torch.allclose(off(images + along), off(images), atol=1e-5) and not torch.allclose(on(images + along), on(images))
    ae = checks.LinearAutoencoder((1, 4, 4), latent_dim=3, seed=0)
    z = torch.randn(2, 3, generator=torch.Generator().manual_seed(0))
    jacobian = torch.autograd.functional.jacobian(lambda code: ae.decode(code).flatten(), z[:1])[:, 0, :]
    assert ae.decode(z).shape == (2, 1, 4, 4) and torch.allclose(jacobian, ae.weight)
    assert checks.tiny_autoencoder(seed=0).encode(images).shape == (2, 3)


def test_docker_is_used_only_where_a_daemon_answers(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert teaching.docker_answers() is False  # no docker command at all
    docker = tmp_path / "docker"
    for status, answers in ((1, False), (0, True)):  # a client without a daemon fails `docker info`
        docker.write_text(f"#!/bin/sh\nexit {status}\n")
        docker.chmod(0o755)
        assert teaching.docker_answers() is answers


def test_grade_names_what_is_missing(tmp_path):
    def grade(*args):
        return subprocess.run([sys.executable, str(FOLDER / "teaching.py"), "grade", *args, "-n", "ch01_pgd_step",
                               "--no-docker", "-o", str(tmp_path / "out")], capture_output=True, text=True)
    (tmp_path / "empty").mkdir()
    missing = grade(str(tmp_path / "empty"), "-a", str(tmp_path / "nothing.zip"))
    assert missing.returncode == 2 and f"no autograder zip at {tmp_path / 'nothing.zip'}" in missing.stderr
    (tmp_path / "autograder.zip").write_bytes(b"")
    none = grade(str(tmp_path / "empty"), "-a", str(tmp_path / "autograder.zip"))
    assert none.returncode == 2 and "no submissions (*.ipynb) in" in none.stderr
    typo = grade(str(tmp_path / "submisions"), "-a", str(tmp_path / "autograder.zip"))
    assert typo.returncode == 2 and "no submission or folder at" in typo.stderr
    assert not (tmp_path / "out" / "final_grades.csv").exists()


def test_a_broken_question_block_fails_the_build_with_otters_message(tmp_path):
    source = tmp_path / "masters"
    source.mkdir()
    for file in ("checks.py", "requirements.txt"):
        (source / file).write_bytes((FOLDER / file).read_bytes())
    nb = nbformat.read(FOLDER / "ch01_pgd_step.ipynb", as_version=4)
    ends = [i for i, c in enumerate(nb.cells) if c.cell_type == "raw" and c.source.startswith("# END SOLUTION")]
    del nb.cells[ends[1]]  # question 2's solution block never ends
    nbformat.write(nb, source / "ch01_pgd_step.ipynb")
    run = subprocess.run([sys.executable, str(FOLDER / "teaching.py"), "build", "--source", str(source), "--out",
                          str(tmp_path / "out")], capture_output=True, text=True)
    assert run.returncode == 1
    assert "Found a begin tests cell inside a solution block (question q2, cell number " in run.stderr, run.stderr[-2000:]
    assert "otter assign failed on" in run.stderr


# ---------------------------------------------------------------------------------------------------------------
# otter assign and grading (kernels)


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """`make assignments`'s build of every master notebook into a temporary folder (otter runs every test on the
    solutions: this fails if any solution misses a point)."""
    out = tmp_path_factory.mktemp("assignments")
    teaching.build(out=out)
    return out


@pytest.mark.slow
def test_build_writes_student_notebook_solutions_and_autograder(built):
    for name, master in MASTERS.items():
        student = nbformat.read(built / name / "student" / f"{name}.ipynb", as_version=4)
        assert (built / name / "student" / "checks.py").is_file()
        text = "\n".join(c.source for c in student.cells if c.cell_type == "code")
        answers = [c.source for c in student.cells if c.cell_type == "markdown"
                   and "otter_answer_cell" in c.metadata.get("tags", [])]
        assert len(answers) == sum(q["manual"] for q in master["questions"]), f"{name}: a written answer cell each"
        assert not [c for c in student.cells if "Full credit" in c.source], f"{name}: a rubric in the student notebook"
        for q in master["questions"]:
            if q["manual"]:
                continue
            assert f'grader.check("{q["name"]}")' in text
            body = teaching.solution_code(q["solutions"][0]).split('"""')[-1]
            assert not [line for line in body.split("\n") if line.strip() and line.strip() in text], \
                f"{name} {q['name']}: solution lines in the student notebook"
        visible = sum(not t["hidden"] for q in master["questions"] for t in q["tests"])
        tests = student.metadata["otter"]["tests"]
        assert sum(source.count("@test_case(") for source in tests.values()) == visible
        assert "hidden=True" not in json.dumps(tests), f"{name}: hidden tests in the student notebook"
        assert (built / name / "autograder" / f"{name}.ipynb").is_file()  # the solutions
        with zipfile.ZipFile(teaching.autograder_zip(name, built)) as archive:
            files = set(archive.namelist())
            every = sum(archive.read(f).decode().count("@test_case(") for f in files if f.startswith("tests/"))
            assert {"files/checks.py", "otter_config.json"} <= files
            assert every == sum(len(q["tests"]) for q in master["questions"])
            assert json.loads(archive.read("otter_config.json"))["assignment_name"] == name
            wheel = next(f for f in files if re.fullmatch(r"files/pagutils-.+\.whl", f))  # make dist's (test_dist.py)
            assert f"pagutils @ file:///autograder/source/{wheel}" in archive.read("environment.yml").decode()
            assert "git+" not in archive.read("environment.yml").decode()


def _grade(folder, name, built, out, *options):
    run = subprocess.run([sys.executable, str(FOLDER / "teaching.py"), "grade", str(folder), "-n", name, "--no-docker",
                          "-a", str(teaching.autograder_zip(name, built)), "-o", str(out), *options],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout, _grades(out / "final_grades.csv")


GRADINGS = 2  # assignments graded at once: a grading runs on one core


@pytest.fixture(scope="module")
def wrong_answer_gradings(built, request, tmp_path_factory):
    """name -> (the future of its grading of its wrong-answer fixtures, its output folder): every selected
    assignment, `GRADINGS` at a time."""
    selected = [item.callspec.params["name"] for item in request.session.items
                if getattr(item, "originalname", None) == "test_a_wrong_answer_loses_exactly_its_question"]
    with ThreadPoolExecutor(GRADINGS) as pool:
        gradings = {}
        for name in selected:
            folder = tmp_path_factory.mktemp(f"grade-{name}")
            fixtures = sorted(FIXTURES.glob(f"{name}.wrong-q*.ipynb"))
            gradings[name] = (pool.submit(_grade, _folder_of(fixtures, folder / "in"), name, built, folder / "out"),
                              folder / "out")
        yield gradings


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_a_wrong_answer_loses_exactly_its_question(name, wrong_answer_gradings):
    fixtures = sorted(FIXTURES.glob(f"{name}.wrong-q*.ipynb"))
    grading, out = wrong_answer_gradings[name]
    stdout, grades = grading.result()
    for path in fixtures:
        lost = path.name.split(".")[1].removeprefix("wrong-").split("-")
        expected = {q: 0 if q in lost else points for q, points in _graded_points(name).items()}
        row = grades[path.name]
        assert {q: float(row[q]) for q in expected} == expected and row["grading_status"] == "Completed", row
        summary = (out / "grading-summaries" / f"{path.stem}.txt").read_text()
        for q in lost:
            assert "AssertionError" in summary.split(f"{q} results:")[1].split(" results:")[0], summary
        assert f"{sum(expected.values()):g}/{sum(_graded_points(name).values()):g} points" in stdout


def _folder_of(files, folder):
    folder.mkdir(parents=True)
    for path in files:
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


@pytest.mark.slow
def test_bad_submissions_score_zero_with_a_message_and_never_stop_the_others(built, tmp_path):
    name, student = "ch01_pgd_step", built / "ch01_pgd_step" / "student" / "ch01_pgd_step.ipynb"
    folder = _folder_of([student], tmp_path / "in")
    (folder / "essay.ipynb").write_text("I did the homework in my head.")
    (folder / "empty.ipynb").write_bytes(b"")
    raising = nbformat.read(student, as_version=4)
    for cell in raising.cells:
        if cell.cell_type == "code":
            cell.source = "raise RuntimeError('nothing works')"
    nbformat.write(raising, folder / "raises.ipynb")
    other = built / "ch02_robust_gaussian" / "student" / "ch02_robust_gaussian.ipynb"
    (folder / "another.ipynb").write_bytes(other.read_bytes())
    stdout, grades = _grade(folder, name, built, tmp_path / "out")
    assert float(grades["points-per-question"]["total_points_earned"]) == 10
    for file in ("another.ipynb", "essay.ipynb", "empty.ipynb", "raises.ipynb", f"{name}.ipynb"):
        row = grades[file]
        assert all(float(row[q]) == 0 for q in ("q1", "q2", "q3", "total_points_earned")), row
    for file in ("raises.ipynb", f"{name}.ipynb"):  # raises.ipynb is graded after the two broken files
        assert grades[file]["grading_status"] == "Completed"
    for file in ("essay.ipynb", "empty.ipynb"):
        assert "Notebook does not appear to be JSON" in grades[file]["grading_status"]
        assert f"{file}: 0 points, not graded: otter could not grade {file}" in stdout
    assert ("Received submission for assignment 'ch02_robust_gaussian' (this is assignment 'ch01_pgd_step')"
            in grades["another.ipynb"]["grading_status"])
    summaries = tmp_path / "out" / "grading-summaries"
    assert "TypeError" in (summaries / "raises.txt").read_text()  # no function defined: each test says so
    assert "NotImplementedError: take one norm per example" in (summaries / f"{name}.txt").read_text()


@pytest.mark.slow
def test_a_submission_that_never_finishes_is_stopped_at_the_time_limit(built, tmp_path):
    name = "ch02_robust_gaussian"
    looping = nbformat.read(built / name / "student" / f"{name}.ipynb", as_version=4)
    looping.cells.insert(2, nbformat.v4.new_code_cell("while True:\n    pass"))
    folder = tmp_path / "in"
    folder.mkdir()
    nbformat.write(looping, folder / "loops.ipynb")
    _, grades = _grade(folder, name, built, tmp_path / "out", "--timeout", "10")
    assert float(grades["loops.ipynb"]["total_points_earned"]) == 0
    assert "ran past the time limit of 10 s and was stopped" in grades["loops.ipynb"]["grading_status"]
