"""Projections onto tangent spaces, on/off-manifold robustness and the autoencoder's tangent spaces."""
import pytest
import torch
from torch import nn

from pagutils import manifold


def _v_and_basis(n=6, shape=(1, 4, 5), k=3, seed=0):
    v = torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed + 1))
    return v, manifold.random_basis(n, shape, k, seed)


def test_projections_are_idempotent_orthogonal_and_complementary():
    v, basis = _v_and_basis()
    on, off = manifold.project_onto(v, basis), manifold.project_off(v, basis)
    assert on.shape == v.shape and off.shape == v.shape
    torch.testing.assert_close(manifold.project_onto(on, basis), on, atol=1e-5, rtol=0)
    torch.testing.assert_close(manifold.project_off(off, basis), off, atol=1e-5, rtol=0)
    torch.testing.assert_close(on + off, v)
    assert (on * off).flatten(1).sum(1).abs().max() < 1e-5
    assert manifold.project_onto(off, basis).abs().max() < 1e-5


def test_on_manifold_fraction_is_one_on_the_tangent_space_and_zero_off_it():
    v, basis = _v_and_basis()
    on, off = manifold.project_onto(v, basis), manifold.project_off(v, basis)
    torch.testing.assert_close(manifold.on_manifold_fraction(on, basis), torch.ones(len(v)))
    assert manifold.on_manifold_fraction(off, basis).max() < 1e-6
    fraction = manifold.on_manifold_fraction(v, basis)
    expected = on.flatten(1).pow(2).sum(1) / v.flatten(1).pow(2).sum(1)
    torch.testing.assert_close(fraction, expected)
    # scale-free, and a zero vector has no direction
    torch.testing.assert_close(manifold.on_manifold_fraction(1e-30 * v, basis), fraction, atol=1e-4, rtol=0)
    assert torch.isnan(manifold.on_manifold_fraction(torch.zeros_like(v), basis)).all()


def test_random_directions_have_fraction_k_over_d():
    v, basis = _v_and_basis(n=4000, shape=(20,), k=4)
    assert abs(manifold.on_manifold_fraction(v, basis).mean().item() - 4 / 20) < 0.01


def test_orthonormalize_keeps_the_column_space():
    jacobian = torch.randn(5, 30, 4, generator=torch.Generator().manual_seed(0))
    q = manifold.orthonormalize(jacobian)
    torch.testing.assert_close(q.transpose(1, 2) @ q, torch.eye(4).expand(5, 4, 4), atol=1e-5, rtol=0)
    columns = jacobian.transpose(1, 2).reshape(5, 4, 30)  # each column as a "vector" of the batch
    for i in range(4):
        assert manifold.on_manifold_fraction(columns[:, i], q).min() > 1 - 1e-5


class _ReadsCoordinates(nn.Module):
    """Logits that depend on x only through Uᵀ x for a fixed basis U (D, k)."""

    def __init__(self, basis):
        super().__init__()
        self.basis = basis
        self.weight = torch.randn(3, basis.shape[1], generator=torch.Generator().manual_seed(0))

    def forward(self, x):
        return (x.flatten(1) @ self.basis) @ self.weight.T


def test_a_model_of_the_tangent_coordinates_is_perfectly_off_manifold_robust():
    shape, n, k = (1, 6, 6), 20, 5
    fixed = manifold.random_basis(1, shape, k, seed=3)[0]
    x = torch.rand(n, *shape, generator=torch.Generator().manual_seed(4))
    model = _ReadsCoordinates(fixed)
    change = manifold.on_off_robustness(model, x, fixed.expand(n, -1, -1), sigma=0.5, n_samples=4)
    assert change["off"].abs().max() < 1e-5, "noise orthogonal to U cannot change a function of Uᵀx"
    assert change["on"].min() > 1e-3
    # the reverse: with the complement of U as "tangent space", the model is robust *on* it
    whole = manifold.orthonormalize(torch.cat([fixed, torch.randn(36, 31)], 1)[None])[0]  # first k columns span U
    complement = whole[:, k:].expand(n, -1, -1)
    swapped = manifold.on_off_robustness(model, x, complement, sigma=0.5, n_samples=4)
    assert swapped["on"].abs().max() < 1e-5 and swapped["off"].min() > 1e-3


