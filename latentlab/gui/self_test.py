"""``latentlab --self-test OUTDIR``: prove an installation (or a frozen build) works end to end.

Opens the main window offscreen, trains on the built-in digits through the real QThread,
stops, saves and reopens the run, shows PCA and a small t-SNE (dragging the marker while it
runs), decodes a point, walks the marker along a selection's direction, checks a spherical
A-B path, draws a hovered point's posterior ellipse, encodes an image file and a drawing,
computes the test NLL, replays the first epoch, opens the run as its own B, lays out UMAP
(where it is installed), exports a PNG and a CSV, resumes the run, closes the window, and
writes ``OUTDIR/result.json``. Exits 0 only when every check passed.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from importlib import metadata
from pathlib import Path
from typing import Callable

def _versions() -> dict[str, str]:
    import numpy
    import PySide6
    import pyqtgraph
    import torch
    import torchvision

    import latentlab

    found = {
        "python": platform.python_version(),
        "latentlab": latentlab.__version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": numpy.__version__,
        "PySide6": PySide6.__version__,
        "pyqtgraph": pyqtgraph.__version__,
        "cuda_available": str(torch.cuda.is_available()),
    }
    for name in ("scikit-learn", "openTSNE", "safetensors"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # a frozen app may drop the dist-info
            found[name] = "bundled"
    return found


class _Checks:
    def __init__(self) -> None:
        self.results: list[dict] = []
        self.timings: dict[str, float] = {}

    def run(self, name: str, fn: Callable[[], str | None]) -> bool:
        start = time.perf_counter()
        try:
            detail = fn() or ""
            ok = True
        except Exception as exc:  # noqa: BLE001 - a failed check is reported, never raised
            ok, detail = False, f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        self.timings[name] = round(time.perf_counter() - start, 3)
        self.results.append({"name": name, "ok": ok, "detail": detail})
        return ok

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r["ok"] for r in self.results)


def wait_for(app, condition: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        app.processEvents()
        time.sleep(0.005)


def run_self_test(outdir: str | os.PathLike) -> int:
    started = time.perf_counter()
    out = Path(outdir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before the QApplication exists
    checks = _Checks()
    state: dict = {}

    from PySide6.QtCore import QSettings, qInstallMessageHandler

    from .app import create_app

    def on_qt_message(mode, context, message: str) -> None:
        # The offscreen platform cannot resize docks' native windows and says so; that is
        # expected here. Every other Qt message still reaches stderr.
        if "propagateSizeHints" not in message:
            print(message, file=sys.stderr)

    qInstallMessageHandler(on_qt_message)

    app = create_app([sys.argv[0]])
    from latentlab.core.checkpoint import open_run

    from .main_window import MainWindow

    from . import self_test_instruments as instruments

    def on_window(check):
        return lambda: check(app, state["window"])

    with tempfile.TemporaryDirectory(prefix="latentlab-self-test-") as tmp:
        tmp_path = Path(tmp)

        def new_window() -> MainWindow:
            settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
            window = MainWindow(settings=settings, runs_root=tmp_path / "runs")
            window.show()
            return window

        def open_window() -> str:
            state["window"] = window = new_window()
            app.processEvents()
            if not window.isVisible():
                raise RuntimeError("the main window is not visible")
            return f"{len(window.docks)} docks"

        def train_and_stop() -> str:
            window = state["window"]
            panel = window.panel
            panel.dataset.setCurrentIndex(panel.dataset.findData("digits"))
            panel.latent_dim.setValue(3)  # > 2, so the PCA view is a real projection
            panel.hidden.setText("64")
            panel.epochs.setValue(100)  # stopped after two; a run this long keeps every epoch's frame
            panel.device.setCurrentIndex(panel.device.findData("cpu"))
            panel.start_button.click()
            wait_for(app, lambda: window.snapshot is not None and window.snapshot.epoch >= 2, 120, "two epochs")
            panel.stop_button.click()
            wait_for(app, lambda: not window.controller.running, 60, "the training thread to stop")
            if window.run_dir is None or not (window.run_dir / "run.json").is_file():
                raise RuntimeError("stopping left no checkpoint")
            run = open_run(window.run_dir)
            return f"stopped at epoch {run.epoch}, step {run.step}"

        def round_trip() -> str:
            import numpy as np

            window = state["window"]
            saved = tmp_path / "saved-run"
            if not window.save_run_to(saved):
                raise RuntimeError("saving the run failed")
            other = new_window()
            try:
                if not other.open_run_dir(saved):
                    raise RuntimeError("reopening the saved run failed")
                if not np.allclose(other.snapshot.latents, open_run(window.run_dir).load_snapshot()["latents"]):
                    raise RuntimeError("the reopened run shows different latents")
            finally:
                other.close()
            return f"saved and reopened {len(other.snapshot.latents)} latents"

        def pca_view() -> str:
            from latentlab.core.projection import ViewKind

            window = state["window"]
            window.scatter.set_view(ViewKind.PCA, emit=True)
            wait_for(app, lambda: window.explorer.view is not None and window.explorer.view.kind is ViewKind.PCA, 30,
                  "the PCA view")
            return window.explorer.view.projection.describe()

        def drag_during_tsne() -> str:
            import numpy as np

            from latentlab.core.projection import ViewKind

            window = state["window"]
            explorer = window.explorer
            window.scatter.tsne_button.click()
            wait_for(app, lambda: explorer.tsne is not None and explorer.view is not None
                  and explorer.view.kind is ViewKind.TSNE, 120, "a partial t-SNE layout")
            view = explorer.view
            x, y = view.points[0] * 0.9 + view.points.mean(axis=0) * 0.1
            window.scatter.set_marker(float(x), float(y), emit=True)
            app.processEvents()
            marker = explorer.marker
            expected = view.projection.inverse(np.array([[x, y]]))[0]
            if explorer.view is not view or marker is None or not np.allclose(marker.latent, expected):
                raise RuntimeError("the decoded latent is not the shown t-SNE view's inverse at the marker")
            scale = np.abs(view.latents).max()
            if np.abs(marker.latent).max() > scale + 1e-6:
                raise RuntimeError(f"the decoded latent leaves the scale of the test latents ({scale:.2f})")
            if "approximate" not in window.canvas.caption.text():
                raise RuntimeError("the caption does not say the inverse is approximate")
            return f"decoded through the t-SNE view at {view.projection.fraction:.0%}; |z| <= {scale:.2f}"

        def tsne_view() -> str:
            from latentlab.core.projection import ViewKind

            window = state["window"]
            explorer = window.explorer
            if explorer.tsne is None:
                window.scatter.tsne_button.click()
            wait_for(app, lambda: explorer.tsne is None and explorer.view.kind is ViewKind.TSNE, 120, "the t-SNE layout")
            return f"{len(explorer.view.points)} points laid out"

        def decode_point() -> str:
            import numpy as np

            from latentlab.core.projection import ViewKind

            window = state["window"]
            window.scatter.set_view(ViewKind.PCA, emit=True)
            wait_for(app, lambda: window.explorer.view.kind is ViewKind.PCA, 30, "the PCA view")
            before_count = window.canvas.images_set
            before = None if window.canvas.current_image() is None else np.array(window.canvas.current_image())
            x, y = window.explorer.view.points[0]
            window.scatter.set_marker(float(x) + 0.5, float(y) + 0.5, emit=True)
            wait_for(app, lambda: window.canvas.images_set > before_count, 10, "a decoded image")
            image = window.canvas.current_image()
            if image is None or (before is not None and np.array_equal(image, before)):
                raise RuntimeError("the decoded image did not change")
            return f"decoded a {image.shape[0]}x{image.shape[1]} image"

        def resume_run() -> str:
            window = state["window"]
            before = open_run(window.run_dir)
            if not window.resume_run(window.run_dir):
                raise RuntimeError("resuming the run failed")
            wait_for(app, lambda: window.snapshot is not None and window.snapshot.epoch > before.epoch, 120,
                  "an epoch of the resumed run")
            window.panel.stop_button.click()
            wait_for(app, lambda: not window.controller.running, 60, "the resumed run to stop")
            after = open_run(window.run_dir)
            if after.step <= before.step or after.config.data != before.config.data:
                raise RuntimeError(f"the resumed run did not go on (step {before.step} -> {after.step})")
            if len(window.explorer.history["epochs"]) < after.epoch:
                raise RuntimeError("the resumed run's loss history lost its earlier epochs")
            return f"resumed at step {before.step}, stopped at epoch {after.epoch}, step {after.step}"

        def exports() -> str:
            window = state["window"]
            png, latents = out / "scatter.png", out / "latents.csv"
            if not window.export_pane_png("scatter", png) or png.stat().st_size == 0:
                raise RuntimeError("the PNG export failed")
            if not window.export_latents_csv(latents):
                raise RuntimeError("the CSV export failed")
            with open(latents, newline="") as f:
                rows = list(csv.reader(f))
            if len(rows) - 1 != len(window.snapshot.latents):
                raise RuntimeError(f"the CSV has {len(rows) - 1} rows for {len(window.snapshot.latents)} latents")
            return f"{png.name} ({png.stat().st_size} bytes), {latents.name} ({len(rows) - 1} rows)"

        def close_window() -> str:
            window = state["window"]
            window.close()
            app.processEvents()
            if window.controller.running or window.projections.busy or window.scoring.busy:
                raise RuntimeError("a worker thread survived the window")
            return "closed"

        for name, fn in (
            ("open window", open_window), ("train and stop", train_and_stop), ("save and reopen run", round_trip),
            ("PCA view", pca_view), ("drag during t-SNE", drag_during_tsne), ("t-SNE view", tsne_view),
            ("decode a point", decode_point), ("traversal", on_window(instruments.traversal)),
            ("direction", on_window(instruments.direction)), ("slerp", on_window(instruments.slerp)),
            ("manifold", on_window(instruments.manifold)),
            ("posterior ellipse", on_window(instruments.posterior_ellipse)),
            ("encode image", on_window(instruments.encode_image)), ("NLL", on_window(instruments.nll)),
            ("scrubber", on_window(instruments.scrubber)), ("run B", on_window(instruments.run_b)),
            ("UMAP", on_window(instruments.umap_view)), ("all items", on_window(instruments.all_items)),
            ("export PNG and CSV", exports),
            ("resume run", resume_run),
            ("close window", close_window),
        ):
            if not checks.run(name, fn) and name in ("open window", "train and stop"):
                break  # nothing after these can run

    result = {
        "ok": checks.ok,
        "frozen": bool(getattr(sys, "frozen", False)),
        "seconds": round(time.perf_counter() - started, 3),
        "timings": checks.timings,
        "checks": checks.results,
        "versions": _versions(),
        "platform": platform.platform(),
    }
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    failed = [r["name"] for r in checks.results if not r["ok"]]
    if failed:
        print(f"latentlab: self-test failed: {', '.join(failed)} (details in {out / 'result.json'}).", file=sys.stderr)
    return 0 if checks.ok else 1
