"""The benchmarks: the full-profile estimate (benchmarks/full_profile.py), its operation counts and its bound; the
split of the CPU floor by operator kind (parts.py); the registry of parts and `run.py --only`; what a results file
records and that none is overwritten (record.py); the timing helpers' arithmetic (timing.py)."""
import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
PART_NAMES = ["pgd", "bf16_cost", "equivalence", "training", "constructions", "memory", "compile", "floor_profile",
              "seeds"]


def load(name):
    """A benchmarks script, loaded from its file; its sibling modules import each other by name (as when it runs
    as `python benchmarks/run.py`), so the folder goes on the path."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def full_profile():
    return load("full_profile")


@pytest.fixture(scope="module")
def run():
    return load("run")


@pytest.fixture(scope="module")
def parts(run):
    return importlib.import_module("parts")


@pytest.fixture(scope="module")
def registry(run):
    return importlib.import_module("registry")


@pytest.fixture(scope="module")
def record(run):
    return importlib.import_module("record")


@pytest.fixture(scope="module")
def timing(run):
    return importlib.import_module("timing")


@pytest.fixture(scope="module")
def seeds(run):
    return importlib.import_module("seeds")


@pytest.fixture
def toy_parts(registry, monkeypatch):
    """Two parts added the way a later part is (one decorated function each), on a copy of the registry."""
    monkeypatch.setattr(registry, "PARTS", dict(registry.PARTS))

    @registry.part("toy", devices=("cpu", "cuda"))
    def run_toy(ctx):
        return [dict(model=ctx.models[0], value=1.5)]

    @registry.part("gpu_toy", devices=("cuda",))
    def run_gpu_toy(ctx):
        raise AssertionError("a cuda-only part ran on a CPU")
    return run_toy


def test_resnet18_operation_counts_match_its_architecture(full_profile):
    """CIFAR ResNet-18's forward pass is about 0.56 GMAC (1.11 GFLOP) an image: an attack step (forward and input
    backward) costs about two forwards, a training step (forward and full backward) about three."""
    train, attack = full_profile.resnet18_gflops()
    assert attack == pytest.approx(2 * 1.11, rel=0.05)
    assert train / attack == pytest.approx(1.5, rel=0.05)


def test_the_bound_is_the_counted_work_over_the_peak(full_profile, capsys):
    full_profile.main(["--train-ips", "1000", "--attack-ips", "1000", "--peak-tflops", "500"])
    out = capsys.readouterr().out
    pflop, minutes, share = map(float, re.search(r": (\d+) PFLOP, (\d+) minutes at 500 TFLOP/s .* at least (\d+)%",
                                                 out).groups())
    assert minutes == pytest.approx(pflop * 1e3 / 500 / 60, abs=1)
    assert share == pytest.approx(100 * minutes / 60, abs=2)
    hours = float(re.search(r"\| \*\*all\*\* \| \| \| \*\*(\d+)\*\*", out).group(1))
    train = sum(w[0] for w in full_profile.WORK.values())
    attack = sum(w[1] for w in full_profile.WORK.values())
    assert hours == pytest.approx((train + attack) / 1000 / 3600, abs=1)


def test_floor_shares_split_convolutions_from_the_rest(parts):
    shares = parts.floor_shares({"aten::mkldnn_convolution": 4.0, "aten::convolution_backward": 3.0,
                                 "autograd::engine::evaluate_function: ConvolutionBackward0": 1.0,
                                 "aten::native_batch_norm": 1.5, "aten::relu_": 0.5})
    assert shares["convolution"] == pytest.approx(0.4)
    assert shares["convolution_backward"] == pytest.approx(0.4)
    assert shares["other"] == pytest.approx(0.2)
    assert shares["bound_without_other"] == pytest.approx(1.25)


def test_floor_shares_refuses_an_empty_profile(parts):
    with pytest.raises(ValueError, match="self_times must hold some positive time"):
        parts.floor_shares({"aten::relu_": 0.0})


def test_floor_profile_of_the_small_cnn_sees_both_convolution_passes(parts):
    r = parts.floor_profile("small_cnn", batch=8, steps=1)
    assert r["convolution"] + r["convolution_backward"] + r["other"] == pytest.approx(1.0)
    assert r["convolution"] > 0 and r["convolution_backward"] > 0
    assert r["bound_without_other"] == pytest.approx(1 / (1 - r["other"]))


# ---------------------------------------------------------------------------------------------------------------
# the registry of parts


def test_the_registry_lists_every_part_in_running_order(registry):
    assert list(registry.PARTS) == PART_NAMES
    assert [p.name for p in registry.select(None)] == PART_NAMES
    assert [p.name for p in registry.select("floor_profile,pgd")] == ["pgd", "floor_profile"]
    assert registry.PARTS["memory"].key == "cpu_memory"  # the key results files have always had
    assert registry.PARTS["memory"].devices == registry.PARTS["floor_profile"].devices == ("cpu",)


def test_an_unknown_part_is_refused_by_name(registry, run, capsys):
    with pytest.raises(registry.UnknownPart, match=r"unknown part\(s\) 'nope'; known parts: pgd, bf16_cost, "):
        registry.select("pgd,nope")
    with pytest.raises(SystemExit) as exited:
        run.main(["--only", "floor_profile,nope", "--no-save"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "unknown part(s) 'nope'" in err and ", ".join(PART_NAMES) in err


def test_a_part_runs_only_where_it_can(registry, monkeypatch):
    assert registry.PARTS["floor_profile"].unmet("cuda") == "runs on cpu only"
    assert registry.PARTS["floor_profile"].unmet("cpu") is None
    monkeypatch.setitem(registry.NEEDS, "torchattacks", lambda: False)
    assert registry.PARTS["pgd"].unmet("cpu") == "needs torchattacks"
    with pytest.raises(ValueError, match="already registered"):
        registry.part("pgd")
    with pytest.raises(ValueError, match="unknown needs"):
        registry.part("new", needs=("a_gpu_cluster",))


def test_a_new_part_is_one_decorated_function(toy_parts, registry, run, monkeypatch, capsys):
    """The hook for later parts: the decorated function runs from `--only`, prints and is saved; a part for
    another device is skipped with the reason; `main` writes no results file with --no-save."""
    monkeypatch.setattr(run, "HERE", Path("/nonexistent/benchmarks"))  # saving would fail loudly
    run.main(["--device", "cpu", "--only", "gpu_toy,toy", "--models", "small_cnn", "--no-save"])
    out = capsys.readouterr().out
    assert "gpu_toy skipped: runs on cuda only" in out
    assert '\ntoy:\n  {"model": "small_cnn", "value": 1.5}\n' in out
    assert registry.select("toy")[0].measure is toy_parts


# ---------------------------------------------------------------------------------------------------------------
# the results file


def test_the_commit_is_recorded_or_unknown(record, tmp_path, monkeypatch):
    assert record.commit(tmp_path) == dict(commit="unknown", dirty="unknown", changed=[])  # not a repository
    head = shutil.which("git") and subprocess.run(["git", "-C", str(BENCHMARKS), "rev-parse", "HEAD"],
                                                  capture_output=True, text=True)
    if head and head.returncode == 0:  # a checkout with git (else only the "unknown" cases apply)
        code = record.commit(BENCHMARKS)
        assert re.fullmatch(r"[0-9a-f]{40}", code["commit"]) and code["commit"] == head.stdout.strip()
        assert code["dirty"] is bool(code["changed"])
    monkeypatch.setenv("PATH", str(tmp_path))  # no git at all
    assert record.commit(BENCHMARKS)["commit"] == "unknown"


def test_results_files_record_the_code_and_are_never_overwritten(toy_parts, run, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(run, "HERE", tmp_path / "benchmarks")
    for _ in range(3):
        run.main(["--device", "cpu", "--only", "toy", "--models", "small_cnn"])
    files = sorted((tmp_path / "benchmarks" / "results").iterdir(), key=lambda p: (len(p.name), p.name))
    stem = f"cpu-{torch.get_num_threads()}thread-{time.strftime('%Y-%m-%d')}"
    assert [p.name for p in files] == [f"{stem}.json", f"{stem}-2.json", f"{stem}-3.json"]
    assert f"results: benchmarks/results/{stem}-3.json" in capsys.readouterr().out
    for path in files:
        results = json.loads(path.read_text())
        code = results["provenance"]
        assert re.fullmatch(r"[0-9a-f]{40}|unknown", code["commit"])
        assert code["torch"] == torch.__version__ and code["device"] == "cpu"
        assert code["command"].endswith("benchmarks/run.py --device cpu --only toy --models small_cnn")
        assert results["toy"] == [dict(model="small_cnn", value=1.5)]
        assert results["skipped"] == {} and results["machine"]["device"] == "cpu"


def test_save_takes_the_next_free_name(record, tmp_path):
    first = record.save({"run": 1}, tmp_path, "gpu-2026-11-29")
    (tmp_path / "gpu-2026-11-29-2.json").write_text("{}")  # another run's file
    third = record.save({"run": 3}, tmp_path, "gpu-2026-11-29")
    assert (first.name, third.name) == ("gpu-2026-11-29.json", "gpu-2026-11-29-3.json")
    assert json.loads(first.read_text()) == {"run": 1}
    assert json.loads((tmp_path / "gpu-2026-11-29-2.json").read_text()) == {}


# ---------------------------------------------------------------------------------------------------------------
# the timing helpers


def test_rates_are_work_over_seconds(timing):
    assert timing.rates(100, {"a": 2.0, "b": 0.5}) == {"a": 50.0, "b": 200.0}


def test_the_order_rotates_every_repetition(timing):
    names = ["a", "b", "c"]
    assert [timing.rotation(names, rep) for rep in range(4)] == [
        ["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]]


def test_alternate_reports_the_median_after_the_warm_up(timing):
    """A fake clock that each variant advances by its next duration: the warm-up call (9 s) is not counted,
    the medians are those of the timed calls, and the order rotates."""
    now, calls = [0.0], []
    durations = {"a": iter([9.0, 1.0, 3.0, 2.0]), "b": iter([9.0, 5.0, 4.0, 60.0])}

    def variant(name):
        def call():
            calls.append(name)
            now[0] += next(durations[name])
        return call

    timer = timing.Timer(torch.device("cpu"), clock=lambda: now[0])
    assert timer.alternate({"a": variant("a"), "b": variant("b")}, reps=3) == {"a": 2.0, "b": 5.0}
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]


def test_the_clock_is_wall_time_on_a_gpu(timing):
    assert timing.clock_name("cuda", "cpu") == "wall"
    assert timing.clock_name("cpu") == "cpu"
    assert timing.clock_name("cpu", "wall") == "wall"
    assert timing.CLOCKS["cpu"] is time.process_time and timing.CLOCKS["wall"] is time.perf_counter


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="Linux's /proc memory counters")
def test_peak_memory_sees_a_64_mb_allocation(timing):
    def allocate():
        block = b"x" * (64 * 2**20)  # written, so resident
        time.sleep(0.05)
        del block

    assert 48 < timing.peak_memory_mb(allocate, torch.device("cpu")) < 512
    assert 48 < timing.high_water_added_mb(allocate) < 512


def test_the_seeds_part_trains_with_the_replicates_of_benchmarks_not_of_the_library(seeds):
    """The second training stack lives in benchmarks/ (out of pagutils until a GPU measurement justifies it), and
    the part `seeds` measures it there: the same models as one by one, to float rounding."""
    assert Path(seeds.replicates.__file__).resolve() == BENCHMARKS / "replicates.py"
    assert importlib.util.find_spec("pagutils.replicates") is None
    import pagutils
    assert not hasattr(pagutils, "replicates")
    row = seeds.measure(n_models=2, n_train=200, epochs=1, arch="mlp", reps=1, device="cpu")
    assert row["models"] == 2 and row["speedup"] > 0 and row["max_weight_difference"] < 1e-5