def test_on_off_robustness_is_seeded_and_grows_with_sigma():
    shape, n = (1, 6, 6), 10
    fixed = manifold.random_basis(1, shape, 5, seed=3)[0]
    x = torch.rand(n, *shape, generator=torch.Generator().manual_seed(4))
    model = _ReadsCoordinates(fixed)
    basis = manifold.random_basis(n, shape, 5, seed=9)
    first = manifold.on_off_robustness(model, x, basis, 0.2, seed=1)
    again = manifold.on_off_robustness(model, x, basis, 0.2, seed=1)
    torch.testing.assert_close(first["on"], again["on"])
    curves = manifold.robustness_vs_sigma(model, x, basis, [0.05, 0.5, 2.0])
    assert curves["on"] == sorted(curves["on"]) and curves["off"] == sorted(curves["off"])


def test_projected_noise_has_norm_sigma_and_lies_where_asked():
    v, basis = _v_and_basis()
    for direction in ("on", "off"):
        noise = manifold.projected_noise(v, basis, 0.7, direction, torch.Generator().manual_seed(0))
        torch.testing.assert_close(noise.flatten(1).norm(dim=1), torch.full((len(v),), 0.7))
        fraction = manifold.on_manifold_fraction(noise, basis)
        assert (fraction > 1 - 1e-5).all() if direction == "on" else (fraction < 1e-5).all()


