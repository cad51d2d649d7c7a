"""Every item on the latent scatter, a million and more: a density image, contours, and markers when zoomed in.

Attached to a ``LatentScatter``. Given all items' view points (test items first), it
draws them as an image of per-class density (``core.density``) over exactly the region on
screen, at the screen's resolution, and draws it again whenever the view is panned,
zoomed or resized. The image is computed on a render thread, which takes only the newest
region; meanwhile the last image pans and zooms with the view, so a drag never waits for
it. Where few enough points are on screen, they are drawn as markers instead. Optional
contours follow the smoothed total density. The selection sets A and B, which may hold
hundreds of thousands of items, are tinted over the image in their colours.

Hover and click find the nearest item through a ``PointIndex`` (built with the points,
off the GUI thread); while the layer shows, the scatter's own test-item hover is off.
A passive view: numpy in, signals out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QCheckBox, QHBoxLayout, QLabel, QWidget

from latentlab.core.density import Frame, colourise, contour_field, contour_levels, pixel_sums, tint
from latentlab.core.point_index import PointIndex

from ..workers import LatestJobThread
from .images import steady_label
from .latent_scatter import HOVER_PIXELS
from .selection_tool import SET_COLOURS

MARKER_LIMIT = 5_000  # points on screen drawn as markers rather than as density (a few ms to set)
CONTOUR_PEN = pg.mkPen("#f0f0f0", width=1)
STALE_OPACITY = 0.3  # the last picture, faded behind the test items, while the next is on its way


@dataclass(frozen=True)
class LayerPoints:
    """All items' view points and what colours them: read-only arrays, shared with the render thread.

    Made by ``LayerPoints.of`` (a few tens of milliseconds for a million points: on a worker).
    """

    x: np.ndarray  # (N,) float32
    y: np.ndarray
    labels: np.ndarray | None  # (N,) int32
    point_colours: np.ndarray  # (3, N) float32: each point's class colour
    index: PointIndex
    extent: tuple[np.ndarray, np.ndarray] | None  # (low, high) of the finite points

    @classmethod
    def of(cls, points: np.ndarray, labels: np.ndarray | None, colours: np.ndarray,
           index: PointIndex | None = None) -> LayerPoints:
        """(N, 2) view ``points``, each in its ``labels``' colour of ``colours`` (C, 3) in [0, 1]."""
        points = np.asarray(points, dtype=np.float32).reshape(-1, 2)
        colours = np.asarray(colours, dtype=np.float32).reshape(-1, 3)
        labels = None if labels is None else np.asarray(labels, dtype=np.int32) % len(colours)
        point_colours = np.repeat(colours[:1].T, len(points), axis=1) if labels is None else colours[labels].T
        finite = points[np.isfinite(points).all(axis=1)]
        extent = (finite.min(axis=0), finite.max(axis=0)) if len(finite) else None
        return cls(np.ascontiguousarray(points[:, 0]), np.ascontiguousarray(points[:, 1]), labels,
                   np.ascontiguousarray(point_colours), index if index is not None else PointIndex(points), extent)


@dataclass(frozen=True)
class _Job:
    generation: int
    points: LayerPoints
    frame: Frame
    contours: bool
    sets: tuple[tuple[str, np.ndarray], ...]  # ("A", (N,) bool mask), ...


@dataclass(frozen=True)
class _Picture:
    image: np.ndarray | None  # (H, W, 4) uint8, or None when markers are drawn
    markers: np.ndarray | None  # indices of the points on screen, when few
    contours: tuple[tuple[np.ndarray, np.ndarray], ...]  # (x, y) per level, NaN between pieces
    sets: tuple[tuple[str, np.ndarray], ...]  # ("A", RGBA image)


def _render(job: _Job) -> _Picture:
    p, frame = job.points, job.frame
    counts, sums, inside = pixel_sums(p.x, p.y, frame, p.point_colours)
    contours = _contours(counts, frame) if job.contours else ()
    sets = tuple((which, tint(pixel_sums(p.x[mask], p.y[mask], frame)[0], QColor(SET_COLOURS[which]).getRgbF()[:3]))
                 for which, mask in job.sets)
    if int(counts.sum()) <= MARKER_LIMIT:
        return _Picture(None, np.flatnonzero(inside), contours, sets)
    return _Picture(colourise(counts, sums), None, contours, sets)


def _contours(total: np.ndarray, frame: Frame, shrink: int = 4) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    field = contour_field(total, shrink)
    # A field cell is shrink x shrink pixels; isocurve puts cell (i, j)'s value at (i + 0.5, j + 0.5).
    sx, sy = (frame.x1 - frame.x0) * shrink / frame.width, (frame.y1 - frame.y0) * shrink / frame.height
    lines = []
    for level in contour_levels(field):
        xs, ys = [], []
        for piece in pg.functions.isocurve(field.T, level, connected=True, extendToEdge=True):
            arr = np.asarray(piece, dtype=np.float64)  # (column, row) pairs: the field was transposed
            xs += [frame.x0 + arr[:, 0] * sx, [np.nan]]
            ys += [frame.y0 + arr[:, 1] * sy, [np.nan]]
        if xs:
            lines.append((np.concatenate(xs), np.concatenate(ys)))
    return tuple(lines)


