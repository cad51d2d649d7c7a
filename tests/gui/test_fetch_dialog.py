"""Choosing a dataset whose files are missing offers to download it; the download runs on a
thread behind a progress dialog with Cancel, from a mirror on 127.0.0.1."""

from __future__ import annotations

import gc
import re
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from dataset_mirror import MNIST_FILES, Mirror, closed_port_url, mnist_files, point_mnist_at

FETCH_TIMEOUT_MS = 60_000
TRAIN_TIMEOUT_MS = 180_000  # other jobs share the two cores


@pytest.fixture(autouse=True)
def _collect_garbage_here():
    """Earlier tests' closed windows leave pyqtgraph reference cycles that hold Qt objects; if a
    training thread's allocation set off their collection, it would destroy them off the GUI
    thread and deadlock against it (seen once). Collect them on the GUI thread first."""
    gc.collect()


@pytest.fixture
def mirror(mnist_gz_dir, monkeypatch):
    server = Mirror(mnist_files(mnist_gz_dir))
    point_mnist_at(monkeypatch, server)
    yield server
    server.close()


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """The app's default data folder, private to the test."""
    folder = tmp_path / "data"
    monkeypatch.setenv("LATENTLAB_DATA", str(folder))
    return folder


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def choose_dataset(qtbot, panel, key: str) -> None:
    """Pick ``key`` from the dataset box's popup list with the mouse, as a person would (``activated``)."""
    box = panel.dataset
    box.showPopup()
    view = box.view()
    qtbot.waitUntil(view.isVisible, timeout=5000)
    index = view.model().index(box.findData(key), 0)
    view.scrollTo(index)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(index).center())
    qtbot.waitUntil(lambda: not view.isVisible(), timeout=5000)
    assert box.currentData() == key


def question(qtbot, window) -> QMessageBox:
    qtbot.waitUntil(lambda: window.fetcher.question_box is not None and window.fetcher.question_box.isVisible(),
                    timeout=5000)
    return window.fetcher.question_box


def answer(qtbot, box: QMessageBox, button: QMessageBox.StandardButton) -> None:
    qtbot.mouseClick(box.button(button), Qt.MouseButton.LeftButton)


def wait_for_fetch(qtbot, window) -> None:
    qtbot.waitUntil(lambda: not window.fetcher.running and window.fetcher.dialog is None, timeout=FETCH_TIMEOUT_MS)


def test_choosing_mnist_fills_the_default_folder_and_offers_the_download(make_window, qtbot, data_dir, mirror):
    window = make_window()
    assert window.panel.data_dir.text() == ""
    choose_dataset(qtbot, window.panel, "mnist")
    assert window.panel.data_dir.text() == str(data_dir)  # the user sees where the files will go
    box = question(qtbot, window)
    assert box.text() == f"The MNIST files are not in {data_dir}. Download them now?"
    answer(qtbot, box, QMessageBox.StandardButton.No)
    qtbot.waitUntil(lambda: not box.isVisible(), timeout=5000)
    assert mirror.requests == [] and not window.fetcher.running
    assert files_under(data_dir) == []


def test_choosing_a_dataset_whose_files_are_there_asks_nothing(make_window, qtbot, data_dir, mirror):
    from latentlab.core.fetch import fetch

    fetch("mnist", data_dir)
    window = make_window()
    choose_dataset(qtbot, window.panel, "mnist")
    qtbot.wait(100)
    assert window.fetcher.question_box is None
    choose_dataset(qtbot, window.panel, "folder")  # not something to download
    assert window.fetcher.question_box is None


def test_accepting_downloads_with_a_progress_dialog_then_start_trains(make_window, ui, qtbot, data_dir, mirror):
    mirror.modes["train-images-idx3-ubyte.gz"] = "slow"  # long enough to watch the dialog
    window = make_window()
    choose_dataset(qtbot, window.panel, "mnist")
    answer(qtbot, question(qtbot, window), QMessageBox.StandardButton.Yes)

    qtbot.waitUntil(lambda: window.fetcher.dialog is not None and window.fetcher.dialog.isVisible(), timeout=5000)
    dialog = window.fetcher.dialog
    qtbot.waitUntil(lambda: dialog.bar.value() > 0, timeout=10_000)
    assert dialog.file.text() == "train-images-idx3-ubyte.gz (file 1 of 4)"
    assert dialog.bar.maximum() == 1000 and dialog.bar.value() < 1000  # a real fraction, not a busy indicator
    assert re.fullmatch(r"\d+\.\d of 319\.6 kB, \d+\.\d kB/s", dialog.detail.text()), dialog.detail.text()
    wait_for_fetch(qtbot, window)

    raw = data_dir / "MNIST" / "raw"
    assert all((raw / name).read_bytes() == mirror.files[name] for name in MNIST_FILES)
    assert "MNIST is downloaded and ready in" in window.statusBar().currentMessage()
    assert window.error_box is None

    ui.set_run_settings(window, epochs=1)
    ui.click(window.panel.start_button)
    assert window.controller.running
    qtbot.waitUntil(lambda: not window.controller.running, timeout=TRAIN_TIMEOUT_MS)
    assert window.error_box is None
    assert window.snapshot is not None and window.snapshot.epoch == 1
    assert window.explorer.contents.test_images.shape[1:] == (1, 28, 28)


