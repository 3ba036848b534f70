"""The robust Gaussian model: each closed form of Ilyas et al. (2019, Section 4) against a seeded Monte-Carlo
simulation (200k samples, relative error < 5% unless stated), limits, monotonicity and argument checks."""
import math

import pytest
import torch

from pagutils import gaussian

N = 200_000
RTOL = 0.05


def rel(a, b):
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return ((a - b).norm() / b.norm()).item()


@pytest.fixture(scope="module")
def model():
    return gaussian.example_model(2, condition=100.0)


@pytest.fixture(scope="module")
def samples(model):
    return gaussian.sample(N, *model, seed=0)


def random_spd(d, seed, condition=50.0):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    return q @ torch.diag(torch.logspace(0, -math.log10(condition), d, dtype=torch.float64)) @ q.T


def test_sampling_is_seeded_and_mle_recovers_the_model(model, samples):
    x, y = samples
    again = gaussian.sample(N, *model, seed=0)
    assert torch.equal(x, again[0]) and torch.equal(y, again[1])
    assert x.dtype == torch.float64 and set(y.unique().tolist()) == {-1.0, 1.0}
    assert abs(y.mean().item()) < 0.01
    mu, sigma = gaussian.mle(x, y)
    assert rel(mu, model[0]) < 0.01 and rel(sigma, model[1]) < 0.02


def test_worst_case_perturbation_matches_gradient_ascent():
    sigma = random_spd(3, seed=1)
    mu = torch.tensor([0.5, -0.2, 0.3], dtype=torch.float64)
    x, y = gaussian.sample(64, mu, sigma, seed=2)
    lam = 2.0 / torch.linalg.eigvalsh(sigma)[0].item()
    closed = gaussian.worst_case_perturbation(x, y, mu, sigma, lam)
    delta = torch.zeros_like(x, requires_grad=True)
    optimiser = torch.optim.LBFGS([delta], max_iter=200, tolerance_grad=1e-12, line_search_fn="strong_wolfe")

    def objective():
        optimiser.zero_grad()
        loss = -(2 * gaussian.nll(x + delta, y, mu, sigma) - lam * delta.pow(2).sum(1)).sum()
        loss.backward()
        return loss

    optimiser.step(objective)
    assert rel(delta.detach(), closed) < 1e-5


def test_theorem1_gap_matches_monte_carlo_and_is_smallest_for_isotropic(model, samples):
    mu, sigma = model
    C = 2.0 / torch.linalg.eigvalsh(sigma)[0].item()
    closed = gaussian.vulnerability_gap(sigma, C)
    simulated = gaussian.adversarial_loss_gap(*samples, mu, sigma, C)
    assert abs(simulated - closed) / closed < RTOL
    isotropic = torch.eye(2, dtype=torch.float64) * torch.trace(sigma) / 2
    assert gaussian.vulnerability_gap(isotropic, C) < closed
    for seed in range(5):  # other covariances of the same trace that C still bounds
        other = random_spd(2, seed=seed, condition=5.0)
        other = other * torch.trace(sigma) / torch.trace(other)
        assert gaussian.vulnerability_gap(other, C) > gaussian.vulnerability_gap(isotropic, C)


def test_robust_covariance_is_the_stated_formula_and_budget_inverts():
    sigma = random_spd(4, seed=4)
    lam = 3.0
    root = torch.linalg.eigh(sigma / lam + sigma @ sigma / 4)
    sqrt = root.eigenvectors @ torch.diag(root.eigenvalues.sqrt()) @ root.eigenvectors.T
    expected = sigma / 2 + torch.eye(4, dtype=torch.float64) / lam + sqrt
    assert rel(gaussian.robust_covariance(sigma, lam), expected) < 1e-12
    for eps in (0.01, 0.3, 1.0, 5.0):
        lam = gaussian.robust_multiplier(sigma, eps)
        assert gaussian.adversary_budget(sigma, lam) == pytest.approx(eps, rel=1e-9)


def test_theorem2_closed_form_matches_adversarial_training(model, samples):
    mu, sigma = model
    for eps in (0.1, 0.5):
        mu_r, sigma_r, lam = gaussian.robust_parameters(mu, sigma, eps)
        mu_mc, sigma_mc, lam_mc = gaussian.robust_mle(*samples, eps)
        assert torch.equal(mu_r, mu) and rel(mu_mc, mu) < 0.01
        assert rel(sigma_mc, sigma_r) < RTOL
        assert abs(lam_mc - lam) / lam < RTOL
        attack = gaussian.worst_case_perturbation(*samples, mu_mc, sigma_mc, lam_mc)
        assert attack.pow(2).sum(1).mean().sqrt().item() == pytest.approx(eps, rel=1e-3)


def test_robust_covariance_tends_to_data_covariance_as_eps_vanishes(model):
    mu, sigma = model
    assert torch.equal(gaussian.robust_parameters(mu, sigma, 0.0)[1], sigma)
    errors = [rel(gaussian.robust_parameters(mu, sigma, eps)[1], sigma) for eps in (1e-2, 1e-3, 1e-4, 1e-5)]
    assert all(b < a for a, b in zip(errors, errors[1:])) and errors[-1] < 1e-3


