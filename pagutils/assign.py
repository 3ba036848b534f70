"""Classroom assignments: one instructor notebook per assignment, a student edition, and an autograder.

An instructor notebook (`assignments/<name>.ipynb`) is the single source of an assignment. It holds

- the task, in markdown; every question starts with a markdown cell whose first line is a heading
  `## Question <n>: <title> (<points> points)`; the question's id is `q<n>`;
- solution cells: code between a `### BEGIN SOLUTION` and a `### END SOLUTION` line (cell tag `solution`);
  `### HINT: ...` lines inside the block become the hint of the student's stub;
- test cells tagged `visible-test` (the student sees and runs them) or `hidden-test` (only the grader runs
  them), each starting with `### TEST q<n> (<points> points): <what it checks>`. A question's points are the
  sum of its checks' points, and must equal the points its heading states. Checks are self-contained: they
  import what they need, build seeded random inputs and compare the student's functions with pagutils'
  reference implementations (`assert_close`, `substitute`, `tiny_classifier`, `random_images` below help).

From the sources, `python -m pagutils.assign` writes

- `build`: the student edition (every solution block replaced by `raise NotImplementedError(<hint>)`, hidden
  tests removed, visible tests locked) and the autograder edition (stubs and every test, no solutions);
- `pages`: the book's exercise pages (sphinx-exercise `exercise` and dropdown `solution` directives);
- `grade`: runs submitted notebooks, each in its own fresh kernel, and prints and writes (JSON, plus a CSV
  per folder) a score per question with the failing check's message;
- `student-config`: a copy of the book's `_config.yml` with solutions hidden (`make student-book`).

Grading executes the submission's own code cells (every cell but its test cells) in a new Jupyter kernel
in a temporary folder, then the instructor's checks, read from the instructor (or autograder) notebook,
never from the submission. Each check runs after a reseed (`reseed(seed)`), so a grade is reproducible.
Each question has a time limit shared by its checks; a check that runs past it is interrupted and scores
zero; a kernel that dies or will not stop is restarted and the submission's cells replayed, so one bad
question never costs the others. A file that is not a notebook scores zero with a message saying so.
"""
import argparse
import contextlib
import csv
import json
import logging
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .paths import project_root

BEGIN, END, HINT = "### BEGIN SOLUTION", "### END SOLUTION", "### HINT:"
TEST_HEADER = re.compile(r"^### TEST (q\d+) \((\d+(?:\.\d+)?) points?\)(?::\s*(.*?))?\s*$")
QUESTION_HEADING = re.compile(r"^##\s+Question\s+(\d+)\s*:\s*(.+?)\s*\((\d+(?:\.\d+)?) points?\)\s*$")
TEST_TAGS = ("visible-test", "hidden-test")
DEFAULT_HINT = "Replace this line with your code."
TIME_LIMIT = 60.0           # seconds for all checks of one question
CELL_TIME_LIMIT = 60.0      # seconds for one of the submission's own cells
SUBMISSION_TIME_LIMIT = 300.0  # seconds for all of the submission's own cells together
STARTUP_TIME_LIMIT = 300    # seconds for the kernel to start and import torch and pagutils


class AssignmentError(ValueError):
    """An instructor notebook that does not follow the format described in this module."""


class SubmissionError(ValueError):
    """A submission that cannot be graded at all (not a file, not a notebook)."""


@dataclass(frozen=True)
class Check:
    """One graded test cell: `points` for question `question` when `code` runs without raising."""
    question: str
    points: float
    title: str
    hidden: bool
    code: str
    cell_id: str


@dataclass(frozen=True)
class Assignment:
    """A parsed instructor (or autograder) notebook: its questions (id -> title, points) and checks, in order."""
    name: str
    path: Path
    title: str
    chapter: str
    questions: dict
    checks: tuple
    notebook: object = field(repr=False, compare=False)

    @property
    def points(self) -> float:
        return sum(q["points"] for q in self.questions.values())


# ---------------------------------------------------------------------------------------------------------------
# solution blocks


def _lines(source) -> list:
    return (source if isinstance(source, str) else "".join(source)).split("\n")


def solution_blocks(source: str) -> list:
    """(begin, end) line indices of every `### BEGIN SOLUTION` ... `### END SOLUTION` block of a cell's source."""
    blocks, begin = [], None
    for i, line in enumerate(_lines(source)):
        stripped = line.strip()
        if stripped == BEGIN:
            if begin is not None:
                raise AssignmentError(f"line {i + 1}: {BEGIN} inside another solution block")
            begin = i
        elif stripped == END:
            if begin is None:
                raise AssignmentError(f"line {i + 1}: {END} without a {BEGIN}")
            blocks.append((begin, i))
            begin = None
    if begin is not None:
        raise AssignmentError(f"line {begin + 1}: {BEGIN} without an {END}")
    return blocks


