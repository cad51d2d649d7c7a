"""Fixtures for the GUI tests: windows with private settings, real training runs, helpers.

Every window gets its own INI file and runs folder under ``tmp_path``, so no test reads
or writes the user's settings or home. Windows are stopped (training and t-SNE threads
joined) before pytest-qt closes them, so a test can never leave a thread running.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, QSettings, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractSpinBox, QLineEdit

from latentlab.gui.app import apply_theme, collect_garbage_on_this_thread
from latentlab.gui.main_window import MainWindow

REPO = Path(__file__).resolve().parents[2]
TRAIN_TIMEOUT_MS = 180_000  # generous: other jobs share the two cores
N_TEST_DIGITS = 359  # the digits test split (20% of 1797)
THREAD_WARNINGS = ("QThread: Destroyed while thread", "QThread::wait: Thread tried to wait on itself")


@pytest.fixture(scope="session", autouse=True)
def _theme(qapp):
    apply_theme(qapp)
    collect_garbage_on_this_thread(qapp)  # as the app does: never on a worker thread


@pytest.fixture(autouse=True)
def _no_thread_warnings(qtlog):
    """Fail any GUI test during which Qt complained about a thread destroyed while running."""
    yield
    bad = [r.message for r in qtlog.records if any(w in r.message for w in THREAD_WARNINGS)]
    assert not bad, f"Qt thread warnings: {bad}"


def _settings(path: Path) -> QSettings:
    return QSettings(str(path), QSettings.Format.IniFormat)


@pytest.fixture
def make_window(qtbot, tmp_path):
    """Factory: ``make_window(ini=None, controller=None)`` -> a shown MainWindow.

    Windows made with the same ``ini`` share settings (to test what is remembered).
    """
    windows: list[MainWindow] = []

    def make(ini: Path | None = None, controller=None, runs_root: Path | None = None) -> MainWindow:
        window = MainWindow(
            settings=_settings(ini or tmp_path / "s.ini"),
            runs_root=runs_root or tmp_path / "runs",
            controller=controller,
        )
        # pytest-qt closes its widgets before fixtures are torn down: stop the training first,
        # so closing never waits on the "Training is running" question.
        qtbot.addWidget(window, before_close_func=_stop_workers)
        windows.append(window)
        window.show()
        qtbot.waitExposed(window)
        window.activateWindow()  # as a person's newly opened window is: shortcuts need it
        qtbot.waitUntil(window.isActiveWindow, timeout=5000)
        return window

    yield make
    for window in windows:
        _stop_workers(window)


def _stop_workers(window: MainWindow) -> None:
    try:
        window._close_when_stopped = True
        if window.controller.running:
            assert window.controller.stop_and_wait(120_000), "training did not stop within 2 minutes"
        window.projections.shutdown(60_000)
        window.scoring.shutdown(60)
        window.trust.shutdown(60)
    except RuntimeError:  # the C++ object is already gone (the test deleted it)
        pass


@pytest.fixture(scope="session")
def cli_run(tmp_path_factory) -> Path:
    """A run trained headless by the CLI (2 epochs of digits, small model), shared by tests that only read it."""
    out = tmp_path_factory.mktemp("cli") / "run"
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    result = subprocess.run(
        [sys.executable, "-m", "latentlab", "train", "--out", str(out), "--epochs", "2", "--hidden", "64",
         "--device", "cpu", "--quiet"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr
    assert (out / "run.json").is_file()
    return out


def _train_cli(out: Path, *args: str) -> Path:
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    result = subprocess.run(
        [sys.executable, "-m", "latentlab", "train", "--out", str(out), "--device", "cpu", "--quiet", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="session")
def run16(tmp_path_factory) -> Path:
    """Digits, a 16-D latent, 30 epochs: some dimensions in use, others collapsed (seeded, so always the same)."""
    return _train_cli(tmp_path_factory.mktemp("run16") / "run", "--epochs", "30", "--hidden", "64",
                      "--latent-dim", "16", "--lr", "3e-3")


@pytest.fixture(scope="session")
def run2(tmp_path_factory) -> Path:
    """Digits, a 2-D latent, 20 epochs: the view is the latent itself, so every inverse is exact."""
    return _train_cli(tmp_path_factory.mktemp("run2") / "run", "--epochs", "20", "--hidden", "64",
                      "--latent-dim", "2", "--lr", "3e-3")


@pytest.fixture(scope="session")
def mnist_run(tmp_path_factory, mnist_root) -> Path:
    """MNIST (the committed 2,000-item subset), an 8-D latent, 6 epochs: a model of handwritten digits."""
    return _train_cli(tmp_path_factory.mktemp("mnist-run") / "run", "--dataset", "mnist", "--data-dir",
                      str(mnist_root), "--epochs", "6", "--hidden", "128", "--latent-dim", "8", "--lr", "2e-3")


# -- helpers a test calls like a person would act ------------------------------------------------
class UI:
    """Acting on the app as a person would: typing into fields, clicking, dragging."""

    def __init__(self, qtbot):
        self.qtbot = qtbot

    def type_into(self, widget, text: str) -> None:
        """Select what the field holds and type ``text`` over it, key by key."""
        widget.setFocus()
        if isinstance(widget, (QLineEdit, QAbstractSpinBox)):
            widget.selectAll()
        self.qtbot.keyClicks(widget, text)

    def set_run_settings(self, window: MainWindow, epochs: int, hidden: str = "64", latent_dim: int | None = None) -> None:
        panel = window.panel
        self.type_into(panel.epochs, str(epochs))
        assert panel.epochs.value() == epochs
        self.type_into(panel.hidden, hidden)
        assert panel.hidden.text() == hidden
        if latent_dim is not None:
            self.type_into(panel.latent_dim, str(latent_dim))
            assert panel.latent_dim.value() == latent_dim
        panel.device.setCurrentIndex(panel.device.findData("cpu"))

    def click(self, button) -> None:
        assert button.isEnabled(), f"{button.text()!r} is disabled"
        self.qtbot.mouseClick(button, Qt.MouseButton.LeftButton)

    def train(self, window: MainWindow, epochs: int = 2, latent_dim: int | None = None) -> None:
        """Fill the form, click Start and wait for the run to finish."""
        self.set_run_settings(window, epochs, latent_dim=latent_dim)
        self.click(window.panel.start_button)
        assert window.controller.running
        self.qtbot.waitUntil(lambda: not window.controller.running, timeout=TRAIN_TIMEOUT_MS)
        self.qtbot.waitUntil(lambda: window.snapshot is not None and window.snapshot.epoch == epochs, timeout=10_000)
        assert window.error_box is None, window.error_box.text()

    def start_long_run(self, window: MainWindow, epochs: int = 500) -> None:
        """Start a run too long to finish during the test; return once its first metrics arrived."""
        self.set_run_settings(window, epochs)
        self.click(window.panel.start_button)
        self.qtbot.waitUntil(lambda: len(window.loss_plot.history()["train"]["step"]) > 0, timeout=TRAIN_TIMEOUT_MS)

    def marker_viewport_pos(self, scatter) -> QPoint:
        """Where the decode marker is, in the scatter's viewport pixels."""
        x, y = scatter.marker_position()
        scene = scatter.plot.getViewBox().mapViewToScene(QPointF(x, y))
        return scatter.plot.mapFromScene(scene)

    def view_to_viewport(self, scatter, x: float, y: float) -> QPoint:
        return scatter.plot.mapFromScene(scatter.plot.getViewBox().mapViewToScene(QPointF(x, y)))

    def drag_marker(self, scatter, dx: int, dy: int, steps: int = 8) -> tuple[QPoint, QPoint]:
        """A real mouse drag in the scatter's viewport: press on the marker, move in steps, release.

        Returns the press and release points, in viewport pixels.
        """
        viewport = scatter.plot.viewport()
        start = self.marker_viewport_pos(scatter)
        assert viewport.rect().contains(start), f"marker at {start} is outside the viewport {viewport.rect()}"
        QTest.mouseMove(viewport, start)
        self.qtbot.wait(30)
        QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
        self.qtbot.wait(30)
        end = start
        for i in range(1, steps + 1):
            end = start + QPoint(round(dx * i / steps), round(dy * i / steps))
            QTest.mouseMove(viewport, end)
            self.qtbot.wait(30)
        QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
        self.qtbot.wait(50)
        return start, end

    def curve_data(self, curve) -> tuple[np.ndarray, np.ndarray]:
        x, y = curve.getData()
        return (np.zeros(0) if x is None else np.asarray(x)), (np.zeros(0) if y is None else np.asarray(y))


@pytest.fixture
def ui(qtbot) -> UI:
    return UI(qtbot)
