"""Following a run another process (or machine) trains: what is new in its folder.

Everything here reads; nothing writes or locks, so it works on a copy of the folder that
sshfs or a sync tool keeps up to date. ``RunFollower.poll`` is cheap when nothing changed
(a few ``stat`` calls), so a caller can poll it every second.
"""

from __future__ import annotations

import enum
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .checkpoint import MAX_RUN_FILE_BYTES, RUN_FILE, RunLock
from .events import StepMetrics
from .metrics_log import MAX_LINE, METRICS_FILE, decode

READ_LIMIT = 4 * 1024 * 1024  # per poll, so one call stays short however far behind the reader is


class MetricsTail:
    """New complete records of a metrics file, from a byte offset on.

    A last line without its newline is left for a later read; lines that are not records are
    skipped. A file that shrank or was replaced is read again from the start, and records of
    steps already returned are not returned twice.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.offset = 0
        self.last_step = -1
        self._identity: tuple[int, int] | None = None
        self._skipping = False  # inside an over-long line: drop bytes up to its newline

    def read_new(self) -> list[StepMetrics]:
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                identity = (st.st_dev, st.st_ino)
                if identity != self._identity or st.st_size < self.offset:
                    self._identity, self.offset, self._skipping = identity, 0, False
                f.seek(self.offset)
                data = f.read(READ_LIMIT)
        except OSError:
            return []  # not there yet, or unreadable for now: try again at the next poll
        out: list[StepMetrics] = []
        end = data.rfind(b"\n") + 1
        if end == 0:  # no complete line yet
            if len(data) > MAX_LINE:
                self.offset += len(data)
                self._skipping = True
            return out
        self.offset += end
        lines = data[:end].split(b"\n")[:-1]
        if self._skipping:
            lines, self._skipping = lines[1:], False  # the over-long line's tail
        for line in lines:
            record = decode(line)
            if record is not None and record.step > self.last_step:
                self.last_step = record.step
                out.append(record)
        return out


class FollowState(enum.Enum):
    LIVE = "live"  # a trainer holds the run and it is growing
    FINISHED = "finished"  # run.json's checkpoint has every epoch the run was set to train
    STOPPED = "stopped"  # the trainer released its lock before the last epoch (Ctrl-C, an error)
    STALE = "stale"  # nothing has changed for a while: the trainer was killed, or the sync stalled


@dataclass(frozen=True)
class Progress:
    """What run.json says, read lightly (open_run does the full check when the snapshot is loaded)."""

    step: int
    epoch: int
    epochs: int
    epoch_complete: bool

    @property
    def finished(self) -> bool:
        return self.epoch >= self.epochs and self.epoch_complete


def read_progress(run_dir: str | os.PathLike) -> Progress | None:
    """run.json's step and epochs, or None where it is missing, mid-sync or not a run file."""
    try:
        with open(Path(run_dir) / RUN_FILE, "rb") as f:
            raw = f.read(MAX_RUN_FILE_BYTES + 1)
        meta = json.loads(raw.decode("utf-8"))
        step, epoch = meta["step"], meta["epoch"]
        epochs = meta["config"]["train"]["epochs"]
        complete = meta["epoch_complete"]
    except (OSError, UnicodeDecodeError, ValueError, RecursionError, KeyError, TypeError):
        return None
    if not (all(type(v) is int and v >= 0 for v in (step, epoch, epochs)) and isinstance(complete, bool)):
        return None
    return Progress(step, epoch, epochs, complete)


def has_newer_checkpoint(run_dir: str | os.PathLike, step: int) -> bool:
    """Whether run.json now describes a checkpoint past ``step``."""
    progress = read_progress(run_dir)
    return progress is not None and progress.step > step


def trainer_present(run_dir: str | os.PathLike) -> bool:
    """Whether a trainer's lock file is there: a trainer unlinks it when it lets go, however it
    stops short of kill -9 (which leaves it, hence the staleness rule)."""
    return (Path(run_dir) / RunLock.FILE).exists()


@dataclass(frozen=True)
class FollowUpdate:
    metrics: tuple[StepMetrics, ...]  # new train-step records, in step order
    progress: Progress | None  # run.json's, when it changed since the last poll
    state: FollowState


class RunFollower:
    """Polls a run folder: new metrics records, a newer run.json, and whether it is still written."""

    def __init__(self, run_dir: str | os.PathLike, *, stale_after: float = 60.0, clock=time.monotonic):
        self.run_dir = Path(run_dir)
        self.tail = MetricsTail(self.run_dir / METRICS_FILE)
        self.stale_after = stale_after
        self._clock = clock
        self._signature: tuple | None = None
        self._last_change = clock()
        self.progress: Progress | None = None

    def _run_signature(self) -> tuple:
        sig = []
        for name in (RUN_FILE, METRICS_FILE):
            try:
                st = os.stat(self.run_dir / name)
                sig.append((st.st_ino, st.st_size, st.st_mtime_ns))
            except OSError:
                sig.append(None)
        return tuple(sig)

    def poll(self) -> FollowUpdate:
        now = self._clock()
        signature = self._run_signature()
        changed = signature != self._signature
        self._signature = signature
        if changed:
            self._last_change = now
        metrics = tuple(self.tail.read_new())
        progress = None
        if changed or self.progress is None:
            fresh = read_progress(self.run_dir)
            if fresh is not None and fresh != self.progress:
                self.progress = progress = fresh
        return FollowUpdate(metrics, progress, self._state(now))

    def _state(self, now: float) -> FollowState:
        if self.progress is not None and self.progress.finished:
            return FollowState.FINISHED
        if not trainer_present(self.run_dir):
            return FollowState.STOPPED
        if now - self._last_change > self.stale_after:
            return FollowState.STALE
        return FollowState.LIVE
