"""Posterior ellipses in a view: exact for the linear views, flagged approximate for t-SNE;
each item's mean sigma and its 0..1 scale for sizing and colouring points."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab.core.posterior import TWO_SIGMA_MASS, ellipse_in_view, linear_map, mean_sigma, sigma_scale
from latentlab.core.projection import AxesProjection, IdentityProjection, PCAProjection, TSNEProjection


@pytest.fixture
def latents16():
    rng = np.random.default_rng(3)
    scales = np.linspace(3.0, 0.2, 16)  # a spread that gives PCA two clear axes
    return rng.standard_normal((200, 16)) * scales


def quadratic_form(outline: np.ndarray, centre: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    d = outline - centre
    return np.einsum("ni,ij,nj->n", d, np.linalg.inv(covariance), d)


def test_on_a_pca_view_the_outline_is_the_two_sigma_contour_of_the_mapped_posterior(latents16):
    pca = PCAProjection(latents16)
    rng = np.random.default_rng(4)
    mu, logvar = latents16[7], rng.uniform(-3.0, 0.0, 16)
    ellipse = ellipse_in_view(pca, mu, logvar, points=48)
    w = pca.components
    expected = w @ np.diag(np.exp(logvar)) @ w.T  # computed apart from the module's broadcasting
    np.testing.assert_allclose(ellipse.covariance, expected, rtol=1e-12)
    np.testing.assert_allclose(ellipse.centre, pca.transform(mu[None])[0])
    assert ellipse.outline.shape == (49, 2) and ellipse.exact and ellipse.n_sigma == 2.0
    np.testing.assert_array_equal(ellipse.outline[0], ellipse.outline[-1])  # closed
    np.testing.assert_allclose(quadratic_form(ellipse.outline, ellipse.centre, expected), 4.0, rtol=1e-9)
    three = ellipse_in_view(pca, mu, logvar, n_sigma=3.0)
    np.testing.assert_allclose(quadratic_form(three.outline, three.centre, expected), 9.0, rtol=1e-9)


def test_on_the_identity_view_a_diagonal_posterior_spans_two_sigma_on_each_axis():
    mu, sigma = np.array([0.5, -1.0]), np.array([0.3, 0.05])
    ellipse = ellipse_in_view(IdentityProjection(np.zeros((3, 2))), mu, 2 * np.log(sigma), points=360)
    low, high = ellipse.outline.min(axis=0), ellipse.outline.max(axis=0)
    np.testing.assert_allclose(low, mu - 2 * sigma, rtol=1e-6)
    np.testing.assert_allclose(high, mu + 2 * sigma, rtol=1e-6)
    np.testing.assert_allclose(ellipse.centre, mu)


def test_about_86_percent_of_posterior_samples_fall_inside_the_ellipse_on_a_pca_view(latents16):
    pca = PCAProjection(latents16)
    rng = np.random.default_rng(5)
    mu, logvar = latents16[11], rng.uniform(-2.0, 0.5, 16)
    ellipse = ellipse_in_view(pca, mu, logvar)
    samples = mu + rng.standard_normal((20_000, 16)) * np.exp(0.5 * logvar)
    inside = quadratic_form(pca.transform(samples), ellipse.centre, ellipse.covariance) <= 4.0
    # 1 - exp(-2) = 0.8647; with 20,000 draws the standard error is 0.0024
    assert TWO_SIGMA_MASS == pytest.approx(0.8647, abs=1e-4)
    assert inside.mean() == pytest.approx(TWO_SIGMA_MASS, abs=0.01)


def test_a_one_dimensional_axes_view_draws_a_segment_of_four_sigma_along_x():
    view = AxesProjection(np.zeros((5, 1)))
    ellipse = ellipse_in_view(view, np.array([1.5]), np.array([2 * np.log(0.25)]))
    np.testing.assert_allclose(ellipse.outline[:, 1], 0.0, atol=1e-12)
    np.testing.assert_allclose([ellipse.outline[:, 0].min(), ellipse.outline[:, 0].max()], [1.0, 2.0], rtol=1e-6)
    assert ellipse.exact


def test_an_axes_view_of_a_wider_latent_keeps_its_first_two_coordinates():
    view = AxesProjection(np.zeros((2, 4)))
    np.testing.assert_array_equal(linear_map(view, 4), np.eye(2, 4))
    logvar = np.log([0.04, 0.25, 9.0, 9.0])  # the held coordinates' spread never reaches the view
    ellipse = ellipse_in_view(view, np.array([1.0, 2.0, 3.0, 4.0]), logvar)
    np.testing.assert_allclose(ellipse.covariance, np.diag([0.04, 0.25]))


def test_on_a_tsne_layout_the_ellipse_is_flagged_approximate_and_surrounds_the_item(latents16):
    rng = np.random.default_rng(6)
    layout = latents16[:, :2] * 10 + rng.normal(size=(200, 2))  # a stand-in layout: any 2-D placement
    tsne = TSNEProjection(layout, latents16)
    assert linear_map(tsne, 16) is None
    logvar = np.full(16, np.log(0.5**2))
    ellipse = ellipse_in_view(tsne, latents16[9], logvar)
    assert not ellipse.exact
    np.testing.assert_allclose(ellipse.centre, layout[9])  # a laid-out latent sits on its own point
    assert np.all(np.linalg.eigvalsh(ellipse.covariance) > 0)
    again = ellipse_in_view(tsne, latents16[9], logvar)
    np.testing.assert_array_equal(ellipse.outline, again.outline)  # seeded draws: no flicker between redraws
    wider = ellipse_in_view(tsne, latents16[9], logvar + np.log(16.0))
    assert np.trace(wider.covariance) > np.trace(ellipse.covariance)


def test_mean_sigma_is_the_geometric_mean_over_dimensions():
    logvars = np.log(np.array([[0.01, 1.0], [0.25, 0.25], [1.0, 1.0]]))  # sigmas (0.1, 1), (0.5, 0.5), (1, 1)
    np.testing.assert_allclose(mean_sigma(logvars), [np.sqrt(0.1), 0.5, 1.0])


def test_sigma_scale_orders_like_the_sigmas_clips_outliers_and_handles_a_flat_set():
    rng = np.random.default_rng(7)
    sigmas = np.exp(rng.normal(-2.0, 0.5, 500))
    sigmas[0] = 50.0  # an outlier: clipped to the top, not squeezing the others to the bottom
    scale = sigma_scale(sigmas)
    order = np.argsort(sigmas)
    assert np.all(np.diff(scale.unit[order]) >= 0)
    assert scale.unit.min() == 0.0 and scale.unit.max() == 1.0 and scale.unit[0] == 1.0
    assert scale.low < np.median(sigmas) < scale.high < 50.0
    assert np.median(scale.unit) == pytest.approx(0.5, abs=0.1)
    flat = sigma_scale(np.full(4, 0.3))
    np.testing.assert_allclose(flat.unit, 0.5)
    assert flat.low == pytest.approx(0.3) and flat.high == pytest.approx(0.3)
    assert sigma_scale(np.zeros(0)).unit.shape == (0,)
