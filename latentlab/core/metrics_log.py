"""metrics.jsonl: the run's step metrics, one JSON object a line, appended as they happen.

run.json only changes at a checkpoint; this file lets a reader on another machine (sshfs, a
synced folder) draw the training curve between checkpoints. Each record is written with one
``write`` of a whole line (no fsync: run.json stays the durable record), so a reader sees at
worst a last line still without its newline.

On resume the file is cut back to the records of steps the checkpoint holds (step <= its
step), in place, so its lines agree with run.json's history and the re-trained steps are
appended again rather than duplicated. A reader notices the file shrinking and starts over.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from .events import StepMetrics

METRICS_FILE = "metrics.jsonl"
_INTS = ("epoch", "step", "total_steps")
_FLOATS = ("recon", "kl", "total", "beta", "items_per_second", "elapsed")
MAX_LINE = 64 * 1024  # a record is ~250 bytes; anything longer is not one of ours


def encode(m: StepMetrics) -> bytes:
    record = {name: getattr(m, name) for name in _INTS + _FLOATS}
    return json.dumps(record, separators=(",", ":")).encode("utf-8") + b"\n"


def decode(line: bytes) -> StepMetrics | None:
    """The record on one line, or None for anything that is not a well-formed record."""
    if len(line) > MAX_LINE:
        return None
    try:
        record = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    ints = [record.get(k) for k in _INTS]
    floats = [record.get(k) for k in _FLOATS]
    if not all(type(v) is int and 0 <= v < 1 << 53 for v in ints):
        return None
    if not all(type(v) in (int, float) and math.isfinite(v) for v in floats):
        return None
    return StepMetrics(**dict(zip(_INTS, ints)), **{k: float(v) for k, v in zip(_FLOATS, floats)})


def _keep_length(data: bytes, last_step: int) -> int:
    """Bytes of the leading complete lines that record steps up to ``last_step``."""
    keep, offset = 0, 0
    for line in data.splitlines(keepends=True):
        offset += len(line)
        if not line.endswith(b"\n"):
            break  # a line a killed trainer left half-written
        record = decode(line)
        if record is not None and record.step > last_step:
            break
        keep = offset
    return keep


class MetricsLog:
    """The trainer's side: appends a line per StepMetrics; on resume first cuts the file back."""

    def __init__(self, run_dir: str | os.PathLike, start_step: int):
        self.path = Path(run_dir) / METRICS_FILE
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            data = b""
            if start_step > 0:
                with os.fdopen(os.dup(fd), "rb") as f:
                    data = f.read()
            os.ftruncate(fd, _keep_length(data, start_step))
            os.lseek(fd, 0, os.SEEK_END)
        except BaseException:
            os.close(fd)
            raise
        self._fd: int | None = fd

    def append(self, m: StepMetrics) -> None:
        if self._fd is None:
            return
        line = encode(m)
        written = 0
        while written < len(line):  # one write in practice; a short write is finished, not left torn
            written += os.write(self._fd, line[written:])

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> MetricsLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
