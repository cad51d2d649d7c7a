"""The all-items presenter's work off the GUI thread: load the dataset, encode its training items, place every item.

An ``ItemPlacer`` turns a ``PlaceJob`` (a snapshot and the view on screen) into ``AllPoints``
on its own thread. It keeps the dataset it loaded and the two newest encodings, so a new
view or a step back on the timeline costs only the placing; ``forget`` lets them go (from
the GUI thread), and a job begun before then does not fill them again.

- PCA is fitted again on every item, signs aligned with the fit it replaces;
- any other view places the training items with its own ``transform`` (t-SNE and UMAP
  keep their layout of the test items, the sample they were run on).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from latentlab.core.errors import LatentlabError
from latentlab.core.events import EpochSnapshot, frozen_array
from latentlab.core.point_index import PointIndex
from latentlab.core.projection import PCAProjection, Projection

from ..explorer import ShownView
from ..widgets.density_layer import LayerPoints
from ..workers import TSNE_NICENESS, describe_failure, lower_this_threads_priority

PLACE_CHUNK = 16_384  # training items placed per call of a view's transform: progress and cancel between
KEPT_ENCODINGS = 2  # a million 20-D latents are 80 MB


@dataclass(frozen=True)
class PlaceJob:
    generation: int
    config: Mapping[str, Any]
    image_shape: tuple[int, int, int]
    snapshot: EpochSnapshot
    view: ShownView
    colours: np.ndarray  # (C, 3) the classes' colours on the scatter
    cancel: threading.Event
    caches: int  # the placer's caches may keep what this job loads while this is still its ``caches``


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


CANCELLED = "cancelled"  # what ``work`` returns for a job cancelled on its way


class ItemPlacer:
    def __init__(self, progress: Callable[[int, str], None]):
        self._progress = progress  # (generation, what is being done), from the worker thread
        self._items: tuple[str, Any, np.ndarray] | None = None  # (dataset key, DatasetItems, training images)
        self._encodings: tuple[tuple[EpochSnapshot, np.ndarray], ...] = ()  # (snapshot, training latents), newest last
        self.caches = 0  # bumped when the caches are let go
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._items is not None

    def forget(self) -> None:
        """Let the dataset and the encodings go (memory: a large dataset is gigabytes)."""
        with self._lock:
            self.caches += 1
            self._items, self._encodings = None, ()

    def work(self, job: PlaceJob) -> AllPoints | str:
        """``job``'s points, or one sentence saying why there are none (``CANCELLED`` when cancelled)."""
        lower_this_threads_priority(TSNE_NICENESS)
        try:
            return self._place(job)
        except _Cancelled:
            return CANCELLED
        except MemoryError:
            return "There is not enough memory to hold every item of this dataset; show the test items alone."
        except Exception as exc:
            return describe_failure(exc, "Showing all items")

    def _keep(self, job: PlaceJob, **caches) -> None:
        """Fill the caches (``items=``, ``encodings=``), unless they were let go since ``job`` began."""
        with self._lock:
            if job.caches == self.caches:
                for name, value in caches.items():
                    setattr(self, f"_{name}", value)

    def _place(self, job: PlaceJob) -> AllPoints:
        from latentlab.core.all_items import Cancelled, dataset_items, encode_means, encoder_from
        from latentlab.core.trainer import resolve_device
        from latentlab.core.umap_view import UMAPProjection

        def progress(text: str) -> None:
            self._progress(job.generation, text)

        try:
            device = resolve_device(str(job.config.get("train", {}).get("device", "auto")))
        except LatentlabError:  # trained on a GPU this machine lacks: encode on what it has
            device = resolve_device("auto")
        encoded = next((entry for entry in self._encodings if entry[0] is job.snapshot), None)
        model = None
        if encoded is not None:
            self._keep(job, encodings=(*[e for e in self._encodings if e is not encoded], encoded))  # newest last
        else:  # built before the dataset loads: a model without an encoder says so at once
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
