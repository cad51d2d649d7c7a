"""File actions: open, save and resume runs, export panes and data. Errors become one dialog.

Reading and copying runs is ``latentlab.core.checkpoint``'s job; this object asks for
paths, calls core, and writes what it read into the explorer model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, QSettings
from PySide6.QtWidgets import QFileDialog, QWidget

from latentlab.core.checkpoint import Checkpoint, open_run
from latentlab.core.config import RunConfig
from latentlab.core.errors import ConfigError, LatentlabError

from ..explorer import Explorer, RunContents


def contents_of(run: Checkpoint) -> RunContents:
    images, labels = run.load_testset()
    return RunContents(
        run_dir=run.run_dir, config=run.config.to_dict(), image_shape=run.image_shape,
        test_images=images.numpy(), test_labels=None if labels is None else labels.numpy(),
        classes=run.classes, epoch=run.epoch, step=run.step, history=run.history,
        evaluation=run.evaluation,
    )


class FileActions(QObject):
    """The File menu's work, for a window that shows errors with ``show_error(sentence)``."""

    def __init__(self, window: QWidget, explorer: Explorer, settings: QSettings,
                 show_error: Callable[[str], None], status: Callable[[str], None]):
        super().__init__(window)
        self.window, self.explorer, self.settings = window, explorer, settings
        self.show_error, self.status = show_error, status

    # -- folders the dialogs start in -----------------------------------------------------------
    def last_folder(self) -> str:
        return str(self.settings.value("files/last_folder", str(Path.home())))

    def remember_folder(self, path: str | Path) -> None:
        self.settings.setValue("files/last_folder", str(Path(path).parent))

    def ask_folder(self, title: str) -> str | None:
        folder = QFileDialog.getExistingDirectory(self.window, title, self.last_folder())
        if folder:
            self.remember_folder(folder + "/")
        return folder or None

    def ask_save_path(self, title: str, suffix: str = "") -> str | None:
        path, _ = QFileDialog.getSaveFileName(self.window, title, self.last_folder(), f"*{suffix}" if suffix else "")
        if not path:
            return None
        self.remember_folder(path)
        return path if not suffix or path.lower().endswith(suffix) else path + suffix

    # -- runs --------------------------------------------------------------------------------
    def open_run(self, folder: str | Path) -> bool:
        """Show a saved run in the explorer (the one way to load); an error is a dialog."""
        from ..decoder import LatentDecoder

        try:
            with open_run(folder) as run:
                contents = contents_of(run)
                snap = run.load_epoch_snapshot()
                decoder = LatentDecoder(contents.config["model"], run.image_shape, snap.decoder_state)
        except LatentlabError as exc:
            self.show_error(str(exc))
            return False
        except (ValueError, RuntimeError):  # decoder weights of other shapes than the settings describe
            self.show_error(f"The weights in {folder} do not fit the model its settings describe; the run is damaged.")
            return False
        self.explorer.load(contents, snap, decoder=decoder)
        return True

    def plan_resume(self, folder: str | Path, epochs: int, device: str) -> tuple[RunContents, RunConfig] | None:
        """What resuming ``folder`` trains: to the run's own epochs if it stopped early, else to ``epochs``."""
        try:
            with open_run(folder) as run:
                contents = contents_of(run)
                target = run.config.train.epochs if run.epoch < run.config.train.epochs else epochs
                if target <= run.epoch:
                    raise ConfigError(f"The run in {run.run_dir} has trained all its {run.epoch} epochs; "
                                      f"set Epochs above {run.epoch} to train it further.")
                return contents, run.config.with_changes(train={"epochs": target, "device": device})
        except LatentlabError as exc:
            self.show_error(str(exc))
            return None

    def save_run(self, target: str | Path) -> bool:
        """Copy the shown run's latest committed checkpoint into the new folder ``target``."""
        run_dir = self.explorer.contents.run_dir if self.explorer.contents else None
        if run_dir is None or not (run_dir / "run.json").is_file():
            self.show_error("The run has no checkpoint yet; wait for the first epoch to finish.")
            return False
        try:
            # Read through the files opened with the checkpoint: a copy taken while
            # training goes on is whole, never a mix of two checkpoints.
            with open_run(run_dir) as run:
                run.copy_to(target)
        except LatentlabError as exc:
            self.show_error(str(exc))
            return False
        self.status(f"Saved the run to {target}.")
        return True

    # -- exports -------------------------------------------------------------------------------
    def export_png(self, widget: QWidget, path: str | Path) -> bool:
        if Path(path).is_dir() or not widget.grab().save(str(path), "PNG"):
            self.show_error(f"Could not write {path}; choose a file name in a folder you can write to.")
            return False
        return True

    def export_latents(self, path: str | Path) -> bool:
        snap, contents = self.explorer.snapshot, self.explorer.contents
        if snap is None or contents is None:
            self.show_error("There are no latents yet; wait for the first epoch to finish.")
            return False
        from latentlab.core.export import write_latents

        return self._writing(path, lambda: write_latents(Path(path), snap.latents, contents.test_labels))

    def export_history(self, path: str | Path) -> bool:
        if self.explorer.contents is None:
            self.show_error("There is no loss history yet; start training or open a run first.")
            return False
        from latentlab.core.export import write_history_csv

        return self._writing(path, lambda: write_history_csv(Path(path), self.explorer.history))

    def _writing(self, path, write: Callable[[], None]) -> bool:
        try:
            write()
        except OSError as exc:  # named by the path the user gave, not the temporary file beside it
            self.show_error(f"Could not write {path} ({exc.strerror or exc}); check the folder and permissions.")
            return False
        return True
