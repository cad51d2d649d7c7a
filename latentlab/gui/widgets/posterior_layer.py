"""The posterior layer of the latent scatter: a hovered item's 2-sigma ellipse, and points sized
or coloured by each item's mean posterior sigma.

Passive, like the scatter it attaches to: it draws the outline it is given and styles the
points by the 0..1 scale it is given; which item, which view and when are the presenter's
business. Sizes and colours come from a few shared brushes and whole pixel sizes, so
pyqtgraph's symbol atlas stays small, and they are written into the scatter's own point
records: the in-place moves of every epoch and t-SNE chunk leave them be. Only a rebuilt
point set (another run) needs them again, and ``keep_style`` notices that.
"""

from __future__ import annotations

import enum

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QComboBox, QLabel

from latentlab.core.posterior import SigmaScale, ViewEllipse


class PointStyle(enum.Enum):
    PLAIN = "plain"  # the class colours, one size
    SIZE = "size"  # the class colours, sized by mean sigma
    COLOUR = "colour"  # coloured by mean sigma (the class legend hides)


STYLES = {PointStyle.PLAIN: "Points: plain", PointStyle.SIZE: "Points: size by σ",
          PointStyle.COLOUR: "Points: colour by σ"}
SIZE_RANGE = (3, 12)  # pixels, from the most certain items to the least
COLOUR_LEVELS = 32  # distinct colours: more would not be told apart, and each is an atlas entry
# The upper four fifths of viridis: its darkest purples vanish on the scatter's dark background.
SIGMA_COLOURS = pg.ColorMap(np.linspace(0.0, 1.0, 8), ["#46337e", "#365c8d", "#277f8e", "#1fa187", "#4ac16d",
                                                       "#74d055", "#a0da39", "#fde725"])
KEY_SWATCHES = 5  # colours (or sizes) the key shows between its low and high sigma


