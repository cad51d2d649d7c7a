"""Every item of the dataset on the latent scatter: encoded off the GUI thread, placed in the view on screen.

With *All items* on, a worker (``all_items_worker.py``) loads the run's dataset (the test
items first, so item i < n_test is test item i), encodes the training items' posterior
means in batches on the training device with the shown snapshot's weights, and places them
in the view on screen. A PCA refitted on every item is given to the explorer, so the test
points, the marker and every drag use that one projection.

The density layer draws the result and answers the pointer; test items are handed on as
the scatter's own hovers and clicks, training items are previewed and picked here. A box,
lasso or legend click selects among all items too: the explorer's set keeps the test items
inside (its directions and comparisons are the test set's), the layer tints them all.
Each new epoch or view starts the work again; a stale job stops between two batches.
"""

from __future__ import annotations

import threading
from typing import Callable

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QColor

from latentlab.core.projection import ViewKind

from ..explorer import Change, Explorer, MarkerSource, ShownView
from ..widgets.density_layer import DensityLayer
from ..widgets.latent_scatter import _colour
from ..workers import LatestJobThread
from .all_items_worker import CANCELLED, AllPoints, ItemPlacer, PlaceJob

RESTART_MS = 150  # a burst of epochs or views (scrubbing, a layout's last steps) starts the work once


