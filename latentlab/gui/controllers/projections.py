"""Views computed off the GUI thread: PCA refits and t-SNE or UMAP layouts, written into the explorer.

A PCA of 10,000 points of a 512-D latent takes about a second: on the GUI thread that was
a frozen window after every epoch. Large fits run on one worker thread that only ever takes the
newest request (the explorer drops older answers anyway); t-SNE runs on its own QThread,
in chunks, with a cancel that takes effect within a chunk; UMAP alike. One layout runs at a time. Results cross back as queued
signals and carry the generation they answer, so a stale one never replaces a newer view.
"""

from __future__ import annotations

import threading
import time

from typing import Callable

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal

from latentlab.core.errors import LatentlabError
from latentlab.core.projection import ViewKind

from ..explorer import Change, Explorer, FitRequest, LayoutRequest
from ..workers import LatestJobThread, LayoutWorker, thread_for

REDRAW_INTERVAL_S = 0.25  # a live t-SNE layout redraws 10,000 points: at most 4 times a second
LAYOUT_DEBOUNCE_MS = 150  # a layout asked for by scrubbing starts once the scrubber rests this long
# A PCA costs about N x D^2 multiply-adds (its covariance): 10,000 x 20-D is 4 M, 1 ms, within a
# frame on the GUI thread; 10,000 x 512-D is 2.6 G, 120 ms, for the fit thread.
INLINE_FIT_FLOPS = 20_000_000


def _fit(request: FitRequest):
    from latentlab.core.projection import fit_view  # on the fit thread: sklearn's import stays off the GUI's

    return fit_view(request.kind, request.latents, request.previous)


class ProjectionController(QObject):
    fitted = Signal(object, object)  # FitRequest, Projection | Exception (queued from the fit thread)
    failed = Signal(str)

    def __init__(self, explorer: Explorer, parent: QObject | None = None,
                 training: Callable[[], bool] = lambda: False):
        super().__init__(parent)
        self.explorer = explorer
        self._training = training  # whether a training run competes for the cores
        self._waiting: LayoutRequest | None = None
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(LAYOUT_DEBOUNCE_MS)
        self._debounce.timeout.connect(self._start_waiting)
        explorer.subscribe(self._on_change)
        self.fitted.connect(self._on_fitted, Qt.ConnectionType.QueuedConnection)
        self._fits = LatestJobThread("latentlab-view-fit", _fit, lambda request, result: self.fitted.emit(request, result))
        self._fits.start()
        self._tsne: dict[int, tuple[QThread, LayoutWorker, threading.Event]] = {}
        self._last_redraw = 0.0

    # -- fits ---------------------------------------------------------------------------------
    def fit(self, request: FitRequest) -> None:
        """The explorer's ``fit`` hook: small fits at once (well under a frame), others on the fit thread."""
        n, d = request.latents.shape
        if n * d * d <= INLINE_FIT_FLOPS:
            from latentlab.core.projection import fit_view

            try:
                result = fit_view(request.kind, request.latents, request.previous)
            except (LatentlabError, ValueError, ArithmeticError) as exc:
                result = exc
            self._on_fitted(request, result)
        else:
            self._fits.submit(request)

    def _on_fitted(self, request: FitRequest, result) -> None:
        if isinstance(result, Exception):
            if self.explorer.fit_is_current(request):
                self.failed.emit(str(result) if isinstance(result, LatentlabError)
                                 else f"The view could not be fitted to these latents ({result}).")
            return
        self.explorer.view_fitted(request, result)

    # -- t-SNE and UMAP -------------------------------------------------------------------
    @property
    def tsne_running(self) -> bool:
        return self.explorer.tsne is not None

    def lay_out(self, request: LayoutRequest) -> None:
        """The explorer's ``lay_out`` hook: another epoch to lay out. Scrubbing asks for many
        in a row, so only the newest asked for within ``LAYOUT_DEBOUNCE_MS`` starts."""
        self._waiting = request
        self._debounce.start()

    def _on_change(self, change: Change) -> None:
        """A layout the explorer no longer waits for (the user moved on, picked another) stops computing."""
        if Change.TSNE in change or Change.RUN in change:
            wanted = self.explorer.tsne.generation if self.explorer.tsne is not None else None
            for generation, (_, _, cancel) in self._tsne.items():
                if generation != wanted:
                    cancel.set()

    def _start_waiting(self) -> None:
        request, self._waiting = self._waiting, None
        if request is not None and self.explorer.tsne is request:  # still the one wanted
            self.start_tsne(request)

    def start_tsne(self, request: LayoutRequest | None) -> None:
        """Run the layout the explorer asked for (``Explorer.choose_view``), after stopping any other."""
        if request is None:
            return
        for _, _, cancel in self._tsne.values():
            cancel.set()  # one layout at a time: two would halve each other's speed
        cancel = threading.Event()
        n_jobs = 1 if self._training() else 2  # both cores while no training competes for them
        if request.kind is ViewKind.UMAP:
            from latentlab.core.umap_view import umap_layout

            layouts, method = (lambda: umap_layout(request.latents, init=request.init, cancel=cancel,
                                                   epoch=request.epoch, n_jobs=n_jobs)), "UMAP"
        else:
            from latentlab.core.projection import tsne_layout

            # Chunks of 5 iterations keep a cancel under half a second at 10,000 points.
            layouts, method = (lambda: tsne_layout(request.latents, init=request.init, cancel=cancel, chunk=5,
                                                   n_jobs=n_jobs)), "t-SNE"
        worker = LayoutWorker(request.generation, layouts, method)
        thread = thread_for(worker, f"latentlab-layout-{request.generation}")
        worker.progress.connect(self._on_tsne_progress)
        worker.failed.connect(self._on_tsne_failed)
        worker.done.connect(self._on_tsne_done)
        self._tsne[request.generation] = (thread, worker, cancel)
        self._last_redraw = 0.0
        thread.start(QThread.Priority.LowPriority)

    def cancel_tsne(self) -> None:
        """Takes effect at once for the view; the worker itself stops within a chunk."""
        self._waiting = None
        for _, _, cancel in self._tsne.values():
            cancel.set()
        self.explorer.cancel_tsne()

    def _on_tsne_progress(self, generation: int, progress) -> None:
        now = time.monotonic()
        if not progress.done and now - self._last_redraw < REDRAW_INTERVAL_S:
            return
        self._last_redraw = now
        self.explorer.tsne_progress(generation, progress.layout, 1.0 if progress.done else progress.fraction,
                                    progress.projection)

    def _on_tsne_failed(self, generation: int, message: str) -> None:
        if self.explorer.tsne_failed(generation):
            self.failed.emit(message)

    def _on_tsne_done(self, generation: int) -> None:
        entry = self._tsne.pop(generation, None)
        if entry is not None:
            thread, worker, _ = entry
            thread.wait()  # its event loop is quitting; this returns at once
            worker.deleteLater()
            thread.deleteLater()
        request = self.explorer.tsne
        if request is not None and request.generation == generation:
            self.explorer.cancel_tsne()  # it ended without a final layout (cancelled from elsewhere)

    def shutdown(self, timeout_ms: int = 10000) -> None:
        """Stop every worker and wait for it: nothing survives the window."""
        self._debounce.stop()
        self._waiting = None
        for _, _, cancel in self._tsne.values():
            cancel.set()
        for generation, (thread, _, _) in list(self._tsne.items()):
            thread.quit()
            thread.wait(timeout_ms)
            self._on_tsne_done(generation)
        self._fits.close(timeout_ms / 1000)

    @property
    def busy(self) -> bool:
        return bool(self._tsne)
