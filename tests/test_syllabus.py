"""A teacher's plan (`pagutils.course.syllabus`): reading time from the chapters' prose, lab time from a recorded cold
build, and the record itself."""
import json

import pytest

from pagutils import syllabus


def _notebook(path, words, questions=True):
    cells = [dict(cell_type="markdown", source=["word " * words]), dict(cell_type="code", source=["x = 1 " * 50])]
    if questions:
        cells.append(dict(cell_type="markdown", source=["## Questions for the reader"]))
    path.write_text(json.dumps(dict(cells=cells)))


def _result(folder, chapter, seconds, profile="quick"):
    folder.mkdir(exist_ok=True)
    (folder / f"{chapter}.json").write_text(json.dumps(dict(chapter=chapter, profile=profile, dataset="mnist",
                                                            seconds=seconds)))


def test_reading_time_counts_the_prose_not_the_code(tmp_path):
    _notebook(tmp_path / "ch01_a.ipynb", 240, questions=False)
    assert syllabus.reading_minutes(tmp_path / "ch01_a.ipynb") == pytest.approx(240 / syllabus.WORDS_PER_MINUTE)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        syllabus.reading_minutes(tmp_path / "missing.ipynb")


def test_the_plan_adds_the_cold_run_the_questions_and_the_graded_exercise(tmp_path):
    (tmp_path / "exercises").mkdir()
    (tmp_path / "exercises" / "ch01_step.md").write_text("# Exercise")
    _notebook(tmp_path / "ch01_a.ipynb", 120)
    _notebook(tmp_path / "ch02_b.ipynb", 240)
    _notebook(tmp_path / "part1_c.ipynb", 120, questions=False)
    build = dict(seconds=dict(ch01_a=120.0, ch02_b=60.0))
    rows = syllabus.plan(build, (("one", ("ch01_a",)), ("two", ("ch02_b", "part1_c"))), book=tmp_path)
    assert rows[0]["exercises"] == ["exercises/ch01_step"] and rows[0]["run"] == pytest.approx(2.0)
    assert rows[0]["lab"] == pytest.approx(2.0 + syllabus.QUESTIONS_MINUTES + syllabus.EXERCISE_MINUTES)
    # 240 + 120 words of prose and the 5 of the questions heading
    assert rows[1]["reading"] == pytest.approx(365 / 120) and rows[1]["questions"] == 1 and not rows[1]["exercises"]
    assert rows[1]["lab"] == pytest.approx(1.0 + syllabus.QUESTIONS_MINUTES)
    with pytest.raises(ValueError, match="seconds"):
        syllabus.plan(dict(machine="x"), book=tmp_path)


def test_record_writes_one_builds_times_and_refuses_a_mixed_folder(tmp_path):
    results = tmp_path / "results"
    _result(results, "ch01_a", 12.34)
    _result(results, "ch02_b", 5.0)
    build = syllabus.record(results, tmp_path / "out" / "cold.json", "2 CPU cores", commit="abc1234")
    assert json.loads((tmp_path / "out" / "cold.json").read_text()) == build
    assert build["seconds"] == {"ch01_a": 12.3, "ch02_b": 5.0} and build["commit"] == "abc1234"
    assert not list((tmp_path / "out").glob(".*.tmp"))  # written atomically
    _result(results, "ch03_c", 1.0, profile="full")
    with pytest.raises(ValueError, match="different profiles"):
        syllabus.record(results, tmp_path / "x.json", "2 CPU cores")
    with pytest.raises(FileNotFoundError, match="holds no chapter"):
        syllabus.record(tmp_path / "empty", tmp_path / "x.json", "2 CPU cores")
    with pytest.raises(ValueError, match="machine must name"):
        syllabus.record(results, tmp_path / "x.json", " ")


def test_the_books_plan_covers_every_chapter_and_the_record_exists():
    from pagutils import experiments, paths
    planned = [c for _, chapters in syllabus.TERM for c in chapters]
    assert set(experiments.CHAPTERS) <= set(planned)
    assert set(experiments.CHAPTERS) <= {c for _, chapters in syllabus.WORKSHOP for c in chapters}
    build = json.loads((paths.project_root() / "book" / "_data" / "cold_build.json").read_text())
    assert set(build["seconds"]) == set(experiments.CHAPTERS) and build["profile"] == "quick"
    rows = syllabus.plan(build)
    assert len(rows) == 12 and all(r["reading"] > 0 for r in rows)
