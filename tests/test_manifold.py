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
