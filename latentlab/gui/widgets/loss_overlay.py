"""Run B's -ELBO curves drawn over the losses pane's own (A's), in a style of their own."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

B_COLOUR = "#c77dff"  # apart from the pane's grey, blue and orange


class LossOverlay:
    """Two curves (train per step dotted, test per epoch dash-dotted with crosses) and their legend entries."""

    def __init__(self, plot: pg.PlotWidget, legend: pg.LegendItem):
        self.plot, self.legend = plot, legend
        self.train = pg.PlotDataItem(pen=pg.mkPen(B_COLOUR, width=1.5, style=Qt.PenStyle.DotLine))
        self.test = pg.PlotDataItem(pen=pg.mkPen(B_COLOUR, width=1.5, style=Qt.PenStyle.DashDotLine),
                                    symbol="x", symbolSize=8, symbolBrush=B_COLOUR, symbolPen=B_COLOUR)
        self.name: str | None = None

    def set_curves(self, name: str, train: tuple[list[float], list[float]], test: tuple[list[float], list[float]]) -> None:
        """``train``, ``test``: (steps, -ELBO) of B, in nats per image."""
        self.clear()
        self.name = name
        for item, (x, y), what in ((self.train, train, "train"), (self.test, test, "test")):
            item.setData(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
            self.plot.addItem(item)
            self.legend.addItem(item, f"B: {name} {what} \u2212ELBO")

    def clear(self) -> None:
        if self.name is None:
            return
        for item in (self.train, self.test):
            self.legend.removeItem(item)
            self.plot.removeItem(item)
            item.setData([], [])
        self.name = None