def _replace_blocks(source: str, replacement) -> str:
    """`source` with every solution block replaced by `replacement(indent, block_lines)` (a list of lines)."""
    lines, out, last = _lines(source), [], 0
    for begin, end in solution_blocks(source):
        indent = lines[begin][:len(lines[begin]) - len(lines[begin].lstrip())]
        out += lines[last:begin] + replacement(indent, lines[begin + 1:end])
        last = end + 1
    return "\n".join(out + lines[last:])


def _hint(block_lines) -> str:
    hints = [line.strip()[len(HINT):].strip() for line in block_lines if line.strip().startswith(HINT)]
    return " ".join(hints) or DEFAULT_HINT


def stub(source: str) -> str:
    """The student's version of a solution cell: each block becomes `raise NotImplementedError(<its hint>)`."""
    return _replace_blocks(source, lambda indent, block: [f"{indent}# YOUR CODE HERE",
                                                          f"{indent}raise NotImplementedError({_hint(block)!r})"])


def fill(source: str, code: str) -> str:
    """`source` (a cell with one solution block) with that block replaced by `code` (re-indented to the block's)."""
    if len(solution_blocks(source)) != 1:
        raise AssignmentError(f"fill needs a cell with exactly one solution block, got {len(solution_blocks(source))}")
    body = _lines(code.strip("\n"))
    return _replace_blocks(source, lambda indent, _: [indent + line if line.strip() else "" for line in body])


def solution_code(source: str) -> str:
    """A solution cell as the book shows it: the marker and hint lines removed, the solution kept."""
    return _replace_blocks(source, lambda indent, block: [line for line in block if not line.strip().startswith(HINT)])


# ---------------------------------------------------------------------------------------------------------------
# reading instructor notebooks


def _nbformat():
    import nbformat
    return nbformat


def _tags(cell) -> list:
    return list(cell.get("metadata", {}).get("tags", []))


def _first_line(source: str) -> str:
    return next((line.strip() for line in _lines(source) if line.strip()), "")


def _number(text: str) -> float:
    value = float(text)
    return int(value) if value.is_integer() else value


def _parse_check(cell, name) -> Check:
    where = f"{name}: cell {cell.get('id', '?')}"
    tags = [t for t in _tags(cell) if t in TEST_TAGS]
    header = TEST_HEADER.match(_first_line(cell.source))
    if len(tags) != 1:
        raise AssignmentError(f"{where}: a test cell needs exactly one of the tags {TEST_TAGS}, has {_tags(cell)}")
    if header is None:
        raise AssignmentError(f"{where}: a test cell must start with '### TEST q<n> (<points> points): <what>', "
                              f"got {_first_line(cell.source)!r}")
    question, points, title = header.groups()
    if float(points) <= 0:
        raise AssignmentError(f"{where}: a check must be worth more than 0 points")
    return Check(question, _number(points), title or question, tags[0] == "hidden-test", cell.source,
                 cell.get("id", ""))


def _is_test(cell) -> bool:
    return cell.cell_type == "code" and (any(t in TEST_TAGS for t in _tags(cell))
                                         or _first_line(cell.source).startswith("### TEST"))


