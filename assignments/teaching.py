"""What the course needs around otter-grader: book pages, the student book, and grading without Docker.

Every assignment is one Otter Assign master notebook, `assignments/<name>.ipynb` (format v1: question,
solution and test blocks in raw cells). `otter assign` writes its student notebook, its solutions and its
autograder zip. This script runs it on every master notebook and adds what otter-grader does not do:

    python assignments/teaching.py dist              # the pagutils wheel, built from the checkout (make dist)
    python assignments/teaching.py build [NAME...]   # otter assign each master into _build/assignments/<name>
    python assignments/teaching.py pages             # book/exercises/<name>.md from the master notebooks
    python assignments/teaching.py student-config    # _build/student_config.yml (`make student-book`)
    python assignments/teaching.py grade SUBMISSIONS... --assignment NAME [--out DIR] [--no-docker]

`grade` is one command for a folder of submissions: it runs `otter grade` (every submission in its own
Docker container) where a Docker daemon answers, and otherwise `otter run` on each submission in turn
(otter-grader 7 grades without containers one submission at a time). Either way it writes otter's
`final_grades.csv` (a score per question) and `grading-summaries/` (every test's message); a submission
that cannot be graded scores zero with otter's message and never stops the others.

Every autograder zip carries a `pagutils` wheel built from the checkout (`dist`) and installs pagutils from it,
so grading never depends on a public repository of the course and grades with the checkout's pagutils.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BUILD = ROOT / "_build" / "assignments"
DIST = ROOT / "_build" / "dist"
WHEEL_FOLDER = "requirements.wheel"  # see add_wheel
TIMEOUT = 300  # seconds for one submission, from starting its kernel to its last test


def _otter() -> list:
    """The otter command of this Python (its venv's otter-grader)."""
    return [sys.executable, "-m", "otter"]


# ---------------------------------------------------------------------------------------------------------------
# reading master notebooks


def masters(folder=HERE) -> dict:
    """Every master notebook of `folder`, by assignment name (the file's stem)."""
    return {path.stem: path for path in sorted(Path(folder).glob("*.ipynb"))}


def _source(cell) -> str:
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


def _test_config(source: str) -> dict:
    """The TEST CONFIG block of an exception-based test cell (points, hidden), read with otter's own patterns."""
    import yaml
    from otter.assign.tests_manager import BEGIN_TEST_CONFIG_REGEX, END_TEST_CONFIG_REGEX
    lines = source.split("\n")
    if not re.match(BEGIN_TEST_CONFIG_REGEX, lines[0], flags=re.IGNORECASE):
        return {}
    end = next(i for i, line in enumerate(lines) if re.match(END_TEST_CONFIG_REGEX, line, flags=re.IGNORECASE))
    return yaml.safe_load("\n".join(lines[1:end])) or {}


def read_master(path) -> dict:
    """A master notebook as dict(name, title, chapter, intro=[markdown], questions=[dict(name, title, points,
    manual, prompt=[markdown], solutions=[code], rubric=[markdown], tests=[dict(points, hidden, source)])]).

    Blocks are found with otter's own functions; a question's points are the sum of its tests' points,
    as otter counts them, or, for a question graded by hand (`manual: true`, a written answer), the `points` of
    its BEGIN QUESTION block, and its rubric is the markdown of its solution block. Sections of the introduction
    under a `##` heading (how it is graded) are left out.
    """
    import nbformat
    from otter.assign.blocks import BlockType, get_cell_config, is_assignment_config_cell, is_block_boundary_cell
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    intro, questions, block, skip = [], [], None, False
    for cell in nb.cells:
        begin = {t for t in BlockType if is_block_boundary_cell(cell, t)}
        end = {t for t in BlockType if is_block_boundary_cell(cell, t, end=True)}
        if is_assignment_config_cell(cell):
            continue
        if BlockType.QUESTION in begin:
            config = get_cell_config(cell)
            questions.append(dict(name=config["name"], manual=bool(config.get("manual")), prompt=[], solutions=[],
                                  rubric=[], tests=[], stated_points=config.get("points") or 0))
            block = BlockType.PROMPT
        elif begin:
            block = begin.pop()
        elif BlockType.QUESTION in end:
            block = None
        elif end:
            block = BlockType.PROMPT
        elif block is None and not questions and cell.cell_type == "markdown":
            heading = _source(cell).split(" ")[0]
            skip = heading == "##" or (skip and heading != "#")  # a `##` section lasts until the next `#` heading
            if not skip:
                intro.append(_source(cell))
        elif block is BlockType.PROMPT and cell.cell_type == "markdown":
            questions[-1]["prompt"].append(_source(cell))
        elif block is BlockType.SOLUTION and cell.cell_type == "code":
            questions[-1]["solutions"].append(_source(cell))
        elif block is BlockType.SOLUTION and cell.cell_type == "markdown":
            questions[-1]["rubric"].append(_source(cell))
        elif block is BlockType.TESTS and cell.cell_type == "code":
            config = _test_config(_source(cell))
            questions[-1]["tests"].append(dict(points=config.get("points", 0), hidden=bool(config.get("hidden")),
                                               source=_source(cell)))
    for question in questions:
        heading = question["prompt"][0].split("\n")[0] if question["prompt"] else ""
        match = re.match(r"^##\s+Question\s+\d+\s*:\s*(.+?)\s*$", heading)
        if match is None:
            raise ValueError(f"{path.name}: question {question['name']}'s prompt must start with "
                             f"'## Question <n>: <title>', got {heading!r}")
        question["title"] = match.group(1)
        question["prompt"][0] = question["prompt"][0].partition("\n")[2].strip("\n")
        stated = question.pop("stated_points")
        points = stated if question["manual"] else sum(t["points"] for t in question["tests"])
        question["points"] = int(points) if float(points).is_integer() else points
    heading = intro[0].split("\n")[0] if intro else ""
    title = re.sub(r"^#\s+(Assignment\s*\([^)]*\)\s*:\s*)?", "", heading).strip() or path.stem
    if intro:
        intro[0] = intro[0].partition("\n")[2].strip("\n")
    return dict(name=path.stem, title=title, chapter=chapter_of(path.stem), intro=[t for t in intro if t],
                questions=questions)


def chapter_of(name: str) -> str:
    """The book chapter an assignment belongs to: the one notebook `book/chNN_*.ipynb` of its `chNN_` prefix."""
    prefix = re.match(r"^(ch\d+)_", name)
    found = sorted((ROOT / "book").glob(f"{prefix.group(1)}_*.ipynb")) if prefix else []
    if len(found) != 1:
        raise ValueError(f"assignment {name!r} must start with the number of one chapter (chNN_...), "
                         f"found {[p.name for p in found]}")
    return found[0].stem


# ---------------------------------------------------------------------------------------------------------------
# otter assign


JOBS = 2  # masters assigned at once: otter assign runs each on one core (about 6 s a master on 2 cores)


def build(names=None, out=BUILD, pdfs=False, run_tests=True, folder=HERE, wheel=None, jobs=JOBS, **run) -> list:
    """`otter assign` every master notebook of `folder` (or those of `names`) into `out/<name>/`: its `student/`
    notebook (with checks.py), its `autograder/` solutions notebook and autograder zip, and, with `pdfs`, the
    solutions PDF. With `run_tests`, otter runs the tests on the solutions and fails when one fails. `jobs`
    masters are assigned at once; each one's output is printed whole when it ends, in the masters' order.
    Stops at the first master otter rejects, in that order (CalledProcessError, after otter's message naming
    the question and cell); `run` goes to subprocess.run (and then the caller has otter's output). Every
    autograder zip gets the pagutils wheel `wheel` (default: one built from the checkout into _build/dist, as
    `make dist` builds it; see add_wheel). Returns the output folders."""
    found = masters(folder)
    unknown = sorted(set(names or []) - set(found))
    if unknown:
        raise ValueError(f"no master notebook for {unknown} in {folder}; there are {sorted(found)}")
    order = list(names or found)
    flags = ([] if pdfs else ["--no-pdfs"]) + ([] if run_tests else ["--no-run-tests"])

    def assign(name):
        command = [*_otter(), "assign", *flags, str(found[name]), str(Path(out) / name)]
        return subprocess.run(command, **(run or dict(capture_output=True, text=True)))

    written = []
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        runs = [pool.submit(assign, name) for name in order]
        for name, future in zip(order, runs):
            done = future.result()
            if not run:
                print(f"otter assign {found[name]} -> {Path(out) / name}", flush=True)
                sys.stdout.write(done.stdout)
                sys.stderr.write(done.stderr)
                sys.stdout.flush()
                sys.stderr.flush()
            if done.returncode:
                for later in runs:
                    later.cancel()
                raise subprocess.CalledProcessError(done.returncode, done.args, done.stdout, done.stderr)
            written.append(Path(out) / name)
    wheel = Path(wheel) if wheel else build_wheel()  # once, after otter accepted every master
    for target in written:
        add_wheel(autograder_zip(target.name, out), wheel)
    return written


# ---------------------------------------------------------------------------------------------------------------
# the pagutils wheel (make dist) and the autograder zips that carry it

PACKAGE_FILES = ("pyproject.toml", "README.md", "LICENSE", "LICENSE-CONTENT", "setup.py", "setup.cfg", "MANIFEST.in")


def build_wheel(out=DIST, root=ROOT) -> Path:
    """Build the pagutils wheel of the checkout `root` into `out` (other pagutils wheels there are removed) and
    return its path. Offline: pip with the setuptools of this Python, no build isolation, no index. It builds a
    copy of the package's files in a temporary folder, so the checkout gets no build/ folder and no stale file
    of an earlier build can slip into the wheel; the wheel is put in place whole (builds at the same time are
    safe)."""
    root, out = Path(root), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pagutils-wheel-") as folder:
        source, wheels = Path(folder) / "source", Path(folder) / "wheels"
        shutil.copytree(root / "pagutils", source / "pagutils", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for name in PACKAGE_FILES:
            if (root / name).is_file():
                shutil.copy2(root / name, source / name)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                        "--no-index", "--wheel-dir", str(wheels), str(source)], check=True)
        found = sorted(wheels.glob("pagutils-*.whl"))
        if len(found) != 1:
            raise RuntimeError(f"pip wheel wrote {[p.name for p in found]}, not one pagutils wheel")
        target = out / found[0].name
        temporary = out / f".{target.name}.{os.getpid()}.tmp"
        shutil.copy2(found[0], temporary)
        os.replace(temporary, target)
    for old in out.glob("pagutils-*.whl"):
        if old != target:
            old.unlink(missing_ok=True)
    return target


