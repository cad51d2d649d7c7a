"""The ELBO parts against torch's own distributions and losses."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from latentlab.core.losses import kl_per_dim, loss_parts, recon_nll


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(1234)


def test_kl_matches_torch_kl_divergence_from_standard_normal(gen):
    mu = torch.randn(16, 5, generator=gen, dtype=torch.float64) * 2
    logvar = torch.randn(16, 5, generator=gen, dtype=torch.float64) * 1.5
    expected = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(torch.zeros_like(mu), torch.ones_like(mu)))
    assert torch.allclose(kl_per_dim(mu, logvar), expected, rtol=1e-10, atol=1e-12)
    parts = loss_parts(torch.zeros(16, 1, 2, 2, dtype=torch.float64), torch.zeros(16, 1, 2, 2, dtype=torch.float64),
                       mu, logvar, "bernoulli")
    assert torch.allclose(parts.kl, expected.sum(1), rtol=1e-10)
    assert torch.allclose(parts.kl_dims, expected, rtol=1e-10)


def test_kl_is_zero_exactly_at_the_prior():
    assert torch.equal(kl_per_dim(torch.zeros(3, 4), torch.zeros(3, 4)), torch.zeros(3, 4))


@pytest.mark.parametrize("binary", [True, False])
def test_bernoulli_recon_equals_bce_on_probabilities_per_image(gen, binary):
    logits = torch.randn(6, 1, 8, 8, generator=gen, dtype=torch.float64) * 3
    x = torch.rand(6, 1, 8, 8, generator=gen, dtype=torch.float64)
    if binary:
        x = (x > 0.5).double()
    got = recon_nll(logits, x, "bernoulli")
    assert got.shape == (6,)
    for i in range(6):
        expected = F.binary_cross_entropy(torch.sigmoid(logits[i]), x[i], reduction="sum")
        assert got[i].item() == pytest.approx(expected.item(), rel=1e-9)


def test_bernoulli_recon_stays_finite_for_extreme_logits():
    logits = torch.tensor([[-200.0, 200.0]])
    x = torch.tensor([[1.0, 0.0]])
    got = recon_nll(logits, x, "bernoulli")
    assert torch.isfinite(got).all() and got.item() == pytest.approx(400.0)


@pytest.mark.parametrize("sigma", [0.1, 1.0, 2.5])
def test_gaussian_recon_equals_normal_log_prob_per_image(gen, sigma):
    mean = torch.rand(4, 3, 4, 4, generator=gen, dtype=torch.float64)
    x = torch.rand(4, 3, 4, 4, generator=gen, dtype=torch.float64)
    log_sigma = torch.tensor(math.log(sigma), dtype=torch.float64)
    got = recon_nll(mean, x, "gaussian", log_sigma)
    for i in range(4):
        expected = -Normal(mean[i], sigma).log_prob(x[i]).sum()
        assert got[i].item() == pytest.approx(expected.item(), rel=1e-10)


def test_gaussian_recon_without_sigma_uses_unit_variance(gen):
    mean = torch.rand(2, 1, 3, 3, generator=gen, dtype=torch.float64)
    x = torch.rand(2, 1, 3, 3, generator=gen, dtype=torch.float64)
    expected = -Normal(mean, 1.0).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(recon_nll(mean, x, "gaussian"), expected, rtol=1e-12)


def test_total_weights_the_kl_by_beta(gen):
    out = torch.randn(3, 1, 4, 4, generator=gen)
    x = torch.rand(3, 1, 4, 4, generator=gen)
    mu, logvar = torch.randn(3, 2, generator=gen), torch.randn(3, 2, generator=gen)
    parts = loss_parts(out, x, mu, logvar, "bernoulli")
    assert torch.allclose(parts.total(), parts.recon + parts.kl)
    assert torch.allclose(parts.total(0.25), parts.recon + 0.25 * parts.kl)
    assert torch.equal(parts.total(0.0), parts.recon)


def test_gaussian_recon_gradient_reaches_a_learned_log_sigma():
    log_sigma = torch.zeros((), requires_grad=True)
    x = torch.full((1, 1, 2, 2), 0.9)
    out = torch.full((1, 1, 2, 2), 0.1)
    recon_nll(out, x, "gaussian", log_sigma).sum().backward()
    # d/dls [0.5 r^2 e^{-2 ls} + ls] at ls = 0 is 1 - r^2 per pixel.
    assert log_sigma.grad.item() == pytest.approx(4 * (1 - 0.8**2))
