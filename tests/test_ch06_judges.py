"""Chapter 6: judges independent of both judged models, a control pair, and paired rules whose false-positive rate
and power are what the claim box states."""
import pytest
import torch

from pagutils import experiments, generation, zoo
from pagutils.experiments import ch06

SPEC = experiments.get("ch06_perceptually_aligned_gradients")


@pytest.fixture(scope="module")
def quick():
    cfg = SPEC.settings(profile="quick")
    return cfg, SPEC.zoo_models(cfg)


def test_judges_share_nothing_with_either_judged_model(quick):
    cfg, models = quick
    judged = [models["standard"], models["robust"]]
    judges = [models["judge_standard"], models["judge_robust"]]
    assert {j["objective"] for j in judges} == {"standard", "pgd"}  # one of them robust
    for judge in judges:
        for model in judged:
            assert judge["arch"] != model["arch"]
            assert judge["seed"] != model.get("seed", 0)
            assert zoo.shared_images(judge, model) == 0
    # the control pair: one recipe, two seeds, never trained on a judge's images
    a, b = models["control_0"], models["control_1"]
    assert {k: v for k, v in a.items() if k not in ("seed", "disjoint_from")} == \
        {k: v for k, v in b.items() if k not in ("seed", "disjoint_from")}
    assert a["seed"] != b["seed"]
    for control in (a, b):
        for judge in judges:
            assert zoo.shared_images(control, judge) == 0


def test_settings_that_break_independence_are_refused():
    with pytest.raises(ValueError, match="judge_arch"):
        SPEC.settings(profile="quick", judge_arch="small_cnn")
    with pytest.raises(ValueError, match="judge_seeds"):
        SPEC.settings(profile="quick", judge_seeds=[0, 7])
    with pytest.raises(ValueError, match="control_seeds"):
        SPEC.settings(profile="quick", control_seeds=[6, 9])


def test_judges_train_on_a_share_of_the_images_and_refuse_too_few():
    cfg = SPEC.settings(profile="quick", judge_share=0.5)
    models = SPEC.zoo_models(cfg)
    assert models["judge_standard"]["n_train"] == models["control_0"]["n_train"] == cfg.n_train // 2
    with pytest.raises(ValueError, match="judge_share"):
        ch06.judges(SPEC.settings(profile="quick", n_train=40000))  # 20,000 left, fewer than 40,000
    with pytest.raises(ValueError, match="judge_share"):
        SPEC.settings(profile="quick", judge_share=0.0)


def _null_rate(draw, trials=400):
    generator = torch.Generator().manual_seed(1)
    return sum(generation.paired_test(draw(generator), flips=2000, seed=i)["holds"]
               for i in range(trials)) / trials


def test_paired_test_false_positive_rate_by_simulation():
    # exchangeable outcomes of two models on 100 images: 0/1 successes and skewed errors
    def binary(g):
        a, b = (torch.rand(100, generator=g) < 0.4).float(), (torch.rand(100, generator=g) < 0.4).float()
        return a - b

    def skewed(g):
        return torch.empty(100).exponential_(generator=g) - torch.empty(100).exponential_(generator=g)

    for draw in (binary, skewed):
        assert _null_rate(draw) <= 0.05 + 3 * (0.05 * 0.95 / 400) ** 0.5


def test_paired_rule_detects_its_detectable_effect_with_80_percent_power():
    generator = torch.Generator().manual_seed(2)
    sd, n = 1.0, 100
    probe = generation.paired_rule({"a": torch.randn(n, generator=generator) * sd,
                                    "b": torch.randn(n, generator=generator) * sd})
    shift = probe["detectable"]
    assert probe["false_positive_rate"] == 0.05
    hits = []
    for i in range(300):
        d = {k: torch.randn(n, generator=generator) * probe["tests"][k]["sd"] + shift for k in ("a", "b")}
        hits.append(all(generation.paired_test(v, flips=1000, seed=i)["holds"] for v in d.values()))
    assert 0.7 <= sum(hits) / len(hits) <= 0.95
    # a relative scale divides the detectable effect
    scaled = generation.paired_rule({"a": torch.randn(n, generator=generator)}, scale={"a": 2.0})
    assert scaled["observed"] == pytest.approx(scaled["tests"]["a"]["mean"] / 2)


def test_paired_rule_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="differences"):
        generation.paired_rule({})
    with pytest.raises(ValueError, match="scale"):
        generation.paired_rule({"a": torch.zeros(5)}, scale={"b": 1.0})
    with pytest.raises(Exception, match="differences"):
        generation.paired_test([1.0, 2.0])
    with pytest.raises(ValueError, match="differences"):
        generation.paired_test(torch.zeros(1))


def test_per_image_success_matches_success_rate():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    x = torch.rand(10, 1, 2, 2)
    target = torch.arange(10) % 3
    hits = generation.per_image_success(model, x, target)
    assert hits.shape == (10,) and hits.mean().item() == pytest.approx(generation.success_rate(model, x, target))
