"""The traversal grid fed from the explorer model: the marker's latent swept one direction per row.

Subscribed to ``Explorer`` like the presenter: the marker moving (a drag included), a newer
snapshot (its KL orders the rows, its decoder draws them) or another view (a PCA view adds
rows along its two axes; selections add their direction on top) redraws the grid; all
rows decode in one batch through the explorer's decoder. A click on a cell puts the
marker on that cell's latent.
"""

from __future__ import annotations

from latentlab.core.projection import PCAProjection
from latentlab.core.traversal import Traversal, TraversalRow, axis_rows, dimension_rows, traverse

from .explorer import Change, Explorer
from .widgets.traversal_grid import TraversalGrid


class TraversalPresenter:
    def __init__(self, explorer: Explorer, grid: TraversalGrid):
        self.explorer, self.grid = explorer, grid
        self.shown: Traversal | None = None  # what the grid shows, so a click maps back to its latent
        explorer.subscribe(self._on_change)
        grid.settings_changed.connect(self.update)
        grid.cell_clicked.connect(self._on_cell_clicked)

    def _on_change(self, change: Change) -> None:
        if Change.RUN in change:
            self.shown = None
            self.grid.clear()
        if change & (Change.MARKER | Change.SNAPSHOT | Change.VIEW | Change.SELECTION):
            self.update()

    def update(self) -> None:
        explorer = self.explorer
        marker, snap = explorer.marker, explorer.snapshot
        if marker is None or snap is None or explorer.decoder is None:
            return
        rows = dimension_rows(snap.kl_per_dim, include_inactive=not self.grid.hide_unused.isChecked())
        view = explorer.view
        if view is not None and isinstance(view.projection, PCAProjection):
            rows = axis_rows(view.projection.components) + rows
        direction = explorer.direction
        if direction is not None:  # the selections' direction, on top: it is what the user asked to see
            rows = [TraversalRow(f"direction {direction.label}", direction.unit, True)] + rows
        if not rows:
            self.grid.clear()
            self.shown = None
            return
        traversal = traverse(marker.latent, rows, span=self.grid.span.value())
        images = explorer.decode(traversal.latents)
        unused = sum(not r.active for r in rows)
        span = traversal.values[-1]
        caption = (f"Epoch {snap.epoch}: each row sweeps one direction from {-span:+g} to {span:+g} prior σ "
                   f"through the marker's z" + (f"; {unused} unused (grey)" if unused else ""))
        self.grid.set_tiles(images, len(traversal.values), [r.label for r in rows], [r.active for r in rows], caption)
        self.shown = traversal

    def _on_cell_clicked(self, row: int, column: int) -> None:
        if self.shown is not None and row < self.shown.shape[0]:
            self.explorer.place_latent(self.shown.latent(row, column))