def test_robust_covariance_becomes_more_isotropic_as_eps_grows():
    sigma = random_spd(5, seed=5, condition=200.0)
    mu = torch.ones(5, dtype=torch.float64)
    eps_list = [0.0, 0.05, 0.2, 0.5, 1.0, 3.0, 10.0, 100.0]
    conditions = [gaussian.condition_number(gaussian.robust_parameters(mu, sigma, e)[1]) for e in eps_list]
    assert conditions[0] == pytest.approx(200.0, rel=1e-6)
    assert all(b < a for a, b in zip(conditions, conditions[1:])) and conditions[-1] < 1.05
    alignments = [gaussian.worst_case_alignment(gaussian.robust_parameters(mu, sigma, e)[1]) for e in eps_list]
    assert all(b > a for a, b in zip(alignments, alignments[1:]))


def test_robust_error_matches_monte_carlo_and_robust_model_wins_under_attack(model, samples):
    mu, sigma = model
    w_std, b = gaussian.linear_classifier(mu, sigma)
    w_rob, _ = gaussian.linear_classifier(mu, gaussian.robust_parameters(mu, sigma, 0.25)[1])
    for w in (w_std, w_rob):
        for eps in (0.0, 0.1, 0.25):
            closed = gaussian.robust_error(w, b, mu, sigma, eps)
            assert abs(gaussian.empirical_robust_error(w, b, *samples, eps) - closed) / closed < RTOL
    assert gaussian.robust_error(w_std, b, mu, sigma, 0.0) < gaussian.robust_error(w_rob, b, mu, sigma, 0.0)
    assert gaussian.robust_error(w_rob, b, mu, sigma, 0.25) < gaussian.robust_error(w_std, b, mu, sigma, 0.25)


def test_theorem3_robust_gradients_align_better(model, samples):
    mu, sigma = model
    x, y = samples
    sigma_r = gaussian.robust_parameters(mu, sigma, 0.25)[1]
    cosines = {}
    for name, s in (("standard", sigma), ("robust", sigma_r)):
        w, b = gaussian.linear_classifier(mu, s)
        grads = gaussian.classifier_gradient(mu, s, x[:1000])
        assert torch.allclose(grads, w.expand(1000, 2), rtol=1e-9, atol=1e-9)
        cosines[name] = gaussian.gradient_alignment(grads, mu)
        assert torch.allclose(cosines[name], gaussian.gradient_alignment(w, mu).expand(1000))
    assert (cosines["robust"] > cosines["standard"]).all()
    assert gaussian.worst_case_alignment(sigma_r) > gaussian.worst_case_alignment(sigma)
    angles = torch.linspace(0, math.pi, 20001, dtype=torch.float64)
    directions = torch.stack([angles.cos(), angles.sin()], 1)
    for s in (sigma, sigma_r):
        brute = gaussian.gradient_alignment(torch.linalg.solve(s, directions.T).T, directions).min().item()
        assert brute == pytest.approx(gaussian.worst_case_alignment(s), abs=1e-6)


@pytest.mark.parametrize("call, name", [
    (lambda m, s: gaussian.robust_parameters(m, -s, 0.1), "sigma_star"),
    (lambda m, s: gaussian.robust_parameters(m, torch.tensor([[1.0, 2.0], [2.0, 1.0]]), 0.1), "sigma_star"),
    (lambda m, s: gaussian.robust_parameters(m, s, -0.1), "eps"),
    (lambda m, s: gaussian.robust_parameters(m[:1], s, 0.1), "sigma_star"),
    (lambda m, s: gaussian.sample(10, m, torch.eye(3)), "sigma"),
    (lambda m, s: gaussian.sample(0, m, s), "n"),
    (lambda m, s: gaussian.robust_covariance(torch.ones(2, 3), 1.0), "sigma_star"),
    (lambda m, s: gaussian.robust_covariance(s, -1.0), "lam"),
    (lambda m, s: gaussian.vulnerability_gap(s, 1.0), "C"),
    (lambda m, s: gaussian.robust_error(torch.ones(3), 0.0, m, s, 0.1), "w"),
    (lambda m, s: gaussian.robust_error(torch.ones(2), 0.0, m, s, -1.0), "eps"),
    (lambda m, s: gaussian.mle(torch.zeros(5, 2), torch.ones(4)), "y"),
    (lambda m, s: gaussian.mle(torch.zeros(5, 2), torch.zeros(5)), "y"),
    (lambda m, s: gaussian.robust_mle(torch.zeros(5, 2), torch.ones(5), -1.0), "eps"),
    (lambda m, s: gaussian.worst_case_perturbation(torch.zeros(4, 2), torch.ones(4), m, s, 1.0), "lam"),
])
def test_bad_arguments_raise_value_error_naming_them(model, call, name):
    with pytest.raises(ValueError, match=name):
        call(*model)


def test_theorem_rows_compare_closed_form_and_monte_carlo():
    mu, sigma = gaussian.example_model(2, 25.0)
    x, y = gaussian.sample(20000, mu, sigma, seed=0)
    rows2, fits = gaussian.theorem2_rows("d=2", mu, sigma, x, y, [0.0, 0.5], 25.0)
    assert list(fits) == [0.5] and len(rows2) == 3
    trace = rows2[0]
    assert trace["closed"] == pytest.approx(torch.trace(gaussian.robust_parameters(mu, sigma, 0.5)[1]).item())
    assert trace["value"] == pytest.approx(torch.trace(fits[0.5][1]).item()) and trace["rel_error"] < 0.05
    rows3 = gaussian.theorem3_rows("d=2", mu, sigma, x, y, [0.0, 0.5], fits)
    assert len(rows3) == 2 + 4
    standard, robust = rows3[0], rows3[2]
    assert robust["closed"] > standard["closed"]          # Theorem 3: the robust gradient is better aligned
    assert all(r["rel_error"] < 0.1 for r in rows3)
