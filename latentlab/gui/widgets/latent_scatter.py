"""The latent scatter: test items as points coloured by label, a draggable decode marker,
hover/click previews, and the choice of view (the latent itself, PCA, t-SNE, UMAP)."""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication, QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget,
)

from latentlab.core.projection import ViewKind
from latentlab.core.umap_view import umap_available

from .images import steady_label, to_display

PALETTE = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
]
HOVER_PIXELS = 8  # how near the pointer must be to a point to preview it
VIEWS = {ViewKind.LATENT: "Latent (2-D)", ViewKind.PCA: "PCA", ViewKind.TSNE: "t-SNE"}
if umap_available():  # the optional extra latentlab[umap], with the numba and pynndescent it runs on
    VIEWS[ViewKind.UMAP] = "UMAP"
GLIDE_S = 0.25  # points travel to another epoch's places over this long


def _colour(i: int) -> str:
    return PALETTE[i] if i < len(PALETTE) else pg.intColor(i, hues=max(12, i + 1)).name()


def _move_points(item: pg.ScatterPlotItem, x: np.ndarray, y: np.ndarray) -> bool:
    """Move an item's existing points in place, if it holds as many as given.

    ``setData`` rebuilds every point's record and style (about 1 ms per 1,000 points);
    when only positions change, as they do every epoch and every t-SNE chunk, writing the
    coordinates into the item's record array costs microseconds.
    """
    data = getattr(item, "data", None)
    if data is None or len(data) != len(x) or len(x) == 0:
        return False
    data["x"], data["y"] = x, y
    item.prepareGeometryChange()
    item.bounds = [None, None]  # recomputed from the new coordinates on demand
    item.invalidate()
    item.informViewBoundsChanged()
    return True


