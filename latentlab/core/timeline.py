"""A run's timeline: one compact frame per kept epoch, to replay how the model learned.

A frame is the epoch's ``EpochSnapshot`` arrays (test latents and log-variances, the KL
of each dimension, per-item reconstruction loss, the gallery's reconstructions) and the
model's weights, in one safetensors file::

    timeline/epoch-000012.safetensors

With the encoder as well as the decoder, every instrument works on a replayed epoch as on
the newest: decoding, and scoring the user's images and the test NLL with that epoch's
model. The optimizer state is left out: a frame is looked at, not trained on. A frame is written once, atomically, at the end
of its epoch, and never changes; ``TrainConfig.timeline_every`` thins them out for long
runs (the last epoch is always kept). Reading checks every array against the shapes of
the run's own snapshot, so a damaged or foreign frame is a ``CheckpointError``, and
nothing in it can run code.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as st_load_numpy
from safetensors.numpy import save as st_save_numpy

from .checkpoint import _open_regular, _read_fd, atomic_write
from .config import timeline_stride
from .errors import CheckpointError
from .events import EpochSnapshot

TIMELINE_DIR = "timeline"
FRAME_FORMAT = "latentlab-timeline-frame"
_DECODER = "decoder_state/"  # prefixes of the weights in a frame, apart from the snapshot's arrays
_ENCODER = "encoder_state/"
_FRAME_NAME = re.compile(r"epoch-(\d{6})\.safetensors")  # frame_path's names: MAX_EPOCHS has six digits
MAX_FRAME_BYTES = 4 << 30  # far above any model this app trains, far below a bomb


def frame_path(run_dir: str | os.PathLike, epoch: int) -> Path:
    return Path(run_dir) / TIMELINE_DIR / f"epoch-{epoch:06d}.safetensors"


def keeps_epoch(epoch: int, every: int, last_epoch: int) -> bool:
    """Whether a run keeps the frame of ``epoch`` (1-based): every ``every``-th, and always the last."""
    return every > 0 and (epoch % every == 0 or epoch == last_epoch)


def write_frame(run_dir: str | os.PathLike, snap: EpochSnapshot) -> Path:
    """Write ``snap`` as the frame of its epoch (replacing any left by an earlier, unfinished run)."""
    path = frame_path(run_dir, snap.epoch)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {name: np.ascontiguousarray(a) for name, a in snap.to_arrays().items()}
    tensors.update({_DECODER + name: np.ascontiguousarray(a) for name, a in snap.decoder_state.items()})
    tensors.update({_ENCODER + name: np.ascontiguousarray(a) for name, a in snap.encoder_state.items()})
    metadata = {"format": FRAME_FORMAT, "epoch": str(snap.epoch), "step": str(snap.step)}
    atomic_write(path, st_save_numpy(tensors, metadata=metadata))
    return path


def frame_epochs(run_dir: str | os.PathLike | None, up_to: int | None = None) -> list[int]:
    """The epochs with a frame in the run folder, ascending; at most ``up_to`` when given."""
    if run_dir is None:
        return []
    try:
        names = os.listdir(Path(run_dir) / TIMELINE_DIR)
    except OSError:
        return []  # no timeline (an older run, or none kept), or a folder we cannot read: nothing to replay
    epochs = sorted(int(m.group(1)) for m in map(_FRAME_NAME.fullmatch, names) if m)
    return [e for e in epochs if e >= 1 and (up_to is None or e <= up_to)]


def remove_frames_after(run_dir: str | os.PathLike, epoch: int) -> None:
    """Forget frames past ``epoch`` (left by a run killed before its checkpoint, they are not its
    history) and the temporaries of a frame write that was killed; call holding the run's lock."""
    for later in frame_epochs(run_dir):
        if later > epoch:
            frame_path(run_dir, later).unlink(missing_ok=True)
    for leftover in (Path(run_dir) / TIMELINE_DIR).glob(".*.tmp"):
        leftover.unlink(missing_ok=True)


def read_frame(run_dir: str | os.PathLike, epoch: int, like: EpochSnapshot) -> EpochSnapshot:
    """The snapshot of ``epoch`` from its frame, checked against ``like`` (a snapshot of the same run).

    Every array and decoder weight must have ``like``'s shape and dtype and be finite;
    anything else raises ``CheckpointError`` with one sentence.
    """
    path = frame_path(run_dir, epoch)
    damaged = CheckpointError(f"The timeline frame of epoch {epoch} in {run_dir} is damaged; that epoch cannot be replayed.")
    try:
        fd = _open_regular(path)
        try:
            raw = _read_fd(fd, MAX_FRAME_BYTES)
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise CheckpointError(f"The run {run_dir} has no timeline frame of epoch {epoch}.") from None
    except ValueError:
        raise damaged from None
    except OSError as exc:
        raise CheckpointError(f"Could not read {path} ({exc.strerror or exc}); check the folder's permissions.") from None
    try:
        tensors = st_load_numpy(raw)
    except (SafetensorError, ValueError, TypeError, RuntimeError, OverflowError, MemoryError):
        raise damaged from None
    like_decoder, like_encoder = dict(like.decoder_state), dict(like.encoder_state)
    decoder, encoder = _weights(tensors, _DECODER, like_decoder), _weights(tensors, _ENCODER, like_encoder)
    arrays = {k: v for k, v in tensors.items() if not k.startswith((_DECODER, _ENCODER))}
    if not like_encoder:
        encoder = {}  # a run whose snapshots carry no encoder: its frames are decoded only
    if not (_same_shapes(arrays, like.to_arrays()) and _same_shapes(decoder, like_decoder)
            and _same_shapes(encoder, like_encoder)):
        raise damaged
    step = _frame_step(raw)
    try:
        return EpochSnapshot.from_arrays(arrays, decoder, epoch=epoch, step=step if step is not None else like.step,
                                         encoder_state=encoder)
    except (KeyError, ValueError, TypeError):
        raise damaged from None


