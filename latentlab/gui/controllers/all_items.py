"""Every item of the dataset on the latent scatter: encoded off the GUI thread, placed in the view on screen.

With *All items* on, a worker loads the run's dataset (the test items first, so item
i < n_test is test item i), encodes the training items' posterior means in batches on the
training device with the shown snapshot's weights, and places them in the view on screen:

- PCA is fitted again on every item (signs aligned with the fit it replaces) and given to
  the explorer, so the test points, the marker and every drag use that one projection;
- any other view places the training items with its own ``transform`` (t-SNE and UMAP
  keep their layout of the test items, the sample they were run on).

The density layer draws the result and answers the pointer; test items are handed on as
the scatter's own hovers and clicks, training items are previewed and picked here. A box,
lasso or legend click selects among all items too: the explorer's set keeps the test items
inside (its directions and comparisons are the test set's), the layer tints them all.
Each new epoch or view starts the work again; a stale job stops between two batches.
"""

from __future__ import annotations

import json
import threading
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QColor

from latentlab.core.errors import LatentlabError, os_error_sentence
from latentlab.core.events import EpochSnapshot, frozen_array
from latentlab.core.point_index import PointIndex
from latentlab.core.projection import PCAProjection, Projection, ViewKind

from ..explorer import Change, Explorer, MarkerSource, ShownView
from ..widgets.density_layer import DensityLayer, LayerPoints
from ..widgets.latent_scatter import _colour
from ..workers import TSNE_NICENESS, LatestJobThread, lower_this_threads_priority

PLACE_CHUNK = 16_384  # training items placed per call of a view's transform: progress and cancel between
KEPT_ENCODINGS = 2  # a million 20-D latents are 80 MB
RESTART_MS = 150  # a burst of epochs or views (scrubbing, a layout's last steps) starts the work once


@dataclass(frozen=True)
class _Job:
    generation: int
    config: Mapping[str, Any]
    image_shape: tuple[int, int, int]
    snapshot: EpochSnapshot
    view: ShownView
    colours: np.ndarray  # (C, 3) the classes' colours on the scatter
    cancel: threading.Event
    caches: int  # the worker's caches may keep what this job loads while this is still ``_caches``


@dataclass(frozen=True)
class AllPoints:
    """Every item's place in one view: read-only arrays, made on the worker and handed over whole."""

    snapshot: EpochSnapshot
    projection: Projection  # the view they are placed in
    points: np.ndarray  # (N, 2) float32, test items first
    train_latents: np.ndarray  # (N - n_test, D) float32
    train_images: np.ndarray  # (N - n_test, C, H, W) uint8 (the test items' are the run's own)
    labels: np.ndarray | None
    n_test: int
    layer_points: LayerPoints  # the points as the density layer draws them, with their index
    refitted: bool  # the projection was fitted here, on every item (PCA)

    @property
    def index(self) -> PointIndex:
        return self.layer_points.index


class _Cancelled(Exception):
    pass


