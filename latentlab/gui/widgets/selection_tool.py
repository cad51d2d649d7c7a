"""Selecting test items on the latent scatter: a box or lasso dragged over the points, or a legend click.

Attached to a ``LatentScatter``, the tool watches its viewport for left-drags that begin
with Shift (the shape chosen, a box at first) or Alt (a lasso), or anywhere off the marker
while *Select* is on, and keeps those drags to itself. Every other gesture reaches the
scatter as before: a drag on the marker moves it, a drag elsewhere pans, hovering and
clicking preview and pick an item. While the pointer moves the outline is drawn in view
coordinates; on release the indices of the points inside are reported for set A or B.
Clicking a class in the legend reports that class. The sets drawn (an outline ring per
point, one item per set) are given back by whoever holds them: the explorer, via its presenter.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from pyqtgraph.graphicsItems.LegendItem import ItemSample
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QWidget

from latentlab.core.regions import points_in_box, points_in_polygon

from .images import steady_label
from .latent_scatter import _move_points

SET_COLOURS = {"A": "#ff4fd8", "B": "#00e5ff"}
SHAPES = {"box": "Box", "lasso": "Lasso"}
MIN_DRAG_PIXELS = 3  # a Shift+click that hardly moved selects nothing
LASSO_STEP_PIXELS = 3  # a lasso vertex at most every few pixels: a smooth outline, few edges to test


class ClassSample(ItemSample):
    """A legend sample that reports a click without hiding anything (pyqtgraph's toggles its item)."""

    def mouseClickEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            event.accept()
            self.sigClicked.emit(self.item)


class SelectionTool(QObject):
    points_selected = Signal(str, object)  # "A"/"B", (K,) indices of the scatter's points inside the shape
    region_drawn = Signal(str, str, object)  # "A"/"B", "box"/"lasso", the (V, 2) view vertices drawn
    class_clicked = Signal(str, int)  # "A"/"B", the class whose legend entry was clicked
    clear_requested = Signal()

    def __init__(self, scatter):
        super().__init__(scatter)
        self.scatter = scatter
        plot = scatter.plot
        self.outline = pg.PlotCurveItem(pen=pg.mkPen("#ffd700", width=1.5, style=Qt.PenStyle.DashLine))
        self.outline.setZValue(11)  # over the marker: it is what the pointer is doing now
        self.rings = {which: pg.ScatterPlotItem(size=10, pen=pg.mkPen(colour, width=1.5), brush=None)
                      for which, colour in SET_COLOURS.items()}
        for item in (self.outline, *self.rings.values()):
            plot.addItem(item, ignoreBounds=True)  # the view fits the points, not the selection
        for item in self.rings.values():
            item.setZValue(8)  # over the points, under the hover ring and the marker
        scatter.legend.setSampleType(ClassSample)
        scatter.legend.setToolTip("Click a class to select its items into the set chosen below the plot")
        plot.viewport().installEventFilter(self)
        plot.scene().sigMouseClicked.connect(self._on_scene_clicked)

        self.select_button = QPushButton("Select")
        self.select_button.setCheckable(True)
        self.select_button.setToolTip("On: a left-drag off the marker selects points instead of panning.\n"
                                      "Always: Shift+drag selects with the shape chosen, Alt+drag with a lasso.")
        self.shape_box = QComboBox()
        for key, text in SHAPES.items():
            self.shape_box.addItem(text, key)
        self.shape_box.setToolTip("The shape a selecting drag draws")
        self.target_box = QComboBox()
        for which in SET_COLOURS:
            self.target_box.addItem(f"into {which}", which)
        self.target_box.setToolTip("The set the next selection or legend click becomes")
        self.summary = steady_label(QLabel())
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setStyleSheet("color: #aaaaaa;")
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Forget both selections")
        self.clear_button.clicked.connect(self.clear_requested)
        self.bar = QWidget()
        row = QHBoxLayout(self.bar)
        row.setContentsMargins(0, 0, 0, 0)
        for widget in (self.select_button, self.shape_box, self.target_box):
            row.addWidget(widget)
        row.addWidget(self.summary, 1)
        row.addWidget(self.clear_button)
        layout = scatter.layout()
        layout.insertWidget(layout.indexOf(plot) + 1, self.bar)  # under the plot: the controls row above is full
        self.set_summary({})

        self._shape: str | None = None  # the shape being drawn, while a selecting drag lasts
        self._pixels: list[QPoint] = []  # the drag's viewport positions (the lasso's vertices)
        self._vertices: list[tuple[float, float]] = []  # the same in view coordinates

    # -- what the presenter sets and reads ------------------------------------------------------
    def target(self) -> str:
        return self.target_box.currentData()

    def set_target(self, which: str) -> None:
        self.target_box.setCurrentIndex(list(SET_COLOURS).index(which))

    def show_set(self, which: str, points: np.ndarray | None) -> None:
        """Ring the (K, 2) view ``points`` of set ``which``; None or none hides them."""
        item = self.rings[which]
        if points is None or len(points) == 0:
            item.setData([], [])
            return
        points = np.asarray(points, dtype=np.float64)
        if not _move_points(item, points[:, 0], points[:, 1]):  # new points each epoch: move them in place
            item.setData(points[:, 0], points[:, 1])

    def shown_set(self, which: str) -> np.ndarray:
        x, y = self.rings[which].getData()
        return np.c_[x, y] if x is not None else np.zeros((0, 2))

    def set_summary(self, names: dict[str, str]) -> None:
        """What each set holds ("3 (36 items)"), or that it is empty."""
        parts = [f"<span style='color:{colour}'>{which}</span>: {names.get(which, '–')}"
                 for which, colour in SET_COLOURS.items()]
        self.summary.setText("&nbsp;&nbsp;".join(parts))

    # -- selecting (the mouse path and anything that knows the region in view coordinates) ------
    def select_box(self, corner: tuple[float, float], other: tuple[float, float]) -> np.ndarray:
        indices, which = points_in_box(self.scatter.layout_points, corner, other), self.target()
        self.points_selected.emit(which, indices)  # may move the target on to the other set
        self.region_drawn.emit(which, "box", np.array([corner, other], dtype=np.float64))
        return indices

    def select_lasso(self, vertices: np.ndarray) -> np.ndarray:
        indices, which = points_in_polygon(self.scatter.layout_points, vertices), self.target()
        self.points_selected.emit(which, indices)
        self.region_drawn.emit(which, "lasso", np.asarray(vertices, dtype=np.float64))
        return indices

    def drawing(self) -> bool:
        return self._shape is not None

    # -- the drag -------------------------------------------------------------------------------
    def eventFilter(self, watched, event) -> bool:
        kind = event.type()
        if kind == QEvent.Type.MouseButtonPress and event.button() == Qt.MouseButton.LeftButton:
            shape = self._shape_for(event)
            if shape is None:
                return False  # the scatter's own gesture: marker drag, pan, click
            self._begin(shape, event.position().toPoint())
            return True
        if self._shape is None:
            return False
        if kind == QEvent.Type.MouseMove:
            self._extend(event.position().toPoint())
            return True
        if kind == QEvent.Type.MouseButtonRelease and event.button() == Qt.MouseButton.LeftButton:
            self._finish(event.position().toPoint())
            return True
        return False

    def _shape_for(self, event) -> str | None:
        modifiers = event.modifiers()
        scene = self.scatter.plot.mapToScene(event.position().toPoint())
        if not self.scatter.plot.getViewBox().sceneBoundingRect().contains(scene):
            return None  # on an axis
        if modifiers & Qt.KeyboardModifier.AltModifier:
            return "lasso"
        if modifiers & Qt.KeyboardModifier.ShiftModifier:
            return self.shape_box.currentData()
        if self.select_button.isChecked() and not self.scatter.marker.sceneBoundingRect().contains(scene):
            return self.shape_box.currentData()
        return None

    def _to_view(self, pixel: QPoint) -> tuple[float, float]:
        p = self.scatter.plot.getViewBox().mapSceneToView(self.scatter.plot.mapToScene(pixel))
        return float(p.x()), float(p.y())

    def _begin(self, shape: str, pixel: QPoint) -> None:
        self._shape, self._pixels, self._vertices = shape, [pixel], [self._to_view(pixel)]

    def _extend(self, pixel: QPoint) -> None:
        if self._shape == "box":
            self._pixels[1:], self._vertices[1:] = [pixel], [self._to_view(pixel)]
        elif (pixel - self._pixels[-1]).manhattanLength() >= LASSO_STEP_PIXELS:
            self._pixels.append(pixel)
            self._vertices.append(self._to_view(pixel))
        self._draw_outline()

    def _finish(self, pixel: QPoint) -> None:
        self._extend(pixel)
        shape, pixels, vertices = self._shape, self._pixels, np.array(self._vertices)
        self._shape, self._pixels, self._vertices = None, [], []
        self.outline.setData([], [])
        extent = max((p - pixels[0]).manhattanLength() for p in pixels)
        if extent < MIN_DRAG_PIXELS:
            return
        if shape == "box":
            self.select_box(tuple(vertices[0]), tuple(vertices[-1]))
        else:
            self.select_lasso(vertices)

    def _draw_outline(self) -> None:
        v = np.array(self._vertices)
        if self._shape == "box":
            (x0, y0), (x1, y1) = v[0], v[-1]
            v = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        closed = np.vstack([v, v[:1]])
        self.outline.setData(closed[:, 0], closed[:, 1])

    # -- the legend -----------------------------------------------------------------------------
    def _on_scene_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        c = self.legend_class_at(event.scenePos())
        if c is not None:
            self.class_clicked.emit(self.target(), c)

    def legend_class_at(self, scene_pos: QPointF) -> int | None:
        """The class whose legend entry (its sample or its name) is at ``scene_pos``, if any."""
        legend = self.scatter.legend
        if not legend.isVisible():
            return None
        for sample, label in legend.items:
            if sample.sceneBoundingRect().contains(scene_pos) or label.sceneBoundingRect().contains(scene_pos):
                samples = self.scatter.legend_samples
                return samples.index(sample.item) if sample.item in samples else None
        return None
