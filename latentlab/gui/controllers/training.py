"""The training run: its QThread, stop and pause flags, and the events it streams to the GUI.

Stopping never terminates the thread: it sets the stop flag (training saves and returns at
the next step) and the thread ends by itself; ``state_changed`` reports ``IDLE`` then.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterator

from PySide6.QtCore import QObject, QThread, QTimer, Signal

from latentlab.core.config import RunConfig
from latentlab.core.events import EpochSnapshot, RunFinished, RunStarted, RunState, StepMetrics
from latentlab.core.trainer import RunControl, train

from ..workers import TrainingWorker, thread_for

TrainFn = Callable[..., Iterator[Any]]
SNAPSHOT_INTERVAL_S = 0.25  # the heavy panes (scatter, gallery) redraw at most 4 times a second


class TrainingController(QObject):
    run_started = Signal(object)  # RunStarted
    metrics = Signal(object)  # StepMetrics
    snapshot = Signal(object)  # EpochSnapshot: only the newest, when several queue up
    epoch_done = Signal(object)  # every EpochSnapshot, never coalesced: each one's test-loss point is data
    run_finished = Signal(object)  # RunFinished
    failed = Signal(str)
    state_changed = Signal(object)  # RunState

    def __init__(self, parent: QObject | None = None, train_fn: TrainFn = train, num_threads: int | None = None):
        super().__init__(parent)
        self._train_fn = train_fn
        self._num_threads = num_threads
        self._thread: QThread | None = None
        self._worker: TrainingWorker | None = None
        self._control: RunControl | None = None
        self._pending_snapshot: EpochSnapshot | None = None
        self._last_flush = 0.0
        self.state = RunState.IDLE

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, config: RunConfig, run_dir: Path | None, resume: bool = False) -> None:
        if self.running:
            return
        control = RunControl()
        fn = self._train_fn
        worker = TrainingWorker(lambda: fn(config, run_dir=run_dir, resume=resume, control=control), self._num_threads)
        thread = thread_for(worker, "latentlab-training")
        worker.event.connect(self._on_event)
        worker.failed.connect(self.failed)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker, self._control = thread, worker, control
        self._set_state(RunState.RUNNING)
        thread.start(QThread.Priority.LowPriority)

    def toggle_pause(self) -> None:
        if self._control is None or self.state is RunState.STOPPING:
            return
        if self._control.paused:
            self._control.resume()
            self._set_state(RunState.RUNNING)
        else:
            self._control.pause()
            self._set_state(RunState.PAUSED)

    def stop(self) -> None:
        """Ask the run to end at its next step (it saves a checkpoint); returns at once."""
        if self._control is not None:
            self._control.stop()
            if self.state is not RunState.STOPPING:
                self._set_state(RunState.STOPPING)

    def stop_and_wait(self, timeout_ms: int = 60000) -> bool:
        """Stop and block until the thread has ended; True if it did."""
        thread = self._thread
        if thread is None:
            return True
        self.stop()
        ok = thread.wait(timeout_ms)
        if ok:
            self._on_thread_finished()
        return ok

    def _on_event(self, event) -> None:
        if isinstance(event, StepMetrics):
            self.metrics.emit(event)
        elif isinstance(event, EpochSnapshot):
            self.epoch_done.emit(event)
            # Coalesce: draw at most SNAPSHOT_INTERVAL_S apart, and only the newest. Painting
            # is Python work that competes with the training loop for the GIL; on tiny
            # datasets epochs end many times a second, faster than anyone can look.
            first = self._pending_snapshot is None
            self._pending_snapshot = event
            if first:
                wait = self._last_flush + SNAPSHOT_INTERVAL_S - time.monotonic()
                QTimer.singleShot(max(0, int(wait * 1000)), self._flush_snapshot)
        elif isinstance(event, RunStarted):
            self.run_started.emit(event)
        elif isinstance(event, RunFinished):
            self._flush_snapshot()
            self.run_finished.emit(event)

    def _flush_snapshot(self) -> None:
        snap, self._pending_snapshot = self._pending_snapshot, None
        if snap is not None:
            self._last_flush = time.monotonic()
            self.snapshot.emit(snap)

    def _on_thread_finished(self) -> None:
        if self._thread is None:
            return
        thread, worker = self._thread, self._worker
        self._thread = self._worker = self._control = None
        worker.event.disconnect(self._on_event)
        self._flush_snapshot()
        worker.deleteLater()
        thread.deleteLater()
        self._set_state(RunState.IDLE)

    def _set_state(self, state: RunState) -> None:
        self.state = state
        self.state_changed.emit(state)
