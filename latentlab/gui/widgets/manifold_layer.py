"""The decoded manifold drawn under the scatter's points: one image of tiles over the visible view.

Passive, like the other widgets: it shows the tiles it is given over the rectangle it is
told, fades them with a slider, and says when the visible range has settled after a pan
or zoom (debounced, so a drag-pan does not ask for a decode on every move). What to decode,
and where, is the presenter's business.

All tiles are one ``ImageItem`` (one texture upload per redraw, however many tiles),
placed with ``setRect`` over exactly the tiled rectangle and left out of the view's
bounds, so it never changes what "Fit" shows.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, Qt, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QSlider

from latentlab.core.manifold import TileGrid

from .images import tile, to_display

SETTLE_MS = 100  # the range must rest this long before the tiles are redrawn for it
DEFAULT_OPACITY = 60  # percent: the points stay readable on top of the tiles
IMAGE_Z = -100  # under the points (z 0), the highlight and the marker
GAP = 1  # pixels of shade around each tile
GAP_SHADE = 0.25  # a little lighter than the digits' black, so neighbouring tiles stay apart


def mosaic(images: np.ndarray, n: int) -> np.ndarray:
    """(n * n, C, H, W) tiles, row-major from the top, -> one image for a view whose y axis points up.

    Each tile sits in the middle of a cell one gap pixel wider on every side, so the cells
    divide the image evenly and every tile is centred on its cell: placed over the grid's
    rectangle, each tile is drawn around the very point it decodes. (Without the gaps, small
    digits run into their neighbours and the tiles are hard to tell apart.) ``tile`` lays the
    rows out from the top of the array down; an ImageItem draws array row 0 at the bottom of
    its rectangle, so the array is flipped: the top row of tiles lands at the largest y, and
    each tile stays upright.
    """
    shown = to_display(images)
    laid_out = tile(shown, n, pad=2 * GAP, fill=GAP_SHADE)
    border = ((GAP, GAP), (GAP, GAP)) + ((0, 0),) * (laid_out.ndim - 2)
    return np.pad(laid_out, border, constant_values=GAP_SHADE)[::-1]


class ManifoldLayer(QObject):
    toggled = Signal(bool)
    range_settled = Signal()  # the visible range has stopped changing

    def __init__(self, scatter):
        super().__init__(scatter)
        plot = scatter.plot
        self.view_box = plot.getViewBox()
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setZValue(IMAGE_Z)
        self.image.setOpacity(DEFAULT_OPACITY / 100)
        self.image.hide()
        plot.addItem(self.image, ignoreBounds=True)
        # In the view box's own (pixel) coordinates, not the data's: it stays in the corner.
        self.note = pg.TextItem(color="#cccccc", fill=pg.mkBrush(30, 30, 30, 170), anchor=(0, 1))
        self.note.setParentItem(self.view_box)
        self.note.setZValue(20)
        self.note.hide()
        self.view_box.sigResized.connect(self._place_note)
        self._place_note()

        self.toggle = QCheckBox("Manifold")
        self.toggle.setToolTip("Tile the visible part of the view with the decodings of the view's inverse "
                               "at each tile's centre")
        self.toggle.toggled.connect(self._on_toggled)
        self.fade = QSlider(Qt.Orientation.Horizontal)
        self.fade.setRange(0, 100)
        self.fade.setValue(DEFAULT_OPACITY)
        self.fade.setMinimumWidth(60)  # a crowded row must not squeeze it to nothing
        self.fade.setMaximumWidth(90)
        self.fade.setEnabled(False)
        self.fade.setToolTip("Fade the tiles against the points")
        self.fade.valueChanged.connect(lambda value: self.image.setOpacity(value / 100))
        row = scatter.controls
        at = row.indexOf(scatter.note)
        row.insertWidget(at, self.toggle)
        row.insertWidget(at + 1, self.fade)

        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(SETTLE_MS)
        self._settle.timeout.connect(self.range_settled)
        self.view_box.sigRangeChanged.connect(self._on_range_changed)
        self.grid: TileGrid | None = None  # the tiles shown, where they are shown
        self.updates = 0  # how many times the tiles changed (tests, benchmarks)

    @property
    def enabled(self) -> bool:
        return self.toggle.isChecked()

    def visible_range(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """((x0, x1), (y0, y1)) of the view shown now."""
        (x0, x1), (y0, y1) = self.view_box.viewRange()
        return (float(x0), float(x1)), (float(y0), float(y1))

    def set_tiles(self, images: np.ndarray, grid: TileGrid, note: str) -> None:
        """``images``: (n * n, C, H, W) in [0, 1], row-major from the top of ``grid``."""
        self.image.setImage(mosaic(images, grid.n), autoLevels=False, levels=(0, 1))
        self.image.setRect(QRectF(grid.x0, grid.y0, grid.x1 - grid.x0, grid.y1 - grid.y0))
        self.grid = grid
        self.set_note(note)
        self.image.setVisible(self.enabled)
        self.updates += 1

    def set_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(self.enabled and bool(text))

    def clear(self) -> None:
        self.image.clear()
        self.image.hide()
        self.grid = None
        self.set_note("")

    def displayed_tile(self, index: int) -> np.ndarray | None:
        """The pixels shown for tile ``index`` ((H, W) or (H, W, 3)), upright, as the tile was given."""
        image, grid = self.image.image, self.grid
        if image is None or grid is None or not 0 <= index < grid.n**2:
            return None
        cell_h, cell_w = image.shape[0] // grid.n, image.shape[1] // grid.n
        row, column = divmod(index, grid.n)
        upright = image[::-1]
        top, left = row * cell_h + GAP, column * cell_w + GAP
        return upright[top:top + cell_h - 2 * GAP, left:left + cell_w - 2 * GAP]

    def _on_toggled(self, on: bool) -> None:
        self.fade.setEnabled(on)
        self.image.setVisible(on and self.grid is not None)
        self.note.setVisible(on and bool(self.note.toPlainText()))
        if not on:
            self._settle.stop()
        self.toggled.emit(on)

    def _on_range_changed(self, *_) -> None:
        if self.enabled:
            self._settle.start()  # restarted by every move: fires once the range rests

    def _place_note(self, *_) -> None:
        self.note.setPos(4, self.view_box.height() - 4)
