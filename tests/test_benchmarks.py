"""The full-profile estimate (benchmarks/full_profile.py): its operation counts and its bound."""
import importlib.util
import re
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "full_profile.py"


@pytest.fixture(scope="module")
def full_profile():
    spec = importlib.util.spec_from_file_location("full_profile", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
