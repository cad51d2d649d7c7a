"""The traversal grid: one row per latent direction, each sweeping it through the marker's z.

Passive: it shows the tiles it is given (one mosaic image, so a redraw is one texture
upload however many rows there are), labels the rows, greys the unused ones, and says
which cell was clicked. What to decode, and when, is the presenter's business.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from .images import steady_label, tile, to_display

PAD = 1  # pixels between tiles
UNUSED_DIMMING = 0.3  # an unused dimension's row is shown this bright


class TraversalGrid(QWidget):
    cell_clicked = Signal(int, int)  # row, column
    settings_changed = Signal()  # the span or the unused-row choice changed

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = pg.PlotWidget(background="#1e1e1e")
        self.plot.setAspectLocked(True)
        self.plot.invertY(True)
        self.plot.setMouseEnabled(False, False)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.hideAxis("bottom")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.plot.scene().sigMouseClicked.connect(self._on_clicked)

        self.span = QDoubleSpinBox()
        self.span.setRange(0.5, 6.0)
        self.span.setSingleStep(0.5)
        self.span.setValue(3.0)
        self.span.setSuffix(" σ")
        self.span.setToolTip("Each row sweeps its coordinate from -span to +span prior standard deviations")
        self.span.valueChanged.connect(lambda _: self.settings_changed.emit())
        self.hide_unused = QCheckBox("Hide unused dimensions")
        self.hide_unused.setToolTip("Collapse the rows of dimensions whose KL is near zero: they decode alike")
        self.hide_unused.toggled.connect(lambda _: self.settings_changed.emit())
        self.caption = steady_label(QLabel("Traversals of the marker's latent appear here after the first epoch."))
        self.caption.setStyleSheet("color: #aaaaaa;")

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Sweep ±"))
        controls.addWidget(self.span)
        controls.addWidget(self.hide_unused)
        controls.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(controls)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.caption)
        self._shape = (0, 0)  # rows, columns shown
        self._tile = (0, 0)  # tile height, width in pixels
        self.updates = 0  # how many times the tiles changed (tests, benchmarks)

    def set_tiles(self, tiles: np.ndarray, columns: int, labels: list[str], active: list[bool], caption: str) -> None:
        """``tiles``: (rows * columns, C, H, W) in [0, 1], row-major; ``active[r]`` False greys row r."""
        shown = to_display(tiles).copy()  # a copy: the unused rows are dimmed in place
        rows = len(labels)
        h, w = shown.shape[1:3]
        for r in range(rows):
            if not active[r]:
                shown[r * columns:(r + 1) * columns] *= UNUSED_DIMMING
        mosaic = tile(shown, columns, pad=PAD, fill=0.2)
        self.image.setImage(mosaic, autoLevels=False, levels=(0, 1))
        if (rows, columns) != self._shape or (h, w) != self._tile:
            self._shape, self._tile = (rows, columns), (h, w)
            self.plot.getViewBox().setRange(xRange=(0, mosaic.shape[1]), yRange=(0, mosaic.shape[0]), padding=0.02)
        left = self.plot.getAxis("left")
        left.setTicks([[(r * (h + PAD) + h / 2, labels[r]) for r in range(rows)]])
        self.caption.setText(caption)
        self.updates += 1

    def clear(self) -> None:
        self.image.clear()
        self._shape = (0, 0)
        self.plot.getAxis("left").setTicks([[]])
        self.caption.setText("Traversals of the marker's latent appear here after the first epoch.")

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        """The (row, column) of the tile under image coordinates (x, y); None off the tiles."""
        rows, columns = self._shape
        h, w = self._tile
        if rows == 0 or x < 0 or y < 0:
            return None
        r, c = int(y // (h + PAD)), int(x // (w + PAD))
        return (r, c) if r < rows and c < columns else None

    def cell_centre(self, row: int, column: int) -> tuple[float, float]:
        """Image coordinates of a tile's centre (tests click there)."""
        h, w = self._tile
        return column * (w + PAD) + w / 2, row * (h + PAD) + h / 2

    def _on_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        p = self.plot.getViewBox().mapSceneToView(event.scenePos())
        cell = self.cell_at(p.x(), p.y())
        if cell is not None:
            self.cell_clicked.emit(*cell)