class AllItemsPresenter(QObject):
    finished = Signal(object, object)  # _Job, AllPoints | str (queued from the worker)
    progressed = Signal(int, str)  # generation, what the worker is doing

    def __init__(self, explorer: Explorer, scatter, selection, show_error: Callable[[str], None],
                 layer: DensityLayer | None = None):
        super().__init__(scatter)
        self.explorer, self.scatter, self.show_error = explorer, scatter, show_error
        self.layer = layer or DensityLayer(scatter)
        self.shown: AllPoints | None = None
        self.job: _Job | None = None  # the newest job asked for
        self._generation = 0
        self._closed = False
        self._items: tuple[str, Any] | None = None  # (dataset key, DatasetItems): the worker's own
        # The worker's newest encodings, (snapshot, training latents): stepping back and forth between
        # two epochs on the timeline encodes each once.
        self._encodings: tuple[tuple[EpochSnapshot, np.ndarray], ...] = ()
        self._caches = 0  # bumped when the caches are let go: a job begun before may not fill them again
        self._cache_lock = threading.Lock()
        self._drawn_kind = None  # the kind of view the layer's picture (live or faded) was placed in
        self._selected: dict[str, np.ndarray] = {}  # "A"/"B" -> all items' indices
        self._restart = QTimer(self, singleShot=True, interval=RESTART_MS, timeout=self.refresh)
        self.finished.connect(self._on_finished, Qt.ConnectionType.QueuedConnection)
        self.progressed.connect(self._on_progress, Qt.ConnectionType.QueuedConnection)
        self._worker = LatestJobThread("latentlab-all-items", self._work,
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
            self._forget()
            self.layer.set_status("")
            if refitted and self.explorer.chosen is ViewKind.PCA:  # back to a fit of the test items alone
                self.explorer.choose_view(ViewKind.PCA)

    def _on_change(self, change: Change) -> None:
        if Change.RUN in change:
            self._stop()
            self._clear_sets()
            self._forget()
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
        self.job = _Job(self._generation, contents.config, tuple(contents.image_shape), explorer.snapshot, view,
                        colours, threading.Event(), self._caches)
        self._worker.submit(self.job)
        self.layer.set_status("Loading the dataset…" if self._items is None else "Placing all items…")

    def _forget(self) -> None:
        """Let the worker's dataset and encoding go (memory: a large dataset is gigabytes)."""
        with self._cache_lock:
            self._caches += 1
            self._items, self._encodings = None, ()

    def _stop(self) -> None:
        self._restart.stop()
        if self.job is not None:
            self.job.cancel.set()
        self._generation += 1
        self.job, self.shown = None, None
        self.layer.clear()

    # -- the worker ------------------------------------------------------------------------
    def _work(self, job: _Job) -> AllPoints | str:
        lower_this_threads_priority(TSNE_NICENESS)
        try:
            return self._place(job)
        except _Cancelled:
            return "cancelled"
        except LatentlabError as exc:
            return str(exc)
        except OSError as exc:
            return os_error_sentence(exc)
        except MemoryError:
            return "There is not enough memory to hold every item of this dataset; show the test items alone."
        except Exception as exc:  # a bug: one sentence for the user, the details for the report
            traceback.print_exception(exc)
            return f"All items could not be shown ({type(exc).__name__}); the details are printed on the console."

    def _keep(self, job: _Job, **caches) -> None:
        """Fill the worker's caches (``items=``, ``encodings=``), unless they were let go (switched off,
        another run) since ``job`` began: what it loaded then goes with it."""
        with self._cache_lock:
            if job.caches == self._caches:
                for name, value in caches.items():
                    setattr(self, f"_{name}", value)

    def _place(self, job: _Job) -> AllPoints:
        from latentlab.core.all_items import Cancelled, dataset_items, encode_means, encoder_from
        from latentlab.core.trainer import resolve_device
        from latentlab.core.umap_view import UMAPProjection

        def progress(text: str) -> None:
            self._say_from_worker(self.progressed, job.generation, text)

        try:
            device = resolve_device(str(job.config.get("train", {}).get("device", "auto")))
        except LatentlabError:  # trained on a GPU this machine lacks: encode on what it has
            device = resolve_device("auto")
        encoded = next((entry for entry in self._encodings if entry[0] is job.snapshot), None)
        if encoded is not None:
            self._keep(job, encodings=(*[e for e in self._encodings if e is not encoded], encoded))  # newest last
        model = None
        if encoded is None:  # built before the dataset loads: a model without an encoder says so at once
            model = encoder_from(job.config["model"], job.image_shape, job.snapshot.model_state, device)
        key = json.dumps(job.config.get("data", {}), sort_keys=True)
        cached = self._items
        if cached is None or cached[0] != key:
            self._keep(job, items=None)  # the last dataset's memory goes before the next is loaded
            items = dataset_items(job.config)
            array = items.train_images.numpy().view()  # the tensor's memory, read-only for the GUI thread
            array.flags.writeable = False
            cached = (key, items, array)
            self._keep(job, items=cached)
        _, items, array = cached
        test_latents = np.asarray(job.snapshot.latents, dtype=np.float64)
        if len(test_latents) != items.n_test:
            raise LatentlabError("The dataset on this machine is not the one this run was trained on "
                                 f"({items.n_test} test items, the run has {len(test_latents)}).")
        if model is not None:
            try:
                train = encode_means(model, items.train_images, device, cancel=job.cancel,
                                     progress=lambda done, n: progress(f"Encoding {done:,} of {n:,} training items…"))
            except Cancelled:
                raise _Cancelled from None
            encoded = (job.snapshot, frozen_array(train))
            self._keep(job, encodings=(*self._encodings[-(KEPT_ENCODINGS - 1):], encoded))
        train = encoded[1]
        projection, refitted = job.view.projection, False
        if isinstance(projection, PCAProjection):
            progress(f"Fitting PCA on {len(train) + len(test_latents):,} items…")
            projection = PCAProjection(np.concatenate([test_latents, train.astype(np.float64)]), previous=projection)
            test_points, refitted = projection.transform(test_latents), True
        else:
            test_points = job.view.points
        placed = []
        for start in range(0, len(train), PLACE_CHUNK):
            if job.cancel.is_set():
                raise _Cancelled
            chunk = train[start : start + PLACE_CHUNK].astype(np.float64)
            # UMAP's own transform for every chunk (waiting for a graph another worker builds), never a fallback.
            placed.append(projection.transform(chunk, wait=True) if isinstance(projection, UMAPProjection)
                          else projection.transform(chunk))
            progress(f"Placing {min(start + PLACE_CHUNK, len(train)):,} of {len(train):,} training items…")
        points = np.concatenate([np.asarray(test_points, dtype=np.float32), *[p.astype(np.float32) for p in placed]])
        layer_points = LayerPoints.of(points, items.labels, job.colours)
        return AllPoints(job.snapshot, projection, frozen_array(points), train, array, items.labels, items.n_test,
                         layer_points, refitted)

    # -- results -----------------------------------------------------------------------------
    def _on_progress(self, generation: int, text: str) -> None:
        if generation == self._generation:
            self.layer.set_status(text)

    def _on_finished(self, job: _Job, result) -> None:
        if job is not self.job or result == "cancelled":
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
        if self.shown is None:  # the test items alone (or not yet placed): the set is theirs alone
            self._selected.pop(which, None)
            self.layer.show_set(which, None)
            return
        index = self.shown.index
        indices = index.in_box(tuple(vertices[0]), tuple(vertices[-1])) if shape == "box" else index.in_polygon(vertices)
        self._set(which, indices)

    def _on_class(self, which: str, c: int) -> None:
        if self.shown is not None and self.shown.labels is not None:
            self._set(which, np.flatnonzero(self.shown.labels == c))
        else:
            self._selected.pop(which, None)
            self.layer.show_set(which, None)

    def _set(self, which: str, indices: np.ndarray) -> None:
        if len(indices):
            self._selected[which] = indices
        else:
            self._selected.pop(which, None)
        self.layer.show_set(which, self._mask(indices) if len(indices) else None)
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