def test_start_with_missing_files_offers_the_download_and_then_trains(make_window, ui, qtbot, tmp_path, data_dir, mirror):
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    window = make_window()
    window.panel.dataset.setCurrentIndex(window.panel.dataset.findData("mnist"))  # as a restored setting: no offer
    ui.type_into(window.panel.data_dir, str(folder))
    ui.set_run_settings(window, epochs=1)
    ui.click(window.panel.start_button)
    assert not window.controller.running  # asks first instead of failing in the worker
    box = question(qtbot, window)
    assert box.text() == f"The MNIST files are not in {folder}. Download them now?"
    answer(qtbot, box, QMessageBox.StandardButton.Yes)
    qtbot.waitUntil(lambda: window.controller.running or window.error_box is not None, timeout=FETCH_TIMEOUT_MS)
    assert window.error_box is None
    qtbot.waitUntil(lambda: not window.controller.running, timeout=TRAIN_TIMEOUT_MS)
    assert window.error_box is None and window.snapshot is not None and window.snapshot.epoch == 1
    assert (folder / "MNIST" / "raw" / "t10k-images-idx3-ubyte").is_file()
    assert files_under(data_dir) == []  # the folder in the field, not the default


def test_declining_at_start_starts_nothing(make_window, ui, qtbot, tmp_path, data_dir, mirror):
    window = make_window()
    window.panel.dataset.setCurrentIndex(window.panel.dataset.findData("mnist"))
    ui.type_into(window.panel.data_dir, str(tmp_path))
    ui.click(window.panel.start_button)
    answer(qtbot, question(qtbot, window), QMessageBox.StandardButton.No)
    qtbot.wait(100)
    assert not window.controller.running and window.error_box is None
    assert mirror.requests == []
    assert not window.runs_root.exists() or not any(window.runs_root.iterdir())


def test_cancel_mid_download_leaves_nothing_and_the_window_keeps_working(make_window, ui, qtbot, data_dir, mirror):
    mirror.modes["train-images-idx3-ubyte.gz"] = "slow"
    window = make_window()
    choose_dataset(qtbot, window.panel, "mnist")
    answer(qtbot, question(qtbot, window), QMessageBox.StandardButton.Yes)
    qtbot.waitUntil(lambda: window.fetcher.dialog is not None and window.fetcher.dialog.bar.value() > 0, timeout=10_000)
    dialog = window.fetcher.dialog
    part = data_dir / "MNIST" / "raw" / ".train-images-idx3-ubyte.gz.part"
    qtbot.waitUntil(part.is_file, timeout=5000)

    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert not dialog.cancel_button.isEnabled() and dialog.file.text() == "Cancelling…"
    wait_for_fetch(qtbot, window)
    assert files_under(data_dir) == []  # the partial file went with the worker
    assert window.error_box is None  # a cancel is not an error
    assert "cancelled" in window.statusBar().currentMessage()

    choose_dataset(qtbot, window.panel, "digits")  # and the window works on
    ui.train(window, epochs=1)


def test_a_failed_download_shows_one_sentence_and_leaves_nothing(make_window, qtbot, monkeypatch, data_dir, mirror):
    point_mnist_at(monkeypatch, mirror, closed_port_url())
    window = make_window()
    choose_dataset(qtbot, window.panel, "mnist")
    answer(qtbot, question(qtbot, window), QMessageBox.StandardButton.Yes)
    wait_for_fetch(qtbot, window)
    qtbot.waitUntil(lambda: window.error_box is not None and window.error_box.isVisible(), timeout=5000)
    text = window.error_box.text()
    assert text.startswith("Could not download MNIST (no network connection); put the four MNIST .gz files")
    assert text.endswith("by hand and try again.")
    assert files_under(data_dir) == []
    assert window.panel.start_button.isEnabled() and not window.controller.running


def test_closing_the_window_mid_download_cancels_it_cleanly(make_window, qtbot, data_dir, mirror):
    mirror.modes["train-images-idx3-ubyte.gz"] = "slow"
    window = make_window()
    choose_dataset(qtbot, window.panel, "mnist")
    answer(qtbot, question(qtbot, window), QMessageBox.StandardButton.Yes)
    part = data_dir / "MNIST" / "raw" / ".train-images-idx3-ubyte.gz.part"
    qtbot.waitUntil(part.is_file, timeout=10_000)
    window.close()
    assert not window.fetcher.running
    assert files_under(data_dir) == []
