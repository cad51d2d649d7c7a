"""Posterior uncertainty in a 2-D view: the 2-sigma ellipse of q(z|x) and each item's mean sigma.

The encoder's posterior is q(z|x) = N(mu, diag(exp(logvar))). A linear view (the latent
itself, the first axes, PCA) maps it to a Gaussian in the plane: mean ``transform(mu)``,
covariance W diag(sigma^2) W^T with W the view's (2, D) linear map, so its ellipse is
exact there. A t-SNE layout is no linear map: the ellipse drawn is that of a fixed set of
posterior samples pushed through the layout's neighbour mean, and says it is approximate.
NumPy only: the GUI draws the outline, the sizes and the colours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .projection import AxesProjection, IdentityProjection, PCAProjection, Projection

TWO_SIGMA_MASS = 1.0 - np.exp(-2.0)  # a 2-D Gaussian's mass inside its 2-sigma ellipse (chi-square, 2 dof)
APPROX_SAMPLES = 64  # posterior draws for a non-linear view: a usable 2x2 covariance, ~5 ms through 10,000 points
APPROX_SEED = 0  # the same draws for every item and every redraw, so a hovered ellipse does not flicker


@dataclass(frozen=True)
class ViewEllipse:
    """The ``n_sigma`` contour of a posterior as drawn in a view."""

    outline: np.ndarray  # (points + 1, 2), closed: the last point is the first
    centre: np.ndarray  # (2,) where the view puts the posterior mean
    covariance: np.ndarray  # (2, 2) the posterior's covariance in the view
    n_sigma: float
    exact: bool  # False for a t-SNE layout: a sample estimate through an approximate map


def linear_map(projection: Projection, dim: int) -> np.ndarray | None:
    """The (2, dim) matrix W of a linear view (transform(z) = W z + const), None for any other view."""
    if isinstance(projection, PCAProjection):
        return np.asarray(projection.components, dtype=np.float64)
    if isinstance(projection, IdentityProjection):
        return np.eye(2)
    if isinstance(projection, AxesProjection):
        return np.eye(2, dim)  # a 1-D latent: the second row is zero, the ellipse a segment along x
    return None


def ellipse_in_view(projection: Projection, mu: np.ndarray, logvar: np.ndarray, n_sigma: float = 2.0,
                    points: int = 64) -> ViewEllipse:
    """The ``n_sigma`` ellipse of q(z|x) = N(mu, diag(exp(logvar))) mapped into ``projection``'s plane."""
    mu = np.asarray(mu, dtype=np.float64).reshape(-1)
    variance = np.exp(np.asarray(logvar, dtype=np.float64).reshape(-1))
    w = linear_map(projection, len(mu))
    if w is not None:
        centre = np.asarray(projection.transform(mu[None]), dtype=np.float64)[0]
        covariance, exact = (w * variance) @ w.T, True
    else:
        centre, covariance = _sampled_moments(projection, mu, np.sqrt(variance))
        exact = False
    return ViewEllipse(_outline(centre, covariance, n_sigma, points), centre, covariance, float(n_sigma), exact)


def _sampled_moments(projection: Projection, mu: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the view puts ``mu``, and the second moment about it of posterior draws mapped by the view.

    About the item's point rather than the draws' mean: a layout's neighbour mean pulls the
    draws toward the neighbourhood, and the ellipse should still surround the point it is for.
    The mean and the draws go through the view in one batch: one pass over its points.
    """
    eps = np.random.default_rng(APPROX_SEED).standard_normal((APPROX_SAMPLES, len(mu)))
    mapped = np.asarray(projection.transform(np.vstack([mu, mu + eps * sigma])), dtype=np.float64)
    centre, offsets = mapped[0], mapped[1:] - mapped[0]
    return centre, offsets.T @ offsets / len(offsets)


def _outline(centre: np.ndarray, covariance: np.ndarray, n_sigma: float, points: int) -> np.ndarray:
    """centre + n_sigma * L [cos t, sin t] with L L^T = covariance (its symmetric eigen square root).

    The eigen root, not Cholesky: it also serves a singular covariance (a 1-D view, or a
    posterior with no spread across the view), which it draws as a segment.
    """
    values, vectors = np.linalg.eigh((covariance + covariance.T) / 2)
    root = vectors * np.sqrt(np.clip(values, 0.0, None))
    t = np.linspace(0.0, 2.0 * np.pi, int(points) + 1)
    circle = np.stack([np.cos(t), np.sin(t)])  # (2, points + 1)
    outline = centre + n_sigma * (root @ circle).T
    outline[-1] = outline[0]  # closed exactly, whatever the rounding of cos(2 pi)
    return outline


def mean_sigma(logvars: np.ndarray) -> np.ndarray:
    """Each item's mean posterior standard deviation over the latent dimensions: (M, D) -> (M,).

    The geometric mean, exp(mean(logvar) / 2): the radius of the ball with the posterior's
    volume, so it follows the posterior's entropy and weighs halving sigma in any dimension
    alike. An arithmetic mean would be ruled by the widest dimensions: the unused ones sit at
    sigma ~ 1 (the prior) for every item and drown the differences in the dimensions in use.
    """
    return np.exp(0.5 * np.asarray(logvars, dtype=np.float64).mean(axis=-1))


@dataclass(frozen=True)
class SigmaScale:
    """Per-item mean sigmas put on a 0..1 scale for sizing or colouring points."""

    unit: np.ndarray  # (M,) in [0, 1], ordered like the sigmas
    low: float  # the sigma at 0
    high: float  # the sigma at 1


def sigma_scale(sigmas: np.ndarray, clip_percent: float = 1.0) -> SigmaScale:
    """Map sigmas to [0, 1], linear in log sigma between the ``clip_percent`` and 100 - ``clip_percent`` percentiles.

    In log sigma because a posterior twice as wide is as notable at 0.05 as at 0.5; clipped
    so a few outliers do not squeeze every other item into one size or colour.
    """
    logs = np.log(np.asarray(sigmas, dtype=np.float64))
    if len(logs) == 0:
        return SigmaScale(np.zeros(0), 1.0, 1.0)
    lo, hi = np.percentile(logs, [clip_percent, 100.0 - clip_percent])
    if hi - lo <= 1e-12:  # all alike: nothing to tell apart
        return SigmaScale(np.full(len(logs), 0.5), float(np.exp(lo)), float(np.exp(hi)))
    unit = np.clip((logs - lo) / (hi - lo), 0.0, 1.0)
    return SigmaScale(unit, float(np.exp(lo)), float(np.exp(hi)))
