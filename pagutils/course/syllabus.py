"""A teacher's plan: reading and lab time per chapter, and a term and a workshop built from them.

Reading time is counted from each chapter's prose (the words of its Markdown cells, at `WORDS_PER_MINUTE`, a
pace for technical text with equations); lab time from a recorded cold build of the quick profile (every model
trained from an empty cache, chapters in book order, on the machine named in the record) plus the time for the
chapter's questions for the reader (`QUESTIONS_MINUTES`) and its graded exercise where it has one
(`EXERCISE_MINUTES`). `record` writes the cold build's
times from a results folder; the Syllabus page reads them.

    python -m pagutils.course.syllabus record _build/results book/_data/cold_build.json --machine "2 CPU cores"
"""
import argparse
import json
import re
import subprocess
import time
from pathlib import Path

from ..core import checks, paths

WORDS_PER_MINUTE = 120
EXERCISE_MINUTES = 45  # a graded exercise (otter-grader), where the chapter has one
QUESTIONS_MINUTES = 20  # the "Questions for the reader" every chapter ends with
# weeks of a 12-week term: (what is read, chapters); chapters in book order, a Part's summary closing it
TERM = (
    ("Adversarial examples and adversarial training", ("ch01_adversarial_examples",)),
    ("Robust and non-robust features: the Gaussian model", ("ch02_robust_features",)),
    ("Robustified datasets", ("ch03_robustified_datasets",)),
    ("Non-robust features suffice", ("ch04_non_robust_features",)),
    ("Transferability", ("ch05_transferability",)),
    ("Part I: what to believe, and a project proposal", ("part1_what_to_believe",)),
    ("Perceptually-aligned gradients", ("ch06_perceptually_aligned_gradients",)),
    ("Off-manifold robustness: the theory", ("ch07_off_manifold_theory",)),
    ("A dataset with a known manifold", ("ch08_distractor",)),
    ("The manifold of real images", ("ch09_manifold_real_images",)),
    ("Four ways, three regimes", ("ch10_four_ways_three_regimes",)),
    ("Part II: what to believe, and project presentations", ("part2_what_to_believe",)),
)
WORKSHOP = (
    ("Day 1, morning", ("ch01_adversarial_examples", "ch02_robust_features")),
    ("Day 1, afternoon", ("ch03_robustified_datasets", "ch04_non_robust_features", "ch05_transferability",
                          "part1_what_to_believe")),
    ("Day 2, morning", ("ch06_perceptually_aligned_gradients", "ch07_off_manifold_theory", "ch08_distractor")),
    ("Day 2, afternoon", ("ch09_manifold_real_images", "ch10_four_ways_three_regimes", "part2_what_to_believe")),
)


def _markdown(notebook) -> list:
    path = Path(notebook)
    if not path.is_file():
        raise FileNotFoundError(f"syllabus: notebook {str(path)!r} does not exist")
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown"]


def reading_minutes(notebook) -> float:
    """Minutes to read a notebook's prose: the words of its Markdown cells (roles, directives and math counted
    as words, code not) at `WORDS_PER_MINUTE`. Introduced in the Syllabus."""
    return sum(len(re.findall(r"\S+", text)) for text in _markdown(notebook)) / WORDS_PER_MINUTE


def exercises(book=None) -> dict:
    """chapter prefix ('ch04') -> the exercise page's document name ('exercises/ch04_d_det'), for every graded
    exercise of the book. Introduced in the Syllabus."""
    folder = Path(book or paths.project_root() / "book") / "exercises"
    return {p.stem[:4]: f"exercises/{p.stem}" for p in sorted(folder.glob("ch[0-9][0-9]_*.md"))}


def record(results, out, machine: str, commit: str = None) -> dict:
    """Write the run time of every chapter in the results folder `results` (each chapter's JSON records its
    `seconds` and profile) to `out`, with the date, the `commit` that ran (by default the results folder's git
    HEAD) and `machine`: the cold build the Syllabus reads.
    Refuses a folder whose chapters ran in different profiles. Introduced in the Syllabus."""
    if not isinstance(machine, str) or not machine.strip():
        checks.fail("record", "machine", "name the machine the build ran on", machine, got=repr(machine),
                    kind=str)
    folder = Path(results)
    tables = [json.loads(p.read_text()) for p in sorted(folder.glob("ch[0-9][0-9]_*.json"))]
    if not tables:
        raise FileNotFoundError(f"record: results folder {str(folder)!r} holds no chapter's results (chNN_*.json)")
    profiles = {t["profile"] for t in tables}
    if len(profiles) != 1:
        checks.fail("record", "results", "hold the chapters of one build, all run in one profile",
                    got=f"{str(folder)!r}, whose chapters ran in different profiles {sorted(profiles)}")
    try:
        commit = commit or subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=folder, capture_output=True,
                                text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    build = dict(recorded=time.strftime("%Y-%m-%d"), commit=commit, machine=machine, profile=profiles.pop(),
                 dataset=sorted({t.get("dataset") or "–" for t in tables}),
                 seconds={t["chapter"]: round(t["seconds"], 1) for t in tables if t.get("seconds") is not None})
    paths.write_atomic(out, json.dumps(build, indent=2) + "\n")
    return build


def plan(build: dict, weeks=TERM, book=None) -> list:
    """One row per week (or session) of `weeks`: its title, chapters, reading minutes, lab minutes (the cold
    quick-profile run of `build` plus `EXERCISE_MINUTES` where the chapter has a graded exercise) and the
    exercises; the lab also counts `QUESTIONS_MINUTES` for a chapter that ends with questions for the reader.
    Introduced in the Syllabus."""
    checks.mapping(build, "build", "syllabus.plan", {"seconds"})
    folder = Path(book or paths.project_root() / "book")
    graded = exercises(folder)
    rows = []
    for title, chapters in weeks:
        reading = sum(reading_minutes(folder / f"{c}.ipynb") for c in chapters)
        run = sum(build["seconds"].get(c, 0.0) for c in chapters) / 60
        tasks = [graded[c[:4]] for c in chapters if c[:4] in graded]
        questions = sum(any("Questions for the reader" in t for t in _markdown(folder / f"{c}.ipynb"))
                        for c in chapters)
        rows.append(dict(title=title, chapters=list(chapters), reading=reading, run=run, questions=questions,
                         lab=run + QUESTIONS_MINUTES * questions + EXERCISE_MINUTES * len(tasks),
                         exercises=tasks))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m pagutils.course.syllabus", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="write a cold build's chapter times for the Syllabus page")
    rec.add_argument("results", help="the results folder of a cold build (chNN_*.json)")
    rec.add_argument("out", help="where to write the record, e.g. book/_data/cold_build.json")
    rec.add_argument("--machine", required=True, help='the machine it ran on, e.g. "2 CPU cores"')
    rec.add_argument("--commit", help="the commit that ran (default: the results folder's git HEAD)")
    args = parser.parse_args(argv)
    build = record(args.results, args.out, args.machine, args.commit)
    for chapter, seconds in build["seconds"].items():
        print(f"{chapter:<40} {seconds:8.1f} s")


if __name__ == "__main__":
    main()