def _autograder_dir(ag: zipfile.ZipFile) -> str:
    """Where the autograder zip is unpacked (Gradescope's and otter's Docker image's /autograder by default)."""
    import json
    config = json.loads(ag.read("otter_config.json")) if "otter_config.json" in ag.namelist() else {}
    return str(config.get("autograder_dir") or "/autograder").rstrip("/")


def add_wheel(zip_path, wheel) -> Path:
    """Put the pagutils wheel `wheel` into the autograder zip at `zip_path` and install pagutils from it: the zip's
    environment.yml (what Gradescope and `otter grade` install) gets `pagutils @ file://<autograder dir>/source/
    files/<wheel>` in place of any other pagutils requirement.

    Gradescope unpacks the whole zip into /autograder/source before it installs, so `files/<wheel>` is there.
    `otter grade`'s Dockerfile copies only setup.sh, environment.yml and `requirements.*` before it installs (the
    files/ folder after), and copies a folder's contents: the zip also holds `requirements.wheel/files/<wheel>`,
    which lands on the same path. Rewrites the zip; returns its path."""
    import yaml
    zip_path, wheel = Path(zip_path), Path(wheel)
    members = {}
    with zipfile.ZipFile(zip_path) as ag:
        target = f"file://{_autograder_dir(ag)}/source/files/{wheel.name}"
        for info in ag.infolist():
            if not info.filename.startswith(f"{WHEEL_FOLDER}/") and not re.match(r"files/pagutils-.*\.whl$",
                                                                                info.filename):
                members[info.filename] = ag.read(info)
    environment = yaml.safe_load(members["environment.yml"])
    pip = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict) and "pip" in d)
    pip[:] = [r for r in pip if not re.match(r"^pagutils\b", r.strip())] + [f"pagutils @ {target}"]
    members["environment.yml"] = yaml.safe_dump(environment, sort_keys=False).encode()
    data = wheel.read_bytes()
    members[f"files/{wheel.name}"] = data
    members[f"{WHEEL_FOLDER}/files/{wheel.name}"] = data
    temporary = zip_path.with_name(f".{zip_path.name}.tmp")
    with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as ag:
        for name, content in members.items():
            ag.writestr(name, content)
    temporary.replace(zip_path)
    return zip_path


