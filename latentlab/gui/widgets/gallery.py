"""Reconstruction gallery: inputs above their reconstructions, refreshed every epoch."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from .images import steady_label, tile, to_display


class ReconstructionGallery(QWidget):
    worst_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.view = pg.PlotWidget(background="#1e1e1e")
        self.view.hideAxis("left")
        self.view.hideAxis("bottom")
        self.view.setAspectLocked(True)
        self.view.invertY(True)
        self.view.setMenuEnabled(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        self.worst_box = QCheckBox("Show the worst-reconstructed test items")
        self.worst_box.toggled.connect(self.worst_toggled)
        self.caption = steady_label(QLabel("Inputs (top) and reconstructions (bottom) appear after the first epoch."))
        self.caption.setStyleSheet("color: #aaaaaa;")
        top = QHBoxLayout()
        top.addWidget(self.worst_box)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.caption)
        self._rows: tuple[np.ndarray, np.ndarray, str] | None = None
        self._b: tuple[np.ndarray | None, str] | None = None

    def show_worst(self) -> bool:
        return self.worst_box.isChecked()

    def clear(self) -> None:
        self.image.clear()
        self._rows, self._b = None, None
        self.caption.setText("Inputs (top) and reconstructions (bottom) appear after the first epoch.")

    def set_pairs(self, inputs: np.ndarray, recons: np.ndarray, caption: str) -> None:
        """``inputs`` (N, C, H, W) uint8 or [0, 1] floats; ``recons`` (N, C, H, W) in [0, 1].
        Other inputs: a run B's row (``set_b``) is gone until it is given for them."""
        self._rows, self._b = (to_display(inputs), to_display(recons), caption), None
        self._draw()

    def set_b(self, recons: np.ndarray | None, note: str = "") -> None:
        """Run B's reconstructions of the same inputs, as a third row (None: no row), and a note on them."""
        self._b = None if self._rows is None else ((None if recons is None else to_display(recons)), note)
        self._draw()

    @property
    def rows(self) -> int:
        return 0 if self._rows is None else 2 + (self._b is not None and self._b[0] is not None)

    def _draw(self) -> None:
        if self._rows is None:
            return
        inputs, recons, caption = self._rows
        shown = [inputs, recons]
        if self._b is not None:
            if self._b[0] is not None:
                shown.append(self._b[0])
            caption = f"{caption}; {self._b[1]}" if self._b[1] else caption
        self.image.setImage(tile(np.concatenate(shown), columns=len(inputs)), autoLevels=False, levels=(0, 1))
        self.view.autoRange(padding=0.02)
        self.caption.setText(caption)