def test_autoencoder_is_cached_and_its_tangent_basis_is_orthonormal():
    settings = dict(latent_dim=4, width=8, n_train=256, epochs=1, batch_size=64)
    ae = manifold.autoencoder("mnist", "quick", device="cpu", show_progress=False, **settings)
    again = manifold.autoencoder("mnist", "quick", device="cpu", show_progress=False, **settings)
    assert ae.trained_now and not again.trained_now
    for a, b in zip(ae.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    basis = manifold.tangent_basis(ae, x)
    assert basis.shape == (3, 784, 4)
    torch.testing.assert_close(basis.transpose(1, 2) @ basis, torch.eye(4).expand(3, 4, 4), atol=1e-5, rtol=0)
    # the decoder Jacobian agrees with central finite differences
    z = ae.encode(x).detach()
    jacobian = manifold.decoder_jacobian(ae, z)
    step = torch.zeros(4)
    step[2] = 1e-3
    finite = (ae.decode(z + step) - ae.decode(z - step)).flatten(1) / 2e-3
    torch.testing.assert_close(jacobian[:, :, 2], finite.detach(), atol=1e-4, rtol=1e-2)


def test_bad_inputs_raise_errors_naming_the_argument():
    v, basis = _v_and_basis()
    with pytest.raises(ValueError, match="basis must have shape"):
        manifold.project_onto(v, basis[:, :10])
    with pytest.raises(ValueError, match="basis must be a tensor"):
        manifold.project_onto(v, basis[0])
    with pytest.raises(ValueError, match="v must be a float tensor"):
        manifold.on_manifold_fraction(torch.ones(6, dtype=torch.int64), basis)
    with pytest.raises(ValueError, match="jacobian must"):
        manifold.orthonormalize(torch.randn(3, 4))
    with pytest.raises(ValueError, match="sigma must be"):
        manifold.on_off_robustness(nn.Identity(), v, basis, sigma=-1.0)
    with pytest.raises(ValueError, match="n_samples must be"):
        manifold.on_off_robustness(nn.Identity(), v, basis, sigma=1.0, n_samples=0)
    with pytest.raises(ValueError, match="direction must be"):
        manifold.projected_noise(v, basis, 1.0, "sideways")
    with pytest.raises(ValueError, match="dataset must be"):
        manifold.autoencoder("imagenet")
    with pytest.raises(ValueError, match="unknown autoencoder setting"):
        manifold.autoencoder("mnist", colour=True)
    with pytest.raises(ValueError, match="latent_dim must be"):
        manifold.autoencoder("mnist", latent_dim=0)
    ae = manifold.Autoencoder((1, 28, 28), 4, 8)
    with pytest.raises(ValueError, match=r"x must be a batch of images of shape \(N, 1, 28, 28\)"):
        manifold.tangent_basis(ae, torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match="sigmas must be"):
        manifold.robustness_vs_sigma(nn.Identity(), v, basis, [])


def test_off_on_ratio_divides_and_names_bad_input():
    assert manifold.off_on_ratio(0.2, 0.8) == pytest.approx(0.25)
    assert manifold.off_on_ratio(0.3, 0.0) == pytest.approx(0.3e12)   # never a division by zero
    with pytest.raises(ValueError, match="off_on_ratio: on must be a number >= 0"):
        manifold.off_on_ratio(0.1, -1.0)


# -------------------------------------------------------------------------------------------------------------
# Chapter 9's controls: random subspaces of the digit's support, and tangent spaces shuffled across images

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _digits(n, shape=(1, 12, 12), seed=0):
    """Images with a 'digit': a random rectangle of bright pixels on a black background."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, *shape)
    h, w = shape[1:]
    for i in range(n):
        top, left = torch.randint(0, h - 4, (2,), generator=g).tolist()
        tall, wide = torch.randint(3, 5, (2,), generator=g).tolist()
        x[i, :, top:top + tall, left:left + wide] = 0.5 + 0.5 * torch.rand(shape[0], tall, wide, generator=g)
    return x


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 6), channels=st.integers(1, 3), k=st.integers(1, 9), dilation=st.integers(0, 2),
       seed=st.integers(0, 2**16))
def test_support_bases_are_orthonormal_and_lie_on_the_dilated_support(n, channels, k, dilation, seed):
    x = _digits(n, (channels, 12, 12), seed)
    support = manifold.digit_support(x, dilation=dilation)
    assert support.shape == x.shape and support.dtype == torch.bool
    assert support[x > 0.1].all(), "the support holds every bright pixel"
    assert (support == support[:, :1]).all(), "one support for every channel"
    basis = manifold.support_basis(x, k, seed=seed, dilation=dilation)
    assert basis.shape == (n, x[0].numel(), k)
    torch.testing.assert_close(basis.transpose(1, 2) @ basis, torch.eye(k).expand(n, k, k), atol=1e-5, rtol=0)
    assert (basis[~support.flatten(1)] == 0).all(), "no direction leaves the support"
    again = manifold.support_basis(x, k, seed=seed, dilation=dilation)
    assert torch.equal(basis, again)


def test_digit_support_dilates_by_whole_pixels():
    x = torch.zeros(1, 1, 7, 7)
    x[0, 0, 3, 3] = 1.0
    assert manifold.digit_support(x, dilation=0).sum() == 1
    assert manifold.digit_support(x, dilation=1).sum() == 9
    assert manifold.digit_support(x, dilation=2).sum() == 25


@pytest.mark.parametrize("n", [2, 3, 10, 101])
def test_shuffled_bases_are_a_permutation_with_no_image_keeping_its_own(n):
    basis = manifold.random_basis(n, (1, 5, 5), 3, seed=n)
    shuffled = manifold.shuffled_basis(basis, seed=7)
    # which original basis each image got
    source = [next(j for j in range(n) if torch.equal(shuffled[i], basis[j])) for i in range(n)]
    assert sorted(source) == list(range(n)), "every basis is used exactly once"
    assert all(j != i for i, j in enumerate(source)), "no image keeps its own tangent space"
    assert torch.equal(manifold.shuffled_basis(basis, seed=7), shuffled)
    assert n < 10 or not torch.equal(manifold.shuffled_basis(basis, seed=8), shuffled)  # seeded, not fixed


def _true_tangent_case(n=120, k=4, seed=0):
    """Images with a digit, a true tangent space of dimension k on each digit, and two 'gradients': one in the
    true tangent space, one random on the digit's support."""
    x = _digits(n, (1, 12, 12), seed)
    tangent = manifold.support_basis(x, k, seed=seed + 1, dilation=1)
    g = torch.Generator().manual_seed(seed + 2)
    in_tangent = torch.einsum("ndk,nk->nd", tangent, torch.randn(n, k, generator=g)).view_as(x)
    on_support = torch.randn(x.shape, generator=g) * manifold.digit_support(x, dilation=1)
    return x, tangent, dict(in_tangent=in_tangent, on_support=on_support)


def test_a_gradient_in_the_true_tangent_space_exceeds_the_controls_and_one_random_on_the_support_does_not():
    x, tangent, grads = _true_tangent_case()
    bases = dict(tangent=tangent, **manifold.control_bases(x, tangent, seed=3))
    fractions = {b: {name: manifold.on_manifold_fraction(g, basis) for name, g in grads.items()}
                 for b, basis in bases.items()}
    for name, holds in (("in_tangent", True), ("on_support", False)):
        read = manifold.excess_over_controls(lambda f, index: f[name][index].nanmean(-1), fractions)
        assert read["holds"] is holds, (name, read)
        if holds:
            assert read["value"]["tangent"] == pytest.approx(1.0)
            assert read["value"]["tangent"] > max(read["value"]["support"], read["value"]["shuffled"]) + 0.5
        else:  # a gradient with no manifold structure gets about the same fraction from every basis
            assert abs(read["value"]["tangent"] - read["value"]["support"]) < 0.05
    # the chapter's comparison of two models: tangent gradient against random-on-support gradient
    gap = manifold.excess_over_controls(
        lambda f, index: manifold.fraction_gap(f, index, above="in_tangent", below="on_support"), fractions)
    assert gap["holds"] and gap["false_positive_rate"] == pytest.approx(0.05) and gap["detectable"] > 0


def test_the_excess_rule_rarely_holds_between_two_draws_of_the_same_control():
    """A second draw of the control in place of the tangent space: the rule must say "does not hold"."""
    x, tangent, grads = _true_tangent_case(seed=5)
    first = manifold.support_basis(x, 4, seed=11)
    second = manifold.support_basis(x, 4, seed=12)
    fractions = {b: {name: manifold.on_manifold_fraction(g, basis) for name, g in grads.items()}
                 for b, basis in dict(tangent=second, support=first).items()}
    read = manifold.excess_over_controls(lambda f, index: f["in_tangent"][index].nanmean(-1), fractions,
                                         controls=("support",))
    assert not read["holds"]


def test_paired_bootstrap_has_its_false_positive_rate_and_detects_its_detectable_effect():
    g = torch.Generator().manual_seed(0)
    trials, n, sd = 200, 200, 1.0
    null_hits, shifted_hits = 0, 0
    detectable = None
    for t in range(trials):
        values = sd * torch.randn(n, generator=g, dtype=torch.float64)
        read = manifold.paired_bootstrap(lambda index: values[index].mean(-1), n, n_boot=500, seed=t)
        null_hits += read["holds"]
        detectable = read["detectable"] if detectable is None else detectable
        shifted = manifold.paired_bootstrap(lambda index: (values + detectable)[index].mean(-1), n, n_boot=500,
                                            seed=t)
        shifted_hits += shifted["holds"]
    assert read["false_positive_rate"] == pytest.approx(0.05)
    assert null_hits / trials < 0.05 + 3 * (0.05 * 0.95 / trials) ** 0.5 + 0.02
    assert abs(shifted_hits / trials - 0.8) < 0.1
    assert detectable == pytest.approx(2.486 * sd / n ** 0.5, rel=0.2)


class _Linear(nn.Module):
    def __init__(self, d, seed):
        super().__init__()
        self.weight = torch.randn(3, d, generator=torch.Generator().manual_seed(seed))

    def forward(self, x):
        return x.flatten(1) @ self.weight.T


def test_changes_per_image_average_to_the_curves_and_the_ratio_reduction_reads_them():
    shape, n = (1, 6, 6), 12
    x = torch.rand(n, *shape, generator=torch.Generator().manual_seed(4))
    basis = manifold.random_basis(n, shape, 5, seed=9)
    models = dict(standard=_Linear(36, 0), robust=_Linear(36, 1))
    changes = manifold.changes_per_image(models, x, basis, [0.1, 1.0], n_samples=3, seed=2)
    assert changes["robust"]["on"].shape == (2, n) and changes["robust"]["sigma"] == [0.1, 1.0]
    for name, model in models.items():
        curve = manifold.robustness_vs_sigma(model, x, basis, [0.1, 1.0], n_samples=3, seed=2)
        for key in ("on", "off"):
            assert manifold.mean_curves(changes)[name][key] == pytest.approx(curve[key])
    ratios = manifold.off_on_ratios(changes)
    reduction = manifold.ratio_reduction(changes, sigma_index=1)
    assert reduction.item() == pytest.approx(1 - ratios["robust"][1] / ratios["standard"][1], rel=1e-5)
    resamples = torch.randint(n, (7, n), generator=torch.Generator().manual_seed(0))
    assert manifold.ratio_reduction(changes, resamples, sigma_index=1).shape == (7,)
    assert "| robust | tangent |" in manifold.controls_markdown(
        dict(tangent=changes), dict(tangent={m: torch.rand(n) for m in models}), sigma_index=1)


def test_controls_name_bad_arguments():
    x = _digits(3)
    with pytest.raises(ValueError, match=r"support_basis: k must be at most the smallest digit support"):
        manifold.support_basis(x, 60, dilation=0)
    with pytest.raises(ValueError, match="support_basis: k must be an int between 1 and D=144"):
        manifold.support_basis(x, 0)
    with pytest.raises(ValueError, match="digit_support: dilation must be a non-negative int"):
        manifold.digit_support(x, dilation=-1)
    with pytest.raises(ValueError, match=r"shuffled_basis: basis must be a tensor \(N, D, k\) of N >= 2"):
        manifold.shuffled_basis(manifold.random_basis(1, (4,), 2))
    with pytest.raises(TypeError, match="paired_bootstrap: statistic must be a function"):
        manifold.paired_bootstrap(0.3, 10)
    with pytest.raises(ValueError, match=r"excess_over_controls: measured must have the key\(s\) .*, got a dict missing the key\(s\) \['shuffled'\]"):
        manifold.excess_over_controls(lambda f, i: f[i].mean(-1), dict(tangent=torch.rand(5), support=torch.rand(5)))


def test_fresh_shuffles_pass_a_valid_comparison_rarely_and_a_rule_that_decides_by_itself_always():
    x, tangent, grads = _true_tangent_case(seed=7)
    fractions = {b: {name: manifold.on_manifold_fraction(g, basis) for name, g in grads.items()}
                 for b, basis in dict(tangent=tangent, support=manifold.support_basis(x, 4, seed=3)).items()}
    fractions["shuffled"] = {name: manifold.shuffled_fraction(g, tangent) for name, g in grads.items()}

    def valid(u):
        again = {name: manifold.on_manifold_fraction(g, u) for name, g in grads.items()}
        return manifold.excess_over_controls(lambda f, i: f["in_tangent"][i].nanmean(-1),
                                             {**fractions, "again": again}, tested="again")["holds"]

    calm = manifold.shuffle_calibration(valid, tangent, n_draws=10)
    assert calm["draws"] == 10 and calm["passes"] <= 2 and not calm["beyond_chance"]
    assert manifold.shuffle_calibration(lambda u: True, tangent, n_draws=4)["beyond_chance"]
    # the shuffled fraction is the mean over its shuffles
    v = grads["on_support"]
    mean = sum(manifold.on_manifold_fraction(v, manifold.shuffled_basis(tangent, s)) for s in (2, 5)) / 2
    torch.testing.assert_close(manifold.shuffled_fraction(v, tangent, seeds=(2, 5)), mean)


def test_passes_beyond_chance_is_a_one_sided_binomial_test():
    assert not manifold.passes_beyond_chance(3, 20) and manifold.passes_beyond_chance(4, 20)
    assert not manifold.passes_beyond_chance(1, 4) and manifold.passes_beyond_chance(2, 4)
    assert not manifold.passes_beyond_chance(0, 20, rate=0.0) and manifold.passes_beyond_chance(1, 20, rate=0.0)
    with pytest.raises(ValueError, match="passes_beyond_chance: passes must be at most draws"):
        manifold.passes_beyond_chance(5, 4)


def test_at_sigma_and_change_reduction_read_one_noise_norm():
    changes = {name: dict(sigma=[0.5, 2.0], on=torch.rand(2, 5), off=torch.full((2, 5), off))
               for name, off in (("standard", 0.4), ("robust", 0.1))}
    one = manifold.at_sigma(changes, 2.0)
    assert one["robust"]["sigma"] == [2.0] and torch.equal(one["robust"]["on"][0], changes["robust"]["on"][1])
    assert manifold.change_reduction(one).item() == pytest.approx(0.75)
    with pytest.raises(ValueError, match=r"at_sigma: sigma must be one of the measured noise norms \[0.5, 2.0\]"):
        manifold.at_sigma(changes, 1.0)
    with pytest.raises(ValueError, match="change_reduction: direction must be one of"):
        manifold.change_reduction(one, direction="sideways")
