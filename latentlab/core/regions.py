"""Which 2-D points lie in a box or a polygon: what a box or lasso drawn on a view selects.

The even-odd rule, each polygon edge testing only the points level with it (the points
sorted by y once): a lasso of a thousand vertices over 10,000 points stays within a frame.
NumPy only.
"""

from __future__ import annotations

import numpy as np


def points_in_box(points: np.ndarray, corner: tuple[float, float], other: tuple[float, float]) -> np.ndarray:
    """Indices of the (N, 2) ``points`` inside the box with these two opposite corners (edges included)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    (x0, y0), (x1, y1) = corner, other
    low, high = np.minimum([x0, y0], [x1, y1]), np.maximum([x0, y0], [x1, y1])
    inside = np.all((points >= low) & (points <= high), axis=1)
    return np.flatnonzero(inside)


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Indices of the (N, 2) ``points`` inside the closed ``polygon`` (V, 2), by the even-odd rule.

    A point is inside when a ray from it towards +x crosses the polygon's edges an odd
    number of times; the polygon closes itself (last vertex back to the first), and may
    cross itself. Fewer than three vertices enclose nothing.
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    polygon = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    if len(polygon) < 3 or len(points) == 0:
        return np.zeros(0, dtype=np.int64)
    low, high = polygon.min(axis=0), polygon.max(axis=0)
    candidates = np.flatnonzero(np.all((points >= low) & (points <= high), axis=1))
    candidates = candidates[np.argsort(points[candidates, 1], kind="stable")]  # by y: an edge meets one slice
    x, y = points[candidates, 0], points[candidates, 1]
    inside = np.zeros(len(candidates), dtype=bool)
    for (xa, ya), (xb, yb) in zip(polygon, np.roll(polygon, -1, axis=0)):
        if ya == yb:
            continue  # a horizontal edge: a ray along +x never crosses it
        # The points whose rays can cross this edge: min(ya, yb) <= y < max(ya, yb).
        start, stop = np.searchsorted(y, [min(ya, yb), max(ya, yb)], side="left")
        crossing_x = xa + (y[start:stop] - ya) * (xb - xa) / (yb - ya)
        inside[start:stop] ^= x[start:stop] < crossing_x
    return np.sort(candidates[inside])
