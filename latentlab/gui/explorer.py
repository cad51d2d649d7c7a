"""The one model of what is on screen: the run, its latest snapshot, the view, the marker.

Qt-free (a test in tests/core holds it to that): the panes are views of this model, the
controllers write the results of their threads into it, and every change is announced to
subscribers as a ``Change``. The view drawn and the inverse a drag uses are the same
``Projection`` object, whatever is in flight, so what is shown and what a drag decodes
can never disagree. Selections A/B are test items by index, so they outlive view changes
and epochs (their direction is recomputed from each snapshot's latents); another run
forgets them with everything else.

``snapshot`` is the epoch on screen: the newest while ``following``, or one replayed from
the run's timeline; every pane shows and decodes that one. A t-SNE or UMAP view is laid
out again for each epoch shown, warm-started from the layout on screen, one layout at a
time; finished layouts are kept per epoch, so scrubbing back to one is instant.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from latentlab.core.directions import Selection
from latentlab.core.events import EpochSnapshot
from latentlab.core.projection import PCAProjection, Projection, TSNEProjection, ViewKind, fit_view
from latentlab.core.timeline import Timeline
from latentlab.core.umap_view import UMAPPartialProjection

# The records this model holds and hands out, importable from here as from their own module.
from .explorer_records import (  # noqa: F401
    Change, FitRequest, LayoutRequest, Marker, MarkerSource, RunContents, ShownView,
)
from .explorer_selections import SelectionsAndDirection
from .kept_layouts import KeptLayouts

LAYOUTS = (ViewKind.TSNE, ViewKind.UMAP)  # views an optimiser lays out on a worker, in chunks


class Explorer(SelectionsAndDirection):
    """Everything the panes show about the current run.

    Parameters
    ----------
    make_decoder
        ``make_decoder(model_config, image_shape, decoder_state)`` -> an object with
        ``decode((N, D)) -> (N, C, H, W)``, ``update(state)`` and ``latent_dim``.
    fit
        Called with a ``FitRequest`` whenever the view must be (re)fitted; whoever fits it
        calls ``view_fitted``. Default: fit at once, on the caller's thread.
    lay_out
        Called with the ``LayoutRequest`` this model makes itself, when another epoch is shown
        in a t-SNE or UMAP view; whoever runs it calls ``tsne_progress``. Without it, the
        layout on screen stays until the user runs another (``choose_view``).
    """

    def __init__(self, make_decoder: Callable[..., Any], fit: Callable[[FitRequest], None] | None = None,
                 lay_out: Callable[[LayoutRequest], None] | None = None):
        self._make_decoder = make_decoder
        self._fit = fit or (lambda request: self.view_fitted(request, fit_view(request.kind, request.latents,
                                                                               request.previous)))
        self._lay_out = lay_out
        self._held = Change(0)  # changes announced with the next ones (``_show_snapshot``)
        self._subscribers: list[Callable[[Change], None]] = []
        self._fit_generation = 0
        self._tsne_generation = 0
        self._reset()

    def _reset(self) -> None:
        self.contents: RunContents | None = None
        self.snapshot: EpochSnapshot | None = None
        self.decoder = None
        self.view: ShownView | None = None
        self.chosen = ViewKind.PCA  # what the user asked for; the view may be on its way
        self.marker: Marker | None = None
        self.endpoints: dict[str, np.ndarray] = {}
        self.selections: dict[str, Selection] = {}  # "A"/"B": test items by index, so they outlive views
        self._walk: tuple[np.ndarray, float] | None = None  # the direction slider's (origin, t)
        self.tsne: LayoutRequest | None = None  # the t-SNE or UMAP layout in flight, if any
        self.timeline: Timeline | None = None  # the epochs that can be replayed
        self.following = True  # the newest epoch is on screen, and the next will be
        self._last_pca: PCAProjection | None = None
        self._last_layout: dict[ViewKind, np.ndarray] = {}  # the last finished layout of each kind: warm starts
        self._kept = KeptLayouts()  # finished layouts by (kind, epoch, step)
        self._marker_kind: ViewKind | None = None
        self.history: dict[str, list[dict[str, float]]] = {"steps": [], "epochs": []}  # the run's, as run.json

    # -- subscribers ----------------------------------------------------------------------
    def subscribe(self, callback: Callable[[Change], None]) -> None:
        self._subscribers.append(callback)

    def notify(self, change: Change) -> None:
        """Announce a change of a model kept beside this one (the scores), to the same subscribers."""
        self._emit(change)

    def _emit(self, change: Change) -> None:
        change, self._held = change | self._held, Change(0)
        for callback in list(self._subscribers):
            callback(change)

    # -- loading: the one way in ----------------------------------------------------------
    def load(self, contents: RunContents, snapshot: EpochSnapshot | None = None, decoder=None) -> None:
        """Show another run (just started, resumed or opened); forgets everything of the last one."""
        self._fit_generation += 1  # fits and t-SNE layouts of the last run are stale now
        self._tsne_generation += 1
        self._reset()
        self.contents = contents
        self.decoder = decoder
        self.history = {
            "steps": list(contents.history.get("steps", [])),
            "epochs": list(contents.history.get("epochs", [])),
        }
        dim = int(contents.config["model"]["latent_dim"])
        self.chosen = ViewKind.LATENT if dim == 2 else ViewKind.PCA
        self.timeline = Timeline.of_run(contents.run_dir, contents.config, contents.epoch, writes=contents.training)
        self._emit(Change.RUN | Change.VIEW | Change.MARKER | Change.ENDPOINTS | Change.TSNE)
        if snapshot is not None:
            self.apply_snapshot(snapshot)

    @property
    def latent_dim(self) -> int | None:
        return None if self.contents is None else int(self.contents.config["model"]["latent_dim"])

    def add_metrics(self, m) -> None:
        """A StepMetrics of the run being trained, kept as run.json keeps it."""
        self.history["steps"].append(
            {"step": m.step, "epoch": m.epoch, "recon": m.recon, "kl": m.kl, "total": m.total, "beta": m.beta})

    def add_epoch(self, snap: EpochSnapshot) -> None:
        self.history["epochs"].append(
            {"epoch": snap.epoch, "step": snap.step, "recon": snap.test_recon, "kl": snap.test_kl,
             "total": snap.test_total})

    # -- snapshots --------------------------------------------------------------------------
    def apply_snapshot(self, snap: EpochSnapshot) -> None:
        """A newer look at the model: shown at once while following, else kept for the scrubber."""
        if self.contents is None:
            return
        self.timeline.add(snap)
        if self.snapshot is not None and not self.following:
            self._emit(Change.TIMELINE)  # one more epoch to scrub to; the one replayed stays
            return
        self._show_snapshot(snap)

    def show_epoch(self, epoch: int) -> bool:
        """Replay ``epoch`` of the timeline (the newest: follow the run again).

        Raises ``CheckpointError`` when that epoch's frame cannot be read; nothing changes then.
        """
        if self.timeline is None or self.snapshot is None:
            return False
        snap = self.timeline.snapshot(epoch)
        self.following = snap is self.timeline.latest
        if snap is self.snapshot:
            self._emit(Change.TIMELINE)
            return True
        stale = self.tsne is not None and (self.tsne.epoch, self.tsne.step) != (snap.epoch, snap.step)
        if stale and self._lay_out is not None:
            self._tsne_generation += 1  # the user moved on: that layout is not wanted; this epoch's is
            self.tsne = None
        self._show_snapshot(snap)
        return True

    def _show_snapshot(self, snap: EpochSnapshot) -> None:
        """Put ``snap`` on screen: its decoder, its panes, and the chosen view of its latents."""
        self.snapshot = snap
        if self.decoder is None:
            self.decoder = self._make_decoder(self.contents.config["model"], self.contents.image_shape,
                                              snap.decoder_state)
        else:
            self.decoder.update(snap.decoder_state)
        # Announced with the view that follows at once (a kept layout, a quick fit): every pane updates once.
        self._held = Change.SNAPSHOT | Change.TIMELINE
        try:
            if self.chosen not in LAYOUTS:
                self._request_fit(self.chosen)
                return
            kept = self._kept.view(self.chosen, snap) if self.tsne is None else None
            if kept is not None:
                self._show(kept, first=False)
            elif self.tsne is None and self._lay_out is not None:
                request = self._layout_request(self.chosen)
                self._lay_out(request)
                if request.init is not None:  # meanwhile, the new latents where the warm start begins
                    partial = UMAPPartialProjection if request.kind is ViewKind.UMAP else TSNEProjection
                    waiting = partial(request.init, snap.latents, epoch=snap.epoch, fraction=0.0)
                    self._show(ShownView(waiting, snap.latents, np.asarray(request.init, dtype=np.float64)),
                               first=False, also=Change.TSNE)
                else:
                    self._emit(Change.MARKER | Change.TSNE)
            else:
                self._emit(Change.MARKER)  # a layout in flight: the same latent, decoded by the newer decoder
        finally:
            if self._held:
                self._emit(Change(0))

    def _layout_request(self, kind: ViewKind) -> LayoutRequest:
        """A layout of the shown snapshot's latents, warm-started from a finished one of the same points:
        the one on screen, else the last."""
        self._tsne_generation += 1
        self._fit_generation += 1  # a fit still on its way must not replace the layout
        snap = self.snapshot
        view = self.view
        finished = view is not None and view.kind is kind and not getattr(view.projection, "partial", False)
        init = view.points if finished else self._last_layout.get(kind)
        if init is not None and init.shape[0] != snap.latents.shape[0]:
            init = None
        self.tsne = LayoutRequest(self._tsne_generation, snap.latents, init, snap.epoch, kind, snap.step)
        return self.tsne

    def _request_fit(self, kind: ViewKind) -> None:
        self._fit_generation += 1
        self._fit(FitRequest(self._fit_generation, kind, self.snapshot.latents, self._last_pca))

    def fit_is_current(self, request: FitRequest) -> bool:
        return request.generation == self._fit_generation

    def view_fitted(self, request: FitRequest, projection: Projection) -> bool:
        """A fitted view arrives; dropped (False) when a newer request or a t-SNE has overtaken it."""
        if request.generation != self._fit_generation or self.tsne is not None:
            return False
        if isinstance(projection, PCAProjection):
            self._last_pca = projection
        first = self.view is None
        self._show(ShownView(projection, request.latents, projection.transform(request.latents)), first)
        return True

    def adopt_view(self, snapshot: EpochSnapshot, projection: Projection) -> bool:
        """A view of the same kind fitted on more than the shown latents (every item's PCA), shown for
        ``snapshot`` while it is on screen; False when it is not, or the view has moved on."""
        if snapshot is not self.snapshot or self.view is None or self.view.kind is not projection.kind:
            return False
        self._fit_generation += 1  # a fit of the shown latents alone, still on its way, must not replace it
        return self.view_fitted(FitRequest(self._fit_generation, projection.kind, snapshot.latents, None), projection)

    # -- choosing the view ------------------------------------------------------------------
    def choose_view(self, kind: ViewKind) -> LayoutRequest | None:
        """The user picked a view; for t-SNE or UMAP, returns what to compute (the caller runs it)."""
        if self.snapshot is None:
            if kind not in LAYOUTS:  # a layout needs points to lay out: nothing to run yet
                self.chosen = kind
            return None
        if kind in LAYOUTS:
            if self.tsne is not None and self.tsne.kind is kind:
                return None  # one is already on its way
            self.chosen = kind
            request = self._layout_request(kind)
            self._emit(Change.TSNE | Change.VIEW)
            return request
        self.cancel_tsne()
        self.chosen = kind
        self._request_fit(kind)
        return None

    # -- t-SNE results ----------------------------------------------------------------------
    def tsne_progress(self, generation: int, layout: np.ndarray, fraction: float,
                      projection: Projection | None = None) -> bool:
        """A partial (fraction < 1) or final layout; stale generations are dropped (False).

        ``projection`` is the method's own finished view (UMAP's); else the layout's
        neighbour inverse stands in, kind and all.
        """
        request = self.tsne
        if request is None or generation != request.generation or layout.shape[0] != request.latents.shape[0]:
            return False
        if projection is None:  # t-SNE, or a UMAP still moving: decoded by the layout's nearest neighbours
            partial = UMAPPartialProjection if request.kind is ViewKind.UMAP else TSNEProjection
            projection = partial(layout, request.latents, epoch=request.epoch, fraction=fraction)
        view = ShownView(projection, request.latents, np.asarray(layout, dtype=np.float64))
        if fraction >= 1.0:
            self.tsne = None
            self._last_layout[request.kind] = np.array(layout, copy=True)
            self._kept.keep(request, layout, projection)
        first_layout = self.view is None or self.view.kind is not request.kind
        self._show(view, first_layout, also=Change.TSNE)  # one notification: the panes update once
        snap = self.snapshot
        if (fraction >= 1.0 and self._lay_out is not None and snap is not None
                and (snap.epoch, snap.step) != (request.epoch, request.step)):
            self._lay_out(self._layout_request(request.kind))  # the epoch shown moved on meanwhile: catch up
            self._emit(Change.TSNE)
        return True

    def cancel_tsne(self) -> bool:
        """Stop waiting for the layout in flight: the epoch's finished layout of that kind comes back,
        else the default view."""
        if self.tsne is None:
            return False
        self._tsne_generation += 1
        self.tsne = None
        kept = self._kept.view(self.chosen, self.snapshot) if self.snapshot is not None else None
        if kept is not None:
            self._show(kept, first=False, also=Change.TSNE)
            return True
        if self.chosen in LAYOUTS:
            self.chosen = ViewKind.LATENT if self.latent_dim == 2 else ViewKind.PCA
        self._emit(Change.TSNE)
        if self.snapshot is not None:
            self._request_fit(self.chosen)
        return True

    def tsne_failed(self, generation: int) -> bool:
        if self.tsne is None or generation != self.tsne.generation:
            return False
        return self.cancel_tsne()

    # -- the marker -------------------------------------------------------------------------
    def latent_at(self, x: float, y: float) -> np.ndarray | None:
        """The latent a drag to (x, y) decodes: the shown view's inverse there, and nothing else."""
        if self.view is None:
            return None
        return self.view.projection.inverse(np.array([[x, y]], dtype=np.float64))[0]

    def drag(self, x: float, y: float) -> Marker | None:
        """The marker moved to (x, y) of the view shown: it decodes that point's inverse."""
        latent = self.latent_at(x, y)
        if latent is None:
            return None
        self.marker = Marker(float(x), float(y), latent, MarkerSource.DRAG)
        self._emit(Change.MARKER)
        return self.marker

    def select_item(self, index: int) -> Marker | None:
        """Put the marker on a test item's point; it decodes the item's own latent."""
        if self.view is None or not 0 <= index < len(self.view.points):
            return None
        x, y = self.view.points[index]
        self.marker = Marker(float(x), float(y), np.array(self.view.latents[index], dtype=np.float64),
                             MarkerSource.ITEM, index)
        self._emit(Change.MARKER)
        return self.marker

    def sample_prior(self, rng: np.random.Generator) -> Marker | None:
        if self.latent_dim is None:
            return None
        return self.place_latent(rng.standard_normal(self.latent_dim), MarkerSource.SAMPLE)

    def place_latent(self, z: np.ndarray, source: MarkerSource = MarkerSource.CELL,
                     item: int | None = None) -> Marker | None:
        """Put the marker on a given latent (a prior draw, a traversal cell, an encoded image ``item``),
        where the view shows it."""
        if self.view is None or self.latent_dim is None or np.shape(z) != (self.latent_dim,):
            return None
        z = np.array(z, dtype=np.float64)
        x, y = self.view.projection.transform(z[None])[0]
        self.marker = Marker(float(x), float(y), z, source, item)
        self._emit(Change.MARKER)
        return self.marker

    def set_endpoint(self, which: str) -> None:
        if self.marker is not None:
            self.endpoints[which] = np.array(self.marker.latent, copy=True)
            self._emit(Change.ENDPOINTS)

    def decode(self, latents: np.ndarray) -> np.ndarray | None:
        return None if self.decoder is None else self.decoder.decode(np.atleast_2d(latents))

    # -- internals ----------------------------------------------------------------------------
    def _show(self, view: ShownView, first: bool, also: Change = Change(0)) -> None:
        """Put ``view`` on screen and carry the marker over so the invariants keep holding."""
        old = self.marker
        self.view = view
        if first or old is None:
            if len(view.points):
                cx, cy = view.points.mean(axis=0)
                self.marker = Marker(float(cx), float(cy), view.projection.inverse(np.array([[cx, cy]]))[0],
                                     MarkerSource.DRAG)
        elif old.source is MarkerSource.ITEM and old.item is not None and old.item < len(view.points):
            x, y = view.points[old.item]
            self.marker = Marker(float(x), float(y), np.array(view.latents[old.item], dtype=np.float64),
                                 MarkerSource.ITEM, old.item)
        elif old.source in (MarkerSource.SAMPLE, MarkerSource.CELL, MarkerSource.DIRECTION, MarkerSource.INPUT,
                            MarkerSource.TRAIN_ITEM):
            x, y = view.projection.transform(old.latent[None])[0]
            self.marker = Marker(float(x), float(y), old.latent, old.source, old.item)
        else:
            # Same kind of view refitted (a new epoch): the marker keeps its place among the points.
            # Another kind: it goes where the view puts its latent. Either way it decodes the inverse there.
            if view.kind is self._marker_kind and len(view.points):
                low, high = view.points.min(axis=0), view.points.max(axis=0)
                x, y = float(np.clip(old.x, low[0], high[0])), float(np.clip(old.y, low[1], high[1]))
            else:
                x, y = (float(v) for v in view.projection.transform(old.latent[None])[0])
            self.marker = Marker(x, y, view.projection.inverse(np.array([[x, y]]))[0], MarkerSource.DRAG)
        self._marker_kind = view.kind  # the kind of view the marker was last placed in
        self._emit(Change.VIEW | Change.MARKER | also)