def _weights(tensors: dict[str, np.ndarray], prefix: str, like: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The weights stored under ``prefix``, shaped as ``like``'s: safetensors' NumPy writer stores a
    0-d weight (a Gaussian's log sigma) as shape (1,)."""
    out = {}
    for key, value in tensors.items():
        if key.startswith(prefix):
            name = key[len(prefix):]
            scalar = name in like and np.ndim(like[name]) == 0 and value.shape == (1,)
            out[name] = value.reshape(()) if scalar else value
    return out


def _same_shapes(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> bool:
    if got.keys() != want.keys():
        return False
    for name, a in got.items():
        b = np.asarray(want[name])
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            return False
        if a.dtype.kind in "iu" and name.endswith("indices") and a.size and (a.min() < 0 or a.max() >= len(got.get("latents", a))):
            return False
    return True


def _frame_step(raw: bytes) -> int | None:
    """The optimizer step the frame was written at, from its safetensors header (None if absent)."""
    import json

    try:
        header = json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])
        step = int(header.get("__metadata__", {}).get("step"))
    except (ValueError, TypeError, AttributeError):
        return None
    return step if step >= 0 else None


class Timeline:
    """The epochs of one run that can be replayed, and their snapshots on demand.

    Snapshots seen live are held in memory (all of them for a run with no folder, the
    most recent ``cache_size`` otherwise); older ones are read back from their frames.

    Parameters
    ----------
    run_dir
        The run's folder, or None for a run that is not saved.
    saved_epochs
        Epochs whose frames are on disk already (an opened or resumed run).
    every
        The run's ``timeline_every``: which live epochs have a frame to come back to.
    last_epoch
        The run's final epoch, whose frame is always kept.
    writes
        Whether the run is trained here, so a kept epoch's frame is written right after its
        snapshot arrives; a run followed or opened lists only the frames in its folder.
    """

    def __init__(self, run_dir: str | os.PathLike | None, saved_epochs: list[int] = (), *,
                 every: int = 1, last_epoch: int = 0, cache_size: int = 8, writes: bool = True):
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.every, self.last_epoch, self.cache_size, self.writes = every, last_epoch, cache_size, writes
        self._saved = set(saved_epochs)
        self._cache: OrderedDict[int, EpochSnapshot] = OrderedDict()
        self.latest: EpochSnapshot | None = None

    @property
    def epochs(self) -> list[int]:
        """Every epoch that can be shown, ascending; the latest snapshot's is always last."""
        epochs = self._saved | set(self._cache)
        if self.latest is not None:
            epochs = {e for e in epochs if e <= self.latest.epoch} | {self.latest.epoch}
        return sorted(epochs)

    def add(self, snap: EpochSnapshot) -> None:
        """A live snapshot: the newest, and a frame of the timeline if the run keeps its epoch."""
        self.latest = snap
        if snap.epoch <= 0:
            return
        if self.run_dir is not None:
            self._saved.update(frame_epochs(self.run_dir, up_to=snap.epoch))  # and another process's (followed)
            if self.writes and keeps_epoch(snap.epoch, self.every, self.last_epoch):
                self._saved.add(snap.epoch)  # its trainer writes its frame right after this snapshot
        earlier = self._cache.get(snap.epoch)
        if earlier is not None and earlier.step < snap.step and snap.epoch in self._saved:
            return  # a stop part-way through the next epoch: the epoch's own frame stays its snapshot
        if self.run_dir is None or snap.epoch in self._saved:
            self._cache[snap.epoch] = snap
            self._cache.move_to_end(snap.epoch)
            while self.run_dir is not None and len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    @classmethod
    def of_run(cls, run_dir: str | os.PathLike | None, config: dict, epoch: int, writes: bool) -> Timeline:
        """The timeline of a run with settings ``config`` (``RunConfig.to_dict()``) at ``epoch``."""
        train = config.get("train", {})
        epochs = int(train.get("epochs", 0))
        return cls(run_dir, frame_epochs(run_dir, up_to=epoch), every=timeline_stride(train.get("timeline_every"), epochs),
                   last_epoch=epochs, writes=writes)

    def in_memory(self, epoch: int) -> bool:
        """Whether ``epoch`` is shown without reading its frame."""
        return epoch in self._cache or (self.latest is not None and epoch == self.latest.epoch)

    def snapshot(self, epoch: int) -> EpochSnapshot:
        """The snapshot of ``epoch``; ``CheckpointError`` when it is not kept or its frame is damaged."""
        if self.latest is not None and epoch == self.latest.epoch:
            return self.latest
        snap = self._cache.get(epoch)
        if snap is not None:
            self._cache.move_to_end(epoch)
            return snap
        if self.run_dir is None or epoch not in self._saved or self.latest is None:
            raise CheckpointError(f"Epoch {epoch} of this run was not kept; it cannot be replayed.")
        snap = read_frame(self.run_dir, epoch, like=self.latest)
        self._cache[epoch] = snap
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return snap
