"""Posterior uncertainty on the scatter, fed from the explorer model.

Subscribed to ``Explorer`` like the presenter: the item under the pointer (else the item
the marker sits on, after a click) gets its 2-sigma posterior ellipse, from the snapshot's
posterior mean and log-variance mapped through the view on screen; a newer snapshot
gives every point its mean sigma again, for the layer to size or colour them by. The
ellipse is recomputed only when the item, the view or the snapshot changed, so a drag
(a marker change per move) costs nothing here.
"""

from __future__ import annotations

import numpy as np

from latentlab.core.posterior import ViewEllipse, ellipse_in_view, mean_sigma, sigma_scale

from .explorer import Change, Explorer, MarkerSource
from .widgets.posterior_layer import PosteriorLayer


class PosteriorPresenter:
    def __init__(self, explorer: Explorer, scatter, layer: PosteriorLayer | None = None):
        self.explorer = explorer
        self.layer = layer or PosteriorLayer(scatter)
        self.hovered = -1  # the item under the pointer, as the scatter last said
        self.sigmas: np.ndarray | None = None  # (M,) each item's mean posterior sigma, this snapshot
        self.shown: ViewEllipse | None = None  # the ellipse drawn, for tests and the self-test
        self.shown_item: int | None = None
        self._drawn_for: tuple | None = None  # (item, view, snapshot) of the ellipse drawn
        explorer.subscribe(self._on_change)
        scatter.point_hovered.connect(self._on_hovered)

    def _on_change(self, change: Change) -> None:
        if Change.RUN in change:
            self.hovered, self.sigmas = -1, None
            self.layer.set_sigmas(None)
        if Change.SNAPSHOT in change:
            self.sigmas = mean_sigma(self.explorer.snapshot.logvars)
            self.layer.set_sigmas(sigma_scale(self.sigmas))
        if Change.VIEW in change:
            self.layer.keep_style()
        if change & (Change.RUN | Change.SNAPSHOT | Change.VIEW | Change.MARKER):
            self.update()

    def _on_hovered(self, index: int) -> None:
        self.hovered = index
        self.update()

    def item(self) -> int | None:
        """The item whose posterior to draw: the hovered one, else the one the marker was put on."""
        if self.hovered >= 0:
            return self.hovered
        marker = self.explorer.marker
        return marker.item if marker is not None and marker.source is MarkerSource.ITEM else None

    def update(self) -> None:
        snap, view, item = self.explorer.snapshot, self.explorer.view, self.item()
        if snap is None or view is None or item is None or not 0 <= item < min(len(snap.latents), len(view.points)):
            if self.shown is not None:
                self.layer.show_ellipse(None)
            self.shown, self.shown_item, self._drawn_for = None, None, None
            return
        drawn_for = (item, view, snap)
        if self._drawn_for is not None and all(a is b for a, b in zip(drawn_for, self._drawn_for)):
            return  # the same item in the same view of the same snapshot: already drawn
        ellipse = ellipse_in_view(view.projection, snap.latents[item], snap.logvars[item])
        how = "" if ellipse.exact else "  (approximate: t-SNE is no linear map)"
        caption = f"2σ posterior of item {item}, mean σ {float(mean_sigma(snap.logvars[item])):.3f}{how}"
        self.layer.show_ellipse(ellipse, caption)
        self.shown, self.shown_item, self._drawn_for = ellipse, item, drawn_for
