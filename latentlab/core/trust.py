"""How far to trust a 2-D view: its trustworthiness and continuity, and each point's true neighbours.

Trustworthiness (Venna & Kaski) penalises a view's false neighbours: points among an
item's k nearest in the view that rank far down its list in the latent space. Continuity
swaps the spaces' roles: it penalises true neighbours the view tore away. Both are 1 for a
view that keeps every k-neighbourhood, and about 0.5 for a random one.

``trustworthiness`` gives scikit-learn's ``sklearn.manifold.trustworthiness`` figure (a
test holds it to that), but in chunks of rows: scikit-learn's ranks every pair at once
(three N x N arrays, 600 MB for 5,000 points) and takes about 1.5 s there. ``view_trust``
computes both figures on a fixed-seed sample of at most 5,000 points, so a view of
10,000 costs a fraction of a second and its figures compare from epoch to epoch.

``NeighbourIndex`` answers "which are this item's k nearest latents" in well under a
millisecond, for a hovered point: a KD-tree built once per snapshot (a few ms for
10,000 points of up to 50 dimensions), with ties broken by index, as a brute force would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ConfigError

TRUST_K = 10  # the neighbourhood size both figures and the highlighted neighbours use
TRUST_SAMPLE = 5000  # at most this many points are scored: the cost grows as its square
ROWS_PER_CHUNK = 256  # rows of distances held at once: (256, 5000) float64 is 10 MB


@dataclass(frozen=True)
class ViewTrust:
    """A view's trustworthiness and continuity, and what they were computed on."""

    trustworthiness: float
    continuity: float
    k: int
    points: int  # how many points were scored: a fixed sample of ``of`` when there were more
    of: int

    @property
    def sampled(self) -> bool:
        return self.points < self.of


def sample_indices(n: int, max_points: int = TRUST_SAMPLE, seed: int = 0) -> np.ndarray:
    """Sorted indices of a fixed-seed sample of at most ``max_points`` of ``n`` points (all of them if fewer)."""
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))


def view_trust(latents: np.ndarray, points: np.ndarray, k: int = TRUST_K, max_points: int = TRUST_SAMPLE,
               seed: int = 0) -> ViewTrust:
    """Trustworthiness and continuity of the view ``points`` (N, 2) of ``latents`` (N, D), on a sample."""
    latents, points = np.asarray(latents), np.asarray(points)
    if latents.ndim != 2 or points.ndim != 2 or len(latents) != len(points):
        raise ConfigError(f"A view needs a point per latent, not {points.shape} points for {latents.shape} latents.")
    keep = sample_indices(len(latents), max_points, seed)
    trust, continuity = _both(latents[keep], points[keep], k)
    return ViewTrust(trust, continuity, int(k), len(keep), len(latents))


def trustworthiness(high: np.ndarray, low: np.ndarray, k: int = TRUST_K) -> float:
    """How far the k nearest neighbours in ``low`` are neighbours in ``high`` too (1: all are)."""
    return _both(high, low, k)[0]


def continuity(high: np.ndarray, low: np.ndarray, k: int = TRUST_K) -> float:
    """How far the k nearest neighbours in ``high`` stay neighbours in ``low``: trustworthiness, roles swapped."""
    return _both(high, low, k)[1]


def _both(high: np.ndarray, low: np.ndarray, k: int) -> tuple[float, float]:
    """(trustworthiness, continuity) of ``low`` as a view of ``high``, both from one pass over the distances."""
    high = np.asarray(high, dtype=np.float64)  # float64 in both spaces: an identity view scores exactly 1
    low = np.asarray(low, dtype=np.float64)
    n = len(high)
    if not 1 <= k < n / 2:  # scikit-learn's bound: beyond it the normalisation below means nothing
        raise ConfigError(f"Trustworthiness with k = {k} needs more than {2 * k} points, not {n}.")
    high_sq, low_sq = (high**2).sum(axis=1), (low**2).sum(axis=1)
    false_neighbours = torn_neighbours = 0.0
    for start in range(0, n, ROWS_PER_CHUNK):
        rows = np.arange(start, min(start + ROWS_PER_CHUNK, n))
        d_high = _squared_distances(high[rows], high_sq[rows], high, high_sq, rows)
        d_low = _squared_distances(low[rows], low_sq[rows], low, low_sq, rows)
        near_high, near_low = _nearest(d_high, k), _nearest(d_low, k)
        false_neighbours += _penalty(d_high, near_high, near_low)  # the view's neighbours, ranked in the latent
        torn_neighbours += _penalty(d_low, near_low, near_high)  # the latent's neighbours, ranked in the view
    scale = 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0))
    return 1.0 - scale * false_neighbours, 1.0 - scale * torn_neighbours


