"""Test-set ELBO and the importance-sampled NLL (Burda et al.): K = 1 is the ELBO, larger K is tighter."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from latentlab.core.checkpoint import open_run
from latentlab.core.config import ModelConfig
from latentlab.core.evaluate import Evaluation, elbo_parts, evaluate, importance_sampled_nll
from latentlab.core.model import build_model


@pytest.fixture(scope="module")
def trained(trained_run):
    run = open_run(trained_run)
    images, _ = run.load_testset()
    return run.load_model(), images


def test_elbo_parts_add_up_and_are_reproducible_by_seed(trained):
    model, images = trained
    recon, kl, total = elbo_parts(model, images, seed=0)
    assert total == pytest.approx(recon + kl, rel=1e-12)
    assert recon > 0 and kl > 0
    assert elbo_parts(model, images, seed=0) == (recon, kl, total)
    assert elbo_parts(model, images, seed=1)[0] != recon  # a different z sample
    assert elbo_parts(model, images, seed=1)[1] == pytest.approx(kl, rel=1e-6)  # the KL is closed-form


def test_elbo_parts_do_not_depend_on_the_batch_size_for_the_kl(trained):
    model, images = trained
    assert elbo_parts(model, images, batch_size=50)[1] == pytest.approx(elbo_parts(model, images)[1], rel=1e-6)


def test_iw_nll_with_one_sample_equals_the_negative_elbo_in_expectation(trained):
    """With K = 1 the estimator is log p(x|z) + log p(z) - log q(z|x) at one z: a single-sample ELBO.

    With the same seed, the z drawn equals the one ``elbo_parts`` draws, so the two differ only in the
    KL: Monte Carlo (log q - log p at that z) against closed form. That difference has mean zero; check
    it over several seeds against its own standard error.
    """
    model, images = trained
    diffs = np.array([
        importance_sampled_nll(model, images, samples=1, seed=s) - elbo_parts(model, images, seed=s)[2]
        for s in range(20)
    ])
    standard_error = diffs.std(ddof=1) / math.sqrt(len(diffs))
    assert abs(diffs.mean()) < 4 * standard_error + 1e-6
    assert diffs.std() > 0  # the single-sample KL really is a noisy estimate


def test_iw_nll_with_more_samples_is_below_the_negative_elbo_for_a_trained_model(trained):
    model, images = trained
    neg_elbo = elbo_parts(model, images)[2]
    nll_5 = importance_sampled_nll(model, images, samples=5)
    nll_100 = importance_sampled_nll(model, images, samples=100)
    assert nll_5 < neg_elbo
    assert nll_100 < neg_elbo
    assert nll_100 <= nll_5 + 0.05  # the bound tightens as K grows
    assert nll_100 > 0


def test_iw_nll_does_not_depend_on_how_items_are_batched(trained):
    """Splitting the items into batches changes the noise, not the estimate: means agree to sampling error."""
    model, images = trained
    whole = importance_sampled_nll(model, images, samples=20)
    split = importance_sampled_nll(model, images, samples=20, max_rows=20 * 37)  # 37 items per batch
    assert split == pytest.approx(whole, rel=0.02)


def test_evaluate_returns_every_part_and_skips_nll_when_asked(trained):
    model, images = trained
    result = evaluate(model, images, iw_samples=10)
    assert isinstance(result, Evaluation)
    assert result.n_items == images.shape[0] and result.iw_samples == 10
    assert result.total == pytest.approx(result.recon + result.kl)
    assert result.nll is not None and result.nll < result.total
    assert set(result.to_dict()) == {"recon", "kl", "total", "nll", "iw_samples", "n_items"}
    skipped = evaluate(model, images, iw_samples=0)
    assert skipped.nll is None and skipped.total == result.total


def test_iw_nll_handles_a_gaussian_likelihood():
    torch.manual_seed(0)
    model = build_model(ModelConfig(likelihood="gaussian", sigma=0.5, hidden=(16,), latent_dim=2), (1, 4, 4))
    images = torch.randint(0, 256, (30, 1, 4, 4), dtype=torch.uint8)
    neg_elbo = np.mean([elbo_parts(model, images, seed=s)[2] for s in range(10)])
    nll = importance_sampled_nll(model, images, samples=200)
    assert math.isfinite(nll) and nll < neg_elbo
