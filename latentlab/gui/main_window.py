"""The main window: builds the docks, menus and status bar, and wires views, model and controllers.

What is on screen lives in one Qt-free ``Explorer``; the controllers (training, projections,
files) write into it, and the ``Presenter`` draws it into the passive panes.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMessageBox, QWidget

from latentlab.core.config import RunConfig
from latentlab.core.errors import LatentlabError
from latentlab.core.events import EpochSnapshot, RunStarted, RunState, StepMetrics
from latentlab.core.paths import default_runs_dir, new_run_dir
from latentlab.core.projection import ViewKind
from latentlab.core.trainer import available_devices

from .compare_runs import CompareRuns
from .controllers.all_items import AllItemsPresenter
from .controllers.encoding import EncodeActions
from .controllers.files import FileActions
from .controllers.follow import FollowController
from .controllers.projections import ProjectionController
from .controllers.scoring import ScoringController
from .controllers.training import TrainingController
from .dataset_fetcher import DatasetFetcher
from .decoder import LatentDecoder
from .directions import DirectionsPresenter
from .explorer import LAYOUTS, Change, Explorer, RunContents
from .inputs import InputsPresenter
from .manifold import ManifoldPresenter
from .menus import build_menus
from .posteriors import PosteriorPresenter
from .presenter import Presenter
from .run_status import RunStatus
from .scores import Scores
from .timeline import TimelinePresenter
from .traversals import TraversalPresenter
from .trust import TrustPresenter
from .widgets.control_panel import ControlPanel
from .widgets.decode_canvas import DecodeCanvas
from .widgets.gallery import ReconstructionGallery
from .widgets.input_list import InputList
from .widgets.input_markers import InputMarkers
from .widgets.latent_scatter import LatentScatter
from .widgets.loss_plot import LossPlot
from .widgets.timeline_scrubber import TimelineScrubber
from .widgets.traversal_grid import TraversalGrid


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
        self.runs_root = Path(runs_root) if runs_root else default_runs_dir()
        self.controller = controller or TrainingController(self, num_threads=None)
        self.controller.setParent(self)
        self.explorer = Explorer(LatentDecoder, fit=lambda request: self.projections.fit(request),
                                 lay_out=lambda request: self.projections.lay_out(request))
        # Fits views and lays out t-SNE/UMAP off the GUI thread, on both cores when no training runs.
        self.projections = ProjectionController(self.explorer, self,
                                                training=lambda: self.controller.state is RunState.RUNNING)
        self.error_box: QMessageBox | None = None
        self._resuming: RunContents | None = None  # the history a resumed run continues
        self._close_when_stopped = False
        self._score_when_idle = False  # a run finished: its test NLL is computed once its thread is gone

        self.panel = ControlPanel()
        self.panel.set_devices(available_devices())
        self.fetcher = DatasetFetcher(self, self.panel)  # offers to download a chosen dataset's missing files
        self.loss_plot = LossPlot()
        self.scatter = LatentScatter()
        self.canvas = DecodeCanvas()
        self.gallery = ReconstructionGallery()
        self.traversal = TraversalGrid()
        self.scrubber = TimelineScrubber()
        self.scatter.layout().insertWidget(2, self.scrubber)  # under the plot, above the hover preview
        self.input_list = InputList()
        self.presenter = Presenter(self.explorer, self.scatter, self.canvas, self.gallery, self.loss_plot)
        self.traversals = TraversalPresenter(self.explorer, self.traversal)
        self.timeline = TimelinePresenter(self.explorer, self.scrubber, self.show_error)  # replay the run
        self.directions = DirectionsPresenter(self.explorer, self.scatter, self.canvas)  # selections, slider, A-B path
        self.manifold = ManifoldPresenter(self.explorer, self.scatter)  # the view tiled with its decodings
        self.posteriors = PosteriorPresenter(self.explorer, self.scatter)  # hovered ellipses, points by σ
        self.trust = TrustPresenter(self.explorer, self.scatter)  # the view's trust figures, true neighbours
        self.all_items = AllItemsPresenter(self.explorer, self.scatter, self.directions.selection, self.show_error)
        self.files = FileActions(self, self.explorer, self.settings, self.show_error,
                                 lambda text: self.statusBar().showMessage(text, 10000))
        self.compare = CompareRuns(self.explorer, self.loss_plot, self.canvas, self.gallery,  # a run B beside A
                                   self.show_error)
        self.scores = Scores(self.explorer)  # the user's images and the test NLL, scored off the GUI thread
        self.scoring = ScoringController(self.explorer, self.scores, self)
        self.inputs = InputsPresenter(self.explorer, self.scores, self.input_list, InputMarkers(self.scatter),
                                      self.loss_plot)
        self.encoding = EncodeActions(self, self.explorer, self.scoring, self.files.last_folder,
                                      self.files.remember_folder, self.show_error)
        self.follow = FollowController(self)  # File → Follow run…: a run another process writes, kept live
        self.setAcceptDrops(True)  # image files dropped anywhere on the window are encoded
        self._build_docks()
        build_menus(self)
        self.status = RunStatus(self.statusBar())
        self.status_epoch = self.status.epoch
        self._connect()
        self._restore_settings()
        self.scatter.setEnabled(False)
        self.canvas.setEnabled(False)

    # -- what tests, the self-test and benchmarks read ------------------------------------
    @property
    def snapshot(self) -> EpochSnapshot | None:
        return self.explorer.snapshot

    @property
    def run_dir(self) -> Path | None:
        return self.explorer.contents.run_dir if self.explorer.contents else None

    @property
    def marker_latent(self) -> np.ndarray | None:
        return None if self.explorer.marker is None else self.explorer.marker.latent

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
            ("traversal", "Traversals", self.traversal, Qt.DockWidgetArea.RightDockWidgetArea),
            ("images", "Your images", self.input_list, Qt.DockWidgetArea.LeftDockWidgetArea),
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
        self.splitDockWidget(self.docks["gallery"], self.docks["traversal"], Qt.Orientation.Horizontal)
        self.splitDockWidget(self.docks["controls"], self.docks["images"], Qt.Orientation.Vertical)
        placeholder = QWidget()
        placeholder.setMaximumSize(0, 0)
        self.setCentralWidget(placeholder)

    def _connect(self) -> None:
        self.panel.start_requested.connect(self._on_start)
        self.panel.pause_requested.connect(self.controller.toggle_pause)
        self.panel.stop_requested.connect(self.controller.stop)
        self.panel.open_requested.connect(self._on_open)
        self.panel.save_requested.connect(self._on_save)
        self.controller.run_started.connect(self._on_run_started)
        self.controller.metrics.connect(self._on_metrics)
        self.controller.epoch_done.connect(self._on_epoch_done)
        self.controller.snapshot.connect(self.explorer.apply_snapshot)
        self.controller.run_finished.connect(self.status.finished)
        self.controller.run_finished.connect(lambda _: setattr(self, "_score_when_idle", True))
        self.controller.failed.connect(self.show_error)
        self.controller.state_changed.connect(self._on_state_changed)
        self.fetcher.failed.connect(self.show_error)
        self.fetcher.message.connect(lambda text: self.statusBar().showMessage(text, 10000))
        self.projections.failed.connect(self.show_error)
        self.scoring.failed.connect(self.show_error)
        self.scoring.test_progress.connect(self.inputs.test_progress)
        self.loss_plot.test_nll_requested.connect(self.scoring.compute_test_nll)
        self.loss_plot.test_nll_samples_changed.connect(self.scoring.set_samples)
        self.input_list.encode_requested.connect(self.encoding.ask_and_encode)
        self.input_list.draw_requested.connect(self.encoding.draw)
        self.input_list.clear_requested.connect(self.scores.clear)
        self.input_list.input_chosen.connect(self.scoring.place_input)
        # Decode at once, in the handler of the move (~0.1 ms): deferred, it would queue behind
        # a repaint of the scatter. Moves are already coalesced upstream (pyqtgraph takes at
        # most 100 a second, Qt merges queued motion events), so marker and image appear together.
        self.scatter.marker_moved.connect(self.explorer.drag)
        self.scatter.point_clicked.connect(self._on_point_clicked)
        self.scatter.view_changed.connect(self._on_view_changed)
        self.scatter.tsne_requested.connect(  # "Run t-SNE" / "Run UMAP": the layout chosen, t-SNE by default
            lambda: self._on_view_changed(self.explorer.chosen if self.explorer.chosen in LAYOUTS else ViewKind.TSNE))
        self.scatter.tsne_cancel_requested.connect(self.projections.cancel_tsne)
        self.canvas.sample_requested.connect(lambda: self.explorer.sample_prior(np.random.default_rng()))
        self.canvas.endpoint_requested.connect(self.explorer.set_endpoint)
        self.explorer.subscribe(self._on_explorer_change)

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
                self.panel.set_settings(json.loads(saved))
            except (ValueError, TypeError, AttributeError, OverflowError):
                pass  # stale or foreign settings: keep the defaults

    def _save_settings(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("run/settings", json.dumps(self.panel.settings()))
        self.settings.sync()

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
        self._resuming = None
        self.follow.stop()  # training here ends following there
        self.projections.cancel_tsne()
        self._save_settings()
        self.controller.start(config, new_run_dir(self.runs_root, config.data.name))

    def _on_resume(self) -> None:
        folder = self.files.ask_folder("Resume a latentlab run")
        if folder:
            self.resume_run(folder)

    def resume_run(self, folder: str | Path) -> bool:
        """Train a saved run on from where it stopped: to its own epochs, or on to the panel's."""
        if self.controller.running:
            self.show_error("Stop the current training before resuming another run.")
            return False
        plan = self.files.plan_resume(folder, self.panel.epochs.value(), self.panel.device.currentData())
        if plan is None:
            return False
        contents, config = plan
        self.follow.stop()
        self._resuming = contents
        self.projections.cancel_tsne()
        self.controller.start(config, Path(contents.run_dir), resume=True)
        return True

    def _on_run_started(self, info: RunStarted) -> None:
        contents = RunContents.from_run_started(info)
        if self._resuming is not None and self._resuming.run_dir == contents.run_dir:
            contents = replace(contents, history=self._resuming.history)
        self._resuming = None
        self.explorer.load(contents)
        self.status.started(info)

    def _on_metrics(self, m: StepMetrics) -> None:
        self.explorer.add_metrics(m)
        # The same quantity as the test curve (the -ELBO); the weighted objective apart, where it differs.
        self.loss_plot.add_train(m.step, m.recon, m.kl, m.recon + m.kl, None if m.beta == 1 else m.total)
        self.status.metrics(m)

    def _on_epoch_done(self, snap: EpochSnapshot) -> None:
        if snap.epoch > 0 or snap.step > 0:
            self.explorer.add_epoch(snap)
            self.loss_plot.add_test(snap.step, snap.test_recon, snap.test_kl, snap.test_total)

    def _on_state_changed(self, state: RunState) -> None:
        self.panel.set_state(state)
        self.status.state(state)
        self.resume_action.setEnabled(state is RunState.IDLE)
        if state is RunState.IDLE and self._close_when_stopped:
            self.close()  # the close the user asked for, now that the thread has ended
        elif state is RunState.IDLE and self._score_when_idle:
            self._score_when_idle = False
            self.scoring.score_finished_run()  # the finished run's test NLL, kept in its run.json

    def show_error(self, message: str) -> None:
        """A non-blocking dialog: the window stays alive and usable behind it."""
        box = QMessageBox(QMessageBox.Icon.Warning, "latentlab", message, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.error_box = box

    # -- views and the marker ---------------------------------------------------------------
    def _on_view_changed(self, kind: ViewKind) -> None:
        self.projections.start_tsne(self.explorer.choose_view(kind))

    def _on_point_clicked(self, index: int) -> None:
        self.presenter.preview(index, "Selected")
        self.explorer.select_item(index)

    def _on_explorer_change(self, change: Change) -> None:
        if Change.RUN in change:
            contents = self.explorer.contents
            self.setWindowTitle(f"latentlab — {contents.name}" if contents else "latentlab")
            if contents is not None and not self.controller.running:
                self.status.opened(contents.name, contents.epoch, contents.step)
                self.panel.set_settings(contents.config)

    # -- files ----------------------------------------------------------------------------
    def _on_open(self) -> None:
        folder = self.files.ask_folder("Open a latentlab run")
        if folder:
            self.open_run_dir(folder)

    def open_run_dir(self, folder: str | Path) -> bool:
        """Show a saved run (from the app or ``latentlab train``); errors become a dialog."""
        if self.controller.running:
            self.show_error("Stop the current training before opening another run.")
            return False
        self.projections.cancel_tsne()
        self.follow.stop()  # Follow run… opens through here, then follows
        return self.files.open_run(folder)

    def _on_save(self) -> None:
        if self.run_dir is None:
            self.show_error("There is no run to save yet; start training or open a run first.")
            return
        target = self.files.ask_save_path("Save the run as a folder")
        if target:
            self.save_run_to(target)

    def save_run_to(self, target: str | Path) -> bool:
        return self.files.save_run(target)

    def _ask_and(self, export, title: str, suffix: str) -> None:
        path = self.files.ask_save_path(title, suffix)
        if path:
            export(path)

    def _on_export_png(self, key: str) -> None:
        self._ask_and(lambda path: self.export_pane_png(key, path),
                      f"Export the {self.docks[key].windowTitle()} pane", ".png")

    def export_pane_png(self, key: str, path: str | Path) -> bool:
        return self.files.export_png(self.docks[key].widget(), path)

    def export_latents_csv(self, path: str | Path) -> bool:
        return self.files.export_latents(path)

    def export_history_csv(self, path: str | Path) -> bool:
        return self.files.export_history(path)

    # -- image files dropped on the window: encoded ------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if self.encoding.dropped_files(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt's name
        files = self.encoding.dropped_files(event.mimeData())
        if files:
            event.acceptProposedAction()
            self.encoding.encode_files(files)

    # -- closing --------------------------------------------------------------------------
    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        """Never destroys a running thread: while training stops (and saves), the window stays."""
        if self.controller.running:
            if not self._close_when_stopped:
                answer = QMessageBox.question(
                    self, "latentlab", "Training is running. Stop it (a checkpoint is kept) and quit?",
                    QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                )
                if answer != QMessageBox.StandardButton.Yes:
                    event.ignore()
                    return
                self._close_when_stopped = True
                self.controller.stop()
            self.statusBar().showMessage("Stopping… the window closes once the checkpoint is saved.")
            event.ignore()  # closed again by _on_state_changed when the thread has ended
            return
        self.follow.stop()
        self.fetcher.shutdown()  # a download in flight is cancelled; its partial file removed
        self.projections.shutdown()
        self.manifold.shutdown()
        self.trust.shutdown()
        self.all_items.shutdown()
        self.scoring.shutdown()
        self._save_settings()
        event.accept()


pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)
