import pytest
import torch

from pagutils import attacks, checks, features, models, train, versions, zoo
from pagutils.core.attacks import Attack
from pagutils.core.data import Data

SOURCE = dict(name="trained_cnn fixture: small_cnn, 4 epochs on 3,000 MNIST images")


@pytest.fixture(scope="module")
def small_train(mnist_train):
    return mnist_train[:200]


def _l2(delta):
    return delta.flatten(1).norm(dim=1)


def test_d_det_relabels_to_the_next_class_within_eps(trained_cnn, small_train):
    d_det, info = features.make_d_det(trained_cnn, small_train, Attack("l2", 2.0, 5), source=SOURCE,
                                      show_progress=False)
    assert torch.equal(d_det.y, (small_train.y + 1) % 10)
    assert _l2(d_det.x - small_train.x).max() <= 2.0 + 1e-4
    assert d_det.x.min() >= 0 and d_det.x.max() <= 1
    assert 0 <= info["success_rate"] <= 1 and 0 < info["mean_norm"] <= 2.0 + 1e-4
    assert info["config"]["construction"] == "d_det" and info["config"]["source"] == SOURCE
    # the cache key holds the attack's settings as plain JSON values, as it did before attacks were Attack values
    assert info["config"] == dict(construction="d_det", source=SOURCE, data=features.data_identity(small_train),
                                  eps=2.0, steps=5, step_size=None, norm="l2", seed=0)


def test_relabelling_runs_its_attack_targeted_from_the_image(trained_cnn, small_train):
    """The construction's attack is the given one made targeted and started at the image: the same set whatever
    `targeted` and `random_start` say, the targeted PGD of `attacks.pgd` batch by batch; bfloat16 is keyed apart."""
    data = small_train[:40]
    attack = Attack("l2", 2.0, 3, step_size=0.8)
    plain, info = features.make_d_det(trained_cnn, data, attack, source=SOURCE, show_progress=False)
    said, _ = features.make_d_det(trained_cnn, data, attack.replace(targeted=True, random_start=False),
                                  source=SOURCE, show_progress=False)
    assert torch.equal(plain.x, said.x) and info["config"]["step_size"] == 0.8
    expected = attacks.pgd(trained_cnn, data.x, plain.y, attack.replace(targeted=True, random_start=False))
    assert torch.equal(plain.x, expected)
    _, low = features.make_d_det(trained_cnn, data, attack.replace(precision="bfloat16"), source=SOURCE,
                                 show_progress=False)
    assert low["config"] == dict(info["config"], precision="bfloat16")


def test_d_rand_targets_are_seeded_uniform_and_perturbations_stay_inside_eps(trained_cnn, small_train):
    d_rand, info = features.make_d_rand(trained_cnn, small_train, Attack("l2", 3.0, 5), seed=3, source=SOURCE,
                                        show_progress=False)
    assert torch.equal(d_rand.y, features.random_targets(small_train.y, 10, seed=3))
    assert len(d_rand.y.unique()) == 10, "random targets should cover every class"
    assert (d_rand.y != small_train.y).float().mean() > 0.7, "about 90% of random targets differ from the label"
    assert _l2(d_rand.x - small_train.x).max() <= 3.0 + 1e-4
    assert d_rand.x.min() >= 0 and d_rand.x.max() <= 1
    # the attack moved images toward their targets: the model agrees with the new labels more often than before
    agree_before = (attacks.predict(trained_cnn, small_train.x) == d_rand.y).float().mean()
    assert info["success_rate"] > agree_before + 0.2


def test_representation_distance_falls_during_robustify(trained_cnn, small_train):
    data = small_train[:64]
    robustified, info = features.robustify(trained_cnn, data, features.Matching(30, 0.5, record_every=5),
                                           source=SOURCE, show_progress=False)
    distances = [d for _, d in info["history"]]
    assert [s for s, _ in info["history"]] == [0, 5, 10, 15, 20, 25, 30]
    assert distances[-1] < 0.5 * distances[0]
    assert torch.equal(robustified.y, data.y)
    assert robustified.x.min() >= 0 and robustified.x.max() <= 1
    final = features.relative_distance(trained_cnn, robustified.x, data.x).mean().item()
    assert final == pytest.approx(info["final_distance"], rel=1e-3, abs=1e-4)