class LatentScatter(QWidget):
    marker_moved = Signal(float, float)  # view coordinates, while dragging
    point_hovered = Signal(int)  # test index under the pointer, -1 when none
    point_clicked = Signal(int)
    view_changed = Signal(object)  # the ViewKind the user picked
    tsne_requested = Signal()
    tsne_cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = pg.PlotWidget(background="#1e1e1e")
        self.plot.setAspectLocked(False)
        self.legend = self.plot.addLegend(offset=(10, 10))
        self.points = pg.ScatterPlotItem(size=5, pen=None)
        self.plot.addItem(self.points)
        self.legend_samples: list[pg.ScatterPlotItem] = []
        self._brushes = [pg.mkBrush(_colour(0))]
        self.marker = pg.TargetItem(pos=(0, 0), size=16, movable=True, pen=pg.mkPen("#ffffff", width=2),
                                    brush=pg.mkBrush(255, 255, 255, 40), symbol="crosshair")
        self.marker.setZValue(10)
        self.plot.addItem(self.marker, ignoreBounds=True)  # the view fits the data, not the marker
        self.marker.sigPositionChanged.connect(self._on_marker_moved)
        self.highlight = pg.ScatterPlotItem(size=14, pen=pg.mkPen("#ffffff", width=2), brush=None)
        self.highlight.setZValue(9)
        self.plot.addItem(self.highlight, ignoreBounds=True)
        # Follow the points as they move, until the user pans or zooms. Not pyqtgraph's own
        # auto-range: that re-fits (and repaints the whole view) on every move of the marker.
        self.plot.disableAutoRange()
        self.plot.hideButtons()
        self._follow = True
        self.plot.getViewBox().sigRangeChangedManually.connect(self._on_range_changed_manually)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.plot.scene().sigMouseClicked.connect(self._on_mouse_clicked)

        self.view_box = QComboBox()
        for key, text in VIEWS.items():
            self.view_box.addItem(text, key)
        self.view_box.currentIndexChanged.connect(lambda _: self.view_changed.emit(self.view()))
        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("Show all points, and follow them as they move")
        self.fit_button.clicked.connect(self.fit_view)
        self.tsne_button = QPushButton("Run t-SNE")
        self.tsne_button.clicked.connect(self._on_tsne_button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setMaximumWidth(160)
        policy = self.progress.sizePolicy()  # showing the bar must not move the plot
        policy.setRetainSizeWhenHidden(True)
        self.progress.setSizePolicy(policy)
        self.progress.hide()
        self.tsne_button.setMinimumWidth(self.tsne_button.fontMetrics().horizontalAdvance("Cancel t-SNE") + 24)
        self.note = steady_label(QLabel())
        self.note.setStyleSheet("color: #aaaaaa;")

        self.preview_input = pg.ImageView()
        self.preview_recon = pg.ImageView()
        for view in (self.preview_input, self.preview_recon):
            view.ui.histogram.hide()
            view.ui.roiBtn.hide()
            view.ui.menuBtn.hide()
            view.setFixedSize(96, 96)
        self.preview_caption = steady_label(QLabel("Hover over a point to see\nits input and reconstruction."), lines=2)
        self.preview_caption.setStyleSheet("color: #aaaaaa;")

        controls = self.controls = QHBoxLayout()  # layers that attach to the scatter add their controls here
        controls.addWidget(QLabel("View:"))
        controls.addWidget(self.view_box)
        controls.addWidget(self.fit_button)
        controls.addWidget(self.tsne_button)
        controls.addWidget(self.progress)
        controls.addWidget(self.note, 1)
        preview = QHBoxLayout()
        preview.addWidget(self.preview_input)
        preview.addWidget(self.preview_recon)
        preview.addWidget(self.preview_caption, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(controls)
        layout.addWidget(self.plot, 1)
        layout.addLayout(preview)

        self.layout_points = np.zeros((0, 2))
        self._classes: tuple[str, ...] = ()
        self._labels: np.ndarray | None = None
        self._legend_set = False
        self._hovered = -1
        self.hover_points = True  # off while another layer (all items) answers the pointer
        self.fit_extent: tuple[np.ndarray, np.ndarray] | None = None  # (low, high) to fit, if more than the points
        self._tsne_running = False
        self._glide: tuple[np.ndarray, np.ndarray, float] | None = None  # from, to, start time
        self._glide_timer = QTimer(self)
        self._glide_timer.setInterval(16)
        self._glide_timer.timeout.connect(self._on_glide_frame)

    # -- view state -----------------------------------------------------------------------
    def view(self) -> ViewKind:
        return self.view_box.currentData()

    def set_view(self, kind: ViewKind, emit: bool = False) -> None:
        """Show ``kind`` as chosen; an AXES fallback is shown as the choice it stands in for."""
        if kind not in VIEWS:
            return
        self.view_box.blockSignals(not emit)
        self.view_box.setCurrentIndex(list(VIEWS).index(kind))
        self.view_box.blockSignals(False)

    def set_views_enabled(self, latent_2d: bool) -> None:
        """The "Latent (2-D)" view exists only when the latent is 2-D."""
        model = self.view_box.model()
        model.item(0).setEnabled(latent_2d)

    def set_note(self, text: str) -> None:
        self.note.setText(text)

    # -- points ---------------------------------------------------------------------------
    def set_points(self, layout: np.ndarray, labels: np.ndarray | None, classes: tuple[str, ...] = (),
                   animate: bool = False) -> None:
        """Show ``layout`` (N, 2), each point in its label's colour; ``animate``: glide there from
        where the same points are drawn now (hover and clicks use the new places at once).

        All points are one scatter item with a brush per point, set once per run: every
        paint is then one bounds check and one batch of drawn symbols rather than one per
        class, which matters while training and a t-SNE compete with painting for the GIL.
        The legend shows one sample per class.
        """
        layout = np.asarray(layout, dtype=np.float64)
        labels = None if labels is None else np.asarray(labels)
        # The same run's labels: a new epoch or a t-SNE progress moves the points, nothing else.
        same_labels = self._legend_set and labels is self._labels and classes == self._classes
        if not same_labels:
            self._set_legend(labels, classes)
        drawn = getattr(self.points, "data", None)
        self._glide = None
        if animate and same_labels and drawn is not None and len(drawn) == len(layout) > 0:
            start = np.column_stack([drawn["x"], drawn["y"]]).astype(np.float64)
            self._glide = (start, layout, time.perf_counter())
            self._glide_timer.start()
        elif not (same_labels and _move_points(self.points, layout[:, 0], layout[:, 1])):
            brushes = self._brushes if labels is None else [self._brushes[c % len(self._brushes)] for c in labels]
            self.points.setData(layout[:, 0], layout[:, 1], brush=brushes[0] if labels is None else brushes)
        self.layout_points = layout
        self._labels, self._classes = labels, classes
        if self._follow:
            self._fit()

    def _on_glide_frame(self) -> None:
        if self._glide is None:
            self._glide_timer.stop()
            return
        start, end, began = self._glide
        t = min((time.perf_counter() - began) / GLIDE_S, 1.0)
        eased = t * t * (3.0 - 2.0 * t)
        now = start + (end - start) * eased
        _move_points(self.points, now[:, 0], now[:, 1])
        if t >= 1.0:
            self._glide = None
            self._glide_timer.stop()

    @property
    def gliding(self) -> bool:
        return self._glide is not None

    def _set_legend(self, labels: np.ndarray | None, classes: tuple[str, ...]) -> None:
        self.legend.clear()
        self._legend_set = True
        count = 1 if labels is None else max(len(classes), int(labels.max()) + 1 if len(labels) else 0)
        self._brushes = [pg.mkBrush(_colour(i)) for i in range(max(count, 1))]
        names = ["test items"] if labels is None else [classes[c] if c < len(classes) else str(c) for c in range(count)]
        # Samples for the legend only: never added to the plot, they hold no points.
        self.legend_samples = [pg.ScatterPlotItem(size=5, pen=None, brush=brush) for brush in self._brushes]
        for sample, name in zip(self.legend_samples, names):
            self.legend.addItem(sample, name)

    def fit_view(self) -> None:
        """Show all points now, and keep following them until the user pans or zooms."""
        self._follow = True
        self._fit()

    @property
    def follows(self) -> bool:
        """Whether the view follows the points (until the user pans or zooms)."""
        return self._follow

    def _fit(self) -> None:
        if self.fit_extent is not None:
            low, high = (np.asarray(v, dtype=np.float64) for v in self.fit_extent)
        elif len(self.layout_points):
            low, high = self.layout_points.min(axis=0), self.layout_points.max(axis=0)
        else:
            return
        span = np.maximum(high - low, 1e-6)
        self.plot.getViewBox().setRange(
            xRange=(low[0], low[0] + span[0]), yRange=(low[1], low[1] + span[1]), padding=0.05
        )

    def _on_range_changed_manually(self, *_) -> None:
        self._follow = False

    def set_marker(self, x: float, y: float, emit: bool = False) -> None:
        if not emit:
            self.marker.blockSignals(True)
        self.marker.setPos(QPointF(x, y))
        self.marker.blockSignals(False)

    def marker_position(self) -> tuple[float, float]:
        p = self.marker.pos()
        return float(p.x()), float(p.y())

    def nearest(self, x: float, y: float, max_pixels: float = HOVER_PIXELS) -> int:
        """Index of the point nearest view position (x, y), if within ``max_pixels`` on screen."""
        if len(self.layout_points) == 0:
            return -1
        px, py = self.plot.getViewBox().viewPixelSize()  # view units per screen pixel
        d = ((self.layout_points[:, 0] - x) / px) ** 2 + ((self.layout_points[:, 1] - y) / py) ** 2
        i = int(np.argmin(d))
        return i if d[i] <= max_pixels**2 else -1

    def highlight_point(self, index: int) -> None:
        if 0 <= index < len(self.layout_points):
            self.highlight.setData([self.layout_points[index, 0]], [self.layout_points[index, 1]])
        else:
            self.highlight.setData([], [])

    def show_preview(self, image: np.ndarray, recon: np.ndarray, caption: str) -> None:
        """``image``/``recon``: (C, H, W) arrays in [0, 1] (or uint8)."""
        self.preview_input.setImage(to_display(image)[0], autoLevels=False, levels=(0, 1))
        self.preview_recon.setImage(to_display(recon)[0], autoLevels=False, levels=(0, 1))
        self.preview_caption.setText(caption)

    # -- t-SNE progress ------------------------------------------------------------------
    def set_tsne_progress(self, fraction: float | None, method: str = "t-SNE") -> None:
        """A fraction in [0, 1] while a ``method`` layout (t-SNE, UMAP) runs; None when done or cancelled."""
        self._tsne_running = fraction is not None
        self.progress.setVisible(self._tsne_running)
        self.tsne_button.setText(f"Cancel {method}" if self._tsne_running else f"Run {method}")
        if fraction is not None:
            self.progress.setValue(int(fraction * 1000))
            self.progress.setFormat(f"{method} {fraction:.0%}")

    # -- slots ----------------------------------------------------------------------------
    def _on_tsne_button(self) -> None:
        (self.tsne_cancel_requested if self._tsne_running else self.tsne_requested).emit()

    def _on_marker_moved(self) -> None:
        self.marker_moved.emit(*self.marker_position())

    def _on_mouse_moved(self, scene_pos) -> None:
        # No hover previews while a button is held (dragging the marker or panning): they
        # would decode and repaint on every move of a drag that is about something else.
        if not self.hover_points or QApplication.mouseButtons() != Qt.MouseButton.NoButton \
                or self.marker.isUnderMouse():
            return
        if not self.plot.sceneBoundingRect().contains(scene_pos):
            return
        p = self.plot.getViewBox().mapSceneToView(scene_pos)
        index = self.nearest(p.x(), p.y())
        if index != self._hovered:
            self._hovered = index
            self.highlight_point(index)
            self.point_hovered.emit(index)

    def _on_mouse_clicked(self, event) -> None:
        on_legend = self.legend.isVisible() and self.legend.sceneBoundingRect().contains(event.scenePos())
        if event.button() != Qt.MouseButton.LeftButton or on_legend or not self.hover_points:
            return  # a click on the legend is about the legend, not the point under it
        p = self.plot.getViewBox().mapSceneToView(event.scenePos())
        index = self.nearest(p.x(), p.y())
        if index >= 0:
            self.point_clicked.emit(index)
