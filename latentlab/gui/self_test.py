"""``latentlab --self-test OUTDIR``: prove an installation (or a frozen build) works end to end.

Opens the main window offscreen, trains on the built-in digits through the real QThread,
stops, saves and reopens the run, shows PCA and a small t-SNE (dragging the marker while it
runs), decodes a point, walks the marker along a selection's direction, checks a spherical
A-B path, draws a hovered point's posterior ellipse, exports a PNG and a CSV, resumes the run, closes the window, and writes ``OUTDIR/result.json``. Exits 0 only when
every check passed.
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


def _wait(app, condition: Callable[[], bool], timeout: float, what: str) -> None:
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
            panel.epochs.setValue(1000)
            panel.device.setCurrentIndex(panel.device.findData("cpu"))
            panel.start_button.click()
            _wait(app, lambda: window.snapshot is not None and window.snapshot.epoch >= 2, 120, "two epochs")
            panel.stop_button.click()
            _wait(app, lambda: not window.controller.running, 60, "the training thread to stop")
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
            _wait(app, lambda: window.explorer.view is not None and window.explorer.view.kind is ViewKind.PCA, 30,
                  "the PCA view")
            return window.explorer.view.projection.describe()

        def drag_during_tsne() -> str:
            import numpy as np

            from latentlab.core.projection import ViewKind

            window = state["window"]
            explorer = window.explorer
            window.scatter.tsne_button.click()
            _wait(app, lambda: explorer.tsne is not None and explorer.view is not None
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
            _wait(app, lambda: explorer.tsne is None and explorer.view.kind is ViewKind.TSNE, 120, "the t-SNE layout")
            return f"{len(explorer.view.points)} points laid out"

        def decode_point() -> str:
            import numpy as np

            from latentlab.core.projection import ViewKind

            window = state["window"]
            window.scatter.set_view(ViewKind.PCA, emit=True)
            _wait(app, lambda: window.explorer.view.kind is ViewKind.PCA, 30, "the PCA view")
            before_count = window.canvas.images_set
            before = None if window.canvas.current_image() is None else np.array(window.canvas.current_image())
            x, y = window.explorer.view.points[0]
            window.scatter.set_marker(float(x) + 0.5, float(y) + 0.5, emit=True)
            _wait(app, lambda: window.canvas.images_set > before_count, 10, "a decoded image")
            image = window.canvas.current_image()
            if image is None or (before is not None and np.array_equal(image, before)):
                raise RuntimeError("the decoded image did not change")
            return f"decoded a {image.shape[0]}x{image.shape[1]} image"

        def traversal() -> str:
            import numpy as np

            from latentlab.core.projection import ViewKind

            window = state["window"]
            shown, before = window.traversals.shown, window.traversal.updates
            if shown is None:
                raise RuntimeError("the traversal grid is empty")
            rows, columns = shown.shape
            expected = len(window.explorer.snapshot.kl_per_dim) + (2 if window.explorer.view.kind is ViewKind.PCA else 0)
            if rows != expected:
                raise RuntimeError(f"the grid has {rows} rows for {expected} directions")
            x, y = window.explorer.view.points[1]
            window.scatter.set_marker(float(x), float(y), emit=True)
            _wait(app, lambda: window.traversal.updates > before, 10, "the grid to follow the marker")
            z = window.explorer.marker.latent
            row = window.traversals.shown.rows[-1]
            held = np.delete(window.traversals.shown.latent(rows - 1, 0), row.dim)
            if not np.allclose(held, np.delete(z, row.dim)):
                raise RuntimeError("a traversal row does not hold the other coordinates at the marker's z")
            target = window.traversals.shown.latent(rows - 1, columns - 1)
            window.traversal.cell_clicked.emit(rows - 1, columns - 1)
            if not np.allclose(window.explorer.marker.latent, target):
                raise RuntimeError("clicking a cell did not move the marker to its latent")
            return f"{rows} rows x {columns} columns, following the marker"

        def direction() -> str:
            import numpy as np

            window = state["window"]
            explorer, tool, slider = window.explorer, window.directions.selection, window.canvas.direction
            points, latents = explorer.view.points, explorer.snapshot.latents.astype(np.float64)
            low, middle, high = np.quantile(points, [0.1, 0.5, 0.9], axis=0)
            try:
                tool.set_target("A")
                a = tool.select_box(tuple(low), tuple(middle))  # what a box dragged over the scatter reports
                tool.set_target("B")
                b = tool.select_box(tuple(middle), tuple(high))
                chosen = explorer.selections
                if not (len(a) and len(b)) or set(chosen) != {"A", "B"}:
                    raise RuntimeError("the boxes selected no points")
                if not (np.array_equal(chosen["A"].indices, a) and np.array_equal(chosen["B"].indices, b)):
                    raise RuntimeError("the selections are not the points inside the boxes")
                along = explorer.direction
                if along is None or not np.allclose(along.vector, latents[b].mean(axis=0) - latents[a].mean(axis=0)):
                    raise RuntimeError("the direction is not mean(B) - mean(A) of the test latents")
                origin = np.array(explorer.marker.latent)
                slider.slider.setValue(150)
                if not np.allclose(explorer.marker.latent - origin, 1.5 * along.unit):
                    raise RuntimeError("the slider did not move the marker 1.5 σ along the direction")
                row = window.traversals.shown.rows[0]
                if row.label != f"direction {along.label}" or not np.allclose(row.direction, along.unit):
                    raise RuntimeError("the traversal grid has no row along the direction")
            finally:
                explorer.clear_selections()
            return f"A {len(a)} and B {len(b)} items, {along.length:.2f} σ apart; the marker walked 1.5 σ along it"

        def slerp() -> str:
            import numpy as np

            from latentlab.core.directions import interpolate

            from .widgets.images import tile, to_display

            window = state["window"]
            explorer, canvas = window.explorer, window.canvas
            latents = explorer.view.latents.astype(np.float64)
            norms = np.linalg.norm(latents, axis=1)
            first = int(np.argmax(norms))
            cosines = latents @ latents[first] / (norms * norms[first] + 1e-12)
            wide = int(np.argmin(np.where(cosines > -0.95, cosines, np.inf)))  # a wide angle, but not opposite
            for item, button in ((first, canvas.a_button), (wide, canvas.b_button)):
                explorer.select_item(item)
                button.click()
            canvas.path_box.setCurrentIndex(canvas.path_box.findData("spherical"))
            try:
                a, b, steps = explorer.endpoints["A"], explorer.endpoints["B"], canvas.steps.value()
                arc, line = window.directions.path_latents, interpolate(a, b, steps, "linear")
                if arc is None or not np.array_equal(arc, interpolate(a, b, steps, "spherical")):
                    raise RuntimeError("the strip's path is not the spherical interpolation from A to B")
                if not (np.array_equal(arc[0], line[0]) and np.array_equal(arc[-1], line[-1])):
                    raise RuntimeError("slerp and lerp do not agree at their endpoints")
                if np.allclose(arc[steps // 2], line[steps // 2]):
                    raise RuntimeError("the spherical path is the straight one")
                decoded = tile(to_display(explorer.decode(arc)), columns=steps)
                if not np.allclose(canvas.strip.image, decoded, atol=1e-5):
                    raise RuntimeError("the strip does not show the decodings along the path")
                drawn = window.directions.path.points()
                if drawn is None or not np.allclose(drawn, explorer.view.projection.transform(arc)):
                    raise RuntimeError("the path drawn on the scatter is not the view's transform of the strip")
            finally:
                canvas.path_box.setCurrentIndex(canvas.path_box.findData("linear"))
            norms = np.linalg.norm(arc[steps // 2]), np.linalg.norm(line[steps // 2])
            return f"{steps} steps; |z| mid-path {norms[0]:.2f} (slerp) vs {norms[1]:.2f} (lerp)"

        def manifold() -> str:
            import numpy as np

            from .widgets.images import to_display

            window = state["window"]
            presenter, layer, explorer = window.manifold, window.manifold.layer, window.explorer
            before = presenter.updates
            layer.toggle.setChecked(True)
            try:
                _wait(app, lambda: presenter.updates > before, 30, "the manifold's tiles")
                shown, view = presenter.shown, explorer.view
                grid, n = shown.grid, shown.grid.n
                if not layer.image.isVisible() or layer.grid is not grid:
                    raise RuntimeError("the manifold's tiles are not on screen")
                if ((grid.x0, grid.x1), (grid.y0, grid.y1)) != layer.visible_range():
                    raise RuntimeError("the tiles do not cover the visible part of the view")
                if not len(shown.images) == len(shown.centres) == n * n:
                    raise RuntimeError(f"{len(shown.images)} tiles shown for a {n}x{n} grid")
                for index in (0, n * n // 2 + n // 3, n * n - 1):
                    expected = to_display(explorer.decode(view.projection.inverse(shown.centres[index][None])))[0]
                    if not np.allclose(layer.displayed_tile(index), expected, atol=1e-5):
                        raise RuntimeError(f"tile {index} does not show the decoding of the view's inverse at its centre")
            finally:
                layer.toggle.setChecked(False)
            return f"{n}x{n} tiles, {'exact' if shown.exact else 'approximate'} on the {view.kind.value} view"

        def posterior_ellipse() -> str:
            import numpy as np
            from PySide6.QtCore import QPointF

            from latentlab.core.projection import ViewKind

            window = state["window"]
            explorer, scatter, posteriors = window.explorer, window.scatter, window.posteriors
            view, snap = explorer.view, explorer.snapshot
            if view.kind is not ViewKind.PCA:
                raise RuntimeError(f"the scatter shows the {view.kind.value} view, not PCA")
            far = int(np.argmax(np.linalg.norm(view.points - np.array(scatter.marker_position()), axis=1)))
            # The pointer over that point, as the scene reports a mouse move to the scatter.
            scatter.plot.scene().sigMouseMoved.emit(scatter.plot.getViewBox().mapViewToScene(QPointF(*view.points[far])))
            item = posteriors.hovered
            if item < 0 or posteriors.shown_item != item or not posteriors.layer.ellipse_shown():
                raise RuntimeError("hovering a point drew no posterior ellipse")

            def check(item: int) -> None:  # the outline drawn is the 2σ contour of W diag(σ²) Wᵀ about the point
                x, y = posteriors.layer.curve.getData()
                w = view.projection.components
                d = np.column_stack([x, y]) - view.points[item]
                form = np.einsum("ni,ij,nj->n", d, np.linalg.inv(w @ np.diag(np.exp(snap.logvars[item])) @ w.T), d)
                if not np.allclose(form, 4.0, rtol=1e-4):
                    raise RuntimeError(f"item {item}'s ellipse is not its posterior's 2σ contour in the view")

            check(item)
            other = int(np.argmin(np.linalg.norm(view.points - view.points.mean(axis=0), axis=1)))
            scatter.point_clicked.emit(other)  # a click selects it; with no point hovered, its ellipse stays
            scatter.point_hovered.emit(-1)
            if posteriors.shown_item != other:
                raise RuntimeError("the selected point's ellipse is not shown once the pointer leaves")
            check(other)
            return f"items {item} (hovered) and {other} (selected): their 2σ posteriors in the PCA view"

        def resume_run() -> str:
            window = state["window"]
            before = open_run(window.run_dir)
            if not window.resume_run(window.run_dir):
                raise RuntimeError("resuming the run failed")
            _wait(app, lambda: window.snapshot is not None and window.snapshot.epoch > before.epoch, 120,
                  "an epoch of the resumed run")
            window.panel.stop_button.click()
            _wait(app, lambda: not window.controller.running, 60, "the resumed run to stop")
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
            if window.controller.running or window.projections.busy:
                raise RuntimeError("a worker thread survived the window")
            return "closed"

        for name, fn in (
            ("open window", open_window), ("train and stop", train_and_stop), ("save and reopen run", round_trip),
            ("PCA view", pca_view), ("drag during t-SNE", drag_during_tsne), ("t-SNE view", tsne_view),
            ("decode a point", decode_point), ("traversal", traversal),
            ("direction", direction), ("slerp", slerp),
            ("manifold", manifold), ("posterior ellipse", posterior_ellipse),
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
