"""Two-dimensional views of a latent space, each with a way back.

- ``IdentityProjection``: the latent is already 2-D.
- ``PCAProjection``: scikit-learn's PCA; its inverse is exact on the 2-D plane through the
  mean (``mean + p @ components``), and its signs are aligned with a previous fit so the
  view does not flip between epochs.
- t-SNE through openTSNE, run in chunks of iterations (``tsne_layout``: a generator of
  progress, cancellable between chunks, warm-startable from an earlier layout), with an
  approximate inverse (``NeighbourInverse``: distance-weighted nearest neighbours in the
  layout) so a point dragged on a t-SNE view can still be decoded.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .errors import ConfigError


class IdentityProjection:
    """The 2-D latent shown as it is."""

    exact = True

    def __init__(self, latents: np.ndarray):
        if latents.shape[1] != 2:
            raise ConfigError(f"The identity view needs a 2-D latent, not {latents.shape[1]}-D; use PCA or t-SNE.")

    def transform(self, latents: np.ndarray) -> np.ndarray:
        return np.asarray(latents, dtype=np.float64)

    def inverse(self, points: np.ndarray) -> np.ndarray:
        return np.asarray(points, dtype=np.float64)


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

    exact = True

    def __init__(self, latents: np.ndarray, previous: PCAProjection | None = None):
        latents = np.asarray(latents, dtype=np.float64)
        if latents.ndim != 2 or latents.shape[1] < 2 or latents.shape[0] < 2:
            raise ConfigError(f"PCA needs at least 2 points of at least 2 dimensions, not shape {latents.shape}.")
        from sklearn.decomposition import PCA  # here, not at the top: ~1 s off the app's start-up

        pca = PCA(n_components=2, svd_solver="full").fit(latents)
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


class NeighbourInverse:
    """Approximate inverse of any 2-D layout: a distance-weighted mean of the k nearest latents."""

    exact = False

    def __init__(self, layout: np.ndarray, latents: np.ndarray, k: int = 8):
        self.layout = np.asarray(layout, dtype=np.float64)
        self.latents = np.asarray(latents, dtype=np.float64)
        self.k = int(min(k, len(self.layout)))
        from sklearn.neighbors import NearestNeighbors

        self._nn = NearestNeighbors(n_neighbors=self.k).fit(self.layout)

    def transform(self, latents: np.ndarray) -> np.ndarray:
        raise ConfigError("A t-SNE layout places only the points it was computed for.")

    def inverse(self, points: np.ndarray) -> np.ndarray:
        dist, idx = self._nn.kneighbors(np.atleast_2d(np.asarray(points, dtype=np.float64)))
        weights = 1.0 / np.maximum(dist, 1e-9)  # (N, k); a point on top of a neighbour takes its latent
        weights = np.where(dist[:, :1] <= 1e-12, (dist <= 1e-12).astype(np.float64), weights)  # exactly its latent
        weights /= weights.sum(axis=1, keepdims=True)
        return np.einsum("nk,nkd->nd", weights, self.latents[idx])


@dataclass(frozen=True)
class TSNEProgress:
    """A partial or final t-SNE layout."""

    iteration: int
    total_iterations: int
    layout: np.ndarray  # (N, 2), a read-only copy
    done: bool

    @property
    def fraction(self) -> float:
        return self.iteration / self.total_iterations


def tsne_layout(
    latents: np.ndarray,
    *,
    init: np.ndarray | None = None,
    perplexity: float = 30.0,
    early_iterations: int = 250,
    iterations: int = 500,
    chunk: int = 10,
    cancel: threading.Event | None = None,
    seed: int = 0,
    n_jobs: int = 1,
) -> Iterator[TSNEProgress]:
    """Compute a t-SNE layout in chunks of ``chunk`` iterations, yielding progress after each.

    Stops quietly (yielding nothing more) once ``cancel`` is set. ``init`` warm-starts from a
    previous layout of the same points (shorter early exaggeration: the structure is there).
    """
    from openTSNE import TSNEEmbedding, affinity, initialization

    latents = np.ascontiguousarray(latents, dtype=np.float64)
    n = latents.shape[0]
    if n < 4:
        raise ConfigError(f"t-SNE needs at least 4 points, not {n}.")
    cancel = cancel or threading.Event()
    perplexity = min(perplexity, (n - 1) / 3)  # openTSNE's bound for small sets
    affinities = affinity.PerplexityBasedNN(latents, perplexity=perplexity, n_jobs=n_jobs, random_state=seed)
    if cancel.is_set():
        return
    if init is not None and init.shape == (n, 2):
        start = initialization.rescale(np.asarray(init, dtype=np.float64))
        early_iterations = min(early_iterations, 100)
    else:
        start = initialization.pca(latents, random_state=seed)
    embedding = TSNEEmbedding(start, affinities, n_jobs=n_jobs, random_state=seed, verbose=False)
    total = early_iterations + iterations
    done = 0
    for phase_iters, params in ((early_iterations, {"exaggeration": 12, "momentum": 0.5}), (iterations, {"momentum": 0.8})):
        left = phase_iters
        while left > 0:
            if cancel.is_set():
                return
            step = min(chunk, left)
            embedding.optimize(n_iter=step, inplace=True, **params)
            left -= step
            done += step
            layout = np.array(embedding, dtype=np.float64, copy=True)
            layout.flags.writeable = False
            yield TSNEProgress(done, total, layout, done == total)
