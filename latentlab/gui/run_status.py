"""The status bar's account of the run: epoch and step, progress, speed, device, time left."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar

from latentlab.core.events import RunFinished, RunStarted, RunState, StepMetrics


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

    def started(self, info: RunStarted) -> None:
        self._start_step = info.start_step
        self.device.setText(f"device: {info.device}")
        self.speed.setText("")
        self.eta.setText("")
        self.progress.setValue(int(1000 * info.start_step / max(1, info.total_steps)))
        self.epoch.setText(f"epoch {info.start_epoch + 1}, step {info.start_step}/{info.total_steps}")

    def metrics(self, m: StepMetrics) -> None:
        self.epoch.setText(f"epoch {m.epoch}, step {m.step}/{m.total_steps}")
        self.progress.setValue(int(1000 * m.step / max(1, m.total_steps)))
        self.speed.setText(f"{m.items_per_second:,.0f} items/s")
        done = m.step - self._start_step
        if done > 0 and m.elapsed > 0:
            left = m.elapsed / done * (m.total_steps - m.step)
            self.eta.setText(f"{int(left // 60)}:{int(left % 60):02d} left")

    def state(self, state: RunState) -> None:
        if state is RunState.IDLE:
            self.eta.setText("")
        elif state is RunState.PAUSED:
            self.epoch.setText(self.epoch.text() + " (paused)")
        elif state is RunState.STOPPING:
            self.epoch.setText("Stopping… (saving a checkpoint)")

    def finished(self, event: RunFinished) -> None:
        what = "Stopped" if event.reason == "stopped" else "Finished"
        self.epoch.setText(f"{what} at epoch {event.epoch}, step {event.step}")
        self.bar.showMessage(f"{what}; the run is saved in {event.run_dir}.", 10000)

    def opened(self, name: str, epoch: int, step: int) -> None:
        self.epoch.setText(f"Opened {name}: epoch {epoch}, step {step}")
        self.device.setText("")
        self.speed.setText("")
        self.eta.setText("")