def load(path) -> Assignment:
    """Parse and check an instructor (or autograder) notebook; AssignmentError names what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise AssignmentError(f"no assignment notebook at {path}")
    nb = _nbformat().read(path, as_version=4)
    meta = nb.metadata.get("assign", {})
    name = meta.get("name", path.stem)
    if name != path.stem:
        raise AssignmentError(f"{path.name}: metadata assign.name is {name!r}, must be the file's name {path.stem!r}")
    questions, checks = {}, []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            heading = QUESTION_HEADING.match(_first_line(cell.source))
            if heading:
                number, title, points = heading.groups()
                qid = f"q{int(number)}"
                if qid in questions:
                    raise AssignmentError(f"{name}: two headings for Question {number}")
                questions[qid] = dict(title=title, points=_number(points))
        elif _is_test(cell):
            checks.append(_parse_check(cell, name))
        elif cell.cell_type == "code":
            try:
                blocks = solution_blocks(cell.source)
            except AssignmentError as error:
                raise AssignmentError(f"{name}: cell {cell.get('id', '?')}: {error}") from None
            if "solution" in _tags(cell) and not blocks and meta.get("edition") != "autograder":
                raise AssignmentError(f"{name}: cell {cell.get('id', '?')} is tagged 'solution' "
                                      f"but has no {BEGIN} block")
    if not questions:
        raise AssignmentError(f"{name}: no question headings ('## Question 1: <title> (<points> points)')")
    for qid, question in questions.items():
        total = sum(c.points for c in checks if c.question == qid)
        if not any(c.question == qid for c in checks):
            raise AssignmentError(f"{name}: {qid} has no test cells")
        if not math.isclose(total, question["points"]):
            raise AssignmentError(f"{name}: {qid}'s heading says {question['points']} points, "
                                  f"its checks add up to {total}")
    unknown = sorted({c.question for c in checks} - set(questions))
    if unknown:
        raise AssignmentError(f"{name}: test cells for questions without a heading: {unknown}")
    title = next((_first_line(c.source).lstrip("#").strip() for c in nb.cells
                  if c.cell_type == "markdown" and _first_line(c.source).startswith("# ")), name)
    return Assignment(name, path, meta.get("title", title), meta.get("chapter", ""), questions, tuple(checks), nb)


def source_dir() -> Path:
    """The folder of the instructor notebooks: `assignments/` in the project."""
    return project_root() / "assignments"


def load_all(folder=None) -> dict:
    """Every assignment of `folder` (default: `source_dir()`), by name."""
    folder = Path(folder) if folder is not None else source_dir()
    if not folder.is_dir():
        raise AssignmentError(f"no assignments folder at {folder}")
    return {a.name: a for a in map(load, sorted(folder.glob("*.ipynb")))}


# ---------------------------------------------------------------------------------------------------------------
# editions


def _edition(assignment: Assignment, edition: str, keep_hidden: bool):
    nb = _nbformat().from_dict(json.loads(json.dumps(assignment.notebook)))
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            if "hidden-test" in _tags(cell) and not keep_hidden:
                continue
            cell.outputs, cell.execution_count = [], None
            if solution_blocks(cell.source):
                cell.source = stub(cell.source)
            if _is_test(cell):
                cell.metadata.update(editable=False, deletable=False)
        cells.append(cell)
    nb.cells = cells
    nb.metadata["assign"] = {**nb.metadata.get("assign", {}), "name": assignment.name, "edition": edition}
    return nb


def student_edition(assignment: Assignment):
    """The notebook handed out: solutions replaced by stubs, hidden tests removed, visible tests locked."""
    return _edition(assignment, "student", keep_hidden=False)


def autograder_edition(assignment: Assignment):
    """Everything the grader needs and no solutions: stubs, visible and hidden tests."""
    return _edition(assignment, "autograder", keep_hidden=True)


def build(folder=None, out=None) -> list:
    """Write `out/student/<name>.ipynb` and `out/autograder/<name>.ipynb` for every assignment; the paths."""
    out = Path(out) if out is not None else project_root() / "_build" / "assignments"
    written = []
    for name, assignment in load_all(folder).items():
        for edition, nb in (("student", student_edition(assignment)), ("autograder", autograder_edition(assignment))):
            path = out / edition / f"{name}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            _nbformat().write(nb, path)
            written.append(path)
    return written


# ---------------------------------------------------------------------------------------------------------------
# book pages


def _markdown_body(source: str) -> str:
    lines = _lines(source)
    return "\n".join(lines[1:] if lines and (lines[0].startswith("# ") or QUESTION_HEADING.match(lines[0])) else lines
                     ).strip("\n")


def _sections(nb):
    """(question id or None for the introduction, cells) in order; sections under other `##` headings are dropped."""
    sections, current = [(None, [])], None
    for cell in nb.cells:
        first = _first_line(cell.source)
        if cell.cell_type == "markdown" and first.startswith("## "):
            heading = QUESTION_HEADING.match(first)
            current = f"q{int(heading.group(1))}" if heading else "skip"
            sections.append((current, []))
        sections[-1][1].append(cell)
    return [(qid, cells) for qid, cells in sections if qid != "skip"]


def _code_block(code: str) -> str:
    return f"```python\n{code.strip()}\n```"


def exercise_page(assignment: Assignment) -> str:
    """The book page of an assignment: its introduction, one `exercise` per question (the task and the starter
    code) and its `solution` in a dropdown (hidden altogether in the student edition of the book)."""
    out = [f"# Exercises: {assignment.title}", "",
           f"% Generated from assignments/{assignment.name}.ipynb by `python -m pagutils.assign pages`.", ""]
    if assignment.chapter:
        out += [f"These exercises go with {{doc}}`../{assignment.chapter}`. They are the questions of the classroom "
                f"assignment `{assignment.name}` ({{doc}}`../teacher` says how to hand it out and grade it).", ""]
    for qid, cells in _sections(assignment.notebook):
        text = [_markdown_body(c.source) for c in cells if c.cell_type == "markdown"]
        starters = [c.source for c in cells if c.cell_type == "code" and not _is_test(c)]
        if qid is None:
            out += [t for t in text if t] + [""]
            continue
        question, label = assignment.questions[qid], f"{assignment.name}-{qid}"
        unit = "point" if question["points"] == 1 else "points"
        out += [f"::::{{exercise}} {question['title']}: {question['points']} {unit}", f":label: {label}", ""]
        out += [t + "\n" for t in text if t]
        out += [_code_block(stub(s)) + "\n" for s in starters]
        out += ["::::", "", f"::::{{solution}} {label}", ":class: dropdown", ""]
        out += [_code_block(solution_code(s)) + "\n" for s in starters if solution_blocks(s)]
        out += ["::::", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def write_pages(folder=None, out=None) -> list:
    """Write `out/<name>.md` (default `book/exercises/`) for every assignment; the paths."""
    out = Path(out) if out is not None else project_root() / "book" / "exercises"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, assignment in load_all(folder).items():
        path = out / f"{name}.md"
        path.write_text(exercise_page(assignment))
        written.append(path)
    return written


def student_config(config=None, out=None) -> Path:
    """Write a copy of the book's `_config.yml` that hides every solution (sphinx-exercise's `hide_solutions`),
    reuses the main build's execution cache and names local extensions by absolute path (jupyter-book reads
    them relative to the config file); the path written (default `_build/student_config.yml`)."""
    import yaml
    root = project_root()
    config = Path(config) if config is not None else root / "_config.yml"
    out = Path(out) if out is not None else root / "_build" / "student_config.yml"
    settings = yaml.safe_load(config.read_text())
    settings["title"] = f"{settings.get('title', '')} (student edition)".strip()
    settings.setdefault("sphinx", {}).setdefault("config", {})["hide_solutions"] = True
    settings.setdefault("execute", {}).setdefault("cache", str(root / "_build" / ".jupyter_cache"))
    extensions = settings["sphinx"].get("local_extensions") or {}
    for name, folder in extensions.items():  # jupyter-book resolves these next to the config file
        extensions[name] = str((config.parent / folder).resolve())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(settings, sort_keys=False))
    return out


# ---------------------------------------------------------------------------------------------------------------
# helpers for the checks (imported inside the kernel that runs a submission)


def reseed(seed: int = 0):
    """Seed Python's, NumPy's and torch's global generators (the grader does this before every check)."""
    import numpy
    import torch
    random.seed(seed)
    numpy.random.seed(seed)
    torch.manual_seed(seed)