def test_robustify_starts_from_other_images(trained_cnn, small_train):
    data = small_train[:32]
    z, _ = features.robustify(trained_cnn, data, features.Matching(1, 1e-6), source=SOURCE, show_progress=False)
    order = features.start_order(len(data), seed=0)
    assert torch.allclose(z.x, data.x[order], atol=1e-4)
    assert not (z.x - data.x).flatten(1).abs().amax(1).lt(1e-3).any()  # no image starts from itself
    with pytest.raises(ValueError, match="data must hold at least 2 images"):
        features.robustify(trained_cnn, data[:1], features.Matching(1), source=SOURCE, show_progress=False)


@pytest.mark.parametrize("n", [2, 3, 10, 1000])
def test_start_order_is_a_seeded_derangement(n):
    for seed in range(20 if n < 100 else 3):
        order = features.start_order(n, seed=seed)
        assert sorted(order.tolist()) == list(range(n))  # a permutation
        assert not (order == torch.arange(n)).any()  # without a fixed point
        assert torch.equal(order, features.start_order(n, seed=seed))
    assert not torch.equal(features.start_order(50, seed=0), features.start_order(50, seed=1))
    with pytest.raises(ValueError, match="n"):
        features.start_order(1)


def test_second_call_loads_the_cached_set_without_attacking(trained_cnn, small_train, monkeypatch):
    first, info = features.make_d_det(trained_cnn, small_train, Attack("l2", 1.0, 3), source=SOURCE,
                                      show_progress=False)
    calls = []

    def attack(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("attacked")

    monkeypatch.setattr(features, "pgd", attack)
    second, info2 = features.make_d_det(trained_cnn, small_train, Attack("l2", 1.0, 3), source=SOURCE,
                                        show_progress=False)
    assert calls == []
    assert torch.equal(first.x, second.x) and torch.equal(first.y, second.y)
    assert info2 == info
    with pytest.raises(RuntimeError, match="attacked"):  # another construction is not in the cache: it attacks
        features.make_d_det(trained_cnn, small_train, Attack("l2", 1.5, 3), source=SOURCE, show_progress=False)


def test_the_cache_key_names_the_data_and_the_source(small_train):
    assert features.data_identity(small_train) == features.data_identity(small_train[:])
    assert features.data_identity(small_train) != features.data_identity(small_train[:199])
    with pytest.raises(ValueError, match="source must be a JSON dict"):
        features.make_d_rand(models.make_classifier("mlp", "mnist"), small_train, Attack("l2", 1.0, 1))


def test_inputs_are_checked(trained_cnn, small_train):
    with pytest.raises(ValueError, match="data must be a pagutils.core.data.Data"):
        features.robustify(trained_cnn, small_train.x, features.Matching(1), source=SOURCE)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        features.Matching(0)
    with pytest.raises(ValueError, match="make_d_det: attack.eps must be a positive number"):
        features.make_d_det(trained_cnn, small_train, Attack("l2", 0.0, 1), source=SOURCE)


def test_a_model_trained_on_d_rand_beats_chance_on_the_original_test_set(trained_cnn, mnist_train, mnist_test):
    d_rand, info = features.make_d_rand(trained_cnn, mnist_train[:1500], Attack("l2", 3.0, 5), source=SOURCE,
                                        show_progress=False)
    assert (d_rand.y == mnist_train.y[:1500]).float().mean() < 0.15, "the labels carry almost no information"
    config = zoo.standard("mnist", "quick", epochs=5)
    model = features.train_on(d_rand, info, config, device="cpu", show_progress=False)
    assert model.config["train_data"] == info["config"] and model.config["n_train"] == len(d_rand)
    assert attacks.accuracy(model, mnist_test) > 0.3  # chance is 0.1


def test_match_representation_is_the_loop_descending_the_distance(trained_cnn, small_train):
    """Representation matching is the attack loop with the summed distance ||g(z) - g(x)|| as its loss and an
    unconstrained normalised step: given them, the loop reproduces its images bit for bit; its history records
    the starting and final distances."""
    x, z0 = small_train.x[:16], small_train.x[16:32]
    z, history = features.match_representation(trained_cnn, x, z0, features.Matching(6, 0.3, record_every=3))
    real, _ = features.match_representation(trained_cnn, x, z0, features.Matching(6, 0.3, relu="real"))
    with torch.no_grad():
        target = trained_cnn.representation(x)
    distance = lambda model, z, target: (model.representation(z) - target).norm(dim=1).sum()
    ours = attacks.ascend(trained_cnn, z0, target, distance, lambda z0: attacks.NormalisedStep(z0, 0.3), 6,
                          attacks.Loop(descend=True))
    with models.fake_relu(trained_cnn, x):  # the default: the last ReLU passes gradients as the identity
        fake = attacks.ascend(trained_cnn, z0, target, distance, lambda z0: attacks.NormalisedStep(z0, 0.3), 6,
                              attacks.Loop(descend=True))
    assert torch.equal(real, ours) and torch.equal(z, fake)
    assert [t for t, _ in history] == [0, 3, 6] and history[-1][1] < history[0][1]
    start = features.relative_distance(trained_cnn, z0, x).mean().item()
    assert history[0][1] == pytest.approx(start, rel=1e-5)
    with pytest.raises(ValueError, match="match_representation: x and z0 must have the same shape"):
        features.match_representation(trained_cnn, x, z0[:3], features.Matching(1))


@pytest.mark.parametrize("construct", ["robustify", "make_d_det"])
def test_constructions_check_their_data_once_not_per_batch(trained_cnn, small_train, monkeypatch, construct):
    seen = []
    images = checks.images
    monkeypatch.setattr(checks, "images", lambda x, name="x", *args, **kwargs: seen.append(name) or images(
        x, name, *args, **kwargs))
    data = small_train[:60]
    if construct == "robustify":
        features.robustify(trained_cnn, data, features.Matching(2), batch_size=20, source=SOURCE,
                           show_progress=False)
    else:
        features.make_d_det(trained_cnn, data, Attack("l2", 1.0, 2), batch_size=20, source=SOURCE, show_progress=False)
    assert seen == ["data.x"]


def test_leakage_is_chance_before_the_attack_and_counts_the_judges_agreement_after(trained_cnn, small_train):
    d_rand, _ = features.make_d_rand(trained_cnn, small_train, Attack("l2", 3.0, 5), source=SOURCE, show_progress=False)
    d_det, _ = features.make_d_det(trained_cnn, small_train, Attack("l2", 3.0, 5), source=SOURCE, show_progress=False)
    # the source model judging its own attacks sees every successful one: leakage by construction
    seen = features.leakage(trained_cnn, d_det, small_train)
    predicted = attacks.predict(trained_cnn, d_det.x)
    assert seen["attacked"] == pytest.approx((predicted == d_det.y).float().mean().item())
    assert seen["unattacked"] < 0.05  # t = y + 1 is almost never what the model says of the original image
    rand = features.leakage(trained_cnn, d_rand, small_train)
    agree = (d_rand.y == small_train.y).float().mean().item()  # random targets equal to the true label
    assert rand["unattacked"] == pytest.approx(agree, abs=0.05) and 0.03 < agree < 0.2
    with pytest.raises(ValueError, match="relabelled and original must hold the same images"):
        features.leakage(trained_cnn, d_det, small_train[:10])


def test_quiet_radius_takes_the_best_accuracy_among_low_leakage_radii_or_none():
    radii = [1.0, 2.0, 3.0, 4.0]
    leak = [0.05, 0.12, 0.3, 0.6]
    assert features.quiet_radius(radii, leak, [0.12, 0.25, 0.5, 0.7], chance=0.1) == 2.0
    assert features.quiet_radius(radii, leak, [0.08, 0.13, 0.5, 0.7], chance=0.1) is None  # not clearly above
    assert features.quiet_radius(radii, [0.3] * 4, [0.9] * 4, chance=0.1) is None  # every radius leaks
    with pytest.raises(ValueError, match="leakage must hold one number per radius"):
        features.quiet_radius(radii, leak[:2], [0.1] * 4, chance=0.1)


def test_attack_under_noise_is_seeded_bounded_and_keyed_apart(trained_cnn, small_train):
    data = small_train[:40]
    plain, plain_info = features.make_d_det(trained_cnn, data, Attack("l2", 2.0, 4), source=SOURCE, show_progress=False)
    noisy, info = features.make_d_det(trained_cnn, data, Attack("l2", 2.0, 4), source=SOURCE, show_progress=False,
                                      noise=0.3)
    again, _ = features.make_d_det(trained_cnn, data, Attack("l2", 2.0, 4), source=SOURCE, show_progress=False,
                                   noise=0.3)
    assert info["config"]["noise"] == 0.3 and "noise" not in plain_info["config"]
    assert torch.equal(noisy.x, again.x) and not torch.allclose(noisy.x, plain.x)
    assert _l2(noisy.x - data.x).max() <= 2.0 + 1e-4 and noisy.x.min() >= 0 and noisy.x.max() <= 1
    with pytest.raises(ValueError, match="noise"):
        features.make_d_det(trained_cnn, data, Attack("l2", 2.0, 4), source=SOURCE, noise=-0.1)


def test_fake_relu_passes_the_gradient_where_the_last_relu_is_off():
    """Forward: the same representation. Backward: through the last ReLU as the identity, so a unit that is off
    for x still has the gradient of its pre-activation (zero through the real ReLU)."""
    model = models.make_classifier("mlp", "mnist", seed=0).eval()
    x = torch.rand(4, 1, 28, 28)
    pre = model.features[:-1]((x - model.mean) / model.std)  # before the last ReLU
    off = int((pre[0] < 0).nonzero()[0])
    x.requires_grad_(True)
    real, = torch.autograd.grad(model.representation(x)[0, off], x)
    with models.fake_relu(model, x):
        values = model.representation(x)
        fake, = torch.autograd.grad(values[0, off], x)
    expected, = torch.autograd.grad(model.features[:-1]((x - model.mean) / model.std)[0, off], x)
    assert torch.equal(values, model.representation(x)) and real.abs().max() == 0
    assert fake.abs().max() > 0 and torch.allclose(fake, expected)
    assert not any(h for m in model.modules() for h in m._forward_hooks.values())  # restored on leaving
    with pytest.raises(ValueError, match="fake_relu: model must be a classifier of one of"):
        with models.fake_relu(models.make_classifier("googlenet", "cifar10"), torch.rand(1, 3, 32, 32)):
            pass


def test_fake_relu_matches_the_representation_closer_than_the_real_relu(trained_cnn, small_train):
    x, z0 = small_train.x[:32], small_train.x[32:64]
    _, fake = features.match_representation(trained_cnn, x, z0, features.Matching(40, 0.1))
    _, real = features.match_representation(trained_cnn, x, z0, features.Matching(40, 0.1, relu="real"))
    assert fake[-1][1] < real[-1][1] < fake[0][1]  # both descend, the fake ReLU further


def test_robustify_records_how_far_it_converged(trained_cnn, small_train):
    data = small_train[:40]
    _, info = features.robustify(trained_cnn, data, features.Matching(20, 0.2), batch_size=20, source=SOURCE,
                                 show_progress=False)
    assert info["config"]["relu"] == "fake" and 0 <= info["agreement"] <= 1
    z, _ = features.robustify(trained_cnn, data, features.Matching(20, 0.2), batch_size=20, source=SOURCE,
                              show_progress=False)
    assert info["agreement"] == pytest.approx((attacks.predict(trained_cnn, z.x) == data.y).float().mean().item())


class _ReadsFirstPixel(torch.nn.Module):
    """A judge whose prediction is written in the image: class c when the first pixel is c / 10."""

    def forward(self, x):
        return torch.nn.functional.one_hot((x[:, 0, 0, 0] * 10).round().long().clamp(0, 9), 10).float()


def _written(classes):
    """Images whose first pixel makes `_ReadsFirstPixel` read `classes`."""
    x = torch.full((len(classes), 1, 4, 4), 0.5)
    x[:, 0, 0, 0] = torch.tensor(classes, dtype=torch.float32) / 10
    return x


def _constructed_case():
    """Ten images: y = 0..9; images 0 and 1 keep their label (t = y), the rest are relabelled t = y + 1. The judge
    reads t on image 2 before the attack already, and on images 2, 3 and 4 after it; on 0 and 1 it reads t (= y)."""
    y = torch.arange(10)
    t = torch.where(y < 2, y, (y + 1) % 10)
    before = [int(c) for c in y]
    before[2] = int(t[2])
    after = [int(t[i]) if i < 5 else int(y[i]) for i in range(10)]
    return Data(_written(before), y), Data(_written(after), t)


def test_judged_leakage_is_attacked_minus_unattacked_among_changed_labels():
    original, relabelled = _constructed_case()
    judge = _ReadsFirstPixel()
    seen = features.judged_leakage(judge, relabelled, original)
    # among the 8 images with t != y: t read on 2, 3, 4 after the attack, on 2 before it
    assert seen["n"] == 8
    assert seen["attacked"] == pytest.approx(3 / 8) and seen["unattacked"] == pytest.approx(1 / 8)
    assert seen["leakage"] == pytest.approx(2 / 8)
    # the old measure counts the two unchanged images as read and does not subtract what was read before
    old = features.leakage(judge, relabelled, original)
    assert old["attacked"] == pytest.approx(5 / 10) and old["unattacked"] == pytest.approx(3 / 10)
    with pytest.raises(ValueError, match="relabelled must change the label of at least one image"):
        features.judged_leakage(judge, original, original)
    with pytest.raises(ValueError, match="relabelled and original must hold the same images"):
        features.judged_leakage(judge, relabelled, original[:5])


def test_dropping_removes_exactly_the_images_the_judge_reads_as_their_label():
    original, relabelled = _constructed_case()
    info = dict(config=dict(construction="d_det", source=SOURCE, eps=1.0))
    judge_source = dict(name="reads the first pixel")
    kept, how = features.drop_read_as_target(_ReadsFirstPixel(), relabelled, info, judge_source=judge_source)
    # read as t: images 0 and 1 (t = y) and 2, 3, 4 (after the attack); the other five stay, in order
    assert how["kept"].tolist() == [False] * 5 + [True] * 5
    assert torch.equal(kept.x, relabelled.x[5:]) and torch.equal(kept.y, relabelled.y[5:])
    assert how["n_kept"] == 5 and how["share_dropped"] == pytest.approx(0.5)
    assert how["config"] == dict(construction="drop_judged", of=info["config"], judge=judge_source)
    assert versions.of("models", dict(train_data=how["config"]))["construction"] == {"drop_judged": 1, "d_det": 2}
    everything = Data(relabelled.x[:5], relabelled.y[:5])
    with pytest.raises(ValueError, match="reads every one of the 5 images as its new label"):
        features.drop_read_as_target(_ReadsFirstPixel(), everything, info, judge_source=judge_source)
    with pytest.raises(ValueError, match="source must be a JSON dict"):
        features.drop_read_as_target(_ReadsFirstPixel(), relabelled, info)


def test_dropping_a_real_d_det_keeps_what_the_judge_does_not_read(trained_cnn, small_train):
    d_det, info = features.make_d_det(trained_cnn, small_train, Attack("l2", 2.0, 5), source=SOURCE,
                                      show_progress=False)
    kept, how = features.drop_read_as_target(trained_cnn, d_det, info, judge_source=SOURCE)
    read = attacks.predict(trained_cnn, d_det.x) == d_det.y
    assert torch.equal(how["kept"], ~read) and torch.equal(kept.x, d_det.x[~read])
    assert how["share_dropped"] == pytest.approx(info["success_rate"])  # the source reads what its attack reached
