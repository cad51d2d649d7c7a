"""Failures become one dialog; the window survives and stays usable."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from latentlab.core.events import RunState
from latentlab.core.errors import DataError
from latentlab.gui.controllers.training import TrainingController


def _wait_for_error(qtbot, window, timeout=60_000) -> str:
    qtbot.waitUntil(lambda: window.error_box is not None and window.error_box.isVisible(), timeout=timeout)
    return window.error_box.text()


def _dismiss(qtbot, window) -> None:
    box = window.error_box
    ok = box.button(QMessageBox.StandardButton.Ok)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not box.isVisible(), timeout=5000)


def _failing_train(exc: BaseException, yield_first: bool = False):
    calls = []

    def fake(config, *, run_dir=None, resume=False, control=None):
        calls.append((config, run_dir, resume, control))
        if yield_first:
            # Fail mid-run, after the first metrics reached the window.
            from latentlab.core.events import StepMetrics

            yield StepMetrics(epoch=1, step=1, total_steps=10, recon=50.0, kl=2.0, total=52.0, beta=1.0,
                              items_per_second=100.0, elapsed=0.01)
        raise exc

    fake.calls = calls
    return fake


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (RuntimeError("boom"), "Training failed unexpectedly (RuntimeError: boom)"),
        (DataError("The folder /nowhere holds no images; choose a folder of PNG or JPEG files."),
         "The folder /nowhere holds no images; choose a folder of PNG or JPEG files."),
    ],
    ids=["unexpected-bug", "user-mistake"],
)
def test_an_error_in_the_worker_shows_a_dialog_and_the_window_survives(make_window, ui, qtbot, capfd, exc, expected):
    fake = _failing_train(exc, yield_first=True)
    window = make_window(controller=TrainingController(train_fn=fake))
    ui.click(window.panel.start_button)
    qtbot.waitUntil(lambda: not window.controller.running, timeout=30_000)

    text = _wait_for_error(qtbot, window)
    assert text.startswith(expected)
    assert "Traceback" not in text  # one sentence for the user; the traceback goes to the console
    assert len(fake.calls) == 1 and fake.calls[0][1].parent == window.runs_root
    assert window.isVisible()
    assert window.loss_plot.history()["train"]["step"] == [1]  # what arrived before the failure stays
    assert window.controller.state is RunState.IDLE
    assert window.panel.start_button.isEnabled() and not window.panel.stop_button.isEnabled()
    err = capfd.readouterr().err
    if isinstance(exc, RuntimeError):
        assert "RuntimeError: boom" in err  # the details for a bug report
    else:
        assert "Traceback" not in err  # a user's mistake is not a bug
    _dismiss(qtbot, window)
    assert window.isVisible()


def test_after_a_failed_run_a_real_run_still_works(make_window, ui, qtbot):
    from latentlab.core.trainer import train as real_train

    failures = iter([RuntimeError("first run breaks")])

    def flaky(config, **kwargs):
        for exc in failures:
            raise exc
        yield from real_train(config, **kwargs)

    window = make_window(controller=TrainingController(train_fn=flaky))
    ui.set_run_settings(window, epochs=1)
    ui.click(window.panel.start_button)
    assert "first run breaks" in _wait_for_error(qtbot, window)
    qtbot.waitUntil(lambda: not window.controller.running, timeout=30_000)
    _dismiss(qtbot, window)
    window.error_box = None

    ui.click(window.panel.start_button)
    qtbot.waitUntil(lambda: not window.controller.running, timeout=180_000)
    assert window.error_box is None
    assert window.snapshot is not None and window.snapshot.epoch == 1
    assert window.canvas.current_image() is not None


def test_a_nonsense_hidden_width_gets_a_dialog_and_nothing_starts(make_window, ui, qtbot):
    window = make_window()
    ui.type_into(window.panel.hidden, "abc")
    ui.click(window.panel.start_button)
    text = _wait_for_error(qtbot, window, timeout=5000)
    assert "abc" in text
    assert not window.controller.running and window.controller.state is RunState.IDLE
    assert not window.runs_root.exists() or not any(window.runs_root.iterdir())
    assert window.panel.start_button.isEnabled() and window.isVisible()


def test_mnist_without_a_folder_gets_a_dialog_and_nothing_starts(make_window, ui, qtbot):
    window = make_window()
    window.panel.dataset.setCurrentIndex(window.panel.dataset.findData("mnist"))
    assert window.panel.data_dir.isEnabled()
    ui.click(window.panel.start_button)
    text = _wait_for_error(qtbot, window, timeout=5000)
    assert "mnist" in text.lower() and "folder" in text.lower()
    assert not window.controller.running
    assert not window.runs_root.exists() or not any(window.runs_root.iterdir())


def test_mnist_with_damaged_files_gets_a_dialog_from_the_worker(make_window, ui, qtbot, tmp_path):
    # Files that are there but damaged (missing ones are offered for download instead: test_fetch_dialog.py).
    empty = tmp_path / "damaged"
    (empty / "MNIST" / "raw").mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (empty / "MNIST" / "raw" / name).write_bytes(b"not an idx file")
    window = make_window()
    window.panel.dataset.setCurrentIndex(window.panel.dataset.findData("mnist"))
    ui.type_into(window.panel.data_dir, str(empty))
    ui.type_into(window.panel.hidden, "64")
    ui.click(window.panel.start_button)
    qtbot.waitUntil(lambda: not window.controller.running, timeout=60_000)
    text = _wait_for_error(qtbot, window)
    assert str(empty) in text or "MNIST" in text
    assert "unexpectedly" not in text  # a user's mistake, not a crash report
    assert window.controller.state is RunState.IDLE and window.panel.start_button.isEnabled()
    assert window.snapshot is None  # nothing trained
    assert not window.runs_root.exists() or not any(window.runs_root.iterdir())  # and no half-made run folder


def test_opening_a_folder_that_is_not_a_run_shows_a_dialog(make_window, qtbot, tmp_path):
    folder = tmp_path / "holiday-photos"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a run")
    window = make_window()
    assert window.open_run_dir(folder) is False
    text = _wait_for_error(qtbot, window, timeout=5000)
    assert "not a latentlab run" in text
    assert window.isVisible() and window.snapshot is None
    assert window.windowTitle() == "latentlab"

    assert window.open_run_dir(tmp_path / "does-not-exist") is False
    assert "no run at" in window.error_box.text()


def test_a_damaged_run_shows_a_dialog(make_window, qtbot, tmp_path, cli_run):
    import shutil

    damaged = tmp_path / "damaged"
    shutil.copytree(cli_run, damaged)
    for weights in damaged.glob("model-*.safetensors"):
        weights.write_bytes(b"\x00garbage")
    window = make_window()
    assert window.open_run_dir(damaged) is False
    assert "damaged" in _wait_for_error(qtbot, window, timeout=5000)
    assert window.snapshot is None


def test_saving_before_there_is_a_run_shows_a_dialog(make_window, qtbot, tmp_path):
    window = make_window()
    assert window.save_run_to(tmp_path / "saved") is False
    assert "no checkpoint yet" in _wait_for_error(qtbot, window, timeout=5000)
    assert not (tmp_path / "saved").exists()
    assert window.export_latents_csv(tmp_path / "z.csv") is False
    assert not (tmp_path / "z.csv").exists()
