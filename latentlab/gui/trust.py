"""How far to trust the view on screen, fed from the explorer model.

Subscribed to ``Explorer`` like the posterior presenter. Every new view gets its
trustworthiness and continuity (k = 10, on a fixed sample of at most 5,000 points) from
a worker thread: a view of 10,000 points takes about half a second of NumPy, and the
worker takes only the newest view. Each answer carries the generation it was asked for;
one that a newer view or another run has overtaken is dropped. A t-SNE layout that is still
moving is not scored: its figures would be stale on arrival, and the CPU they took would
be the layout's.

Hovering an item rings its k nearest neighbours in the full latent space, from a
``NeighbourIndex`` of the view's latents, built at the first hover after a new snapshot
(a few ms for 10,000 points, so on the GUI thread; a run never hovered costs nothing) and
then a fraction of a millisecond per lookup. A t-SNE view's latents are the ones it laid
out (later epochs leave it be), so its rings are true to its own layout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal

from latentlab.core.events import frozen_array
from latentlab.core.trust import TRUST_K, NeighbourIndex, ViewTrust, view_trust

from .explorer import Change, Explorer, ShownView
from .widgets.neighbour_layer import NeighbourLayer
from .workers import TSNE_NICENESS, LatestJobThread, lower_this_threads_priority


@dataclass(frozen=True)
class TrustJob:
    """A view to score, as read-only arrays: nothing the GUI thread could change under the worker."""

    generation: int
    latents: np.ndarray  # (N, D)
    points: np.ndarray  # (N, 2)
    k: int = TRUST_K


def _score(job: TrustJob) -> ViewTrust:
    # Below training too, as t-SNE is: on two cores, a second of scoring per epoch would
    # otherwise come out of the run's own items per second.
    lower_this_threads_priority(TSNE_NICENESS)
    return view_trust(job.latents, job.points, job.k)


def _read_only(a: np.ndarray) -> np.ndarray:
    return a if not a.flags.writeable else frozen_array(a)


def _floor(value: float) -> str:
    """Two decimals rounded down: a view that loses a neighbour never reads "1.00"."""
    return f"{math.floor(value * 100 + 1e-9) / 100:.2f}"


def trust_note(trust: ViewTrust) -> str:
    return f"trust {_floor(trust.trustworthiness)} · continuity {_floor(trust.continuity)} (k={trust.k})"


def trust_tooltip(trust: ViewTrust) -> str:
    sample = f"a fixed sample of {trust.points:,} of the {trust.of:,} points" if trust.sampled else \
        f"all {trust.of:,} points"
    return (f"Trustworthiness {trust.trustworthiness:.4f}: how far each point's {trust.k} nearest in this view are "
            f"near in the latent space too (1: the view invents no neighbours).\n"
            f"Continuity {trust.continuity:.4f}: how far each point's {trust.k} nearest in the latent space stay near "
            f"in the view (1: it tears no neighbourhood apart).\nComputed on {sample}. Hover a point to ring its "
            f"true neighbours.")


class TrustPresenter(QObject):
    computed = Signal(object, object)  # TrustJob, ViewTrust | Exception (queued from the worker)

    def __init__(self, explorer: Explorer, scatter, layer: NeighbourLayer | None = None):
        super().__init__(scatter)
        self.explorer = explorer
        self.layer = layer or NeighbourLayer(scatter)
        self.k = TRUST_K
        self.hovered = -1  # the item under the pointer, as the scatter last said
        self.shown: ViewTrust | None = None  # the figures on screen (tests, the self-test)
        self.shown_for: ShownView | None = None  # the view they were computed for
        self.highlighted: np.ndarray | None = None  # the ringed neighbours' indices
        self.dropped = 0  # answers that arrived stale
        self._generation = 0
        self._asked: ShownView | None = None  # the view of the newest job
        self._index: NeighbourIndex | None = None
        self._index_of: np.ndarray | None = None  # the latents it indexes (compared by identity)
        self._thread: LatestJobThread | None = None
        self._closed = False
        self.computed.connect(self._on_computed, Qt.ConnectionType.QueuedConnection)
        explorer.subscribe(self._on_change)
        scatter.point_hovered.connect(self._on_hovered)
        self.layer.toggled.connect(lambda _on: self._draw_neighbours())

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.busy

    # -- the figures --------------------------------------------------------------------------
    def _on_change(self, change: Change) -> None:
        if Change.RUN in change:
            self._generation += 1  # a job of the last run is stale
            self.hovered, self.shown, self.shown_for, self._asked = -1, None, None, None
            self._index, self._index_of = None, None
            self.layer.set_note("")
        if change & (Change.RUN | Change.VIEW):
            self._ask(self.explorer.view)
            self._draw_neighbours()  # the points moved, or another view: the rings go with them

    def _ask(self, view: ShownView | None) -> None:
        if self._closed or view is None or view is self._asked:
            return  # no view yet, or this one is already scored or on its way
        self._asked = view
        self._generation += 1
        if getattr(view.projection, "partial", False):
            self.layer.set_note(f"trust: once the t-SNE layout is final (k={self.k})")
            return
        same_kind = self.shown is not None and self.shown_for is not None and self.shown_for.kind is view.kind
        self.layer.set_note(trust_note(self.shown) + " …" if same_kind else f"trust … (k={self.k})",
                            "Being computed for the view shown now.")
        if self._thread is None:
            self._thread = LatestJobThread("latentlab-view-trust", _score,
                                           lambda job, result: self.computed.emit(job, result))
            self._thread.start()
        self._thread.submit(TrustJob(self._generation, _read_only(view.latents), _read_only(view.points), self.k))

    def _on_computed(self, job: TrustJob, result) -> None:
        if self._closed:
            return  # queued before the window closed
        if job.generation != self._generation:
            self.dropped += 1  # another view or run since: not what is on screen
            return
        if isinstance(result, Exception):
            self.shown, self.shown_for = None, None
            self.layer.set_note("trust: n/a", str(result))
            return
        self.shown, self.shown_for = result, self._asked
        self.layer.set_note(trust_note(result), trust_tooltip(result))

    # -- the hovered item's true neighbours ---------------------------------------------------
    def _on_hovered(self, index: int) -> None:
        self.hovered = index
        self._draw_neighbours()

    def index_for(self, view: ShownView) -> NeighbourIndex:
        """The neighbour index of ``view``'s latents: built once per snapshot, not per view or per hover."""
        if self._index is None or self._index_of is not view.latents:
            self._index, self._index_of = NeighbourIndex(view.latents), view.latents
        return self._index

    def _draw_neighbours(self) -> None:
        view, i = self.explorer.view, self.hovered
        if not self.layer.enabled or view is None or not 0 <= i < len(view.points):
            if self.highlighted is not None:
                self.layer.show_rings(None)
            self.highlighted = None
            return
        neighbours = self.index_for(view).neighbours(i, self.k)
        self.layer.show_rings(view.points[neighbours])
        self.highlighted = neighbours

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Stop the worker and wait for it; nothing survives the window, nor starts after it."""
        self._closed = True
        self._generation += 1
        if self._thread is not None:
            self._thread.close(timeout_s)
            self._thread = None
