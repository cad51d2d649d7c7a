"""The "Your images" pane: the user's own images, each with its reconstruction and its scores.

Passive: it shows the rows it is given and says what the user asked for (encode a file,
draw, clear, show one on the scatter); reading, scoring and placing are done elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableWidget, QTableWidgetItem,
    QVBoxLayout, QWidget,
)

from .images import to_display

THUMB = 48  # pixels a side: an 8x8 digit at 6x, a 28x28 one at about 2x
COLUMNS = ("Input", "Recon.", "Image and scores")  # narrow enough for a dock beside the controls
HINT = ("Encode an image (File \u2192 Encode image\u2026, or drop files on the window) to see where the model puts it. "
        "Its percentile is the share of test items the model finds more likely: near 100, it is unlike its data.")


@dataclass(frozen=True)
class InputRow:
    id: int
    name: str
    image: np.ndarray  # (C, H, W) uint8, as prepared for the model
    recon: np.ndarray | None  # (C, H, W) in [0, 1], once scored
    neg_elbo: str
    nll: str
    percentile: str
    tooltip: str = ""


def pixmap(image: np.ndarray, side: int = THUMB) -> QPixmap:
    """A (C, H, W) uint8 or [0, 1] image as a square thumbnail, pixels kept sharp."""
    shown = np.ascontiguousarray(np.clip(to_display(image)[0] * 255 + 0.5, 0, 255).astype(np.uint8))
    h, w = shown.shape[:2]
    fmt = QImage.Format.Format_Grayscale8 if shown.ndim == 2 else QImage.Format.Format_RGB888
    qimage = QImage(shown.data, w, h, shown.strides[0], fmt).copy()  # copy: the array goes away
    return QPixmap.fromImage(qimage).scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.FastTransformation)


class InputList(QWidget):
    encode_requested = Signal()
    draw_requested = Signal()
    clear_requested = Signal()
    input_chosen = Signal(int)  # the id of the row the user clicked

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.encode_button = QPushButton("Encode image\u2026")
        self.encode_button.setToolTip("Encode image files with the model on screen (Ctrl+E); "
                                      "dropping files on the window does the same")
        self.draw_button = QPushButton("Draw\u2026")
        self.draw_button.setToolTip("Draw an image with the mouse and encode it (grey datasets)")
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Forget all your images")
        self.encode_button.clicked.connect(self.encode_requested)
        self.draw_button.clicked.connect(self.draw_requested)
        self.clear_button.clicked.connect(self.clear_requested)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setIconSize(QSize(THUMB, THUMB))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setDefaultSectionSize(max(THUMB, 4 * self.fontMetrics().lineSpacing()) + 6)
        self.table.cellClicked.connect(self._on_clicked)
        self.hint = QLabel(HINT)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #aaaaaa;")

        buttons = QHBoxLayout()
        for button in (self.encode_button, self.draw_button, self.clear_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.hint)
        self.rows: tuple[InputRow, ...] = ()
        self.set_rows(())
        self.set_ready(False, drawable=False)  # until a model is on screen

    def set_ready(self, ready: bool, drawable: bool) -> None:
        """Whether there is a model to encode with, and whether its images are grey (drawable)."""
        self.encode_button.setEnabled(ready)
        self.draw_button.setEnabled(ready and drawable)

    def set_rows(self, rows) -> None:
        rows = tuple(rows)
        previous = {r.id: r for r in self.rows}
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            old = previous.get(row.id)
            if old is None or old.image is not row.image or self.table.item(r, 0) is None:
                self._set(r, 0, "", pixmap(row.image))
            if old is None or old.recon is not row.recon or self.table.item(r, 1) is None:
                self._set(r, 1, "", None if row.recon is None else pixmap(row.recon))
            self._set(r, 2, self.describe(row), None, row.tooltip)
        self.rows = rows
        self.clear_button.setEnabled(bool(rows))

    @staticmethod
    def describe(row: InputRow) -> str:
        if row.recon is None:
            return f"{row.name}\nscoring\u2026"
        return f"{row.name}\nNLL {row.nll} nats\n\u2212ELBO {row.neg_elbo} nats\npercentile {row.percentile}"

    def _set(self, r: int, c: int, text: str, icon: QPixmap | None, tooltip: str = "") -> None:
        item = self.table.item(r, c) or QTableWidgetItem()
        item.setText(text)
        item.setToolTip(tooltip)
        if c < 2:
            item.setData(Qt.ItemDataRole.DecorationRole, icon)
        if self.table.item(r, c) is None:
            self.table.setItem(r, c, item)

    def _on_clicked(self, r: int, _c: int) -> None:
        if 0 <= r < len(self.rows):
            self.input_chosen.emit(self.rows[r].id)
