"""Stopping, pausing and closing while the training thread runs: always clean, never a lost run."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox

from latentlab.core.events import RunState
from latentlab.core.checkpoint import open_run

THREAD_WARNING = "QThread: Destroyed while thread"


def _assert_no_thread_warning(qtlog, capfd):
    assert not [r.message for r in qtlog.records if THREAD_WARNING in r.message]
    assert THREAD_WARNING not in capfd.readouterr().err


def test_stop_during_training_ends_cleanly_with_a_checkpoint(make_window, ui, qtbot, qtlog, capfd):
    window = make_window()
    ui.start_long_run(window, epochs=500)
    qtbot.waitUntil(lambda: window.snapshot is not None, timeout=180_000)  # the first epoch is done
    run_dir = window.run_dir
    finished = []
    window.controller.run_finished.connect(finished.append)

    ui.click(window.panel.stop_button)
    qtbot.waitUntil(lambda: not window.controller.running, timeout=120_000)

    assert window.controller.state is RunState.IDLE
    assert window.panel.start_button.isEnabled()
    assert not window.panel.stop_button.isEnabled() and not window.panel.pause_button.isEnabled()
    assert window.panel.epochs.isEnabled()  # the form is editable again
    assert window.error_box is None
    assert finished and finished[0].reason == "stopped"
    run = open_run(run_dir)
    assert run.epoch < 500
    assert run.epoch_complete is False  # saved mid-epoch by the stop
    assert window.status_epoch.text().startswith("Stopped at epoch")
    # The stop's snapshot is on screen, and the saved run opens in the same window.
    assert window.snapshot.step == run.step
    assert window.open_run_dir(run_dir)
    assert window.error_box is None
    _assert_no_thread_warning(qtlog, capfd)


def test_pause_and_resume_toggle_the_button_and_the_training(make_window, ui, qtbot):
    window = make_window()
    ui.start_long_run(window, epochs=500)
    panel = window.panel

    ui.click(panel.pause_button)
    assert window.controller.state is RunState.PAUSED
    assert panel.pause_button.text() == "Continue" and panel.pause_button.isEnabled()
    assert panel.stop_button.isEnabled() and not panel.start_button.isEnabled()
    assert window.status_epoch.text().endswith("(paused)")
    qtbot.wait(1000)  # let metrics already in flight arrive
    steps = len(window.loss_plot.history()["train"]["step"])
    qtbot.wait(1500)
    assert len(window.loss_plot.history()["train"]["step"]) == steps, "training went on while paused"

    ui.click(panel.pause_button)
    assert window.controller.state is RunState.RUNNING and panel.pause_button.text() == "Pause"
    qtbot.waitUntil(lambda: len(window.loss_plot.history()["train"]["step"]) > steps, timeout=120_000)

    # Stopping works from the paused state too.
    ui.click(panel.pause_button)
    assert window.controller.state is RunState.PAUSED
    ui.click(panel.stop_button)
    qtbot.waitUntil(lambda: not window.controller.running, timeout=120_000)
    assert window.controller.state is RunState.IDLE and panel.pause_button.text() == "Pause"


def test_space_key_starts_then_pauses_then_resumes(make_window, ui, qtbot):
    window = make_window()
    ui.set_run_settings(window, epochs=500)
    # Click into the loss plot first: in the settings' text fields Space is a character.
    target = window.loss_plot.plot
    target.setFocus()
    assert window.focusWidget() is target

    QTest.keyClick(target, Qt.Key.Key_Space)
    assert window.controller.running and window.controller.state is RunState.RUNNING
    qtbot.waitUntil(lambda: len(window.loss_plot.history()["train"]["step"]) > 0, timeout=180_000)
    QTest.keyClick(window.focusWidget() or window, Qt.Key.Key_Space)
    assert window.controller.state is RunState.PAUSED and window.panel.pause_button.text() == "Continue"
    QTest.keyClick(window.focusWidget() or window, Qt.Key.Key_Space)
    assert window.controller.state is RunState.RUNNING and window.panel.pause_button.text() == "Pause"
    ui.click(window.panel.stop_button)
    qtbot.waitUntil(lambda: not window.controller.running, timeout=120_000)


def test_opening_a_run_while_training_is_refused_with_a_dialog(make_window, ui, qtbot, cli_run):
    window = make_window()
    ui.start_long_run(window, epochs=500)
    assert not window.panel.open_button.isEnabled()
    assert window.open_run_dir(cli_run) is False  # the menu's Open still reaches here
    assert window.error_box is not None and window.error_box.isVisible()
    assert "Stop the current training" in window.error_box.text()
    assert window.controller.running
    ui.click(window.panel.stop_button)
    qtbot.waitUntil(lambda: not window.controller.running, timeout=120_000)


def test_closing_during_training_and_answering_yes_stops_and_joins_the_thread(
    make_window, ui, qtbot, monkeypatch, qtlog, capfd
):
    window = make_window()
    ui.start_long_run(window, epochs=500)
    asked = []

    def answer_yes(*args, **kwargs):
        asked.append(args)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", answer_yes)
    thread = window.controller._thread
    run_dir = window.run_dir
    ended: list[bool] = []
    thread.finished.connect(lambda: ended.append(True), Qt.ConnectionType.DirectConnection)

    # The close waits for the thread, never ends it: the window says so, then closes by itself.
    assert not window.close()
    assert len(asked) == 1
    assert window.isVisible() and "Stopping" in window.statusBar().currentMessage()
    assert not window.close() and len(asked) == 1  # a second close while stopping asks nothing
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=120_000)
    assert not window.controller.running and window.controller.state is RunState.IDLE
    assert ended == [True]  # the thread ended by itself before the window went: joined, not abandoned
    run = open_run(run_dir)  # the stop saved a checkpoint
    assert run.epoch_complete is False or run.epoch == 500
    qtbot.wait(200)  # let queued signals from the finished worker arrive at a closed window
    _assert_no_thread_warning(qtlog, capfd)


def test_closing_during_training_and_answering_no_keeps_the_window_and_the_run(make_window, ui, qtbot, monkeypatch):
    window = make_window()
    ui.start_long_run(window, epochs=500)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    steps = len(window.loss_plot.history()["train"]["step"])

    assert window.close() is False
    assert window.isVisible()
    assert window.controller.running and window.controller.state is RunState.RUNNING
    qtbot.waitUntil(lambda: len(window.loss_plot.history()["train"]["step"]) > steps, timeout=120_000)

    ui.click(window.panel.stop_button)
    qtbot.waitUntil(lambda: not window.controller.running, timeout=120_000)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: pytest.fail("nothing runs: no question"))
    assert window.close()


def test_closing_an_idle_window_asks_nothing(make_window, monkeypatch):
    window = make_window()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: pytest.fail("idle: no question"))
    assert window.close()
    assert not window.isVisible()


def test_closing_never_destroys_a_thread_that_is_slow_to_stop(make_window, ui, qtbot, monkeypatch, qtlog, capfd):
    """A run that takes long to reach its next step (a slow save, a big batch) keeps the window open."""
    import threading

    from latentlab.core.events import RunFinished, RunStarted
    from latentlab.gui.controllers.training import TrainingController

    release = threading.Event()

    def slow_to_stop(config, *, run_dir=None, resume=False, control=None):
        import numpy as np

        yield RunStarted(config=config.to_dict(), device="cpu", image_shape=(1, 8, 8), n_train=1, n_test=1,
                         steps_per_epoch=1, total_steps=1, start_step=0, start_epoch=0,
                         test_images=np.zeros((1, 1, 8, 8), np.uint8), test_labels=None, classes=(), run_dir=None)
        control.wait_while_paused()
        while not control.stop_requested:
            release.wait(0.01)
        release.wait(30)  # the stop is seen, but the step still takes its time
        yield RunFinished("stopped", 0, 0, None)

    window = make_window(controller=TrainingController(train_fn=slow_to_stop))
    ui.click(window.panel.start_button)
    qtbot.waitUntil(lambda: window.explorer.contents is not None, timeout=10_000)  # RunStarted has arrived
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert not window.close()
    thread = window.controller._thread
    qtbot.wait(500)
    assert window.isVisible() and thread.isRunning()  # still open, still running: nothing destroyed
    assert window.controller.state is RunState.STOPPING
    assert "Stopping" in window.statusBar().currentMessage() and "Stopping" in window.status_epoch.text()
    ended: list[bool] = []
    thread.finished.connect(lambda: ended.append(True), Qt.ConnectionType.DirectConnection)
    release.set()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=30_000)
    assert ended == [True]
    qtbot.wait(200)
    _assert_no_thread_warning(qtlog, capfd)