class AllItemsPresenter(QObject):
    finished = Signal(object, object)  # PlaceJob, AllPoints | str (queued from the worker)
    progressed = Signal(int, str)  # generation, what the worker is doing

    def __init__(self, explorer: Explorer, scatter, selection, show_error: Callable[[str], None],
                 layer: DensityLayer | None = None):
        super().__init__(scatter)
        self.explorer, self.scatter, self.show_error = explorer, scatter, show_error
        self.layer = layer or DensityLayer(scatter)
        self.shown: AllPoints | None = None
        self.job: PlaceJob | None = None  # the newest job asked for
        self._generation = 0
        self._closed = False
        self.placer = ItemPlacer(lambda generation, text: self._say_from_worker(self.progressed, generation, text))
        self._drawn_kind = None  # the kind of view the layer's picture (live or faded) was placed in
        self._selected: dict[str, np.ndarray] = {}  # "A"/"B" -> all items' indices
        self._restart = QTimer(self, singleShot=True, interval=RESTART_MS, timeout=self.refresh)
        self.finished.connect(self._on_finished, Qt.ConnectionType.QueuedConnection)
        self.progressed.connect(self._on_progress, Qt.ConnectionType.QueuedConnection)
        self._worker = LatestJobThread("latentlab-all-items", self.placer.work,
                                       lambda job, r: self._say_from_worker(self.finished, job, r), errors=())
        self._worker.start()
        self.layer.shown_changed.connect(self._on_toggled)
        self.layer.item_hovered.connect(self._on_hovered)
        self.layer.item_clicked.connect(self._on_clicked)
        selection.region_drawn.connect(self._on_region)
        selection.class_clicked.connect(self._on_class)
        selection.clear_requested.connect(self._clear_sets)
        explorer.subscribe(self._on_change)

    @property
    def wanted(self) -> bool:
        return self.layer.show_box.isChecked()

    def shutdown(self) -> None:
        self._closed = True
        if self.job is not None:
            self.job.cancel.set()
        self._worker.close(timeout=1.0)  # a dataset still loading is left to its daemon thread
        self.layer.shutdown()

    def _say_from_worker(self, signal, *args) -> None:
        if not self._closed:  # the window may be gone: its objects with it
            try:
                signal.emit(*args)
            except RuntimeError:
                pass

    # -- when to work ----------------------------------------------------------------------
    def _on_toggled(self, on: bool) -> None:
        if on:
            self.refresh()
        else:
            refitted = self.shown is not None and self.shown.refitted and self._is_shown(self.explorer.view)
            self._stop()
            self.placer.forget()
            self.layer.set_status("")
            if refitted and self.explorer.chosen is ViewKind.PCA:  # back to a fit of the test items alone
                self.explorer.choose_view(ViewKind.PCA)

    def _on_change(self, change: Change) -> None:
        if Change.RUN in change:
            self._stop()
            self._clear_sets()
            self.placer.forget()
        if not self.wanted or not change & (Change.RUN | Change.SNAPSHOT | Change.VIEW):
            return
        view = self.explorer.view
        if self._is_shown(view):
            return  # the view this layer fitted, now on screen: its points are these
        if self.layer.active and (view is None or view.kind is not self._drawn_kind or self.explorer.tsne is not None):
            self._stop()  # another kind of view, or a layout on its way: the old places mean nothing in it
        elif self.shown is not None:
            self.layer.set_stale()  # another epoch: the old picture fades until the new one comes
            self.shown = None
        self._restart.start()

    def _is_shown(self, view: ShownView | None) -> bool:
        shown = self.shown
        return (shown is not None and view is not None and view.projection is shown.projection
                and self.explorer.snapshot is shown.snapshot)

    def refresh(self) -> None:
        """Start placing every item in the view on screen (cancelling the job before)."""
        explorer, view = self.explorer, self.explorer.view
        if not self.wanted:
            return
        if explorer.snapshot is None or explorer.contents is None or view is None:
            self.layer.set_status("All items appear with the run's first epoch.")
            return
        if explorer.tsne is not None or getattr(view.projection, "partial", False):
            self._stop()  # the items would be placed in a layout about to change
            self.layer.set_status("All items are placed once the layout finishes.")
            return
        if self._is_shown(view):
            return  # placed already (a burst of changes that ended where it began)
        if self.job is not None:
            self.job.cancel.set()
        self._generation += 1
        contents = explorer.contents
        colours = np.array([QColor(_colour(i)).getRgbF()[:3] for i in range(max(len(contents.classes), 1))])
        self.job = PlaceJob(self._generation, contents.config, tuple(contents.image_shape), explorer.snapshot, view,
                            colours, threading.Event(), self.placer.caches)
        self._worker.submit(self.job)
        self.layer.set_status("Placing all items…" if self.placer.loaded else "Loading the dataset…")

    def _stop(self) -> None:
        self._restart.stop()
        if self.job is not None:
            self.job.cancel.set()
        self._generation += 1
        self.job, self.shown = None, None
        self.layer.clear()

    # -- results -----------------------------------------------------------------------------
    def _on_progress(self, generation: int, text: str) -> None:
        if generation == self._generation:
            self.layer.set_status(text)

    def _on_finished(self, job: PlaceJob, result) -> None:
        if job is not self.job or result == CANCELLED:
            return
        self.job = None
        if isinstance(result, str):
            self.layer.set_status("")
            self.layer.show_box.setChecked(False)  # off: the toggle says what is on screen
            self.show_error(result)
            return
        explorer = self.explorer
        if job.snapshot is not explorer.snapshot or job.view is not explorer.view:
            return  # overtaken: the change that did it has asked for the new places
        self.shown = result  # before the explorer announces an adopted view, so it is known as this one's
        if result.refitted and not explorer.adopt_view(result.snapshot, result.projection):
            self.shown = None
            return
        self._draw()

    def _draw(self) -> None:
        shown = self.shown
        self._drawn_kind = shown.projection.kind
        self.layer.set_points(shown.layer_points)
        for which, indices in self._selected.items():
            self.layer.show_set(which, self._mask(indices))
        marker = self.explorer.marker
        if marker is not None and marker.source is MarkerSource.TRAIN_ITEM and marker.item < len(shown.train_latents):
            # A training item under the marker: its latent under the model now shown, as an item's own would be.
            self.explorer.place_latent(shown.train_latents[marker.item].astype(np.float64), MarkerSource.TRAIN_ITEM,
                                       item=marker.item)
        self._say()

    def _say(self) -> None:
        shown = self.shown
        n = len(shown.points)
        text = f"{n:,} items ({n - shown.n_test:,} training, {shown.n_test:,} test)"
        for which, indices in self._selected.items():
            text += f" · {which}: {len(indices):,} of them"
        self.layer.set_status(text)

    # -- the pointer ---------------------------------------------------------------------------
    def _on_hovered(self, index: int) -> None:
        shown = self.shown
        if shown is None or index < shown.n_test:
            self.scatter.highlight_point(index)
            self.scatter.point_hovered.emit(index)  # a test item (or none): the scatter's own hover
            return
        x, y = self.layer.position(index)
        self.scatter.highlight.setData([x], [y])
        recon = self.explorer.decode(shown.train_latents[index - shown.n_test])
        if recon is None:
            return
        label = ""
        contents = self.explorer.contents
        if shown.labels is not None:
            c = int(shown.labels[index])
            label = f", label {contents.classes[c] if c < len(contents.classes) else c}"
        self.scatter.show_preview(shown.train_images[index - shown.n_test], recon[0],
                                  f"Hovering training item {index - shown.n_test}{label}")

    def _on_clicked(self, index: int) -> None:
        shown = self.shown
        if shown is None:
            return
        if index < shown.n_test:
            self.scatter.point_clicked.emit(index)
            return
        self.explorer.place_latent(shown.train_latents[index - shown.n_test].astype(np.float64),
                                   MarkerSource.TRAIN_ITEM, item=index - shown.n_test)

    # -- selections ------------------------------------------------------------------------------
    def _mask(self, indices: np.ndarray) -> np.ndarray:
        mask = np.zeros(len(self.shown.points), dtype=bool)
        mask[indices] = True
        return mask

    def _on_region(self, which: str, shape: str, vertices) -> None:
        index = None if self.shown is None else self.shown.index
        if index is None:  # the test items alone (or not yet placed): the set is theirs alone
            self._set(which, None)
        else:
            self._set(which, index.in_box(tuple(vertices[0]), tuple(vertices[-1])) if shape == "box"
                      else index.in_polygon(vertices))

    def _on_class(self, which: str, c: int) -> None:
        labels = None if self.shown is None else self.shown.labels
        self._set(which, None if labels is None else np.flatnonzero(labels == c))

    def _set(self, which: str, indices: np.ndarray | None) -> None:
        """Set ``which`` becomes these items of all (None or none: it is forgotten here)."""
        if indices is not None and len(indices):
            self._selected[which] = indices
            self.layer.show_set(which, self._mask(indices))
        else:
            self._selected.pop(which, None)
            self.layer.show_set(which, None)
        if self.shown is not None:
            self._say()

    def _clear_sets(self) -> None:
        self._selected = {}
        for which in ("A", "B"):
            self.layer.show_set(which, None)
        if self.shown is not None:
            self._say()

    def selected(self, which: str) -> np.ndarray | None:
        """The indices among all items of set ``which``, if it was drawn over all items."""
        return self._selected.get(which)
