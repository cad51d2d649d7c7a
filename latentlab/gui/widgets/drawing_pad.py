"""A pad on which the user draws a digit with the mouse, for a run on a grey dataset.

Encoding one's own digit shows where the model puts it among the dataset's. The pad only
collects the ink, white on black at any size; ``core.user_images.frame_drawing`` frames it
later as the dataset's digits were (MNIST: a 20x20 box centred by mass in 28x28; digits: 8x8).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

SIDE = 280  # logical pixels: ten MNIST pixels to one of its 28
PEN_SHARE = 0.1  # the pen's width as a share of the side: about an MNIST stroke's in its 28x28


class Canvas(QWidget):
    """White ink on black, painted into a grey QImage as the mouse drags."""

    changed = Signal(bool)  # whether anything is drawn

    def __init__(self, side: int = SIDE, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFixedSize(side, side)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.image = QImage(side, side, QImage.Format.Format_Grayscale8)
        self.image.fill(0)
        self.has_ink = False
        self._last: QPointF | None = None  # the drag's last point; None when no button is held

    def clear(self) -> None:
        self.image.fill(0)
        self.has_ink = False
        self.update()
        self.changed.emit(False)

    def stroke(self, points: list[tuple[float, float]]) -> None:
        """Paint the line a drag through ``points`` (canvas coordinates) paints; one point is a dot."""
        pts = [QPointF(x, y) for x, y in points]
        painter = QPainter(self.image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(Qt.GlobalColor.white, PEN_SHARE * self.width())
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        if len(pts) == 1:
            painter.drawPoint(pts[0])
        else:
            painter.drawPolyline(pts)
        painter.end()
        self.update()
        if pts and not self.has_ink:
            self.has_ink = True
            self.changed.emit(True)

    def ink(self) -> np.ndarray:
        """The drawing as (H, W) float64 in [0, 1]."""
        h, w, stride = self.image.height(), self.image.width(), self.image.bytesPerLine()
        # Each row is padded to a multiple of 4 bytes: reshape by the stride, then crop.
        rows = np.frombuffer(self.image.constBits(), dtype=np.uint8, count=h * stride).reshape(h, stride)
        return rows[:, :w].astype(np.float64) / 255.0

    # Only a press starts a drag: a move with no button held (or one QTest sends without its
    # button state) continues the drag the press began, and a release ends it.
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._last = event.position()
            self.stroke([(self._last.x(), self._last.y())])

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._last is not None:
            pos = event.position()
            self.stroke([(self._last.x(), self._last.y()), (pos.x(), pos.y())])
            self._last = pos

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._last = None

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.drawImage(0, 0, self.image)
        painter.end()


class DrawingPad(QDialog):
    """Draw, then Encode (emits ``drawn`` with the ink and accepts), Clear, or Cancel."""

    drawn = Signal(object)  # (H, W) float64 ink in [0, 1]

    def __init__(self, parent: QWidget | None = None, side: int = SIDE):
        super().__init__(parent)
        self.setWindowTitle("Draw an image")
        self.canvas = Canvas(side)
        hint = QLabel("Draw one digit with the left mouse button.")
        hint.setWordWrap(True)
        buttons = QDialogButtonBox()
        self.clear_button = buttons.addButton("Clear", QDialogButtonBox.ButtonRole.ResetRole)
        self.encode_button = buttons.addButton("Encode", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = buttons.addButton("Cancel", QDialogButtonBox.ButtonRole.RejectRole)
        for button in (self.clear_button, self.cancel_button):
            button.setAutoDefault(False)  # focused, it would take Return from Encode (and clear the pad)
        self.encode_button.setDefault(True)
        self.encode_button.setEnabled(False)  # nothing to encode yet
        self.clear_button.clicked.connect(self.canvas.clear)
        self.encode_button.clicked.connect(self._encode)
        self.cancel_button.clicked.connect(self.reject)
        self.canvas.changed.connect(self.encode_button.setEnabled)

        layout = QVBoxLayout(self)
        layout.addWidget(self.canvas, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(hint)
        layout.addWidget(buttons)
        layout.setSizeConstraint(QVBoxLayout.SizeConstraint.SetFixedSize)

    def ink(self) -> np.ndarray:
        return self.canvas.ink()

    def _encode(self) -> None:
        if self.canvas.has_ink:
            self.drawn.emit(self.ink())
            self.accept()
