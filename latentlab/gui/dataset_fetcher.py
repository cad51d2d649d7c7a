"""Offering, running and showing the download of a dataset whose files are missing.

The download itself is ``latentlab.core.fetch.fetch`` on a QThread; the GUI thread only
asks the question, shows a progress dialog fed by queued signals, and sets the cancel
flag. The dialog closes when the worker has stopped, never before, so a cancelled
download has removed its partial file by the time the window is usable again.
"""

from __future__ import annotations

import threading
import traceback
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtWidgets import QDialog, QLabel, QMessageBox, QProgressBar, QPushButton, QVBoxLayout, QWidget

from latentlab.core.errors import FetchCancelled, LatentlabError
from latentlab.core.fetch import FETCHABLE, LABELS, FetchProgress, is_present
from latentlab.core.paths import default_data_dir

from .workers import thread_for


class FetchWorker(QObject):
    """Runs one ``fetch`` on its thread; exactly one of succeeded / failed / cancelled, then done."""

    progress = Signal(object)  # FetchProgress
    succeeded = Signal(str)  # the folder that holds the files
    failed = Signal(str)  # one sentence
    cancelled = Signal()
    done = Signal()

    def __init__(self, name: str, root: str, cancel: threading.Event):
        super().__init__()
        self._name, self._root, self._cancel = name, root, cancel

    @Slot()
    def run(self) -> None:
        from latentlab.core.fetch import fetch

        try:
            folder = fetch(self._name, self._root, progress=self.progress.emit, cancel=self._cancel)
        except FetchCancelled:
            self.cancelled.emit()
        except LatentlabError as exc:
            self.failed.emit(str(exc))
        except BaseException as exc:  # noqa: BLE001 - a bug must reach the user as a dialog, not kill the app
            traceback.print_exception(exc)
            self.failed.emit(f"The download failed unexpectedly ({type(exc).__name__}); the details are printed on the console.")
        else:
            self.succeeded.emit(str(folder))
        finally:
            self.done.emit()


class FetchDialog(QDialog):
    """Which file, bytes done of the total, the rate, and Cancel."""

    cancel_requested = Signal()

    def __init__(self, label: str, root: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"Downloading {label}")
        self.setModal(True)
        self.setMinimumWidth(420)
        self.heading = QLabel(f"Downloading {label} into {root}")
        self.heading.setWordWrap(True)
        self.file = QLabel("Connecting…")
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)  # busy until a size is known
        self.detail = QLabel("")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._on_cancel)
        layout = QVBoxLayout(self)
        for widget in (self.heading, self.file, self.bar, self.detail):
            layout.addWidget(widget)
        layout.addWidget(self.cancel_button, 0, Qt.AlignmentFlag.AlignRight)

    def set_progress(self, p: FetchProgress) -> None:
        if self.cancel_button.isEnabled():
            last = p.complete and p.file_number == p.file_count
            self.file.setText("Unpacking…" if last else f"{p.file} (file {p.file_number} of {p.file_count})")
        if p.total_bytes:
            self.bar.setRange(0, 1000)
            self.bar.setValue(round(1000 * p.done_bytes / p.total_bytes))
        self.detail.setText(p.describe())

    def _on_cancel(self) -> None:
        if self.cancel_button.isEnabled():
            self.cancel_button.setEnabled(False)
            self.file.setText("Cancelling…")
            self.cancel_requested.emit()

    def reject(self) -> None:
        """Escape and the close button cancel too; the dialog stays until the worker has stopped."""
        self._on_cancel()