class DensityLayer(QObject):
    shown_changed = Signal(bool)  # the user turned "All items" on or off
    item_hovered = Signal(int)  # index among all items under the pointer, -1 when none
    item_clicked = Signal(int)
    rendered = Signal(object, object)  # _Job, _Picture | Exception (queued from the render thread)

    def __init__(self, scatter):
        super().__init__(scatter)
        self.scatter = scatter
        self.view_box = scatter.plot.getViewBox()
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setZValue(1)
        self.markers = pg.ScatterPlotItem(size=5, pen=None)
        self.markers.setZValue(1)
        self.set_images = {which: pg.ImageItem(axisOrder="row-major") for which in SET_COLOURS}
        self.contour_lines: list[pg.PlotCurveItem] = []
        for item in (self.image, self.markers, *self.set_images.values()):
            scatter.plot.addItem(item, ignoreBounds=True)
            item.hide()
        for item in self.set_images.values():
            item.setZValue(2)

        self.show_box = QCheckBox("All items")
        self.show_box.setToolTip("Show every item of the dataset, training and test, not only the test items")
        self.show_box.toggled.connect(self.shown_changed)
        self.contour_box = QCheckBox("Contours")
        self.contour_box.setToolTip("Draw contours of the items' density")
        self.contour_box.toggled.connect(lambda _: self.request())
        self.status = steady_label(QLabel())
        self.status.setStyleSheet("color: #aaaaaa;")
        self.bar = QWidget()
        row = QHBoxLayout(self.bar)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.show_box)
        row.addWidget(self.contour_box)
        row.addWidget(self.status, 1)
        layout = scatter.layout()
        layout.insertWidget(layout.indexOf(scatter.plot) + 1, self.bar)

        self.points: LayerPoints | None = None
        self.stale = False  # the picture is of an earlier epoch or view: faded, and answers nothing
        self.sets: dict[str, np.ndarray] = {}  # "A"/"B" -> (N,) bool mask of all items
        self._generation = 0
        self._shown_generation = -1  # the newest request whose picture is on screen
        self._hovered = -1
        self.rendered.connect(self._on_rendered, Qt.ConnectionType.QueuedConnection)
        self._renderer = LatestJobThread("latentlab-density", _render, lambda job, result: self.rendered.emit(job, result),
                                         errors=(Exception,))  # a failed picture is said, and the next one tried
        self._renderer.start()
        self.view_box.sigRangeChanged.connect(lambda *_: self.request())
        self.view_box.sigResized.connect(lambda *_: self.request())
        scatter.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        scatter.plot.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        scatter.destroyed.connect(lambda *_: self._renderer.close(timeout=1.0))

    def shutdown(self) -> None:
        """Stop the render thread (a picture in progress finishes first: tens of milliseconds)."""
        self._renderer.close(timeout=2.0)

    # -- what the presenter sets -------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self.points is not None

    def set_status(self, text: str) -> None:
        self.status.setText(text)

    def set_points(self, points: LayerPoints) -> None:
        """Show all items at these points (the test items' own markers make way for them)."""
        self.points, self.stale = points, False
        n = len(points.x)
        self.sets = {which: mask for which, mask in self.sets.items() if len(mask) == n}
        self._fade(1.0)
        self.scatter.points.hide()  # the test items are among them: drawn once, by this layer
        self.scatter.hover_points = False
        self.scatter.fit_extent = points.extent
        if self.scatter.follows:
            self.scatter.fit_view()
        self.request()

    def set_stale(self) -> None:
        """The points are of an epoch or view no longer shown: fade them behind the test items, which
        answer the pointer again, until ``set_points`` brings the new ones."""
        if self.points is None or self.stale:
            return
        self.stale = True
        self._fade(STALE_OPACITY)
        self.scatter.points.show()
        self.scatter.hover_points = True
        self.scatter.fit_extent = None

    def clear(self) -> None:
        """Back to the test items alone."""
        self.points, self.stale = None, False
        self.sets = {}
        self._generation += 1
        self._shown_generation = self._generation  # nothing is on its way
        for item in (self.image, self.markers, *self.set_images.values(), *self.contour_lines):
            item.hide()
        self.scatter.points.show()
        self.scatter.hover_points = True
        self.scatter.fit_extent = None

    def _fade(self, opacity: float) -> None:
        for item in (self.image, self.markers, *self.set_images.values(), *self.contour_lines):
            item.setOpacity(opacity)

    def show_set(self, which: str, mask: np.ndarray | None) -> None:
        """Tint the items of set ``which`` ((N,) bool mask over all items); None forgets it."""
        if mask is None or not mask.any():
            self.sets.pop(which, None)
        else:
            self.sets[which] = np.asarray(mask, dtype=bool)
        self.request()

    def item_at(self, x: float, y: float) -> int:
        """The item nearest view position (x, y) within the hover distance on screen; -1 when none."""
        if self.points is None or self.stale:
            return -1
        return self.points.index.nearest(x, y, self.view_box.viewPixelSize(), HOVER_PIXELS)

    def position(self, index: int) -> tuple[float, float]:
        return float(self.points.x[index]), float(self.points.y[index])

    # -- drawing ---------------------------------------------------------------------------------
    def frame(self) -> Frame | None:
        (x0, x1), (y0, y1) = self.view_box.viewRange()
        width, height = int(self.view_box.width()), int(self.view_box.height())
        if width < 2 or height < 2 or not x1 > x0 or not y1 > y0:
            return None
        return Frame(float(x0), float(x1), float(y0), float(y1), width, height)

    def request(self) -> None:
        """Draw again for the region on screen (the render thread takes only the newest request)."""
        frame = self.frame()
        if self.points is None or frame is None:
            return
        self._generation += 1
        self._renderer.submit(_Job(self._generation, self.points, frame, self.contour_box.isChecked(),
                                   tuple(self.sets.items())))

    def wait_rendered(self, timeout_s: float = 5.0) -> bool:
        """Process events until the newest request is on screen (tests and benchmarks)."""
        import time

        end = time.perf_counter() + timeout_s
        while self._shown_generation != self._generation and time.perf_counter() < end:
            QApplication.processEvents()
            time.sleep(0.002)
        return self._shown_generation == self._generation

    def _on_rendered(self, job: _Job, picture) -> None:
        if isinstance(picture, Exception):
            import traceback

            traceback.print_exception(picture)  # for the report; the last picture stays, the next request draws again
            self._shown_generation = max(self._shown_generation, job.generation)
            return
        if job.points is not self.points:
            return  # other points by now
        f = job.frame
        rect = QRectF(f.x0, f.y0, f.x1 - f.x0, f.y1 - f.y0)
        if picture.image is not None:
            self.image.setImage(picture.image, autoLevels=False)
            self.image.setRect(rect)
            self.image.show()
            self.markers.hide()
        else:
            self.image.hide()
            self._draw_markers(picture.markers)
        for which, item in self.set_images.items():
            tinted = dict(picture.sets).get(which)
            item.setVisible(tinted is not None)
            if tinted is not None:
                item.setImage(tinted, autoLevels=False)
                item.setRect(rect)
        self._draw_contours(picture.contours)
        self._shown_generation = max(self._shown_generation, job.generation)

    def _draw_markers(self, indices: np.ndarray) -> None:
        p = self.points
        rgb = p.point_colours[:, indices].T
        keys, inverse = np.unique(rgb, axis=0, return_inverse=True)  # a brush per class, shared by its points
        brushes = [pg.mkBrush(QColor.fromRgbF(*(float(v) for v in c))) for c in keys]
        self.markers.setData(p.x[indices], p.y[indices], brush=[brushes[i] for i in inverse.reshape(-1)])
        self.markers.show()

    def _draw_contours(self, lines) -> None:
        while len(self.contour_lines) < len(lines):
            curve = pg.PlotCurveItem(pen=CONTOUR_PEN, connect="finite")
            curve.setZValue(3)
            curve.setOpacity(STALE_OPACITY if self.stale else 1.0)
            self.scatter.plot.addItem(curve, ignoreBounds=True)
            self.contour_lines.append(curve)
        for i, curve in enumerate(self.contour_lines):
            if i < len(lines):
                curve.setData(*lines[i])
                curve.show()
            else:
                curve.hide()

    # -- the pointer ----------------------------------------------------------------------------
    def _on_mouse_moved(self, scene_pos) -> None:
        if self.points is None or self.stale or QApplication.mouseButtons() != Qt.MouseButton.NoButton:
            return
        if self.scatter.marker.isUnderMouse() or not self.scatter.plot.sceneBoundingRect().contains(scene_pos):
            return
        p = self.view_box.mapSceneToView(scene_pos)
        index = self.item_at(p.x(), p.y())
        if index != self._hovered:
            self._hovered = index
            self.item_hovered.emit(index)

    def _on_mouse_clicked(self, event) -> None:
        legend = self.scatter.legend
        if self.points is None or self.stale or event.button() != Qt.MouseButton.LeftButton or (
                legend.isVisible() and legend.sceneBoundingRect().contains(event.scenePos())):
            return
        p = self.view_box.mapSceneToView(event.scenePos())
        index = self.item_at(p.x(), p.y())
        if index >= 0:
            self.item_clicked.emit(index)