@contextlib.contextmanager
def substitute(namespace: dict, **objects):
    """Inside the block, `namespace` (a check's `globals()`) maps the given names to `objects`; afterwards the
    student's own definitions are back. A check of one question substitutes the reference for the functions of
    other questions that the student's function calls, so a mistake costs only the question it is in."""
    if not isinstance(namespace, dict):
        raise TypeError(f"namespace must be a dict such as globals(), got {type(namespace).__name__}")
    missing, saved = object(), {}
    for name, value in objects.items():
        saved[name] = namespace.get(name, missing)
        namespace[name] = value
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is missing:
                namespace.pop(name, None)
            else:
                namespace[name] = value


def assert_close(actual, expected, what: str, atol: float = 1e-5, rtol: float = 1e-4):
    """AssertionError naming `what` unless `actual` is a tensor of `expected`'s shape with close values."""
    import torch
    expected = torch.as_tensor(expected)
    if expected.dim() == 0 and not isinstance(actual, (torch.Tensor, bool)):
        try:
            actual = torch.as_tensor(float(actual))  # a number where the reference is a number
        except (TypeError, ValueError):
            raise AssertionError(f"{what} must be a number, got {type(actual).__name__}") from None
    if not isinstance(actual, torch.Tensor):
        raise AssertionError(f"{what} must be a torch.Tensor, got {type(actual).__name__}")
    if tuple(actual.shape) != tuple(expected.shape):
        raise AssertionError(f"{what} must have shape {tuple(expected.shape)}, got {tuple(actual.shape)}")
    a, e = actual.detach().double().cpu(), expected.detach().double().cpu()
    if torch.isnan(a).any() and not torch.isnan(e).any():
        raise AssertionError(f"{what} contains NaN")
    if not torch.allclose(a, e, atol=atol, rtol=rtol, equal_nan=True):
        worst = (a - e).abs().nan_to_num(nan=math.inf).max().item()
        raise AssertionError(f"{what} differs from the reference by up to {worst:.3g} "
                             f"(tolerance {atol:g} + {rtol:g} * |reference|)")


