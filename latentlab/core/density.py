"""Many points as one picture: counts per class binned on the pixels of a view, coloured by class.

What a million markers cannot do at frame rate, an image of their density does: each
pixel of the drawn region counts the points of each class that fall in it (one
``bincount``), its colour is the mean of those classes' colours weighted by their counts,
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


def class_counts(x: np.ndarray, y: np.ndarray, labels: np.ndarray | None, n_classes: int,
                 frame: Frame) -> tuple[np.ndarray, np.ndarray]:
    """Points per class and pixel: ``(C, height, width)`` int counts, and the (N,) mask of points in the frame.

    ``x``, ``y``: (N,) float32 view coordinates; ``labels``: (N,) int class of each point
    (None: one class); rows of the result run along y, from ``frame.y0`` up.
    """
    cells, inside = frame.cells(x, y)
    pixels = frame.width * frame.height
    if labels is not None and n_classes > 1:
        cells = labels[inside].astype(np.int32) * np.int32(pixels) + cells
    else:
        n_classes = 1
    counts = np.bincount(cells, minlength=n_classes * pixels)
    return counts.reshape(n_classes, frame.height, frame.width), inside


def colourise(counts: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` counts and ``(C, 3)`` class colours in [0, 1] -> an ``(H, W, 4)`` uint8 RGBA image.

    Only the pixels that hold points are computed (most of a scatter's pixels are empty).
    """
    c, h, w = counts.shape
    flat = counts.reshape(c, h * w)
    total = flat.sum(axis=0)
    occupied = np.flatnonzero(total)
    image = np.zeros((h * w, 4), dtype=np.uint8)
    if len(occupied):
        held = flat[:, occupied].astype(np.float32)
        n = total[occupied].astype(np.float32)
        rgb = (np.asarray(colours, dtype=np.float32).T @ held) / n  # (3, K): the count-weighted mean colour
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
