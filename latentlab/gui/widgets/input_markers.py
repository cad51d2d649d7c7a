"""The user's encoded images on the latent scatter: a numbered star at each one's posterior mean.

Passive, like the scatter it attaches to: it draws the points it is given. Stars are apart
from the test items' points (their own item, over them), so nothing the test points do
(in-place moves, restyling by sigma) touches them, and the view's fit ignores them.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject

STAR = "#ffd21f"


class InputMarkers(QObject):
    def __init__(self, scatter):
        super().__init__(scatter)
        self.plot = scatter.plot
        self.stars = pg.ScatterPlotItem(symbol="star", size=20, pen=pg.mkPen("#1e1e1e", width=1.5),
                                        brush=pg.mkBrush(STAR))
        self.stars.setZValue(9)  # over the points and the posterior ellipse, under the marker
        self.plot.addItem(self.stars, ignoreBounds=True)
        self.labels: list[pg.TextItem] = []
        self.points = np.zeros((0, 2))

    def set_points(self, points: np.ndarray, labels: list[str]) -> None:
        """Stars at ``points`` (N, 2) of the view, each labelled (its number in the "Your images" list)."""
        self.points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        self.stars.setData(pos=self.points) if len(self.points) else self.stars.clear()
        while len(self.labels) < len(labels):
            text = pg.TextItem(color=STAR, anchor=(-0.3, 1.1))
            text.setZValue(9)
            self.plot.addItem(text, ignoreBounds=True)
            self.labels.append(text)
        for i, text in enumerate(self.labels):
            if i < len(labels):
                text.setText(labels[i])
                text.setPos(*self.points[i])
                text.show()
            else:
                text.hide()
