"""A slider that walks the decode marker along a direction in latent space, -3..+3 prior σ.

Passive: it says where the user put it and shows what it is told (the direction's name,
whether there is one). At 0 the marker is where the walk began; the walk's origin stays
put while the slider moves, so going back to 0 comes back to it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QWidget

from .images import steady_label

SPAN_SIGMA = 3.0
TICKS_PER_SIGMA = 100
NO_DIRECTION = "Direction: select points or click a class on the scatter."


class DirectionSlider(QWidget):
    moved = Signal(float)  # prior σ from the walk's origin

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.description = steady_label(QLabel(NO_DIRECTION))
        self.description.setStyleSheet("color: #aaaaaa;")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(-round(SPAN_SIGMA * TICKS_PER_SIGMA), round(SPAN_SIGMA * TICKS_PER_SIGMA))
        self.slider.setSingleStep(TICKS_PER_SIGMA // 10)
        self.slider.setPageStep(TICKS_PER_SIGMA // 2)
        self.slider.setToolTip("Move the marker along the direction, in prior standard deviations")
        self.slider.valueChanged.connect(self._on_value_changed)
        self.value_label = QLabel()
        self.value_label.setFixedWidth(self.value_label.fontMetrics().horizontalAdvance("+3.00 σ") + 6)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.description, 2)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.value_label)
        self.set_direction(None)

    def value(self) -> float:
        return self.slider.value() / TICKS_PER_SIGMA

    def set_value(self, sigma: float) -> None:
        """Show ``sigma`` without moving the marker (the marker is already there, or went elsewhere)."""
        self.slider.blockSignals(True)
        self.slider.setValue(round(sigma * TICKS_PER_SIGMA))
        self.slider.blockSignals(False)
        self._show_value()

    def set_direction(self, text: str | None) -> None:
        """Describe the direction there is, or None: there is none, and the slider is off."""
        self.description.setText(NO_DIRECTION if text is None else f"Direction {text}")
        self.slider.setEnabled(text is not None)
        self._show_value()

    def _on_value_changed(self, _: int) -> None:
        self._show_value()
        self.moved.emit(self.value())

    def _show_value(self) -> None:
        self.value_label.setText(f"{self.value():+.2f} σ")
