"""The full-profile estimate (benchmarks/full_profile.py): its operation counts and its bound; the split of the
CPU floor by operator kind (benchmarks/run.py)."""
import importlib.util
import re
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load(name):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def full_profile():
    return load("full_profile")


@pytest.fixture(scope="module")
def bench():
    return load("run")


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


def test_floor_shares_split_convolutions_from_the_rest(bench):
    shares = bench.floor_shares({"aten::mkldnn_convolution": 4.0, "aten::convolution_backward": 3.0,
                                 "autograd::engine::evaluate_function: ConvolutionBackward0": 1.0,
                                 "aten::native_batch_norm": 1.5, "aten::relu_": 0.5})
    assert shares["convolution"] == pytest.approx(0.4)
    assert shares["convolution_backward"] == pytest.approx(0.4)
    assert shares["other"] == pytest.approx(0.2)
    assert shares["bound_without_other"] == pytest.approx(1.25)


def test_floor_shares_refuses_an_empty_profile(bench):
    with pytest.raises(ValueError, match="self_times must hold some positive time"):
        bench.floor_shares({"aten::relu_": 0.0})


def test_floor_profile_of_the_small_cnn_sees_both_convolution_passes(bench):
    r = bench.floor_profile("small_cnn", batch=8, steps=1)
    assert r["convolution"] + r["convolution_backward"] + r["other"] == pytest.approx(1.0)
    assert r["convolution"] > 0 and r["convolution_backward"] > 0
    assert r["bound_without_other"] == pytest.approx(1 / (1 - r["other"]))
