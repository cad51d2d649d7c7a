"""The status bar shows the newest step within a fifth of a second, and never overwrites
what a pause or the end of a run says with a step that arrived before it."""

from __future__ import annotations

from PySide6.QtWidgets import QStatusBar

from latentlab.core.events import RunFinished, RunState, StepMetrics
from latentlab.gui.run_status import SHOW_EVERY_MS, RunStatus


def metrics(step: int) -> StepMetrics:
    return StepMetrics(epoch=1, step=step, total_steps=1000, recon=50.0, kl=5.0, total=55.0, beta=1.0,
                       items_per_second=2500.0, elapsed=step / 10)


def test_the_newest_of_many_steps_is_shown_soon(qtbot):
    bar = QStatusBar()
    qtbot.addWidget(bar)
    status = RunStatus(bar)
    for step in range(20, 420, 20):
        status.metrics(metrics(step))
    qtbot.waitUntil(lambda: status.epoch.text() == "epoch 1, step 400/1000", timeout=SHOW_EVERY_MS * 10)
    assert status.speed.text() == "2,500 items/s" and status.progress.value() == 400


def test_a_pause_names_the_last_step_and_the_end_of_a_run_stays_said(qtbot):
    bar = QStatusBar()
    qtbot.addWidget(bar)
    status = RunStatus(bar)
    status.metrics(metrics(40))
    status.state(RunState.PAUSED)
    assert status.epoch.text() == "epoch 1, step 40/1000 (paused)"
    status.metrics(metrics(60))
    status.finished(RunFinished("completed", 1, 60, "/tmp/run"))
    assert status.progress.value() == 60  # the step it ended at, though it came within the interval
    qtbot.wait(SHOW_EVERY_MS * 2)
    assert status.epoch.text() == "Finished at epoch 1, step 60"