def random_images(n: int, shape=(1, 8, 8), seed: int = 0):
    """`n` seeded random images in [0, 1] of `shape`: a (n, *shape) float tensor."""
    import torch
    return torch.rand((n, *shape), generator=torch.Generator().manual_seed(seed))


def tiny_classifier(in_shape=(1, 8, 8), num_classes: int = 4, width: int = 16, seed: int = 0):
    """A small smooth classifier (flatten, linear, tanh, linear) with seeded weights, in eval mode."""
    import torch
    from torch import nn
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(in_shape), width), nn.Tanh(),
                              nn.Linear(width, num_classes))
    return model.eval()


# ---------------------------------------------------------------------------------------------------------------
# running a submission


_QUIET = logging.getLogger("pagutils.assign.kernel")  # nbclient's own messages; the report says what happened
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_TIMEOUT_NAME = "TimeLimitExceeded"


class _Kernel:
    """A Jupyter kernel in `cwd` with `env` that runs code with a time limit: `run(code, limit)` -> outcome dict
    (status 'ok' | 'error' | 'timeout' | 'died', message, detail, seconds)."""

    def __init__(self, env: dict, cwd: str):
        self.env, self.cwd, self.client = env, cwd, None

    def start(self):
        from nbclient import NotebookClient
        self.nb = _nbformat().v4.new_notebook()
        self.client = NotebookClient(self.nb, kernel_name="python3", allow_errors=True, interrupt_on_timeout=True,
                                     log=_QUIET,
                                     error_on_timeout={"ename": _TIMEOUT_NAME, "evalue": "", "traceback": []},
                                     iopub_timeout=2, startup_timeout=STARTUP_TIME_LIMIT, record_timing=False,
                                     shutdown_kernel="immediate")
        self.client.km = self.client.create_kernel_manager()
        self.client.start_new_kernel(cwd=self.cwd, env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.client.start_new_kernel_client()

    def stop(self):
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client._cleanup_kernel()
            self.client = None

    def restart(self):
        self.stop()
        self.start()

    def run(self, code: str, limit: float) -> dict:
        from nbclient.exceptions import DeadKernelError
        cell = _nbformat().v4.new_code_cell(code)
        self.nb.cells.append(cell)
        reply = {}
        self.client.timeout = max(1, math.ceil(limit))
        self.client.on_cell_executed = lambda **kw: reply.update((kw.get("execute_reply") or {}).get("content", {}))
        start = time.monotonic()
        try:
            self.client.execute_cell(cell, len(self.nb.cells) - 1)
        except DeadKernelError:
            return dict(status="died", message="the kernel died (the code crashed or exited the Python process)",
                        detail="", seconds=time.monotonic() - start)
        except Exception as error:  # the kernel's messaging broke down: treat it as dead
            return dict(status="died", message=f"the kernel stopped answering ({type(error).__name__}: {error})",
                        detail="", seconds=time.monotonic() - start)
        seconds = time.monotonic() - start
        if reply.get("ename") == _TIMEOUT_NAME:
            return dict(status="timeout", message=f"ran past the time limit ({limit:.0f} s) and was interrupted",
                        detail="", seconds=seconds)
        if reply.get("status", "ok") != "error":
            return dict(status="ok", message="", detail="", seconds=seconds)
        traceback = _ANSI.sub("", "\n".join(reply.get("traceback", [])))
        message = f"{reply.get('ename', 'Error')}: {reply.get('evalue', '')}".rstrip(": ")
        if not reply.get("evalue"):  # a bare assert: name the line that failed
            failing = [line.strip() for line in traceback.split("\n") if line.strip().startswith("---->")]
            if failing:
                message += f" at {failing[-1].lstrip('-> ').strip()}"
        return dict(status="error", message=message, detail="\n".join(traceback.split("\n")[-8:]), seconds=seconds)

    def responsive(self) -> bool:
        """Whether the kernel is idle again (a timed-out cell stopped when interrupted)."""
        return self.run("pass", 3)["status"] == "ok"


def _kernel_env(workdir: Path) -> dict:
    env = dict(os.environ, PAG_CACHE_DIR=str(workdir / "cache"), PAG_RESULTS_DIR=str(workdir / "results"),
               PAG_PROGRESS="0", PAG_DEVICE="cpu", MPLBACKEND="Agg", PYTHONHASHSEED="0")
    env.setdefault("OMP_NUM_THREADS", "1")
    env.pop("JPY_PARENT_PID", None)
    return env


PREAMBLE = "import numpy, torch\nimport pagutils, pagutils.assign\npagutils.assign.reseed({seed})"
RESEED = "import pagutils.assign as _pagutils_assign\n_pagutils_assign.reseed({seed})\ndel _pagutils_assign"


def read_submission(path):
    """The submitted notebook at `path`; SubmissionError when it is not a readable Jupyter notebook."""
    path = Path(path)
    if not path.is_file():
        raise SubmissionError(f"{path} is not a file")
    try:
        nb = _nbformat().read(path, as_version=4)
    except Exception as error:
        raise SubmissionError(f"{path.name} is not a Jupyter notebook ({type(error).__name__}: "
                              f"{str(error).splitlines()[0] if str(error) else ''})") from None
    if not isinstance(nb.get("cells"), list):
        raise SubmissionError(f"{path.name} is not a Jupyter notebook (it has no list of cells)")
    return nb


def _student_cells(nb) -> list:
    """The submission's own code: every code cell except its test cells (the grader runs the instructor's)."""
    return [c.source for c in nb.cells if c.get("cell_type") == "code" and isinstance(c.get("source"), str)
            and c.source.strip() and not _is_test(c)]


def _result(submission, assignment: Assignment, message: str) -> dict:
    checks = [dict(question=c.question, title=c.title, points=c.points, hidden=c.hidden, passed=False, score=0,
                   message=message, seconds=0.0) for c in assignment.checks]
    return dict(submission=str(submission), assignment=assignment.name, score=0, max_score=assignment.points,
                questions={}, checks=checks, notes=[], seconds=0.0)


def _summarise(result: dict, assignment: Assignment) -> dict:
    questions = {}
    for qid, question in assignment.questions.items():
        checks = [c for c in result["checks"] if c["question"] == qid]
        failed = [c for c in checks if not c["passed"]]
        questions[qid] = dict(title=question["title"], score=_number(str(sum(c["score"] for c in checks))),
                              max=question["points"],
                              message=f"{failed[0]['title']}: {failed[0]['message']}" if failed else "")
    result["questions"] = questions
    result["score"] = _number(str(sum(q["score"] for q in questions.values())))
    return result


def grade(submission, assignment: Assignment, time_limit: float = TIME_LIMIT, cell_time_limit: float = CELL_TIME_LIMIT,
          seed: int = 0) -> dict:
    """Grade one submitted notebook against `assignment`'s checks (from the instructor source, never the submission).

    Runs the submission's code cells, then every check after `reseed(seed)`, in a fresh kernel in a temporary
    folder. `time_limit` (seconds) is shared by the checks of each question, `cell_time_limit` bounds each of
    the submission's own cells. Never raises for a bad submission: returns dict(submission, assignment, score,
    max_score, questions={q: dict(title, score, max, message)}, checks=[...], notes=[...], seconds).
    """
    if not isinstance(assignment, Assignment):
        raise TypeError(f"assignment must be an Assignment (from pagutils.assign.load), "
                        f"got {type(assignment).__name__}")
    if not time_limit > 0 or not cell_time_limit > 0:
        raise ValueError(f"time limits must be > 0 seconds, got {time_limit!r} and {cell_time_limit!r}")
    start = time.monotonic()
    try:
        cells = _student_cells(read_submission(submission))
    except Exception as error:  # not a notebook, or one too malformed to read its cells
        message = str(error) if isinstance(error, SubmissionError) else \
            f"{Path(submission).name} is not a readable Jupyter notebook ({type(error).__name__}: {error})"
        result = _result(submission, assignment, message)
        result["notes"].append(message)
        return _summarise(result, assignment)
    result = _result(submission, assignment, "not run")
    with tempfile.TemporaryDirectory(prefix="pagutils-grade-", ignore_cleanup_errors=True) as folder:
        kernel = _Kernel(_kernel_env(Path(folder)), folder)
        try:
            _run_submission(kernel, cells, assignment, result, time_limit, cell_time_limit, seed)
        except Exception as error:  # the grader itself could not run (e.g. no kernel): say so, grade zero
            note = f"the grader could not run the notebook: {type(error).__name__}: {error}"
            result["notes"].append(note)
            for check in result["checks"]:
                if check["message"] == "not run":
                    check["message"] = note
        finally:
            kernel.stop()
    result["seconds"] = round(time.monotonic() - start, 2)
    return _summarise(result, assignment)


def _run_submission(kernel, cells, assignment, result, time_limit, cell_time_limit, seed):
    preamble = PREAMBLE.format(seed=seed)

    def restart(replay):
        kernel.restart()
        if kernel.run(preamble, STARTUP_TIME_LIMIT)["status"] != "ok":
            raise RuntimeError("the kernel could not import torch and pagutils")
        for code in replay:
            kernel.run(code, cell_time_limit)

    kernel.start()
    outcome = kernel.run(preamble, STARTUP_TIME_LIMIT)
    if outcome["status"] != "ok":
        raise RuntimeError(f"the kernel could not import torch and pagutils ({outcome['message']})")
    replay, budget = [], SUBMISSION_TIME_LIMIT
    for number, code in enumerate(cells, 1):
        if budget <= 0:
            result["notes"].append(f"code cell {number} and later were not run: the submission's cells used up "
                                   f"their {SUBMISSION_TIME_LIMIT:.0f} s")
            break
        outcome = kernel.run(code, min(cell_time_limit, budget))
        budget -= outcome["seconds"]
        where = f"code cell {number} ({_first_line(code)[:40]!r})"
        if outcome["status"] == "timeout":
            outcome["message"] = f"ran past the time limit of {cell_time_limit:.0f} s per cell and was interrupted"
        if outcome["status"] != "ok":
            result["notes"].append(f"{where}: {outcome['message']}")
        if outcome["status"] in ("ok", "error"):
            replay.append(code)
        elif outcome["status"] == "died" or not kernel.responsive():
            if outcome["status"] == "timeout":
                result["notes"].append(f"{where} did not stop when interrupted: the kernel was restarted")
            restart(replay)
    remaining, crashed = {qid: float(time_limit) for qid in assignment.questions}, set()
    for check, record in zip(assignment.checks, result["checks"]):
        if check.question in crashed:
            record["message"] = "not run: an earlier check of this question crashed the kernel"
            continue
        if remaining[check.question] <= 0:
            record["message"] = f"not run: the question's time limit of {time_limit:.0f} s was used up"
            continue
        kernel.run(RESEED.format(seed=seed), 30)
        outcome = kernel.run(check.code, remaining[check.question])
        remaining[check.question] -= outcome["seconds"]
        if outcome["status"] == "timeout":
            outcome["message"] = f"ran past the question's time limit of {time_limit:.0f} s and was interrupted"
        record.update(passed=outcome["status"] == "ok", score=check.points if outcome["status"] == "ok" else 0,
                      message=outcome["message"], seconds=round(outcome["seconds"], 3))
        if outcome["detail"]:
            record["detail"] = outcome["detail"]
        if outcome["status"] == "died":
            crashed.add(check.question)
        if outcome["status"] == "died" or (outcome["status"] == "timeout" and not kernel.responsive()):
            restart(replay)


# ---------------------------------------------------------------------------------------------------------------
# grading folders, reports, command line


def _assignment_of(path: Path, assignments: dict, chosen):
    if chosen is not None:
        return assignments[chosen]
    with contextlib.suppress(Exception):
        name = json.loads(path.read_text()).get("metadata", {}).get("assign", {}).get("name")
        if name in assignments:
            return assignments[name]
    matches = [a for name, a in assignments.items() if name in path.name]
    if len(matches) == 1 or len(assignments) == 1:
        return (matches or list(assignments.values()))[0]
    return None


def submissions_in(paths) -> list:
    """The files to grade: each file given, and every file (not hidden, not a checkpoint) in each folder given."""
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and not any(
                part.startswith(".") for part in p.relative_to(path).parts))
        else:
            files.append(path)
    return files


