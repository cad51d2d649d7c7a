"""The status bar's account of the run: epoch and step, progress, speed, device, time left."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar

from latentlab.core.events import RunFinished, RunStarted, RunState, StepMetrics


SHOW_EVERY_MS = 200  # step counts and speed change many times a second; relaying out the bar for each costs training time


class RunStatus:
    def __init__(self, bar: QStatusBar):
        self.bar = bar
        self.epoch = QLabel("idle")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(200)
        self.progress.setRange(0, 1000)
        self.speed = QLabel("")
        self.device = QLabel("")
        self.eta = QLabel("")
        for w in (self.epoch, self.progress, self.speed, self.device, self.eta):
            bar.addPermanentWidget(w)
        self._start_step = 0
        self._latest: StepMetrics | None = None
        self._timer = QTimer(bar)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SHOW_EVERY_MS)
        self._timer.timeout.connect(self._show_latest)

    def started(self, info: RunStarted) -> None:
        self._drop_pending()
        self._start_step = info.start_step
        self.device.setText(f"device: {info.device}")
        self.speed.setText("")
        self.eta.setText("")
        self.progress.setValue(int(1000 * info.start_step / max(1, info.total_steps)))
        self.epoch.setText(f"epoch {info.start_epoch + 1}, step {info.start_step}/{info.total_steps}")

    def metrics(self, m: StepMetrics) -> None:
        """Shown within SHOW_EVERY_MS: the newest of those that arrive meanwhile."""
        self._latest = m
        if not self._timer.isActive():
            self._timer.start()

    def _show_pending(self) -> None:
        self._timer.stop()
        self._show_latest()

    def _drop_pending(self) -> None:
        self._timer.stop()
        self._latest = None

    def _show_latest(self) -> None:
        m, self._latest = self._latest, None
        if m is None:
            return
        self.epoch.setText(f"epoch {m.epoch}, step {m.step}/{m.total_steps}")
        self.progress.setValue(int(1000 * m.step / max(1, m.total_steps)))
        self.speed.setText(f"{m.items_per_second:,.0f} items/s")
        done = m.step - self._start_step
        if done > 0 and m.elapsed > 0:
            left = m.elapsed / done * (m.total_steps - m.step)
            self.eta.setText(f"{int(left // 60)}:{int(left % 60):02d} left")

    def state(self, state: RunState) -> None:
        self._show_pending()  # the step it paused or stopped at, before saying so
        if state is RunState.IDLE:
            self.eta.setText("")
        elif state is RunState.PAUSED:
            self.epoch.setText(self.epoch.text() + " (paused)")
        elif state is RunState.STOPPING:
            self.epoch.setText("Stopping… (saving a checkpoint)")

    def finished(self, event: RunFinished) -> None:
        self._show_pending()  # the progress it ended at
        what = "Stopped" if event.reason == "stopped" else "Finished"
        self.epoch.setText(f"{what} at epoch {event.epoch}, step {event.step}")
        self.bar.showMessage(f"{what}; the run is saved in {event.run_dir}.", 10000)

    def opened(self, name: str, epoch: int, step: int) -> None:
        self._drop_pending()
        self.epoch.setText(f"Opened {name}: epoch {epoch}, step {step}")
        self.device.setText("")
        self.speed.setText("")
        self.eta.setText("")
