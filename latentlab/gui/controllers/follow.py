"""Following a run another process or machine trains: *File → Follow run…* and ``--follow``.

The run is opened read-only as *Open run…* opens it; then a QFileSystemWatcher on the run
folder and its metrics.jsonl, with a 1 s poll for filesystems where watching fails (sshfs,
some sync tools), asks ``core.follow.RunFollower`` what is new: step records go to the losses
pane, a newer checkpoint's snapshot to the explorer. Loading a checkpoint stays on the GUI
thread: open_run + load_epoch_snapshot measured ~1 ms for a digits run, far under a frame;
applying it redraws the panes, as a snapshot from the app's own training does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer

from latentlab.core.checkpoint import open_run
from latentlab.core.errors import LatentlabError
from latentlab.core.follow import FollowState, RunFollower
from latentlab.core.metrics_log import METRICS_FILE

POLL_MS = 1000  # the fallback where the watcher says nothing
COALESCE_MS = 20  # a checkpoint is several renames: one poll for the burst


@dataclass(frozen=True)
class _EpochRow:  # what Explorer.add_epoch reads of a snapshot, for epochs only in run.json's history
    epoch: int
    step: int
    test_recon: float
    test_kl: float
    test_total: float


class FollowController(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.follower: RunFollower | None = None
        self.shown_step = -1  # the step of the checkpoint on screen
        self.load_ms: list[float] = []  # per checkpoint: open_run + load_epoch_snapshot (what a worker would do)
        self.apply_ms: list[float] = []  # per checkpoint: apply_snapshot, the panes redrawn (as in training)
        self._name = ""
        self._watcher = QFileSystemWatcher(self)
        self._watcher.directoryChanged.connect(self._soon)
        self._watcher.fileChanged.connect(self._soon)
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self.poll)
        self._coalesce = QTimer(self)
        self._coalesce.setSingleShot(True)
        self._coalesce.setInterval(COALESCE_MS)
        self._coalesce.timeout.connect(self.poll)

    @property
    def following(self) -> bool:
        return self.follower is not None

    def ask_and_follow(self) -> None:
        folder = self.window.files.ask_folder("Follow a latentlab run")
        if folder:
            self.start(folder)

    def start(self, folder: str | Path) -> bool:
        """Open ``folder`` and keep it live; a folder that is no run is a dialog, as with Open."""
        self.stop()
        if not self.window.open_run_dir(folder):
            return False
        contents = self.window.explorer.contents
        self._name, self.shown_step = contents.name, contents.step
        self.follower = RunFollower(contents.run_dir)
        self.follower.tail.last_step = contents.step  # the records up to it came with run.json's history
        self._watch()
        self._poll.start()
        self.poll()
        return True

    def stop(self) -> None:
        self.follower = None
        self._poll.stop()
        self._coalesce.stop()
        paths = self._watcher.files() + self._watcher.directories()
        if paths:
            self._watcher.removePaths(paths)

    def _soon(self, _path: str = "") -> None:
        if self.follower is not None and not self._coalesce.isActive():
            self._coalesce.start()

    def _watch(self) -> None:
        """Watch the folder, and metrics.jsonl once it exists (a watch ends when its file is replaced)."""
        folder = self.follower.run_dir
        wanted = [str(folder)] + [str(p) for p in (folder / METRICS_FILE,) if p.exists()]
        missing = [p for p in wanted if p not in self._watcher.files() + self._watcher.directories()]
        if missing:
            self._watcher.addPaths(missing)  # may fail silently (no inotify): the poll covers it

    def poll(self) -> None:
        if self.follower is None:
            return
        self._watch()
        update = self.follower.poll()
        for m in update.metrics:
            self.window.explorer.add_metrics(m)
            self.window.loss_plot.add_train(m.step, m.recon, m.kl, m.recon + m.kl, None if m.beta == 1 else m.total)
        progress = self.follower.progress
        if progress is not None and progress.step > self.shown_step:
            self._load_checkpoint()
        self._say(update.state)

    def _load_checkpoint(self) -> None:
        started = time.perf_counter()
        try:
            with open_run(self.follower.run_dir) as run:
                snap = run.load_epoch_snapshot()
                epochs = run.history.get("epochs", [])
        except LatentlabError:
            return  # mid-sync or mid-commit: the next poll tries again
        loaded = time.perf_counter()
        explorer, plot = self.window.explorer, self.window.loss_plot
        shown = {row["step"] for row in explorer.history["epochs"]}
        for row in epochs:
            if row["step"] not in shown and row["step"] <= snap.step:
                explorer.add_epoch(_EpochRow(int(row["epoch"]), int(row["step"]), row["recon"], row["kl"], row["total"]))
                plot.add_test(row["step"], row["recon"], row["kl"], row["total"])
        explorer.apply_snapshot(snap)
        self.shown_step = snap.step
        self.load_ms.append((loaded - started) * 1000)
        self.apply_ms.append((time.perf_counter() - loaded) * 1000)

    def _say(self, state: FollowState) -> None:
        snap = self.window.explorer.snapshot
        text = f"Following {self._name}: epoch {snap.epoch if snap is not None else 0}"
        if state is FollowState.FINISHED:
            text += ", finished"
        elif state is FollowState.STOPPED:
            text += ", stopped being written (its trainer let go)"
        elif state is FollowState.STALE:
            text += f", stopped being written (no change for {self.follower.stale_after:.0f} s)"
        self.window.status.epoch.setText(text)