# ---------------------------------------------------------------------------------------------------------------
# book pages


def stub(source: str) -> str:
    """A solution cell as the student notebook shows it (otter's own replacement of the solution)."""
    from otter.assign.solutions import replace_solutions
    return "\n".join(replace_solutions(source.split("\n"), "python"))


def solution_code(source: str) -> str:
    """A solution cell as the book shows it: the prompt block and the solution markers removed."""
    out, prompt = [], False
    for line in source.split("\n"):
        text = line.rstrip()
        if text.endswith("# BEGIN PROMPT") or text.endswith("# END PROMPT"):
            prompt = text.endswith("# BEGIN PROMPT")
        elif not prompt and not re.match(r"^\s*# (BEGIN SOLUTION( NO PROMPT)?|END SOLUTION)\s*$", line):
            out.append(re.sub(r"\s*# SOLUTION( NO PROMPT)?$", "", text))
    return "\n".join(out)


def _code_block(code: str) -> str:
    return f"```python\n{code.strip()}\n```"


def exercise_page(master: dict) -> str:
    """The book page of an assignment: its introduction, one `exercise` per question (the task and the
    student's starting code) and its `solution` in a dropdown (hidden in the student edition of the book); for a
    question graded by hand, the dropdown holds its rubric."""
    name = master["name"]
    out = [f"# Exercises: {master['title']}", "",
           f"% Generated from assignments/{name}.ipynb by `python assignments/teaching.py pages` (make assignments).",
           "", f"These exercises go with {{doc}}`../{master['chapter']}`. They are the questions of the classroom "
               f"assignment `{name}` ({{doc}}`../teacher` says how to hand it out and grade it).", ""]
    out += [text + "\n" for text in master["intro"]]
    for q in master["questions"]:
        label, unit = f"{name}-{q['name']}", "point" if q["points"] == 1 else "points"
        graded = ", graded by hand" if q["manual"] else ""
        out += [f"::::{{exercise}} {q['title']}: {q['points']} {unit}{graded}", f":label: {label}", ""]
        out += [text + "\n" for text in q["prompt"] if text]
        out += [_code_block(stub(s)) + "\n" for s in q["solutions"]]
        out += ["::::", "", f"::::{{solution}} {label}", ":class: dropdown", ""]
        out += [_code_block(solution_code(s)) + "\n" for s in q["solutions"]]
        out += [text.strip("\n") + "\n" for text in q["rubric"] if text.strip()]
        out += ["::::", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def write_pages(folder=HERE, out=ROOT / "book" / "exercises") -> list:
    """Write `out/<name>.md` for every master notebook of `folder`; the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, path in masters(folder).items():
        page = out / f"{name}.md"
        page.write_text(exercise_page(read_master(path)))
        written.append(page)
    return written


def student_config(config=ROOT / "_config.yml", out=ROOT / "_build" / "student_config.yml") -> Path:
    """Write a copy of the book's `_config.yml` that hides every solution (sphinx-exercise's `hide_solutions`),
    reuses the main build's execution cache and names local extensions by absolute path (jupyter-book reads
    them relative to the config file); the path written."""
    import yaml
    config, out = Path(config), Path(out)
    settings = yaml.safe_load(config.read_text())
    settings["title"] = f"{settings.get('title', '')} (student edition)".strip()
    settings.setdefault("sphinx", {}).setdefault("config", {})["hide_solutions"] = True
    settings.setdefault("execute", {}).setdefault("cache", str(ROOT / "_build" / ".jupyter_cache"))
    extensions = settings["sphinx"].get("local_extensions") or {}
    for name, folder in extensions.items():
        extensions[name] = str((config.parent / folder).resolve())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(settings, sort_keys=False))
    return out


# ---------------------------------------------------------------------------------------------------------------
# grading


def autograder_zip(name: str, out=BUILD) -> Path:
    """The autograder zip `otter assign` wrote for assignment `name` into `out` (`make assignments`)."""
    folder = Path(out) / name / "autograder"
    found = sorted(folder.glob(f"{name}-autograder_*.zip"))
    if not found:
        raise FileNotFoundError(f"no autograder zip for {name!r} in {folder}: run `make assignments` first")
    return found[-1]


def docker_answers() -> bool:
    """Whether a Docker daemon answers here (a docker command alone is not enough)."""
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        return subprocess.run([docker, "info"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def submissions(paths, ext="ipynb") -> list:
    """The files to grade, as `otter grade` finds them: each file given, and every `*.<ext>` in each folder."""
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(path.glob(f"*.{ext}"))
        elif path.exists():
            files.append(path)
        else:
            raise FileNotFoundError(f"no submission or folder at {path}")
    return files


def run_one(submission: Path, autograder: Path, timeout: float = TIMEOUT):
    """Grade one submission with `otter run` in a process of its own: otter's GradingResults. A submission
    that otter cannot grade, or that runs past `timeout` seconds, gives otter's results of a failed run
    (zero points) with the reason, the way `otter grade` reports a container that failed."""
    import dill
    from otter.test_files import GradingResults
    submission = Path(submission)
    with tempfile.TemporaryDirectory(prefix="otter-run-") as folder:
        command = [*_otter(), "run", "--no-logo", "-p", "-a", str(Path(autograder).resolve()), "-o", folder,
                   str(submission.resolve())]
        process = subprocess.Popen(command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True)  # its own group: the kernel goes too on a timeout
        try:
            _, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            results = GradingResults.without_results(
                TimeoutError(f"grading {submission.name} ran past the time limit of {timeout:g} s and was stopped"))
        else:
            pickled = Path(folder) / "results.pkl"
            if process.returncode == 0 and pickled.is_file():
                with open(pickled, "rb") as f:
                    results = dill.load(f)
            else:
                reason = next((line for line in reversed(stderr.strip().split("\n")) if line.strip()),
                              f"exit status {process.returncode}")
                results = GradingResults.without_results(
                    RuntimeError(f"otter could not grade {submission.name}: {reason.strip()}"))
    results.file = submission.name
    return results


def _describe(results) -> str:
    if results.has_catastrophic_failure():
        return f"{results.file}: 0 points, not graded: {results.catastrophic_error}"
    scores = ", ".join(f"{q} {v['score']:g}/{v['possible']:g}" for q, v in results.to_dict().items())
    return f"{results.file}: {results.total:g}/{results.possible:g} points ({scores})"


def grade_without_docker(files, autograder: Path, out: Path, timeout: float = TIMEOUT, echo=print) -> list:
    """`otter run` on every submission file in turn, then otter's own `final_grades.csv` and grading summaries
    (the files `otter grade --summaries` writes); the GradingResults."""
    from otter.grade.utils import merge_scores_to_df
    out = Path(out)
    (out / "grading-summaries").mkdir(parents=True, exist_ok=True)
    results = []
    for submission in files:
        result = run_one(submission, autograder, timeout)
        (out / "grading-summaries" / f"{Path(result.file).stem}.txt").write_text(result.summary())
        echo(_describe(result))
        results.append(result)
    merge_scores_to_df(results).to_csv(out / "final_grades.csv", index=False)
    return results


def grade(paths, name: str, out: Path, docker=None, timeout: float = TIMEOUT, autograder=None) -> int:
    """Grade `paths` (files or folders) against assignment `name`'s autograder into `out/final_grades.csv`:
    in Docker (`otter grade`) when `docker` is true, or None and a Docker daemon answers; else without."""
    autograder = Path(autograder) if autograder else autograder_zip(name)
    if not autograder.is_file():
        raise FileNotFoundError(f"no autograder zip at {autograder}")
    files = submissions(paths)
    if not files:
        raise FileNotFoundError(f"no submissions (*.ipynb) in {[str(p) for p in paths]}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if docker is None:
        docker = docker_answers()
    if docker:
        print(f"grading in Docker containers: otter grade with {autograder.name}")
        return subprocess.run([*_otter(), "grade", "-n", name, "-a", str(autograder), "-o", str(out), "--summaries",
                               "--timeout", str(int(timeout)), *map(str, files)]).returncode
    print(f"grading without containers: otter run on each submission with {autograder.name}")
    grade_without_docker(files, autograder, out, timeout)
    print(f"wrote {out / 'final_grades.csv'} and {out / 'grading-summaries'}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python assignments/teaching.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    d = commands.add_parser("dist", help="build the pagutils wheel of the checkout (make dist)")
    d.add_argument("--out", default=str(DIST))
    b = commands.add_parser("build", help="otter assign every master notebook (student, solutions, autograder zip)")
    b.add_argument("names", nargs="*", help="assignments to build (default: all)")
    b.add_argument("--out", default=str(BUILD))
    b.add_argument("--wheel", default=None, help="the pagutils wheel the autograder zips carry (default: built "
                                                 "from the checkout into _build/dist)")
    b.add_argument("--source", default=str(HERE), help="the folder of master notebooks (default: assignments/)")
    b.add_argument("--pdfs", action="store_true", help="also the solutions PDF (otter's HTML export: "
                                                        "needs `playwright install chromium` once)")
    p = commands.add_parser("pages", help="write the book's exercise pages from the master notebooks")
    p.add_argument("--out", default=str(ROOT / "book" / "exercises"))
    s = commands.add_parser("student-config", help="write a _config.yml for the student edition of the book")
    s.add_argument("--out", default=str(ROOT / "_build" / "student_config.yml"))
    g = commands.add_parser("grade", help="grade submitted notebooks (files or folders) into final_grades.csv")
    g.add_argument("submissions", nargs="+")
    g.add_argument("--assignment", "-n", required=True, choices=sorted(masters()))
    g.add_argument("--autograder", "-a", default=None, help="the autograder zip (default: the one in "
                                                                "_build/assignments/<name>/autograder)")
    g.add_argument("--out", "-o", default=None, help="output folder (default: _build/grades/<name>)")
    where = g.add_mutually_exclusive_group()
    where.add_argument("--docker", dest="docker", action="store_true", default=None, help="grade with otter grade")
    where.add_argument("--no-docker", dest="docker", action="store_false", help="grade with otter run")
    g.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds for one submission")
    args = parser.parse_args(argv)
    try:
        if args.command == "dist":
            print(f"wrote {build_wheel(args.out)}")
        elif args.command == "build":
            build(args.names, args.out, args.pdfs, folder=args.source, wheel=args.wheel)
        elif args.command == "pages":
            for path in write_pages(out=args.out):
                print(f"wrote {path}")
        elif args.command == "student-config":
            print(f"wrote {student_config(out=args.out)}")
        else:
            out = args.out or ROOT / "_build" / "grades" / args.assignment
            return grade(args.submissions, args.assignment, out, args.docker, args.timeout, args.autograder)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as error:
        print(f"error: otter assign failed on {error.cmd[-2]} (its message is above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