class DatasetFetcher(QObject):
    """Offers to download a chosen dataset's missing files, and runs one download at a time."""

    fetched = Signal(str, str)  # dataset name, folder holding its files
    failed = Signal(str)  # one sentence, for the window's error dialog
    message = Signal(str)  # for the status bar

    def __init__(self, window: QWidget, panel):
        super().__init__(window)  # the window is reached through parent(): an attribute would make a
        # reference cycle, and Python's collector could then destroy the window on a worker thread
        self._panel = panel
        self._thread: QThread | None = None
        self._worker: FetchWorker | None = None
        self._cancel: threading.Event | None = None
        self._outcome: tuple[str, str] | None = None  # ("succeeded" | "failed" | "cancelled", text)
        self._then: Callable[[], None] | None = None
        self._job: tuple[str, str] | None = None  # (name, root)
        self.dialog: FetchDialog | None = None
        self.question_box: QMessageBox | None = None
        panel.dataset_chosen.connect(self._on_dataset_chosen)

    @property
    def running(self) -> bool:
        return self._thread is not None

    def _on_dataset_chosen(self, name: str) -> None:
        if name not in FETCHABLE:
            return
        if not self._panel.data_dir.text().strip():
            self._panel.data_dir.setText(str(default_data_dir()))  # so the user sees where the files go
        self.offer_if_missing(name, self._panel.data_dir.text().strip())

    def offer_if_missing(self, name: str, root: str | None, then: Callable[[], None] | None = None) -> bool:
        """Ask whether to download ``name`` into ``root`` if its files are not there; True if asked.

        The question does not block: on Yes the download starts, and ``then`` runs once it
        has succeeded (Start uses it to carry on).
        """
        if name not in FETCHABLE or not root:
            return False
        if self.running:
            return True  # its dialog is already up
        if is_present(name, root):
            return False
        if self.question_box is not None:
            self.question_box.close()
        box = QMessageBox(
            QMessageBox.Icon.Question, "latentlab", f"The {LABELS[name]} files are not in {root}. Download them now?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self.parent(),
        )
        box.setDefaultButton(QMessageBox.StandardButton.Yes)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def on_clicked(button) -> None:
            self.question_box = None
            if box.standardButton(button) == QMessageBox.StandardButton.Yes:
                self.start(name, root, then)

        box.buttonClicked.connect(on_clicked)
        box.open()
        self.question_box = box
        return True

    def start(self, name: str, root: str, then: Callable[[], None] | None = None) -> None:
        if self.running:
            return
        cancel = threading.Event()
        worker = FetchWorker(name, root, cancel)
        thread = thread_for(worker, "latentlab-fetch")
        worker.progress.connect(self._on_progress)
        # Bound methods of this GUI-thread object: queued, so they run here, in order, before finished.
        worker.succeeded.connect(self._on_succeeded)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker, self._cancel = thread, worker, cancel
        self._outcome, self._then, self._job = None, then, (name, root)
        self.dialog = FetchDialog(LABELS[name], root, self.parent())
        self.dialog.cancel_requested.connect(self.cancel)
        self.dialog.open()
        thread.start()

    def cancel(self) -> None:
        """Ask the download to stop at its next chunk; the dialog closes once it has."""
        if self._cancel is not None:
            self._cancel.set()

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Cancel and wait for the worker (closing the window): its partial file is removed first."""
        thread = self._thread
        if thread is None:
            return
        self.cancel()
        thread.wait(timeout_ms)
        self._outcome = None  # no dialogs or follow-ups for a window that is closing
        self._on_thread_finished()

    def _on_progress(self, p: FetchProgress) -> None:
        if self.dialog is not None:
            self.dialog.set_progress(p)

    def _on_succeeded(self, folder: str) -> None:
        self._outcome = ("succeeded", folder)

    def _on_failed(self, text: str) -> None:
        self._outcome = ("failed", text)

    def _on_cancelled(self) -> None:
        self._outcome = ("cancelled", "")

    def _on_thread_finished(self) -> None:
        if self._thread is None:
            return
        thread, worker, outcome, then, job = self._thread, self._worker, self._outcome, self._then, self._job
        self._thread = self._worker = self._cancel = self._then = self._job = None
        worker.deleteLater()
        thread.deleteLater()
        if self.dialog is not None:
            self.dialog.accept()
            self.dialog.deleteLater()
            self.dialog = None
        if outcome is None or job is None:
            return
        kind, text = outcome
        label = LABELS[job[0]]
        if kind == "succeeded":
            self.message.emit(f"{label} is downloaded and ready in {Path(text)}.")
            self.fetched.emit(job[0], text)
            if then is not None:
                then()
        elif kind == "failed":
            self.failed.emit(text)
        else:
            self.message.emit(f"The {label} download was cancelled; nothing partial was kept.")
