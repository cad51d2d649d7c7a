"""Operating-system faults in the app: a dialog with one sentence, and the window keeps working.

Read-only folders are real (a read-only bind mount as root, permissions otherwise; see
tests/os_faults.py); the training's own failures come through the real QThread.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from latentlab.core.checkpoint import open_run

from os_faults import read_only

TRAIN_TIMEOUT_MS = 180_000


def wait_for_error(qtbot, window, timeout=TRAIN_TIMEOUT_MS) -> str:
    qtbot.waitUntil(lambda: window.error_box is not None and window.error_box.isVisible(), timeout=timeout)
    return window.error_box.text()


def dismiss(qtbot, window) -> None:
    box = window.error_box
    qtbot.mouseClick(box.button(QMessageBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not box.isVisible(), timeout=5000)
    window.error_box = None


def test_starting_where_runs_cannot_be_written_is_a_dialog_and_the_next_start_works(
    make_window, ui, qtbot, tmp_path, one_sentence
):
    runs = tmp_path / "runs"
    runs.mkdir()
    window = make_window(runs_root=runs)
    with read_only(runs):
        ui.set_run_settings(window, epochs=1)
        ui.click(window.panel.start_button)
        text = wait_for_error(qtbot, window)
        qtbot.waitUntil(lambda: not window.controller.running, timeout=30_000)
    one_sentence(text)
    assert "Cannot create the run folder" in text and ("Read-only file system" in text or "Permission denied" in text)
    dismiss(qtbot, window)
    assert list(runs.iterdir()) == []
    ui.train(window, epochs=1)  # the same window, once the folder is writable
    assert open_run(window.run_dir).epoch == 1


def test_a_run_folder_made_read_only_mid_run_stops_with_a_dialog_and_the_checkpoint_kept(
    make_window, ui, qtbot, one_sentence
):
    window = make_window()
    ui.start_long_run(window, epochs=3000)
    qtbot.waitUntil(lambda: window.run_dir is not None and (window.run_dir / "run.json").is_file(),
                    timeout=TRAIN_TIMEOUT_MS)
    run_dir = window.run_dir
    with read_only(run_dir):
        text = wait_for_error(qtbot, window)
        qtbot.waitUntil(lambda: not window.controller.running, timeout=60_000)
    one_sentence(text)
    assert "last complete checkpoint kept" in text and "resume" in text
    dismiss(qtbot, window)
    kept = open_run(run_dir)
    assert kept.epoch >= 1 and kept.load_model() is not None
    assert window.open_run_dir(run_dir)  # the window still works: it opens what was kept


def test_saving_a_run_into_a_read_only_folder_is_a_dialog_and_a_writable_one_works(
    make_window, qtbot, cli_run, tmp_path, one_sentence
):
    window = make_window()
    assert window.open_run_dir(cli_run)
    locked = tmp_path / "locked"
    locked.mkdir()
    with read_only(locked):
        assert not window.save_run_to(locked / "copy")
    text = window.error_box.text()
    one_sentence(text)
    assert "Could not save the run" in text
    dismiss(qtbot, window)
    assert list(locked.iterdir()) == []  # no half-written copy
    assert window.save_run_to(tmp_path / "copy")
    assert open_run(tmp_path / "copy").step == open_run(cli_run).step


@pytest.mark.parametrize("what", ["latents", "history", "png"])
def test_an_export_to_a_folder_or_a_read_only_place_is_a_dialog(make_window, qtbot, cli_run, tmp_path, what,
                                                                 one_sentence):
    window = make_window()
    assert window.open_run_dir(cli_run)
    export = {
        "latents": window.export_latents_csv,
        "history": window.export_history_csv,
        "png": lambda path: window.export_pane_png("scatter", path),
    }[what]
    folder_named_like_a_file = tmp_path / f"out.{'png' if what == 'png' else 'csv'}"
    folder_named_like_a_file.mkdir()
    assert not export(folder_named_like_a_file)
    one_sentence(window.error_box.text())
    dismiss(qtbot, window)
    locked = tmp_path / "locked"
    locked.mkdir()
    with read_only(locked):
        assert not export(locked / folder_named_like_a_file.name)
    one_sentence(window.error_box.text())
    dismiss(qtbot, window)
    assert export(tmp_path / f"ok.{'png' if what == 'png' else 'csv'}")