class PosteriorLayer(QObject):
    def __init__(self, scatter):
        super().__init__(scatter)
        self.scatter, self.points = scatter, scatter.points
        self.curve = pg.PlotCurveItem(pen=pg.mkPen("#ffffff", width=1.5))
        self.curve.setZValue(8)  # over the points, under the highlight ring and the marker
        self.label = pg.TextItem(color="#dddddd", anchor=(0.5, 1.0), fill=pg.mkBrush(30, 30, 30, 200))
        self.label.setZValue(8)
        for item in (self.curve, self.label):
            scatter.plot.addItem(item, ignoreBounds=True)  # the view fits the points, not the ellipse
            item.hide()

        self.style_box = QComboBox()
        for style, text in STYLES.items():
            self.style_box.addItem(text, style)
        self.style_box.setToolTip("Size or colour every point by its item's mean posterior σ (the geometric mean "
                                  "over the latent dimensions): large or bright points are items the encoder is "
                                  "unsure of. Hover a point for its 2σ posterior ellipse.")
        self.style_box.currentIndexChanged.connect(self._on_style_picked)
        self.key = QLabel()
        self.key.setTextFormat(Qt.TextFormat.RichText)
        self.key.setStyleSheet("color: #aaaaaa;")
        # A fixed width: the key's numbers change every epoch, and a label that resized would
        # resize the plot beside it, which repaints all of it.
        widest = "σ 0.000 " + "█" * KEY_SWATCHES + " 0.000"
        self.key.setFixedWidth(self.key.fontMetrics().horizontalAdvance(widest) + 8)
        self.key.hide()
        row = scatter.controls
        at = row.indexOf(scatter.note)
        row.insertWidget(at, self.style_box)
        row.insertWidget(at + 1, self.key)

        self._colour_brushes = np.empty(COLOUR_LEVELS, dtype=object)  # an array: a level per point indexes it at once
        colours = SIGMA_COLOURS.map(np.linspace(0, 1, COLOUR_LEVELS), mode="qcolor")
        self._colour_brushes[:] = [pg.mkBrush(c) for c in colours]
        self._scale: SigmaScale | None = None
        self._styled: np.ndarray | None = None  # the scatter's point records as last styled here
        self._own_brushes = np.empty(0, dtype=object)  # those records' own brushes (the class colours), to put back
        self._changed = False  # whether those records hold sizes or brushes of ours
        self._levels: tuple[PointStyle, np.ndarray] | None = None  # the style and per-point levels written there
        self.restyles = 0  # how many times the points' sizes or brushes were rewritten (tests, benchmarks)

    # -- the ellipse ------------------------------------------------------------------------
    def show_ellipse(self, ellipse: ViewEllipse | None, caption: str = "") -> None:
        """Draw ``ellipse``'s outline with ``caption`` above it; None hides both."""
        if ellipse is None:
            self.curve.hide()
            self.label.hide()
            return
        outline = ellipse.outline
        self.curve.setData(outline[:, 0], outline[:, 1])
        # Above the ellipse's top, kept inside the view: a wide posterior reaches past its edges.
        (x0, x1), (y0, y1) = self.scatter.plot.getViewBox().viewRange()
        top = outline[int(np.argmax(outline[:, 1]))]
        inset = 0.2 * (x1 - x0)  # the caption is centred on x: room for about half of it each side
        x = float(np.clip(top[0], x0 + inset, x1 - inset))
        above = top[1] < y0 + 0.9 * (y1 - y0)
        self.label.setAnchor((0.5, 1.0) if above else (0.5, 0.0))  # else hung from the view's top edge
        self.label.setText(caption)
        self.label.setPos(x, float(top[1]) if above else y1)
        self.curve.show()
        self.label.show()

    def ellipse_shown(self) -> bool:
        return self.curve.isVisible()

    # -- point styles -----------------------------------------------------------------------
    def style(self) -> PointStyle:
        return self.style_box.currentData()

    def set_style(self, style: PointStyle) -> None:
        self.style_box.setCurrentIndex(list(STYLES).index(style))

    def set_sigmas(self, scale: SigmaScale | None) -> None:
        """Each item's mean sigma on a 0..1 scale (None: no run); restyles the points if a style needs it."""
        self._scale = scale
        if self.style() is not PointStyle.PLAIN or self._changed:
            self._restyle()

    def keep_style(self) -> None:
        """After the scatter set its points: restyle only if it rebuilt them (moves in place keep the style)."""
        if self.points.data is not self._styled:
            self._restyle()

    def _on_style_picked(self, _index: int) -> None:
        self._restyle()

    def _restyle(self) -> None:
        points, data = self.points, self.points.data
        if data is not self._styled:  # the scatter's own records: remember its brushes before writing ours
            self._own_brushes = data["brush"].copy()
            self._changed, self._levels = False, None
        style, scale, n = self.style(), self._scale, len(data)
        usable = scale is not None and len(scale.unit) == n and n > 0
        if style is PointStyle.PLAIN or not usable:
            if self._changed:
                _write_styles(points, np.full(n, -1.0), self._own_brushes)  # -1: the item's one size
                self.restyles += 1
            self._changed, self._levels = False, None
        else:
            if style is PointStyle.SIZE:
                low, high = SIZE_RANGE
                levels = np.round(scale.unit * (high - low)).astype(int)
                sizes, brushes = (low + levels).astype(np.float64), self._own_brushes
            else:
                levels = np.round(scale.unit * (COLOUR_LEVELS - 1)).astype(int)
                sizes, brushes = np.full(n, -1.0), self._colour_brushes[levels]
            # Restyled the same way before (a new epoch): only the points whose level moved need new symbols.
            changed = levels != self._levels[1] if self._levels is not None and self._levels[0] is style else None
            if changed is None or changed.any():
                _write_styles(points, sizes, brushes, changed)
                self.restyles += 1
            self._changed, self._levels = True, (style, levels)
        self._styled = data
        self.scatter.legend.setVisible(not (usable and style is PointStyle.COLOUR))  # class colours are gone
        self._show_key(style if usable else PointStyle.PLAIN)

    def _show_key(self, style: PointStyle) -> None:
        if style is PointStyle.PLAIN:
            self.key.hide()
            return
        low, high = self._scale.low, self._scale.high
        steps = np.linspace(0.0, 1.0, KEY_SWATCHES)
        if style is PointStyle.SIZE:
            small, big = SIZE_RANGE
            px = [round(small + s * (big - small)) + 2 for s in steps]
            marks = "".join(f'<span style="font-size:{p}px">●</span>' for p in px)
            what = "Point size"
        else:
            colours = SIGMA_COLOURS.map(steps, mode="qcolor")
            marks = "".join(f'<span style="color:{c.name()}">█</span>' for c in colours)
            what = "Point colour"
        self.key.setText(f"σ {low:.3f} {marks} {high:.3f}")
        self.key.setToolTip(f"{what}: the item's mean posterior σ, from {low:.3f} (certain) to {high:.3f} (unsure); "
                            f"the outermost 1% at each end share the end's look.")
        self.key.show()


def _write_styles(points: pg.ScatterPlotItem, sizes: np.ndarray, brushes: np.ndarray,
                  changed: np.ndarray | None = None) -> None:
    """Write every point's size and brush into the item's records, then refresh its symbol atlas once.

    ``setSize`` and ``setBrush`` with per-point lists convert and re-check each entry (about
    20 ms for 10,000 points, more than a frame); the columns written as arrays and one
    ``updateSpots`` take about 9 ms, less when only the ``changed`` points (a mask) need
    their symbols looked up again. The same records ``_move_points`` writes positions into.
    """
    data = points.data
    data["size"] = sizes
    data["brush"] = brushes
    if changed is None:
        data["sourceRect"] = 0  # every point's symbol looked up again
    else:
        data["sourceRect"][changed] = 0  # the others keep their symbol: the same size and brush as before
    points.updateSpots(data)
