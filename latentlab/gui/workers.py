"""Objects that run on a QThread: training, and t-SNE or UMAP layouts.

Each wraps a core generator and turns its items into queued Qt signals; the items are
frozen CPU records, so handing them to the GUI thread shares nothing mutable.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from typing import Any, Callable, Iterator

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from latentlab.core.errors import LatentlabError, os_error_sentence

TRAINING_NICENESS = 5  # below the GUI thread, above t-SNE: the run the user started comes first
TSNE_NICENESS = 10


def lower_this_threads_priority(niceness: int) -> None:
    """Let the GUI thread win the CPU over this one (Linux: a per-thread nice value).

    On two cores, a training loop and a t-SNE run would otherwise take as much CPU as the
    GUI thread, and every repaint would take three times as long. Elsewhere Qt's
    QThread.LowPriority (given at start) does the job; Linux ignores it.
    """
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
        except OSError:
            pass  # not permitted here: run at normal priority


class LatestJobThread(threading.Thread):
    """Runs ``work(job)`` for the newest submitted job only, then ``deliver(job, result)``, both on itself.

    A job submitted while another still waits replaces it: views and tiles are asked for
    faster than they are computed, and only the newest answer matters. An exception of
    ``errors`` raised by ``work`` is delivered as the result, for the GUI to say.
    """

    def __init__(self, name: str, work: Callable[[Any], Any], deliver: Callable[[Any, Any], None],
                 errors: tuple[type[BaseException], ...] = (LatentlabError, ValueError, ArithmeticError)):
        super().__init__(name=name, daemon=True)
        self._work, self._deliver, self._errors = work, deliver, errors
        self._pending: Any = None
        self._wake = threading.Condition()
        self._closed = False
        self._working = False  # a job taken and not yet delivered

    def submit(self, job) -> None:
        with self._wake:
            self._pending = job
            self._wake.notify()

    @property
    def busy(self) -> bool:
        with self._wake:
            return self._pending is not None or self._working

    def close(self, timeout: float = 10.0) -> None:
        with self._wake:
            self._closed = True
            self._pending = None
            self._wake.notify()
        if self.is_alive():
            self.join(timeout)

    def run(self) -> None:
        lower_this_threads_priority(TRAINING_NICENESS)  # the GUI thread wins the CPU
        while True:
            with self._wake:
                while self._pending is None and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                job, self._pending = self._pending, None
                self._working = True
            try:
                result = self._work(job)
            except self._errors as exc:
                result = exc
            with self._wake:
                self._working = False
            self._deliver(job, result)


def thread_for(worker: QObject, name: str) -> QThread:
    """A QThread that runs ``worker.run`` and quits when the worker emits ``done``.

    The quit is a direct connection, called on the worker's thread, so a GUI thread that
    blocks in ``QThread.wait`` (closing, shutting down) still sees the thread end.
    """
    thread = QThread()
    thread.setObjectName(name)
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    worker.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)
    return thread


def describe_failure(exc: BaseException, what: str = "Training") -> str:
    """One sentence for a worker's failure: the user's mistake or the system's refusal as it is, a bug as
    "``what`` failed unexpectedly" (its traceback printed for the report)."""
    if isinstance(exc, LatentlabError):
        return str(exc)
    if isinstance(exc, OSError):  # the system's refusal, not a bug: say what and where
        return os_error_sentence(exc)
    traceback.print_exception(exc)  # for the bug report; the user sees one sentence
    return f"{what} failed unexpectedly ({type(exc).__name__}: {exc}); the details are printed on the console."


class TrainingWorker(QObject):
    event = Signal(object)  # RunStarted | StepMetrics | EpochSnapshot | CheckpointSaved | RunFinished
    failed = Signal(str)
    done = Signal()

    def __init__(self, events: Callable[[], Iterator[Any]], num_threads: int | None = None):
        super().__init__()
        self._events = events
        self._num_threads = num_threads

    @Slot()
    def run(self) -> None:
        lower_this_threads_priority(TRAINING_NICENESS)
        try:
            import torch

            from latentlab.core.trainer import default_num_threads

            # Always set: a new thread starts with the count last set anywhere in the process,
            # and the GUI thread's decoder sets 1 for itself; without this, every run after
            # the first would train on one thread.
            torch.set_num_threads(self._num_threads or default_num_threads())
            for event in self._events():
                self.event.emit(event)
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the user, not kill the app
            self.failed.emit(describe_failure(exc))
        finally:
            self.done.emit()


class LayoutWorker(QObject):
    """Runs a t-SNE or UMAP layout generator (``LayoutProgress`` items) and emits each item."""

    progress = Signal(int, object)  # generation, LayoutProgress
    failed = Signal(int, str)
    done = Signal(int)

    def __init__(self, generation: int, layouts: Callable[[], Iterator[Any]], method: str):
        super().__init__()
        self.generation = generation
        self._layouts = layouts
        self._method = method  # "t-SNE" or "UMAP", for the sentence a failure becomes

    @Slot()
    def run(self) -> None:
        lower_this_threads_priority(TSNE_NICENESS)
        try:
            for progress in self._layouts():
                self.progress.emit(self.generation, progress)
        except BaseException as exc:  # noqa: BLE001
            self.failed.emit(self.generation, describe_failure(exc, self._method))
        finally:
            self.done.emit(self.generation)
