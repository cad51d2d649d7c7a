"""Shared set-up for the GUI benchmarks: an offscreen app, MNIST copied to a temp root."""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from _common import DATA_DIR_HELP, MnistCopy  # noqa: E402 - after the platform is chosen

_copies: list[MnistCopy] = []  # kept alive (and their temp folders with them) until exit


def mnist_root(data_dir: str | None = None) -> Path:
    """A torchvision-layout MNIST root: a temporary unpacked copy of the full files (see ``_common.find_mnist_files``)."""
    copy = MnistCopy(data_dir)
    _copies.append(copy)
    return Path(copy.root)


def app_and_window(runs_root: Path):
    from PySide6.QtCore import QSettings

    from latentlab.gui.app import create_app
    from latentlab.gui.main_window import MainWindow

    from latentlab.gui.app import warm_up_in_background

    app = create_app([])
    warm_up_in_background()  # as the app's main() does
    settings = QSettings(str(runs_root / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, runs_root=runs_root / "runs")
    window.resize(1400, 900)
    window.show()
    return app, window


def window_on_trained_mnist(data_dir: str | None, epochs: int, latent_dim: int = 20):
    """Train an MNIST MLP headless for ``epochs``, then open its run in a shown window: (app, window)."""
    import tempfile

    from latentlab.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from latentlab.core.trainer import train

    work = Path(tempfile.mkdtemp(prefix="latentlab-bench-"))
    cfg = RunConfig(DataConfig("mnist", str(mnist_root(data_dir))), ModelConfig(latent_dim=latent_dim),
                    TrainConfig(epochs=epochs, device="cpu"))
    for _ in train(cfg, run_dir=work / "run"):
        pass
    app, window = app_and_window(work)
    assert window.open_run_dir(work / "run"), "the run did not open"
    wait_until(app, lambda: window.explorer.view is not None, timeout=60)
    return app, window


def wait_until(app, condition, timeout: float = 600.0, idle_sleep: float = 0.0) -> None:
    """Spin the event loop until ``condition()``; ``idle_sleep`` > 0 yields the CPU between passes."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the app did not reach the expected state in time")
        app.processEvents()
        if idle_sleep:
            time.sleep(idle_sleep)


def percentile(values, q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values), q))
