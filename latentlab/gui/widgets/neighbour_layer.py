"""How far to trust the view, drawn on the latent scatter: its trust figures in the top-right
corner, and rings around the hovered item's true nearest neighbours.

Passive, like the scatter it attaches to: it shows the text and rings it is given; which
neighbours, and the figures, are the presenter's business. A ring far from the hovered
point is a neighbourhood the view tore apart.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QCheckBox

RING_COLOUR = "#33e0ff"  # a cyan none of the class colours is near
RING_SIZE = 12  # pixels: around a point (5), inside the hover ring (14)
RING_Z = 7  # over the points, under the posterior ellipse (8), the hover ring (9) and the marker (10)
NOTE_Z = 20


class NeighbourLayer(QObject):
    toggled = Signal(bool)

    def __init__(self, scatter):
        super().__init__(scatter)
        self.rings = pg.ScatterPlotItem(size=RING_SIZE, pen=pg.mkPen(RING_COLOUR, width=1.5), brush=None)
        self.rings.setZValue(RING_Z)
        scatter.plot.addItem(self.rings, ignoreBounds=True)  # the view fits the points, not the rings
        # In the view box's own (pixel) coordinates, so it stays in its corner: the legend has the
        # top-left, the manifold's note the bottom-left.
        self.view_box = scatter.plot.getViewBox()
        self.note = pg.TextItem(color="#cccccc", fill=pg.mkBrush(30, 30, 30, 170), anchor=(1, 0))
        self.note.setParentItem(self.view_box)
        self.note.setZValue(NOTE_Z)
        self.note.hide()
        self.view_box.sigResized.connect(self._place_note)
        self._place_note()

        self.toggle = QCheckBox("Neighbours")
        self.toggle.setChecked(True)
        self.toggle.setToolTip("Ring the hovered item's 10 nearest neighbours in the full latent space: rings far "
                               "from the point show where the view tears a neighbourhood apart")
        self.toggle.toggled.connect(self._on_toggled)
        row = scatter.controls
        row.insertWidget(row.indexOf(scatter.note), self.toggle)

    @property
    def enabled(self) -> bool:
        return self.toggle.isChecked()

    def show_rings(self, points: np.ndarray | None) -> None:
        """Ring ``points`` (K, 2) in view coordinates; None or none clears them."""
        if points is None or len(points) == 0 or not self.enabled:
            self.rings.setData([], [])
        else:
            self.rings.setData(points[:, 0], points[:, 1])

    def ring_positions(self) -> np.ndarray:
        """(K, 2): where the rings are drawn (tests, the self-test)."""
        x, y = self.rings.getData()
        return np.column_stack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])

    def set_note(self, text: str, tooltip: str = "") -> None:
        self.note.setText(text)
        self.note.setToolTip(tooltip)
        self.note.setVisible(bool(text))
        self._place_note()

    def note_text(self) -> str:
        return self.note.toPlainText() if self.note.isVisible() else ""

    def _on_toggled(self, on: bool) -> None:
        if not on:
            self.rings.setData([], [])
        self.toggled.emit(on)

    def _place_note(self, *_) -> None:
        self.note.setPos(self.view_box.width() - 4, 4)
