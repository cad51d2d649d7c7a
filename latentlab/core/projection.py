"""Two-dimensional views of a latent space, each with a way back.

Every view is a ``Projection``: ``transform(latents) -> (N, 2)``, ``inverse(points) -> (N, D)``,
``exact``, ``kind`` and ``describe()``. The view drawn is the view a drag inverts, so
nothing elsewhere re-implements an inverse or asks which class a view is.

- ``IdentityProjection``: the latent is already 2-D.
- ``AxesProjection``: the first two latent coordinates, the others held at their mean; for
  a 1-D latent, or too few points to fit PCA.
- ``PCAProjection``: scikit-learn's PCA; its inverse is exact on the 2-D plane through the
  mean (``mean + p @ components``), and its signs are aligned with a previous fit so the
  view does not flip between epochs.
- t-SNE through openTSNE, run in chunks of iterations (``tsne_layout``: a generator of
  progress, cancellable between chunks, warm-startable from an earlier layout), with an
  approximate inverse (``NeighbourInverse``: distance-weighted nearest neighbours in the
  layout) so a point dragged on a t-SNE view can still be decoded.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass
from typing import Iterator, Protocol

import numpy as np

from .errors import ConfigError


class ViewKind(enum.Enum):
    """What the user can ask to see; the view shown may fall back (``fit_view``)."""

    LATENT = "latent"  # the 2-D latent itself
    PCA = "pca"
    TSNE = "tsne"
    UMAP = "umap"  # umap-learn, the optional extra latentlab[umap]
    AXES = "axes"  # the first coordinates: 1-D latents, or too few points for PCA


class Projection(Protocol):
    """A 2-D view of a latent space and its way back."""

    kind: ViewKind
    exact: bool  # True when inverse(transform(z)) is z's projection onto the view's plane

    def transform(self, latents: np.ndarray) -> np.ndarray: ...  # (N, D) -> (N, 2)

    def inverse(self, points: np.ndarray) -> np.ndarray: ...  # (N, 2) -> (N, D)

    def describe(self) -> str: ...


def fit_view(kind: ViewKind, latents: np.ndarray, previous: PCAProjection | None = None) -> Projection:
    """The exact view of ``kind`` for ``latents``, or the nearest one that exists for them.

    A 2-D latent shown as PCA or LATENT is shown as it is; PCA needs at least three points
    of two or more dimensions, else the first coordinates are shown. t-SNE views are
    made by ``TSNEProjection`` from a layout, not fitted here.
    """
    latents = np.asarray(latents, dtype=np.float64)
    n, d = latents.shape
    if kind is ViewKind.LATENT and d == 2:
        return IdentityProjection(latents)
    if kind in (ViewKind.PCA, ViewKind.LATENT, ViewKind.TSNE, ViewKind.UMAP) and d > 2 and n >= 3:
        return PCAProjection(latents, previous=previous)
    if d == 2:
        return IdentityProjection(latents)
    return AxesProjection(latents)


class IdentityProjection:
    """The 2-D latent shown as it is."""

    kind = ViewKind.LATENT
    exact = True

    def __init__(self, latents: np.ndarray):
        if latents.shape[1] != 2:
            raise ConfigError(f"The identity view needs a 2-D latent, not {latents.shape[1]}-D; use PCA or t-SNE.")

    def transform(self, latents: np.ndarray) -> np.ndarray:
        return np.asarray(latents, dtype=np.float64)

    def inverse(self, points: np.ndarray) -> np.ndarray:
        return np.asarray(points, dtype=np.float64)

    def describe(self) -> str:
        return "The 2-D latent itself; decoding is exact."


class AxesProjection:
    """The first two latent coordinates (one, for a 1-D latent), the others held at their mean."""

    kind = ViewKind.AXES
    exact = True

    def __init__(self, latents: np.ndarray):
        latents = np.asarray(latents, dtype=np.float64)
        self.dim = latents.shape[1]
        self.mean = latents.mean(axis=0) if len(latents) else np.zeros(self.dim)

    def transform(self, latents: np.ndarray) -> np.ndarray:
        latents = np.atleast_2d(np.asarray(latents, dtype=np.float64))
        if self.dim == 1:
            return np.column_stack([latents[:, 0], np.zeros(len(latents))])
        return latents[:, :2].copy()

    def inverse(self, points: np.ndarray) -> np.ndarray:
        points = np.atleast_2d(np.asarray(points, dtype=np.float64))
        z = np.repeat(self.mean[None], len(points), axis=0)
        z[:, : min(2, self.dim)] = points[:, : min(2, self.dim)]
        return z

    def describe(self) -> str:
        if self.dim == 1:
            return "A 1-D latent, drawn along x; decoding is exact."
        return (f"The first two of {self.dim} latent coordinates (too few test items for PCA), the others at "
                f"their mean; decoding is exact on this plane.")


class PCAProjection:
    """PCA to 2-D with an exact inverse onto the principal plane.

    Parameters
    ----------
    latents
        (N, D) points to fit, D >= 2.
    previous
        An earlier fit; each axis is flipped, if need be, to point the same way as its
        counterpart there, so the picture keeps its orientation from epoch to epoch.
    """

    kind = ViewKind.PCA
    exact = True

    def __init__(self, latents: np.ndarray, previous: PCAProjection | None = None):
        latents = np.asarray(latents, dtype=np.float64)
        if latents.ndim != 2 or latents.shape[1] < 2 or latents.shape[0] < 2:
            raise ConfigError(f"PCA needs at least 2 points of at least 2 dimensions, not shape {latents.shape}.")
        from sklearn.decomposition import PCA  # here, not at the top: ~1 s off the app's start-up

        # Many more points than dimensions (10,000 x 20): the D x D covariance's eigenvectors are
        # the same axes as a full SVD's, 8x faster (1 ms; 118 ms instead of 735 ms at 512-D).
        solver = "covariance_eigh" if latents.shape[0] >= latents.shape[1] else "full"
        pca = PCA(n_components=2, svd_solver=solver).fit(latents)
        self.mean = pca.mean_
        components = pca.components_.copy()  # (2, D), orthonormal rows
        if previous is not None and previous.components.shape == components.shape:
            signs = np.sign(np.sum(components * previous.components, axis=1))
            components *= np.where(signs == 0, 1.0, signs)[:, None]
        self.components = components
        self.explained_variance_ratio = pca.explained_variance_ratio_

    def transform(self, latents: np.ndarray) -> np.ndarray:
        return (np.asarray(latents, dtype=np.float64) - self.mean) @ self.components.T  # (N, D) -> (N, 2)

    def inverse(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) -> (N, D): the latent vector on the principal plane at that view position."""
        return self.mean + np.asarray(points, dtype=np.float64) @ self.components

    def describe(self) -> str:
        share = float(np.sum(self.explained_variance_ratio))
        return f"PCA of the {self.mean.shape[0]}-D latent ({share:.0%} of its variance); decoding is exact on this plane."


