"""Decoding the manifold's tiles off the GUI thread, when a grid of them costs more than a frame.

A t-SNE view's inverse searches 10,000 neighbours per tile, and a conv decoder of colour
images is far slower than an MLP: 144 such tiles would freeze the window. One worker
thread takes only the newest job (an older one still waiting is skipped), computes the
tiles' latents and images with a decoder of its own (the GUI thread's is never shared
across threads), and hands them back as a queued Qt signal. Each job carries the
generation it answers, so the presenter can drop a stale one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal

from latentlab.core.errors import LatentlabError
from latentlab.core.manifold import TileGrid, decode_tiles
from latentlab.core.projection import Projection

from .workers import LatestJobThread


@dataclass(frozen=True)
class TileJob:
    """Everything the worker needs, none of it shared mutable state: read-only arrays and a fitted view."""

    generation: int
    grid: TileGrid
    projection: Projection
    model_config: dict[str, Any] = field(repr=False)
    image_shape: tuple[int, int, int]
    decoder_state: Mapping[str, np.ndarray] = field(repr=False)  # a snapshot's frozen weights
    epoch: int = 0
    cost_key: tuple = ()  # what the time it takes is the cost of (the presenter's business)


@dataclass(frozen=True)
class DecodedTiles:
    latents: np.ndarray  # (n * n, D)
    images: np.ndarray  # (n * n, C, H, W)
    ms: float  # how long the worker took over them


def compute_tiles(job: TileJob, decoder) -> tuple[np.ndarray, np.ndarray]:
    """The job's latents and images, decoded by the worker's own ``decoder``."""
    return decode_tiles(job.grid, job.projection.inverse, decoder.decode)


class _TileWork:
    """A job's tiles, decoded on the worker thread by a decoder of its own, rebuilt only for another model."""

    def __init__(self):
        self._decoder, self._built_for = None, None

    def __call__(self, job: TileJob) -> DecodedTiles:
        from .decoder import LatentDecoder

        try:
            model = (job.model_config, tuple(job.image_shape))
            if self._decoder is None or self._built_for != model:
                self._decoder = LatentDecoder(job.model_config, job.image_shape, job.decoder_state)
                self._built_for = model
            else:
                self._decoder.update(job.decoder_state)  # a no-op for the same snapshot's state
            start = time.perf_counter()
            latents, images = compute_tiles(job, self._decoder)
            return DecodedTiles(latents, images, (time.perf_counter() - start) * 1000)
        except Exception:
            self._decoder = None  # a failed decoder is rebuilt for the next job
            raise


class BackgroundTiles(QObject):
    """The worker thread (started on first use) and the signal its results arrive by, on the GUI thread."""

    decoded = Signal(object, object)  # TileJob, DecodedTiles | Exception
    _finished = Signal(object, object)  # emitted on the worker thread; queued to this object's thread

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._finished.connect(self._on_finished, Qt.ConnectionType.QueuedConnection)
        self._thread: LatestJobThread | None = None

    def submit(self, job: TileJob) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = LatestJobThread("latentlab-manifold-tiles", _TileWork(),
                                           lambda done, result: self._finished.emit(done, result),
                                           errors=(LatentlabError, ValueError, RuntimeError, ArithmeticError))
            self._thread.start()
        self._thread.submit(job)

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.busy

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the worker and wait for it; a result still queued is dropped by its generation."""
        if self._thread is not None:
            self._thread.close(timeout)
            self._thread = None

    def _on_finished(self, job: TileJob, result) -> None:
        self.decoded.emit(job, result)