def format_result(result: dict) -> str:
    """A few lines for the terminal: the submission's total, then every question's score and failing check."""
    lines = [f"{result['submission']}  [{result['assignment']}]  {result['score']}/{result['max_score']} points"
             f"  ({result['seconds']:.1f} s)"]
    for qid, q in result["questions"].items():
        lines.append(f"  {qid} {q['title'][:40]:<40} {q['score']:>4}/{q['max']:<4} {q['message'][:160]}".rstrip())
    lines += [f"  note: {note[:200]}" for note in result["notes"]]
    return "\n".join(lines)


def grade_paths(paths, assignment=None, folder=None, out=None, time_limit=TIME_LIMIT,
                cell_time_limit=CELL_TIME_LIMIT, seed=0, echo=print) -> list:
    """Grade every submission in `paths` (files or folders); write `out/<file>.json` and `out/grades.csv`.

    The assignment is `assignment` (a name) when given, else the one named in the notebook's metadata or
    file name. Returns the result dicts (see `grade`).
    """
    assignments = load_all(folder)
    if assignment is not None and assignment not in assignments:
        raise ValueError(f"assignment must be one of {sorted(assignments)}, got {assignment!r}")
    out = Path(out) if out is not None else project_root() / "_build" / "grades"
    out.mkdir(parents=True, exist_ok=True)
    results, names = [], set()
    for path in submissions_in(paths):
        target = _assignment_of(path, assignments, assignment)
        if target is None:
            result = dict(submission=str(path), assignment=None, score=0, max_score=0, questions={}, checks=[],
                          notes=[f"cannot tell which assignment {path.name} is for: name it with --assignment "
                                 f"(one of {sorted(assignments)})"], seconds=0.0)
        else:
            try:
                result = grade(path, target, time_limit, cell_time_limit, seed)
            except Exception as error:  # never let one submission stop the grading of the others
                result = _summarise(_result(path, target, f"the grader failed: {type(error).__name__}: {error}"),
                                    target)
                result["notes"].append(result["checks"][0]["message"] if result["checks"] else str(error))
        stem = path.stem
        while stem in names:
            stem += "_"
        names.add(stem)
        (out / f"{stem}.json").write_text(json.dumps(result, indent=1))
        echo(format_result(result) if target is not None else f"{path}: {result['notes'][0]}")
        results.append(result)
    _write_csv(results, out / "grades.csv")
    return results


