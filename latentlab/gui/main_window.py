"""The main window: docks, menus and status bar; wires the views to the controllers."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox, QProgressBar, QWidget,
)

from latentlab.core.checkpoint import atomic_write, open_run
from latentlab.core.paths import default_runs_dir
from latentlab.core.config import RunConfig
from latentlab.core.errors import LatentlabError
from latentlab.core.events import EpochSnapshot, RunFinished, RunStarted, StepMetrics

from .controller import TrainingController, TSNEController
from .dataset_fetcher import DatasetFetcher
from .decoder import LatentDecoder
from .latent_space import LatentSpace
from .widgets.control_panel import ControlPanel
from .widgets.decode_canvas import DecodeCanvas
from .widgets.gallery import ReconstructionGallery
from .widgets.latent_scatter import LatentScatter
from .widgets.loss_plot import LossPlot


def available_devices() -> list[str]:
    import torch

    devices = ["auto", "cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


def default_runs_root() -> Path:
    return default_runs_dir()  # one definition, shared with the CLI's --info


class MainWindow(QMainWindow):
    def __init__(
        self,
        settings: QSettings | None = None,
        runs_root: Path | None = None,
        controller: TrainingController | None = None,
    ):
        super().__init__()
        self.setWindowTitle("latentlab")
        self.resize(1400, 900)
        self.settings = settings or QSettings()
        self.runs_root = Path(runs_root) if runs_root else default_runs_root()
        self.controller = controller or TrainingController(self, num_threads=None)
        self.controller.setParent(self)
        self.tsne = TSNEController(self)
        self.space = LatentSpace()

        self.decoder: LatentDecoder | None = None
        self.run_info: RunStarted | None = None  # or the equivalent of an opened run
        self.run_dir: Path | None = None
        self.snapshot: EpochSnapshot | None = None
        self.test_images: np.ndarray | None = None
        self.test_labels: np.ndarray | None = None
        self.classes: tuple[str, ...] = ()
        self.model_config: dict | None = None
        self.image_shape: tuple[int, int, int] | None = None
        self.endpoints: dict[str, np.ndarray] = {}
        self.marker_latent: np.ndarray | None = None
        self._last_metrics: StepMetrics | None = None
        self._started_at = 0.0
        self.error_box: QMessageBox | None = None

        self.panel = ControlPanel()
        self.panel.set_devices(available_devices())
        self.fetcher = DatasetFetcher(self, self.panel)  # offers to download a chosen dataset's missing files
        self.loss_plot = LossPlot()
        self.scatter = LatentScatter()
        self.canvas = DecodeCanvas()
        self.gallery = ReconstructionGallery()
        self._build_docks()
        self._build_menus()
        self._build_status_bar()
        self._connect()
        self._restore_settings()
        self.scatter.setEnabled(False)
        self.canvas.setEnabled(False)

    # -- construction ---------------------------------------------------------------------
    def _build_docks(self) -> None:
        self.setDockNestingEnabled(True)
        self.docks: dict[str, QDockWidget] = {}
        for key, title, widget, area in (
            ("controls", "Controls", self.panel, Qt.DockWidgetArea.LeftDockWidgetArea),
            ("losses", "Losses", self.loss_plot, Qt.DockWidgetArea.RightDockWidgetArea),
            ("scatter", "Latent space", self.scatter, Qt.DockWidgetArea.RightDockWidgetArea),
            ("canvas", "Decoder", self.canvas, Qt.DockWidgetArea.RightDockWidgetArea),
            ("gallery", "Reconstructions", self.gallery, Qt.DockWidgetArea.RightDockWidgetArea),
        ):
            dock = QDockWidget(title, self)
            dock.setObjectName(f"dock-{key}")  # saveState needs names
            dock.setWidget(widget)
            self.addDockWidget(area, dock)
            self.docks[key] = dock
        # Losses | scatter on top, decoder | gallery below.
        self.splitDockWidget(self.docks["losses"], self.docks["canvas"], Qt.Orientation.Vertical)
        self.splitDockWidget(self.docks["losses"], self.docks["scatter"], Qt.Orientation.Horizontal)
        self.splitDockWidget(self.docks["canvas"], self.docks["gallery"], Qt.Orientation.Horizontal)
        placeholder = QWidget()
        placeholder.setMaximumSize(0, 0)
        self.setCentralWidget(placeholder)

    def _action(self, text: str, slot, shortcut=None, menu=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        if menu is not None:
            menu.addAction(action)
        self.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._action("&Open run…", self._on_open, QKeySequence.StandardKey.Open, file_menu)
        self.save_action = self._action("&Save run as…", self._on_save, QKeySequence.StandardKey.Save, file_menu)
        file_menu.addSeparator()
        export = file_menu.addMenu("&Export")
        for key, dock in self.docks.items():
            if key != "controls":
                self._action(f"{dock.windowTitle()} pane as PNG…", lambda _=False, k=key: self._on_export_png(k), None, export)
        self._action("Latents as CSV…", self._on_export_latents, None, export)
        self._action("Loss history as CSV…", self._on_export_history, None, export)
        file_menu.addSeparator()
        self._action("&Quit", self.close, QKeySequence.StandardKey.Quit, file_menu)
        run_menu = bar.addMenu("&Training")
        self.start_action = self._action("&Start / Pause", self._on_space, Qt.Key.Key_Space, run_menu)
        self._action("S&top", self.controller.stop, "Ctrl+.", run_menu)
        view_menu = bar.addMenu("&View")
        for dock in self.docks.values():
            view_menu.addAction(dock.toggleViewAction())

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.status_epoch = QLabel("idle")
        self.status_progress = QProgressBar()
        self.status_progress.setMaximumWidth(200)
        self.status_progress.setRange(0, 1000)
        self.status_speed = QLabel("")
        self.status_device = QLabel("")
        self.status_eta = QLabel("")
        for w in (self.status_epoch, self.status_progress, self.status_speed, self.status_device, self.status_eta):
            bar.addPermanentWidget(w)

    def _connect(self) -> None:
        self.panel.start_requested.connect(self._on_start)
        self.panel.pause_requested.connect(self.controller.toggle_pause)
        self.panel.stop_requested.connect(self.controller.stop)
        self.panel.open_requested.connect(self._on_open)
        self.panel.save_requested.connect(self._on_save)
        self.controller.run_started.connect(self._on_run_started)
        self.controller.metrics.connect(self._on_metrics)
        self.controller.epoch_done.connect(self._on_epoch_done)
        self.controller.snapshot.connect(self._on_snapshot)
        self.controller.run_finished.connect(self._on_run_finished)
        self.controller.failed.connect(self._on_failed)
        self.controller.state_changed.connect(self._on_state_changed)
        self.fetcher.failed.connect(self.show_error)
        self.fetcher.message.connect(lambda text: self.statusBar().showMessage(text, 10000))
        self.scatter.marker_moved.connect(self._on_marker_moved)
        self.scatter.point_hovered.connect(self._on_point_hovered)
        self.scatter.point_clicked.connect(self._on_point_clicked)
        self.scatter.view_changed.connect(self._on_view_changed)
        self.scatter.tsne_requested.connect(self._on_tsne_requested)
        self.scatter.tsne_cancel_requested.connect(self.tsne.cancel)
        self.tsne.progress.connect(self._on_tsne_progress)
        self.tsne.finished.connect(self._on_tsne_finished)
        self.tsne.failed.connect(self._on_tsne_failed)
        self.tsne.cancelled.connect(self._on_tsne_cancelled)
        self.canvas.sample_requested.connect(self._on_sample)
        self.canvas.endpoint_requested.connect(self._on_endpoint)
        self.canvas.steps_changed.connect(lambda _: self._update_strip())
        self.gallery.worst_toggled.connect(lambda _: self._update_gallery())

    # -- settings -------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        if isinstance(geometry, (QByteArray, bytes)):  # anything else is a foreign or damaged settings file
            self.restoreGeometry(geometry)
        if isinstance(state, (QByteArray, bytes)):
            self.restoreState(state)
        saved = self.settings.value("run/settings")
        if isinstance(saved, str):
            try:
                import json

                self.panel.set_settings(json.loads(saved))
            except (ValueError, TypeError, AttributeError):
                pass  # stale or foreign settings: keep the defaults

    def _save_settings(self) -> None:
        import json

        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("run/settings", json.dumps(self.panel.settings()))
        self.settings.sync()

    def _last_folder(self) -> str:
        return str(self.settings.value("files/last_folder", str(Path.home())))

    def _remember_folder(self, path: str | Path) -> None:
        self.settings.setValue("files/last_folder", str(Path(path).parent))

    # -- training -------------------------------------------------------------------------
    def _on_space(self) -> None:
        if self.controller.running:
            self.controller.toggle_pause()
        else:
            self._on_start()

    def _on_start(self) -> None:
        if self.controller.running or self.fetcher.running:
            return
        try:
            config = RunConfig.from_dict(self.panel.settings())
        except LatentlabError as exc:
            self.show_error(str(exc))
            return
        if self.fetcher.offer_if_missing(config.data.name, config.data.root, then=self._on_start):
            return  # Start again once the download has succeeded
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_dir = self.runs_root / f"{config.data.name}-{stamp}"
        suffix = 1
        while run_dir.exists():
            suffix += 1
            run_dir = self.runs_root / f"{config.data.name}-{stamp}-{suffix}"
        self.loss_plot.clear()
        self._started_at = time.monotonic()
        self.tsne.cancel()
        self._save_settings()
        self.controller.start(config, run_dir)

    def _on_state_changed(self, state: str) -> None:
        self.panel.set_state(state)
        if state == "idle":
            self.status_eta.setText("")
        elif state == "paused":
            self.status_epoch.setText(self.status_epoch.text() + " (paused)")

    def _on_run_started(self, info: RunStarted) -> None:
        self.run_info = info
        self.run_dir = Path(info.run_dir) if info.run_dir else None
        self.test_images = info.test_images
        self.test_labels = info.test_labels
        self.classes = info.classes
        self.model_config = info.config["model"]
        self.image_shape = info.image_shape
        self.decoder = None
        self.snapshot = None  # a new model: the last run's latents and t-SNE layout no longer describe it
        self.space = LatentSpace()
        self.endpoints.clear()
        self.status_device.setText(f"device: {info.device}")
        self.status_epoch.setText(f"epoch {info.start_epoch + 1}, step {info.start_step}/{info.total_steps}")

    def _on_metrics(self, m: StepMetrics) -> None:
        self._last_metrics = m
        self.loss_plot.add_train(m.step, m.recon, m.kl, m.total)
        total = max(1, m.total_steps)
        self.status_epoch.setText(f"epoch {m.epoch}, step {m.step}/{m.total_steps}")
        self.status_progress.setValue(int(1000 * m.step / total))
        self.status_speed.setText(f"{m.items_per_second:,.0f} items/s")
        start = self.run_info.start_step if self.run_info else 0
        done = m.step - start
        if done > 0 and m.elapsed > 0:
            left = m.elapsed / done * (m.total_steps - m.step)
            self.status_eta.setText(f"{int(left // 60)}:{int(left % 60):02d} left")

    def _on_epoch_done(self, snap: EpochSnapshot) -> None:
        if snap.epoch > 0 or snap.step > 0:
            self.loss_plot.add_test(snap.step, snap.test_recon, snap.test_kl, snap.test_total)

    def _on_snapshot(self, snap: EpochSnapshot) -> None:
        self.snapshot = snap
        self._show_snapshot(snap)

    def _show_snapshot(self, snap: EpochSnapshot) -> None:
        """Refresh the scatter, decoder, KL bars and gallery from a snapshot."""
        if self.decoder is None:
            self.decoder = LatentDecoder(self.model_config, self.image_shape, snap.decoder_state)
        else:
            self.decoder.update(snap.decoder_state)
        first = self.space.latents.shape[0] == 0 or self.space.dim != snap.latents.shape[1]
        if first:
            self.space.mode = self.space.default_mode() if snap.latents.shape[1] == 2 else "pca"
        self.space.update(snap.latents)
        self.scatter.set_views_enabled(self.space.dim == 2)
        self.scatter.set_view(self.space.mode if self.space.mode in ("latent", "pca", "tsne") else "pca")
        if not self.tsne.running:  # else the live t-SNE layout stays on screen until it finishes
            self.scatter.set_points(self.space.layout, self.test_labels, self.classes)
            self.scatter.set_note(self.space.describe())
        self.scatter.setEnabled(True)
        self.canvas.setEnabled(True)
        self.loss_plot.set_kl_per_dim(snap.kl_per_dim)
        if first:
            self.scatter.fit_view()
            centre = self.space.layout.mean(axis=0) if len(self.space.layout) else (0.0, 0.0)
            self.scatter.set_marker(float(centre[0]), float(centre[1]))
        elif len(self.space.layout) and self.space.mode != "tsne":
            # The points move as the model learns; keep the marker among them, where it decodes something.
            x, y = self.scatter.marker_position()
            low, high = self.space.layout.min(axis=0), self.space.layout.max(axis=0)
            self.scatter.set_marker(float(np.clip(x, low[0], high[0])), float(np.clip(y, low[1], high[1])))
        self._decode_marker()
        self._update_gallery()
        self._update_strip()

    def _on_run_finished(self, event: RunFinished) -> None:
        what = "Stopped" if event.reason == "stopped" else "Finished"
        self.status_epoch.setText(f"{what} at epoch {event.epoch}, step {event.step}")
        self.statusBar().showMessage(f"{what}; the run is saved in {event.run_dir}.", 10000)

    def _on_failed(self, message: str) -> None:
        self.show_error(message)

    def show_error(self, message: str) -> None:
        """A non-blocking dialog: the window stays alive and usable behind it."""
        box = QMessageBox(QMessageBox.Icon.Warning, "latentlab", message, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.error_box = box

    # -- the decoder ------------------------------------------------------------------------
    def _on_marker_moved(self, x: float, y: float) -> None:
        # Decode at once, in the handler of the move (~0.1 ms): deferring it to the next pass
        # of the event loop would queue it behind a repaint of the scatter. Moves are already
        # coalesced upstream (pyqtgraph's scene takes at most 100 a second, Qt merges queued
        # motion events) and Qt repaints once per pass, so marker and image appear together.
        self._decode_marker()

    def _decode_marker(self) -> None:
        if self.decoder is None or self.space.latents.shape[0] == 0:
            return
        x, y = self.scatter.marker_position()
        z = self.space.to_latent(x, y)
        self.marker_latent = z
        image = self.decoder.decode(z[None])[0]
        exact = "" if self.space.exact else "  (approximate: t-SNE has no exact inverse)"
        self.canvas.set_image(image, f"z = [{_format_latent(z)}]{exact}")

    def _on_sample(self) -> None:
        if self.decoder is None:
            return
        z = np.random.default_rng().standard_normal(self.decoder.latent_dim)
        self.marker_latent = z
        x, y = self.space.to_view(z)
        self.scatter.set_marker(x, y)
        self.canvas.set_image(self.decoder.decode(z[None])[0], f"prior sample z = [{_format_latent(z)}]")

    def _on_endpoint(self, which: str) -> None:
        if self.marker_latent is None:
            return
        self.endpoints[which] = np.array(self.marker_latent, copy=True)
        self._update_strip()

    def _update_strip(self) -> None:
        if self.decoder is None or len(self.endpoints) < 2:
            return
        steps = self.canvas.steps.value()
        t = np.linspace(0.0, 1.0, steps)[:, None]
        z = (1 - t) * self.endpoints["A"] + t * self.endpoints["B"]
        self.canvas.set_strip(self.decoder.decode(z), f"Interpolation from A to B in {steps} steps")

    # -- scatter interaction -------------------------------------------------------------
    def _preview(self, index: int, verb: str) -> None:
        if index < 0 or self.test_images is None or self.decoder is None or self.snapshot is None:
            return
        recon = self.decoder.decode(self.snapshot.latents[index][None])[0]
        label = ""
        if self.test_labels is not None:
            c = int(self.test_labels[index])
            label = f", label {self.classes[c] if c < len(self.classes) else c}"
        loss = self.snapshot.item_recon[index]
        self.scatter.show_preview(self.test_images[index], recon, f"{verb} test item {index}{label}\nrecon loss {loss:.1f} nats")

    def _on_point_hovered(self, index: int) -> None:
        self._preview(index, "Hovering")

    def _on_point_clicked(self, index: int) -> None:
        """Put the marker on the point and decode the point's own latent (not its projection)."""
        self._preview(index, "Selected")
        if self.decoder is None or self.snapshot is None or not 0 <= index < len(self.scatter.layout_points):
            return
        x, y = self.scatter.layout_points[index]
        self.scatter.set_marker(float(x), float(y))
        z = self.snapshot.latents[index]
        self.marker_latent = np.array(z, copy=True)
        self.canvas.set_image(self.decoder.decode(z[None])[0], f"test item {index}: z = [{_format_latent(z)}]")

    def _on_view_changed(self, mode: str) -> None:
        if self.snapshot is None:
            return
        if mode == "tsne":
            if self.space.mode != "tsne":
                self._on_tsne_requested()
            return
        self.tsne.cancel()
        self.space.set_mode(mode)
        self._refresh_view()

    def _refresh_view(self) -> None:
        self.scatter.set_points(self.space.layout, self.test_labels, self.classes)
        self.scatter.set_view(self.space.mode if self.space.mode != "line" else "pca")
        self.scatter.set_note(self.space.describe())
        self.scatter.fit_view()
        if self.marker_latent is not None:
            self.scatter.set_marker(*self.space.to_view(self.marker_latent))
        self._decode_marker()

    def _on_tsne_requested(self) -> None:
        if self.snapshot is None:
            return
        init = self.space.layout if self.space.mode == "tsne" else None  # warm start from the last layout
        self._tsne_epoch = self.snapshot.epoch
        self._tsne_latents = self.snapshot.latents
        self._tsne_shown = False
        self.tsne.start(self.snapshot.latents, init=init)
        self.scatter.set_tsne_progress(0.0)

    def _on_tsne_progress(self, progress) -> None:
        self.scatter.set_tsne_progress(progress.fraction)
        if not self._tsne_shown:
            self.scatter.fit_view()  # the layout starts tiny and grows: follow it
            self._tsne_shown = True
        self.scatter.set_points(progress.layout, self.test_labels, self.classes)  # live partial layout

    def _on_tsne_finished(self, progress) -> None:
        self.scatter.set_tsne_progress(None)
        self.space.set_tsne(progress.layout, self._tsne_latents, self._tsne_epoch)
        self._refresh_view()

    def _on_tsne_failed(self, message: str) -> None:
        self.scatter.set_tsne_progress(None)
        self.show_error(message)
        self._refresh_view()

    def _on_tsne_cancelled(self) -> None:
        self.scatter.set_tsne_progress(None)
        if self.snapshot is not None:  # replace the cancelled run's partial layout with the current view
            self._refresh_view()

    def _update_gallery(self) -> None:
        snap = self.snapshot
        if snap is None or self.test_images is None:
            return
        if self.gallery.show_worst():
            idx, recons, what = snap.worst_indices, snap.worst_recons, "the worst-reconstructed test items"
        else:
            idx, recons, what = snap.probe_indices, snap.probe_recons, "a fixed probe batch"
        self.gallery.set_pairs(self.test_images[idx], recons, f"Epoch {snap.epoch}: {what}, inputs above reconstructions")

    # -- files ----------------------------------------------------------------------------
    def _on_open(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a latentlab run", self._last_folder())
        if folder:
            self._remember_folder(folder + "/")
            self.open_run_dir(folder)

    def open_run_dir(self, folder: str | Path) -> bool:
        """Show a saved run (from the app or ``latentlab train``); errors become a dialog."""
        if self.controller.running:
            self.show_error("Stop the current training before opening another run.")
            return False
        try:
            run = open_run(folder)
            images, labels = run.load_testset()
            snap = run.load_epoch_snapshot()
            model_config = run.config.to_dict()["model"]
            decoder = LatentDecoder(model_config, run.image_shape, snap.decoder_state)
        except LatentlabError as exc:
            self.show_error(str(exc))
            return False
        except (ValueError, RuntimeError):  # weights of other shapes than the settings describe
            self.show_error(f"The weights in {folder} do not fit the model its settings describe; the run is damaged.")
            return False
        self.tsne.cancel()
        self.run_dir = run.run_dir
        self.test_images = images.numpy()
        self.test_labels = None if labels is None else labels.numpy()
        self.classes = run.classes
        self.model_config = model_config
        self.image_shape = run.image_shape
        self.decoder = decoder
        self.space = LatentSpace()
        self.endpoints.clear()
        self.panel.set_settings(run.config.to_dict())
        self.loss_plot.set_history(run.history.get("steps", []), run.history.get("epochs", []))
        self.snapshot = snap
        self._show_snapshot(snap)
        self.status_epoch.setText(f"Opened {run.run_dir.name}: epoch {run.epoch}, step {run.step}")
        self.setWindowTitle(f"latentlab — {run.run_dir.name}")
        return True

    def _on_save(self) -> None:
        if self.run_dir is None:
            self.show_error("There is no run to save yet; start training or open a run first.")
            return
        target, _ = QFileDialog.getSaveFileName(self, "Save the run as a folder", self._last_folder())
        if target:
            self._remember_folder(target)
            self.save_run_to(target)

    def save_run_to(self, target: str | Path) -> bool:
        """Copy the current run's latest checkpoint into a new folder ``target``."""
        target = Path(target)
        if self.run_dir is None or not (self.run_dir / "run.json").is_file():
            self.show_error("The run has no checkpoint yet; wait for the first epoch to finish.")
            return False
        if target.exists():
            self.show_error(f"{target} already exists; choose a new folder name.")
            return False
        try:
            # The committed checkpoint, read through the files opened with it: a copy taken
            # while training goes on is whole, never a mix of two checkpoints.
            with open_run(self.run_dir) as run:
                run.copy_to(target)
        except LatentlabError as exc:
            self.show_error(str(exc))
            return False
        self.statusBar().showMessage(f"Saved the run to {target}.", 10000)
        return True

    def _ask_path(self, title: str, suffix: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self, title, self._last_folder(), f"*{suffix}")
        if not path:
            return None
        self._remember_folder(path)
        return path if path.lower().endswith(suffix) else path + suffix

    def _on_export_png(self, key: str) -> None:
        path = self._ask_path(f"Export the {self.docks[key].windowTitle()} pane", ".png")
        if path:
            self.export_pane_png(key, path)

    def export_pane_png(self, key: str, path: str | Path) -> bool:
        if not self.docks[key].widget().grab().save(str(path), "PNG"):
            self.show_error(f"Could not write {path}; check the folder and permissions.")
            return False
        return True

    def _on_export_latents(self) -> None:
        path = self._ask_path("Export latents", ".csv")
        if path:
            self.export_latents_csv(path)

    def export_latents_csv(self, path: str | Path) -> bool:
        if self.snapshot is None:
            self.show_error("There are no latents yet; wait for the first epoch to finish.")
            return False
        from latentlab.core.export import write_latents

        try:
            write_latents(Path(path), self.snapshot.latents, self.test_labels)
        except OSError as exc:
            self.show_error(f"Could not write {path} ({exc.strerror or exc}); check the folder and permissions.")
            return False
        return True

    def _on_export_history(self) -> None:
        path = self._ask_path("Export the loss history", ".csv")
        if path:
            self.export_history_csv(path)

    def export_history_csv(self, path: str | Path) -> bool:
        history = self.loss_plot.history()
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(["split", "step", "recon", "kl", "total"])
        for split in ("train", "test"):
            h = history[split]
            for row in zip(h["step"], h["recon"], h["kl"], h["total"]):
                writer.writerow([split, int(row[0]), *(f"{v:.6g}" for v in row[1:])])
        try:
            atomic_write(Path(path), text.getvalue().encode("utf-8"))
        except OSError as exc:
            self.show_error(f"Could not write {path} ({exc.strerror or exc}); check the folder and permissions.")
            return False
        return True

    # -- closing --------------------------------------------------------------------------
    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if self.controller.running:
            answer = QMessageBox.question(
                self, "latentlab", "Training is running. Stop it (a checkpoint is kept) and quit?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            self.controller.stop_and_wait()
        self.fetcher.shutdown()  # a download in flight is cancelled; its partial file removed
        self.tsne.shutdown()
        self._save_settings()
        event.accept()


def _format_latent(z: np.ndarray, shown: int = 6) -> str:
    return ", ".join(f"{v:+.2f}" for v in z[:shown]) + (", …" if len(z) > shown else "")


pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)