class NeighbourInverse:
    """Approximate inverse of any 2-D layout: a distance-weighted mean of the k nearest latents.

    The neighbours are found by brute force: the queries are a marker or a grid of tiles,
    and a t-SNE in progress makes a new layout several times a second, where building a
    search tree for each (on the GUI thread) would cost more than every query it serves.
    """

    kind = ViewKind.TSNE
    exact = False

    def __init__(self, layout: np.ndarray, latents: np.ndarray, k: int = 8):
        self.layout = np.asarray(layout, dtype=np.float64)
        self.latents = np.asarray(latents, dtype=np.float64)
        self.k = int(min(k, len(self.layout)))

    def transform(self, latents: np.ndarray) -> np.ndarray:
        raise ConfigError("A t-SNE layout places only the points it was computed for.")

    def inverse(self, points: np.ndarray) -> np.ndarray:
        return _neighbour_mean(np.atleast_2d(np.asarray(points, dtype=np.float64)), self.layout, self.latents, self.k)

    def describe(self) -> str:
        return "A 2-D layout: decoding is approximate (nearest neighbours)."


MANY_QUERIES = 1024  # beyond this many queries, a neighbour search is worth scikit-learn's set-up


def _neighbour_mean(query: np.ndarray, keys: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """Distance-weighted mean of the ``values`` of the k ``keys`` nearest each query; a key hit exactly wins.

    Brute force in NumPy: the queries are a marker or a few (on the GUI thread, at every
    t-SNE progress), where building a search tree over 10,000 points would cost more.
    Thousands of queries at once (every training item placed in a layout, on a worker) go
    through scikit-learn's brute-force search instead: the same neighbours, 3x faster.
    """
    k = int(min(k, len(keys)))
    if len(query) > MANY_QUERIES:  # every training item placed in a layout: scikit-learn's search, 5x faster
        from sklearn.neighbors import NearestNeighbors

        idx = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(keys).kneighbors(query, return_distance=False)
        dist = np.linalg.norm(query[:, None, :] - keys[idx], axis=2)  # exact, so a hit on a key is one
        return _weighted_mean(dist, idx, values)
    out = np.empty((len(query), values.shape[1]))
    for start in range(0, len(query), 256):  # (256, N) distances at a time
        q = query[start : start + 256]
        d2 = (q**2).sum(1)[:, None] - 2.0 * q @ keys.T + (keys**2).sum(1)[None]
        idx = np.argpartition(d2, k - 1, axis=1)[:, :k]
        dist = np.linalg.norm(q[:, None, :] - keys[idx], axis=2)  # exact, so a hit on a key is one
        out[start : start + 256] = _weighted_mean(dist, idx, values)
    return out


def _weighted_mean(dist: np.ndarray, idx: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(N, k) neighbour distances and indices -> the inverse-distance-weighted mean of their values."""
    weights = 1.0 / np.maximum(dist, 1e-9)  # a query on top of a neighbour takes exactly its value
    weights = np.where(dist[:, :1] <= 1e-12, (dist <= 1e-12).astype(np.float64), weights)
    weights /= weights.sum(axis=1, keepdims=True)
    return np.einsum("nk,nkd->nd", weights, values[idx])


class TSNEProjection(NeighbourInverse):
    """A t-SNE layout, partial (while it runs) or final, of the latents it was computed for.

    ``transform`` places each of those latents at its own layout point, and any other latent
    near its nearest neighbours'; ``inverse`` is the neighbours' weighted latent. Neither is
    exact: t-SNE has no inverse.
    """

    kind = ViewKind.TSNE

    def __init__(self, layout: np.ndarray, latents: np.ndarray, *, epoch: int | None = None,
                 fraction: float = 1.0, k: int = 8):
        super().__init__(layout, latents, k=k)
        self.epoch = epoch
        self.fraction = fraction  # < 1 while the layout is still being optimised

    @property
    def partial(self) -> bool:
        return self.fraction < 1.0

    def transform(self, latents: np.ndarray) -> np.ndarray:
        query = np.atleast_2d(np.asarray(latents, dtype=np.float64))
        if query.shape == self.latents.shape and np.array_equal(query, self.latents):
            return self.layout.copy()  # the points it laid out: exactly where it put them
        return _neighbour_mean(query, self.latents, self.layout, self.k)

    def describe(self) -> str:
        epoch = f" of epoch {self.epoch}" if self.epoch is not None else ""
        if self.partial:
            # No percentage here (the progress bar shows it): a caption that changes with
            # every partial layout would re-lay out its pane several times a second.
            return f"t-SNE{epoch} in progress: the layout still moves; decoding is approximate (nearest neighbours)."
        return f"t-SNE{epoch}: decoding is approximate (nearest neighbours); run it again to update."


@dataclass(frozen=True)
class LayoutProgress:
    """A partial or final layout of a t-SNE or UMAP run."""

    iteration: int
    total_iterations: int
    layout: np.ndarray  # (N, 2), a read-only copy
    done: bool
    # The finished view, where the method has one of its own (UMAP's transform and inverse);
    # None for t-SNE, whose view is a TSNEProjection of the layout.
    projection: Projection | None = None

    @property
    def fraction(self) -> float:
        return self.iteration / self.total_iterations


# The schedule (measured on 10,000 x 20-D MNIST latents, benchmarks/tsne_speed.py): openTSNE's
# defaults (250 + 500 iterations, Annoy neighbours, FFT throughout) reach KL 1.83 in 40-80 s,
# most of it in the last 300 iterations, where the FFT grid grows with the layout's span.
TSNE_EARLY_EXAGGERATION = 12.0
TSNE_EARLY_MOMENTUM = 0.5
# openTSNE's 0.8 leaves the layout still spreading after 200 iterations (KL 1.93); 0.9 reaches KL
# 1.88, 0.95 the defaults' 1.83 in 150 (trustworthiness 0.981 against their 0.983).
TSNE_MOMENTUM = 0.95
TSNE_WARM_ITERATIONS = 50
TSNE_WARM_MOMENTUM = 0.8
# FFT interpolation costs as the square of the span (about 10 ms at a span of 40, 25 ms at 80,
# 130 ms at 165); Barnes-Hut (theta 0.5) costs about 25-40 ms at any span, and is more accurate
# than the FFT's default grid there. Coarser FFT grids are cheap but bias the repulsion (KL
# 1.95 instead of 1.88), so the switch is by span, not by grid.
TSNE_BH_ABOVE_SPAN = 80.0
TSNE_THETA = 0.5
TSNE_MIN_INTERVALS = 20  # openTSNE's 50 makes a compact layout pay for a grid finer than it needs


def tsne_layout(
    latents: np.ndarray,
    *,
    init: np.ndarray | None = None,
    perplexity: float = 30.0,
    early_iterations: int = 100,
    iterations: int = 150,
    chunk: int = 10,
    cancel: threading.Event | None = None,
    seed: int = 0,
    n_jobs: int = 1,
    warm_iterations: int = TSNE_WARM_ITERATIONS,
) -> Iterator[LayoutProgress]:
    """Compute a t-SNE layout in chunks of ``chunk`` iterations, yielding progress after each.

    Parameters
    ----------
    latents
        (N, D) points, N >= 4.
    init
        An earlier (N, 2) layout of the same points (the previous epoch's): the run starts
        from it as it is, scale included, skips early exaggeration and runs at most
        ``warm_iterations`` iterations. Of another shape it is ignored (a cold start).
    perplexity
        Effective neighbourhood size; capped at (N - 1) / 3 for small sets.
    early_iterations, iterations
        A cold start's iterations with early exaggeration (12), and after it.
    chunk
        Iterations between progress reports (and cancel checks).
    cancel
        Once set, the run stops quietly, yielding nothing more.
    seed
        Seeds the PCA initialisation.
    n_jobs
        Threads for the affinities and the gradient; 2 when training is idle.
    warm_iterations
        The most iterations a warm start runs.

    Yields
    ------
    LayoutProgress
        After every ``chunk`` iterations; the last has ``done`` set.

    Notes
    -----
    Faster than openTSNE's defaults by: exact neighbours from scikit-learn (0.5 s, not Annoy's
    3-5 s); 100 + 150 iterations, the second phase with momentum 0.95; the FFT gradient while
    the layout is compact and Barnes-Hut once it spreads (``TSNE_BH_ABOVE_SPAN``); and its own
    gradient-descent loop (openTSNE's ``optimize`` evaluates the gradient and KL once more at
    the end of every call, a sixth more work at ``chunk=5``). The update rule is openTSNE's.
    """
    latents = np.ascontiguousarray(latents, dtype=np.float64)
    n = latents.shape[0]
    if n < 4:
        raise ConfigError(f"t-SNE needs at least 4 points, not {n}.")
    cancel = cancel or threading.Event()
    perplexity = min(perplexity, (n - 1) / 3)  # openTSNE's bound for small sets
    P = _tsne_affinities(latents, perplexity, n_jobs)
    if cancel.is_set():
        return
    warm = init is not None and np.shape(init) == (n, 2) and bool(np.isfinite(init).all()) and np.ptp(init) > 0
    if warm:
        start = np.array(init, dtype=np.float64)
        phases = [(min(iterations, warm_iterations), 1.0, TSNE_WARM_MOMENTUM)]
    else:
        from openTSNE import initialization

        start = initialization.pca(latents, random_state=seed)
        phases = [(early_iterations, TSNE_EARLY_EXAGGERATION, TSNE_EARLY_MOMENTUM), (iterations, 1.0, TSNE_MOMENTUM)]
    descent = _TSNEDescent(start, P, n_jobs)
    total = sum(p[0] for p in phases)
    done = 0
    for phase_iters, exaggeration, momentum in phases:
        left = phase_iters
        while left > 0:
            if cancel.is_set():
                return
            step = min(chunk, left)
            descent.run(step, exaggeration, momentum)
            left -= step
            done += step
            layout = descent.y.copy()
            layout.flags.writeable = False
            yield LayoutProgress(done, total, layout, done == total)


def _tsne_affinities(latents: np.ndarray, perplexity: float, n_jobs: int):
    """openTSNE's perplexity-based affinities (a sparse, symmetric P) over exact nearest neighbours.

    scikit-learn's exact search over 10,000 x 20-D takes about 0.3 s, where openTSNE's default
    Annoy index takes 3-5 s; exact is also the better neighbourhood.
    """
    from openTSNE import affinity, nearest_neighbors
    from sklearn.neighbors import NearestNeighbors

    n = len(latents)
    k = min(n - 1, int(3 * perplexity))  # openTSNE's neighbourhood for a perplexity
    # kneighbors() without X leaves each point out of its own list, duplicates included
    distances, indices = NearestNeighbors(n_neighbors=k, n_jobs=n_jobs).fit(latents).kneighbors()
    knn = nearest_neighbors.PrecomputedNeighbors(indices, distances)
    return affinity.PerplexityBasedNN(knn_index=knn, perplexity=perplexity, n_jobs=n_jobs).P


class _TSNEDescent:
    """openTSNE's gradient descent with gains and momentum, one call per chunk, no extra evaluations."""

    def __init__(self, start: np.ndarray, P, n_jobs: int):
        self.y = np.array(start, dtype=np.float64, order="C")
        self.P = P
        self.n_jobs = max(1, int(n_jobs))
        self.update = np.zeros_like(self.y)
        self.gains = np.ones_like(self.y)
        self._scaled = {1.0: P}  # P times each exaggeration, made once rather than every chunk

    def run(self, n_iter: int, exaggeration: float, momentum: float) -> None:
        from openTSNE.tsne import kl_divergence_bh, kl_divergence_fft

        P = self._scaled.get(exaggeration)
        if P is None:
            P = self._scaled[exaggeration] = self.P * exaggeration
        learning_rate = max(len(self.y) / exaggeration, 50.0)  # openTSNE's "auto" (Belkina et al. 2019)
        for _ in range(n_iter):
            span = float(self.y.max() - self.y.min())
            if span > TSNE_BH_ABOVE_SPAN:
                _, grad = kl_divergence_bh(self.y, P, dof=1, bh_params={"theta": TSNE_THETA}, n_jobs=self.n_jobs)
            else:
                fft = {"n_interpolation_points": 3, "min_num_intervals": TSNE_MIN_INTERVALS, "ints_in_interval": 1}
                _, grad = kl_divergence_fft(self.y, P, dof=1, fft_params=fft, n_jobs=self.n_jobs)
            flipped = np.sign(self.update) != np.sign(grad)
            self.gains[flipped] += 0.2
            self.gains[~flipped] = self.gains[~flipped] * 0.8 + 0.01  # openTSNE's min_gain
            self.update = momentum * self.update - learning_rate * self.gains * grad
            self.y += self.update
            self.y -= self.y.mean(axis=0)
