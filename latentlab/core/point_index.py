"""Finding points on screen among millions: the point nearest the pointer, and the points in a box or lasso.

The points are bucketed on a uniform grid over their bounds and sorted by bucket, so a
query reads only the rows of buckets its region covers. Distances are measured in screen
pixels, with a scale per axis, because a view is stretched unevenly and changes its
stretch with every zoom: a search tree built on view coordinates would have to be
rebuilt for each. Building sorts the points once (about 0.2 s for a million).
"""

from __future__ import annotations

import numpy as np

from .regions import points_in_polygon

POINTS_PER_BUCKET = 4  # on average: a hover reads a few dozen buckets of a few points each
MAX_SIDE = 1024  # buckets per side at most (a million buckets' offsets: 8 MB)


class PointIndex:
    """A grid index of (N, 2) view points; non-finite points are never found."""

    def __init__(self, points: np.ndarray):
        points = np.asarray(points, dtype=np.float32).reshape(-1, 2)
        finite = np.flatnonzero(np.isfinite(points).all(axis=1))
        self.n = len(points)
        side = int(np.clip(np.sqrt(max(len(finite), 1) / POINTS_PER_BUCKET), 1, MAX_SIDE))
        kept = points[finite]
        self.low = kept.min(axis=0) if len(kept) else np.zeros(2, np.float32)
        high = kept.max(axis=0) if len(kept) else np.ones(2, np.float32)
        self.span = np.maximum(high - self.low, np.float32(1e-12))
        self.side = side
        col, row = self._bucket(kept[:, 0], 0), self._bucket(kept[:, 1], 1)
        bucket = row * side + col
        order = np.argsort(bucket, kind="stable")
        self.order = finite[order]  # sorted position -> the point's index
        self.x, self.y = kept[order, 0].copy(), kept[order, 1].copy()
        counts = np.bincount(bucket, minlength=side * side)
        self.starts = np.concatenate([[0], np.cumsum(counts)])  # bucket b holds sorted positions starts[b]:starts[b+1]

    def _bucket(self, values: np.ndarray, axis: int) -> np.ndarray:
        b = ((values - self.low[axis]) / self.span[axis] * self.side).astype(np.int64)
        return np.clip(b, 0, self.side - 1)

    def _range(self, low: float, high: float, axis: int) -> tuple[int, int]:
        """The buckets along ``axis`` that values in [low, high] can fall in (first, last); empty when first > last.

        One bucket wider on each side than the arithmetic says: a point on a bucket's edge
        was bucketed in float32 (and clipped into the grid), the query is float64. Every
        caller tests the points exactly afterwards.
        """
        scale = self.side / float(self.span[axis])
        first = int(np.floor((low - float(self.low[axis])) * scale)) - 1
        last = int(np.floor((high - float(self.low[axis])) * scale)) + 1
        if last < 0 or first > self.side - 1:
            return 1, 0  # wholly beyond the grid on this side: no point lies there
        return max(first, 0), min(last, self.side - 1)

    def _in_rect(self, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
        """Sorted positions of the points in the buckets that the rectangle touches."""
        c0, c1 = self._range(x0, x1, 0)
        r0, r1 = self._range(y0, y1, 1)
        if c0 > c1 or r0 > r1:
            return np.zeros(0, dtype=np.int64)
        rows = np.arange(r0, r1 + 1) * self.side
        firsts, lasts = self.starts[rows + c0], self.starts[rows + c1 + 1]  # one run of positions per row
        lengths = lasts - firsts
        total = int(lengths.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int64)
        # Concatenated ranges without a Python loop: each run counts up from its first position.
        offsets = np.repeat(firsts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        return np.arange(total, dtype=np.int64) + offsets

    def nearest(self, x: float, y: float, per_pixel: tuple[float, float], radius: float) -> int:
        """The index of the point nearest (x, y) on screen, within ``radius`` pixels; -1 when none.

        ``per_pixel``: view units per screen pixel along x and y.
        """
        px, py = float(per_pixel[0]), float(per_pixel[1])
        if self.n == 0 or px <= 0 or py <= 0:
            return -1
        positions = self._in_rect(x - radius * px, x + radius * px, y - radius * py, y + radius * py)
        if len(positions) == 0:
            return -1
        d2 = ((self.x[positions] - x) / px) ** 2 + ((self.y[positions] - y) / py) ** 2
        best = int(np.argmin(d2))
        return int(self.order[positions[best]]) if d2[best] <= radius**2 else -1

    def in_box(self, corner: tuple[float, float], other: tuple[float, float]) -> np.ndarray:
        """Sorted indices of the points inside the box with these opposite corners (edges included)."""
        (xa, ya), (xb, yb) = corner, other
        x0, x1, y0, y1 = min(xa, xb), max(xa, xb), min(ya, yb), max(ya, yb)
        positions = self._in_rect(x0, x1, y0, y1)
        x, y = self.x[positions], self.y[positions]
        keep = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
        return np.sort(self.order[positions[keep]])

    def in_polygon(self, polygon: np.ndarray) -> np.ndarray:
        """Sorted indices of the points inside the closed ``polygon`` (V, 2), by the even-odd rule."""
        polygon = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
        if len(polygon) < 3:
            return np.zeros(0, dtype=np.int64)
        (x0, y0), (x1, y1) = polygon.min(axis=0), polygon.max(axis=0)
        positions = self._in_rect(x0, x1, y0, y1)
        points = np.column_stack([self.x[positions], self.y[positions]])
        return np.sort(self.order[positions[points_in_polygon(points, polygon)]])
