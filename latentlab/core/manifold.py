"""The decoded manifold: a grid of tiles over the visible part of a 2-D view, each tile the
decoding of the view's inverse at its centre.

Geometry only, and the one computation both the GUI thread and a worker run: where the
tiles are, which tile holds a view point, and their latents and images. Rows run from the
top of the view down, as a person reads the picture: on screen the y axis points up, so
row 0 holds the largest y. NumPy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .errors import ConfigError

DEFAULT_TILES = 12  # tiles per side: 144 decodes, each tile still large enough to read


@dataclass(frozen=True)
class TileGrid:
    """``n`` x ``n`` equal tiles covering the view rectangle [x0, x1] x [y0, y1] exactly."""

    x0: float
    x1: float
    y0: float
    y1: float
    n: int

    @property
    def tile_size(self) -> tuple[float, float]:
        """(width, height) of one tile, in view units."""
        return (self.x1 - self.x0) / self.n, (self.y1 - self.y0) / self.n

    @property
    def centres(self) -> np.ndarray:
        """(n * n, 2) tile centres, row-major: tile (row r, column c) at r * n + c; row 0 at the top."""
        w, h = self.tile_size
        xs = self.x0 + (np.arange(self.n) + 0.5) * w
        ys = self.y1 - (np.arange(self.n) + 0.5) * h  # top row first: the largest y
        gx, gy = np.meshgrid(xs, ys)
        return np.column_stack([gx.ravel(), gy.ravel()])

    def tile_at(self, x: float, y: float) -> int | None:
        """The index of the tile holding view point (x, y); None outside the rectangle."""
        if not (self.x0 <= x <= self.x1 and self.y0 <= y <= self.y1):
            return None
        w, h = self.tile_size
        column = min(int((x - self.x0) / w), self.n - 1)  # the far edges belong to the last tile
        row = min(int((self.y1 - y) / h), self.n - 1)
        return row * self.n + column


def tile_grid(x_range: tuple[float, float], y_range: tuple[float, float], n: int = DEFAULT_TILES) -> TileGrid:
    """The grid of ``n`` x ``n`` tiles over the rectangle a view shows (``ViewBox.viewRange()``)."""
    (x0, x1), (y0, y1) = (float(v) for v in x_range), (float(v) for v in y_range)
    if int(n) < 1:
        raise ConfigError(f"The manifold needs at least one tile per side, not {n}.")
    if not (np.isfinite([x0, x1, y0, y1]).all() and x1 > x0 and y1 > y0):
        raise ConfigError(f"The manifold needs a visible rectangle of some size, not x {x0}..{x1}, y {y0}..{y1}.")
    return TileGrid(x0, x1, y0, y1, int(n))


def decode_tiles(grid: TileGrid, inverse: Callable[[np.ndarray], np.ndarray],
                 decode: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The tiles' latents (``inverse`` of their centres, (n * n, D)) and their decodings ((n * n, C, H, W))."""
    latents = np.asarray(inverse(grid.centres), dtype=np.float64)
    return latents, decode(latents)