def _squared_distances(q: np.ndarray, q_sq: np.ndarray, keys: np.ndarray, keys_sq: np.ndarray,
                       rows: np.ndarray) -> np.ndarray:
    """(len(q), N) squared distances, each row's own point at infinity: it is nobody's neighbour."""
    d = q @ keys.T
    d *= -2.0  # in place: a chunk's temporaries are a third of its cost
    d += q_sq[:, None]
    d += keys_sq[None]
    d[np.arange(len(rows)), rows] = np.inf
    return d


def _nearest(d: np.ndarray, k: int) -> np.ndarray:
    """(R, k) indices of each row's k smallest distances, in no particular order."""
    return np.argpartition(d, k - 1, axis=1)[:, :k]


def _penalty(d: np.ndarray, own: np.ndarray, other: np.ndarray) -> float:
    """Sum over rows of max(0, rank - k) of the ``other`` space's k neighbours in ``d``'s ranking.

    ``own`` are ``d``'s own k nearest. A rank is 1 + how many points are strictly nearer,
    so a neighbour tied with the k-th costs nothing (ties never count against a view), and
    only rows with a neighbour beyond their k-th distance need ranking at all: the
    ranking is most of the cost, and a good view has few such rows.
    """
    k = own.shape[1]
    kth = np.take_along_axis(d, own, axis=1).max(axis=1)  # (R,) each row's k-th smallest distance
    at = np.take_along_axis(d, other, axis=1)  # (R, k)
    beyond = np.flatnonzero((at > kth[:, None]).any(axis=1))
    if len(beyond) == 0:
        return 0.0
    ranks = np.count_nonzero(d[beyond, None, :] < at[beyond, :, None], axis=2) + 1
    return float(np.maximum(ranks - k, 0).sum())


class NeighbourIndex:
    """The k nearest latents of any of ``latents`` (N, D), the point itself excluded.

    Built once per snapshot; the arrays it holds are its own read-only copies, so the
    snapshot it came from can be dropped or replaced without touching it.
    """

    def __init__(self, latents: np.ndarray):
        from scipy.spatial import cKDTree  # here: SciPy stays off the app's start-up

        latents = np.array(latents, dtype=np.float64, copy=True)
        if latents.ndim != 2:
            raise ConfigError(f"A neighbour index needs (N, D) latents, not shape {latents.shape}.")
        latents.flags.writeable = False
        self.latents = latents
        self._tree = cKDTree(latents) if len(latents) else None

    def __len__(self) -> int:
        return len(self.latents)

    def neighbours(self, i: int, k: int = TRUST_K) -> np.ndarray:
        """The indices of item ``i``'s k nearest other items, nearest first; equal distances by index."""
        n = len(self.latents)
        if not 0 <= i < n:
            raise IndexError(f"item {i} is not one of the {n} points")
        k = min(int(k), n - 1)
        if k <= 0:
            return np.zeros(0, dtype=np.int64)
        x = self.latents[i]
        far, _ = self._tree.query(x, k=k + 1)  # k others (i is among them unless it has duplicates)
        # Everything within the (k+1)-th distance, a hair beyond: every point tied with the k-th
        # is a candidate, and the tree's rounding cannot leave out one a brute force would take.
        radius = float(np.max(far)) * (1.0 + 1e-9) + 1e-300
        candidates = np.asarray(self._tree.query_ball_point(x, radius), dtype=np.int64)
        candidates = candidates[candidates != i]
        distances = np.sqrt(((self.latents[candidates] - x) ** 2).sum(axis=1))
        chosen = candidates[np.lexsort((candidates, distances))[:k]]
        chosen.flags.writeable = False
        return chosen
