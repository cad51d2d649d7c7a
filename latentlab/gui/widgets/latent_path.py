"""The A-B interpolation path drawn on the latent scatter: where the strip's latents lie in the view.

A polyline with a dot per decoded step and the ends named A and B, so the strip in the
Decoder pane can be read against the points it passes: a linear path in a PCA view is a
straight line, a spherical one bows out. Hidden until both ends are set.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

PATH_COLOUR = "#ffd700"


class LatentPath:
    def __init__(self, scatter):
        self.curve = pg.PlotDataItem(pen=pg.mkPen(PATH_COLOUR, width=1.5), symbol="o", symbolSize=5,
                                     symbolPen=None, symbolBrush=PATH_COLOUR)
        self.ends = [pg.TextItem(name, color=PATH_COLOUR, anchor=(0.5, 1.2)) for name in ("A", "B")]
        for item in (self.curve, *self.ends):
            item.setZValue(7)  # over the points, under the selection rings, hover ring and marker
            scatter.plot.addItem(item, ignoreBounds=True)  # the view fits the points, not the path
        self.clear()

    def set_points(self, points: np.ndarray | None) -> None:
        """The path's (N, 2) view points, A first; None hides it."""
        if points is None or len(points) < 2:
            self.clear()
            return
        points = np.asarray(points, dtype=np.float64)
        self.curve.setData(points[:, 0], points[:, 1])
        for end, (x, y) in zip(self.ends, points[[0, -1]]):
            end.setPos(float(x), float(y))
            end.show()
        self.curve.show()

    def clear(self) -> None:
        self.curve.setData([], [])
        for item in (self.curve, *self.ends):
            item.hide()

    def points(self) -> np.ndarray | None:
        """What is drawn, (N, 2), or None when hidden."""
        if not self.curve.isVisible():
            return None
        x, y = self.curve.getData()
        return np.c_[x, y]