def _write_csv(results, path):
    questions = sorted({q for r in results for q in r["questions"]}, key=lambda q: int(q[1:]))
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["submission", "assignment", "score", "max_score", *questions, "seconds"])
        for r in results:
            writer.writerow([r["submission"], r["assignment"], r["score"], r["max_score"],
                             *[r["questions"].get(q, {}).get("score", "") for q in questions], r["seconds"]])


def describe(assignments: dict) -> str:
    """A table of the assignments, their questions and points, and how many checks are hidden."""
    lines = []
    for name, a in assignments.items():
        lines.append(f"{name}  ({a.chapter or 'no chapter'}): {a.title}, {a.points} points")
        for qid, q in a.questions.items():
            checks = [c for c in a.checks if c.question == qid]
            lines.append(f"  {qid}  {q['title']:<48} {q['points']:>3} points  "
                         f"{len(checks)} checks ({sum(c.hidden for c in checks)} hidden)")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pagutils.assign", description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default=None, help="folder of instructor notebooks (default: assignments/)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the assignments, their questions and points")
    b = commands.add_parser("build", help="write the student and autograder editions")
    b.add_argument("--out", default=None, help="output folder (default: _build/assignments)")
    p = commands.add_parser("pages", help="write the book's exercise pages")
    p.add_argument("--out", default=None, help="output folder (default: book/exercises)")
    s = commands.add_parser("student-config", help="write a _config.yml for the student edition of the book")
    s.add_argument("--out", default=None, help="where to write it (default: _build/student_config.yml)")
    g = commands.add_parser("grade", help="grade submitted notebooks (files or folders)")
    g.add_argument("submissions", nargs="+")
    g.add_argument("--assignment", default=None, help="the assignment (default: from each notebook's metadata or name)")
    g.add_argument("--out", default=None, help="where the JSON reports and grades.csv go (default: _build/grades)")
    g.add_argument("--time-limit", type=float, default=TIME_LIMIT, help="seconds for each question's checks")
    g.add_argument("--cell-time-limit", type=float, default=CELL_TIME_LIMIT,
                   help="seconds for each of the submission's own cells")
    g.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            print(describe(load_all(args.source)))
        elif args.command == "build":
            for path in build(args.source, args.out):
                print(f"wrote {path}")
        elif args.command == "pages":
            for path in write_pages(args.source, args.out):
                print(f"wrote {path}")
        elif args.command == "student-config":
            print(f"wrote {student_config(out=args.out)}")
        else:
            files = submissions_in(args.submissions)
            if not files:
                raise ValueError(f"no submissions found in {args.submissions}")
            results = grade_paths(files, args.assignment, args.source, args.out, args.time_limit,
                                  args.cell_time_limit, args.seed)
            out = args.out or project_root() / "_build" / "grades"
            print(f"graded {len(results)} submission(s); reports in {out}")
    except (AssignmentError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
