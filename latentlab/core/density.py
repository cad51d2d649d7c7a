"""Many points as one picture: counts per class binned on the pixels of a view, coloured by class.

What a million markers cannot do at frame rate, an image of their density does: each
pixel of the drawn region counts the points that fall in it and sums their classes'
colours (a ``bincount`` each), its colour is the mean of its points' colours,
and its opacity grows with the log of its count from a lone point's up to opaque, so a lone point still shows and a dense
core does not drown its neighbours. The smoothed total count gives contour levels.
NumPy (and SciPy's Gaussian filter) only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LONE_POINT_ALPHA = 0.45  # the opacity of a pixel holding one point; the densest pixel is opaque


@dataclass(frozen=True)
class Frame:
    """A region of view coordinates and the pixels it is drawn on."""

    x0: float
    x1: float
    y0: float
    y1: float
    width: int
    height: int

    def cells(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N,) view coordinates -> each point's pixel (row-major cell id) and whether it is in the frame."""
        fx = (x - np.float32(self.x0)) * np.float32(self.width / (self.x1 - self.x0))
        fy = (y - np.float32(self.y0)) * np.float32(self.height / (self.y1 - self.y0))
        inside = (fx >= 0) & (fx < self.width) & (fy >= 0) & (fy < self.height)
        fx, fy = fx[inside], fy[inside]
        return fy.astype(np.int32) * np.int32(self.width) + fx.astype(np.int32), inside


def pixel_sums(x: np.ndarray, y: np.ndarray, frame: Frame,
               colours: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Points per pixel, and the sums of their colours: ``(H, W)`` counts, ``(3, H, W)`` sums, the (N,) mask in frame.

    ``x``, ``y``: (N,) float32 view coordinates; ``colours``: (3, N) each point's colour in
    [0, 1] (its class's), or None for the counts alone. Rows run along y, from ``frame.y0``
    up. The memory is a few arrays the size of the frame, however many classes colour it.
    """
    cells, inside = frame.cells(x, y)
    pixels = frame.width * frame.height
    counts = np.bincount(cells, minlength=pixels).reshape(frame.height, frame.width)
    if colours is None:
        return counts, None, inside
    sums = np.stack([np.bincount(cells, weights=channel[inside], minlength=pixels) for channel in colours])
    return counts, sums.reshape(len(colours), frame.height, frame.width), inside


def colourise(counts: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """``(H, W)`` counts and ``(3, H, W)`` colour sums (``pixel_sums``) -> an ``(H, W, 4)`` uint8 RGBA image.

    Each pixel's colour is the mean of its points' colours (classes weighted by their
    counts). Only the pixels that hold points are computed: most of a scatter's are empty.
    """
    h, w = counts.shape
    total = counts.reshape(-1)
    occupied = np.flatnonzero(total)
    image = np.zeros((h * w, 4), dtype=np.uint8)
    if len(occupied):
        n = total[occupied].astype(np.float32)
        rgb = sums.reshape(len(sums), -1)[:, occupied].astype(np.float32) / n  # (3, K)
        top = np.log(np.float32(n.max()))  # a lone point's log is 0: it gets LONE_POINT_ALPHA exactly
        alpha = LONE_POINT_ALPHA + (1 - LONE_POINT_ALPHA) * (np.log(n) / top if top > 0 else np.float32(0))
        image[occupied, :3] = np.clip(rgb.T * 255 + 0.5, 0, 255).astype(np.uint8)
        image[occupied, 3] = np.clip(alpha * 255 + 0.5, 0, 255).astype(np.uint8)
    return image.reshape(h, w, 4)


def tint(counts: np.ndarray, colour: tuple[float, float, float], alpha: float = 0.55) -> np.ndarray:
    """An ``(H, W, 4)`` RGBA image that paints the pixels with any count (``(H, W)``) in one colour."""
    image = np.zeros(counts.shape + (4,), dtype=np.uint8)
    held = counts > 0
    image[held, :3] = np.round(np.asarray(colour) * 255).astype(np.uint8)
    image[held, 3] = int(round(alpha * 255))
    return image


def contour_field(total: np.ndarray, shrink: int = 4, sigma: float = 1.5) -> np.ndarray:
    """The log of the smoothed point density of ``(H, W)`` counts, at 1/``shrink`` of their resolution."""
    from scipy.ndimage import gaussian_filter

    h, w = (total.shape[0] // shrink) * shrink, (total.shape[1] // shrink) * shrink
    coarse = total[:h, :w].reshape(h // shrink, shrink, w // shrink, shrink).sum(axis=(1, 3)).astype(np.float64)
    return np.log1p(gaussian_filter(coarse, sigma))


def contour_levels(field: np.ndarray, n: int = 3) -> list[float]:
    """``n`` levels evenly spaced between the field's empty floor and its peak (none for an empty field)."""
    top = float(field.max()) if field.size else 0.0
    if top <= 0:
        return []
    return [top * (i + 1) / (n + 1) for i in range(n)]
