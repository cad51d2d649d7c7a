"""The decoded image under the marker, prior samples, a walk along a direction, and an A-B strip."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from .direction_slider import DirectionSlider
from .images import steady_label, tile, to_display

PATHS = {"linear": "Linear", "spherical": "Spherical"}  # core.directions.PATH_KINDS, as the user reads them


def _image_view() -> pg.PlotWidget:
    view = pg.PlotWidget(background="#1e1e1e")
    view.hideAxis("left")
    view.hideAxis("bottom")
    view.setAspectLocked(True)
    view.invertY(True)
    view.setMouseEnabled(False, False)
    view.setMenuEnabled(False)
    return view


class DecodeCanvas(QWidget):
    sample_requested = Signal()
    endpoint_requested = Signal(str)  # "A" or "B": take the marker's latent as that end
    steps_changed = Signal(int)
    path_kind_changed = Signal(str)  # "linear" or "spherical"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.view = _image_view()
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        self.caption = steady_label(QLabel("Drag the marker on the latent scatter to decode."))
        self.caption.setStyleSheet("color: #aaaaaa;")
        # Run B's decoding of the same marker, beside A's; shown only while a B is open.
        self.b_view = _image_view()
        self.b_image = pg.ImageItem(axisOrder="row-major")
        self.b_view.addItem(self.b_image)
        self.b_caption = QLabel("B")
        self.b_caption.setStyleSheet("color: #aaaaaa;")
        self.b_caption.setWordWrap(True)
        self.b_box = QWidget()
        b_layout = QVBoxLayout(self.b_box)
        b_layout.setContentsMargins(0, 0, 0, 0)
        b_layout.addWidget(self.b_view, 1)
        b_layout.addWidget(self.b_caption)
        self.b_box.setMaximumWidth(180)
        self.b_box.setVisible(False)

        self.sample_button = QPushButton("Sample from prior")
        self.sample_button.setToolTip("Decode z drawn from N(0, I)")
        self.sample_button.clicked.connect(self.sample_requested)
        self.a_button = QPushButton("Set A")
        self.a_button.setToolTip("Use the marker's point as the start of the interpolation")
        self.a_button.clicked.connect(lambda: self.endpoint_requested.emit("A"))
        self.b_button = QPushButton("Set B")
        self.b_button.setToolTip("Use the marker's point as the end of the interpolation")
        self.b_button.clicked.connect(lambda: self.endpoint_requested.emit("B"))
        self.steps = QSpinBox()
        self.steps.setRange(3, 20)
        self.steps.setValue(10)
        self.steps.setToolTip("Images in the interpolation strip")
        self.steps.valueChanged.connect(self.steps_changed)
        self.path_box = QComboBox()
        for key, text in PATHS.items():
            self.path_box.addItem(text, key)
        self.path_box.setToolTip("Linear: the straight line from A to B. Spherical (slerp): the great-circle arc,\n"
                                 "which keeps the latent's norm where the prior's mass is")
        self.path_box.currentIndexChanged.connect(lambda _: self.path_kind_changed.emit(self.path_kind()))
        self.direction = DirectionSlider()

        self.strip_view = _image_view()
        self.strip_view.setFixedHeight(90)
        self.strip = pg.ImageItem(axisOrder="row-major")
        self.strip_view.addItem(self.strip)
        self.strip_caption = steady_label(QLabel("Interpolation: set A and B."))
        self.strip_caption.setStyleSheet("color: #aaaaaa;")

        buttons = QHBoxLayout()
        buttons.addWidget(self.sample_button)
        buttons.addStretch(1)
        buttons.addWidget(self.a_button)
        buttons.addWidget(self.b_button)
        buttons.addWidget(self.path_box)
        buttons.addWidget(self.steps)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        images = QHBoxLayout()
        images.addWidget(self.view, 1)
        images.addWidget(self.b_box)
        layout.addLayout(images, 1)
        layout.addWidget(self.caption)
        layout.addLayout(buttons)
        layout.addWidget(self.direction)
        layout.addWidget(self.strip_caption)
        layout.addWidget(self.strip_view)
        self.images_set = 0  # how many times the decoded image changed (tests, benchmarks)

    def set_image(self, image: np.ndarray, caption: str) -> None:
        """``image``: (C, H, W) in [0, 1]."""
        self.image.setImage(to_display(image)[0], autoLevels=False, levels=(0, 1))
        self.caption.setText(caption)
        self.images_set += 1

    def set_b(self, image: np.ndarray | None, caption: str) -> None:
        """B's decoding (C, H, W) in [0, 1], or None with the caption saying why there is none."""
        if image is None:
            self.b_image.clear()
        else:
            self.b_image.setImage(to_display(image)[0], autoLevels=False, levels=(0, 1))
        self.b_caption.setText(caption)
        self.b_box.setVisible(True)

    def hide_b(self) -> None:
        self.b_image.clear()
        self.b_box.setVisible(False)

    def b_shown(self) -> np.ndarray | None:
        return self.b_image.image if self.b_box.isVisibleTo(self) else None

    def path_kind(self) -> str:
        return self.path_box.currentData()

    def current_image(self) -> np.ndarray | None:
        return self.image.image

    def clear(self) -> None:
        """Another run: nothing decoded yet, no interpolation."""
        self.image.clear()
        self.strip.clear()
        self.caption.setText("Drag the marker on the latent scatter to decode.")
        self.strip_caption.setText("Interpolation: set A and B.")

    def set_strip(self, images: np.ndarray, caption: str) -> None:
        """``images``: (N, C, H, W) in [0, 1], shown left to right."""
        shown = to_display(images)
        self.strip.setImage(tile(shown, columns=len(shown)), autoLevels=False, levels=(0, 1))
        self.strip_caption.setText(caption)
        self.strip_view.autoRange(padding=0)
