"""Run folders: save atomically, open safely.

A run folder holds::

    run.json                    format tag, settings, progress, metric history; names the files below
    testset.safetensors         the test split (uint8 images, labels), written once
    model-<step>.safetensors    all model weights
    snapshot-<step>.safetensors the latest EpochSnapshot's arrays (latents, reconstructions, ...)
    resume-<step>.pt            optimizer, RNG and batch-order state; plain tensors only
    train.lock                  flock'ed by the one process training the run; names it
    metrics.jsonl               `latentlab train`'s step records for followers (metrics_log.py); no part of a checkpoint
    timeline/epoch-<epoch>.safetensors  one frame per kept epoch, for replay (timeline.py); written once each

Every file is written to a temporary name in the same folder, flushed, fsynced and
renamed over. ``run.json`` is written last and is the commit point: it names the files of
the checkpoint it describes, so a crash or kill at any moment leaves the previous
checkpoint whole. Stale step files are removed only after the commit.

Opening reads JSON, safetensors and ``torch.load(weights_only=True)``: nothing in a run
folder can make us execute code, and anything unexpected is a ``CheckpointError``.
run.json is checked against one schema with bounds before anything is built from it,
and the files it names are opened with it, so a reader sees one consistent checkpoint
while the trainer goes on committing newer ones.
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import re
import shutil
import socket
import stat
import tempfile
import time
import warnings
import weakref
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

try:
    import fcntl
except ImportError:  # not POSIX: runs are not locked
    fcntl = None  # type: ignore[assignment]
from safetensors import SafetensorError
from safetensors.numpy import load as st_load_numpy
from safetensors.numpy import save as st_save_numpy
from safetensors.torch import load as st_load_torch
from safetensors.torch import save as st_save_torch

from .config import RunConfig
from .errors import CheckpointError, LatentlabError
from .events import EpochSnapshot
from .model import VAE, build_model, check_model_size, is_decoder_key

FORMAT = "latentlab-run"
VERSION = 1
RUN_FILE = "run.json"
TESTSET_FILE = "testset.safetensors"


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that readers see the old file or the new one, never a mix."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def is_run(path: str | os.PathLike) -> bool:
    return (Path(path) / RUN_FILE).is_file()


MAX_RUN_FILE_BYTES = 256 << 20  # run.json: settings and history; a million history rows is ~150 MB
MAX_SIDE = 4096  # image sides a run may describe: far above any dataset path's, far below a bomb
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")
_FILE_KEYS = ("weights", "snapshot", "resume", "testset")


def _open_regular(path: Path) -> int:
    """An fd of ``path`` if it is a regular file; FIFOs and devices are refused without blocking."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CheckpointError(f"{path} is not a regular file; the run is damaged or this is not a latentlab run.")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_fd(fd: int, limit: int | None = None) -> bytes:
    size = os.fstat(fd).st_size
    if limit is not None and size > limit:
        raise ValueError(size)
    chunks, offset = [], 0
    while offset < size:
        chunk = os.pread(fd, min(size - offset, 64 << 20), offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


class _OpenFiles:
    """The files of one committed checkpoint, opened together with its run.json.

    A trainer that commits a newer checkpoint deletes these files, but on POSIX an open
    file stays readable, so a reader sees one consistent checkpoint however long it takes.
    """

    def __init__(self, fds: dict[str, int], run_file: bytes):
        self.fds = fds
        self.run_file = run_file  # the run.json that names these files, as read
        self.missing: tuple[str, ...] = ()
        self._closer = weakref.finalize(self, _close_fds, dict(fds))

    def read(self, key: str) -> bytes:
        return _read_fd(self.fds[key])

    def close(self) -> None:
        self._closer()


def _close_fds(fds: dict[str, int]) -> None:
    for fd in fds.values():
        try:
            os.close(fd)
        except OSError:
            pass


@dataclass(frozen=True)
class Checkpoint:
    """An opened run folder: one committed checkpoint, whose parts load on demand."""

    run_dir: Path
    config: RunConfig
    epoch: int  # epochs completed
    step: int  # optimizer steps done
    epoch_complete: bool  # False when saved mid-epoch by a stop
    image_shape: tuple[int, int, int]
    classes: tuple[str, ...]
    history: dict[str, list[dict[str, float]]]
    files: dict[str, str]
    # The test NLL of this checkpoint's model, once computed (``record_evaluation``): numbers by name.
    evaluation: dict[str, float] | None = None
    _open: _OpenFiles | None = field(default=None, repr=False, compare=False)

    def close(self) -> None:
        """Release the open files now rather than when the Checkpoint is collected."""
        if self._open is not None:
            self._open.close()

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _read(self, key: str) -> bytes:
        try:
            if self._open is not None and key in self._open.fds:
                return self._open.read(key)
            if self._open is not None:
                raise FileNotFoundError(self.files[key])
            fd = _open_regular(self.run_dir / self.files[key])
            try:
                return _read_fd(fd)
            finally:
                os.close(fd)
        except FileNotFoundError:
            raise CheckpointError(f"The run {self.run_dir} is missing {self.files[key]}; it is damaged or incomplete.") from None
        except OSError as exc:
            raise CheckpointError(
                f"Could not read {self.files.get(key, key)} in {self.run_dir} ({exc.strerror or exc}); "
                f"check the folder's permissions and the disk."
            ) from None

    def read_bytes(self, key: str) -> bytes:
        """The raw bytes of one part (``weights``, ``snapshot``, ``resume``, ``testset``)."""
        return self._read(key)

    def copy_to(self, target: str | os.PathLike) -> Path:
        """Write this checkpoint into the new folder ``target``, run.json last (its commit point).

        Reads go through the files opened with the checkpoint, so a copy taken while the
        run trains on is whole and consistent, never a mix of two checkpoints.
        """
        target = Path(target)
        if target.exists():
            raise CheckpointError(f"{target} already exists; choose a new folder name.")
        created = False
        try:
            target.mkdir(parents=True)
            created = True
            for key in _FILE_KEYS:
                atomic_write(target / self.files[key], self._read(key))
            self._copy_timeline(target)
            run_file = self._open.run_file if self._open is not None else (self.run_dir / RUN_FILE).read_bytes()
            atomic_write(target / RUN_FILE, run_file)
        except OSError as exc:
            if created:  # a half-written copy must not look like a run
                shutil.rmtree(target, ignore_errors=True)
            raise CheckpointError(
                f"Could not save the run to {target} ({exc.strerror or exc}); choose a writable folder with room."
            ) from None
        return target

    @property
    def timeline_epochs(self) -> list[int]:
        """The epochs up to this checkpoint's whose timeline frames can be replayed (``timeline.py``)."""
        from .timeline import frame_epochs

        return frame_epochs(self.run_dir, up_to=self.epoch)

    def _copy_timeline(self, target: Path) -> None:
        """Hard-link each frame into ``target`` (frames are never changed in place, only replaced by
        a rename, so both folders keep what they had), or copy it where links cannot be made."""
        from .timeline import MAX_FRAME_BYTES, frame_path

        for epoch in self.timeline_epochs:
            source, path = frame_path(self.run_dir, epoch), frame_path(target, epoch)
            path.parent.mkdir(exist_ok=True)
            try:
                if not stat.S_ISREG(os.lstat(source).st_mode):
                    continue  # a link, a FIFO or a folder under a frame's name is no frame: left behind
                os.link(source, path)
                continue
            except FileNotFoundError:
                continue  # thinned out meanwhile by a resumed run: not part of this checkpoint's past
            except OSError:
                pass  # another file system, or links not allowed: copy it
            fd = _open_regular(source)
            try:
                data = _read_fd(fd, MAX_FRAME_BYTES)
            except ValueError:
                continue  # far too large for a frame: damaged, left behind
            finally:
                os.close(fd)
            atomic_write(path, data)

    def _weights(self, what: Callable[[bytes], dict]) -> dict:
        state = _safetensors(lambda: what(self._read("weights")), self.run_dir, "weights")
        for name, value in state.items():
            if not _all_finite(value):
                raise CheckpointError(
                    f"The weights in {self.run_dir} hold NaN or infinite values ({name}); the run is damaged, "
                    f"so train a new run or restore a copy."
                )
        return state

    def load_model(self, device: str | torch.device = "cpu") -> VAE:
        """The model with its saved weights, in eval mode."""
        model = build_model(self.config.model, self.image_shape)
        state = self._weights(st_load_torch)
        expected = model.state_dict()
        if state.keys() != expected.keys() or any(
            state[k].shape != v.shape or state[k].dtype != v.dtype for k, v in expected.items()
        ):
            raise CheckpointError(
                f"The weights in {self.run_dir} do not fit the model its settings describe; the run is damaged."
            )
        model.load_state_dict(state, strict=True)
        return model.to(device).eval()

    def load_snapshot(self) -> dict[str, np.ndarray]:
        return _safetensors(lambda: st_load_numpy(self._read("snapshot")), self.run_dir, "snapshot")

    def load_epoch_snapshot(self) -> EpochSnapshot:
        """The saved snapshot with its decoder weights, read without building a model."""
        weights = self._weights(st_load_numpy)
        decoder = {k: v for k, v in weights.items() if is_decoder_key(k)}
        encoder = {k: v for k, v in weights.items() if not is_decoder_key(k)}
        if not any(k.startswith("decoder.") for k in decoder):
            raise CheckpointError(f"The weights in {self.run_dir} hold no decoder; the run is damaged.")
        arrays = self.load_snapshot()
        try:
            snap = EpochSnapshot.from_arrays(arrays, decoder, epoch=self.epoch, step=self.step, encoder_state=encoder)
        except (KeyError, ValueError, TypeError) as exc:
            raise CheckpointError(f"The snapshot in {self.run_dir} lacks {exc}; the run is damaged.") from None
        self._check_snapshot(snap)
        return snap

    def _check_snapshot(self, snap: EpochSnapshot) -> None:
        d, shape = self.config.model.latent_dim, self.image_shape
        n = snap.latents.shape[0] if snap.latents.ndim == 2 else -1
        p = snap.probe_indices.shape[0] if snap.probe_indices.ndim == 1 else -1
        ok = (
            n >= 1
            and snap.latents.shape == (n, d) == snap.logvars.shape
            and snap.kl_per_dim.shape == (d,)
            and snap.item_recon.shape == (n,)
            and snap.probe_recons.shape == (p, *shape) == snap.worst_recons.shape
            and snap.worst_indices.shape == (p,)
            and all(a.dtype.kind in "iu" and (a.size == 0 or 0 <= a.min() <= a.max() < n)
                    for a in (snap.probe_indices, snap.worst_indices))
        )
        if not ok:
            raise CheckpointError(f"The snapshot in {self.run_dir} does not fit the run's settings; the run is damaged.")

    def load_testset(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The test split: (N, C, H, W) uint8 images of the run's shape and N labels (or None)."""
        arrays = _safetensors(lambda: st_load_torch(self._read("testset")), self.run_dir, "test set")
        images, labels = arrays.get("images"), arrays.get("labels")
        ok = (
            images is not None
            and images.dtype == torch.uint8
            and images.ndim == 4
            and images.shape[0] >= 1
            and tuple(images.shape[1:]) == self.image_shape
        )
        if ok and labels is not None:
            ok = (
                labels.dtype == torch.int64
                and tuple(labels.shape) == (images.shape[0],)
                and int(labels.min()) >= 0
                and (not self.classes or int(labels.max()) < len(self.classes))
            )
        if not ok:
            raise CheckpointError(
                f"The test set in {self.run_dir} is malformed (empty, of another image shape, or with mismatched "
                f"labels); the run is damaged."
            )
        if self.config.data.binarize is not None and not bool(((images == 0) | (images == 255)).all()):
            # Scored as it is, a grey test set would give figures of another quantity than the run's.
            raise CheckpointError(f"The test set in {self.run_dir} is not binarized as the run's settings say; the run is damaged.")
        return images, labels

    def load_resume_state(self) -> dict[str, Any]:
        try:
            with warnings.catch_warnings():  # a refused foreign pickle is our error to report, not torch's
                warnings.simplefilter("ignore")
                state = torch.load(io.BytesIO(self._read("resume")), map_location="cpu", weights_only=True)
        except LatentlabError:
            raise
        except (pickle.UnpicklingError, RuntimeError, ValueError, EOFError, TypeError, AttributeError, KeyError,
                ImportError, IndexError, OverflowError, zipfile.BadZipFile):
            # weights_only refuses anything but plain tensors and containers; we never retry without it.
            raise CheckpointError(f"The resume state in {self.run_dir} is damaged or foreign; it cannot be resumed.") from None
        if not isinstance(state, dict) or not {"optimizer", "generator", "order", "position"} <= state.keys():
            raise CheckpointError(f"The resume state in {self.run_dir} is incomplete; it cannot be resumed.")
        return state


def _all_finite(value) -> bool:
    if isinstance(value, torch.Tensor):
        return not value.is_floating_point() or bool(torch.isfinite(value).all())
    value = np.asarray(value)
    return value.dtype.kind != "f" or bool(np.isfinite(value).all())


def _safetensors(load: Callable[[], Any], run_dir: Path, what: str):
    try:
        return load()
    except LatentlabError:
        raise
    except (SafetensorError, ValueError, TypeError, RuntimeError, OverflowError, MemoryError):
        raise CheckpointError(f"The {what} file in {run_dir} is damaged (not valid safetensors).") from None


def open_run(run_dir: str | os.PathLike) -> Checkpoint:
    """Open a run folder's latest committed checkpoint, or raise ``CheckpointError`` saying why not.

    The files it names are opened at once, so the Checkpoint stays readable and consistent
    while a trainer goes on committing newer checkpoints into the same folder.
    """
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise CheckpointError(f"There is no run at {run_dir}; check the path.")
    meta_path = run_dir / RUN_FILE if run_dir.is_dir() else run_dir
    if not run_dir.is_dir():
        run_dir = run_dir.parent
    for _attempt in range(20):
        raw = _read_run_file(meta_path, run_dir)
        checkpoint = _parse_run_file(raw, meta_path, run_dir)
        opened = _open_files(run_dir, checkpoint.files, raw)
        # A missing part while run.json changed: a newer checkpoint was committed meanwhile.
        if not opened.missing or _read_run_file(meta_path, run_dir) == raw:
            return replace(checkpoint, _open=opened)
        opened.close()
    raise CheckpointError(f"The run {run_dir} kept changing while it was opened; try again.")


def _read_run_file(meta_path: Path, run_dir: Path) -> bytes:
    try:
        fd = _open_regular(meta_path)
    except FileNotFoundError:
        raise CheckpointError(f"{run_dir} is not a latentlab run (it has no {RUN_FILE}).") from None
    except OSError as exc:
        raise CheckpointError(f"Could not read {meta_path} ({exc.strerror or exc}); check its permissions.") from None
    try:
        return _read_fd(fd, MAX_RUN_FILE_BYTES)
    except ValueError:
        raise CheckpointError(f"{meta_path} is far too large for a run file; the run is damaged.") from None
    except OSError as exc:
        raise CheckpointError(f"Could not read {meta_path} ({exc.strerror or exc}); check the disk.") from None
    finally:
        os.close(fd)


def _open_files(run_dir: Path, files: dict[str, str], run_file: bytes) -> _OpenFiles:
    """Open every part; a missing one is noted (a run can be evaluated without its resume state)."""
    fds: dict[str, int] = {}
    missing: list[str] = []
    try:
        for key in _FILE_KEYS:
            try:
                fds[key] = _open_regular(run_dir / files[key])
            except FileNotFoundError:
                missing.append(files[key])
            except OSError as exc:
                raise CheckpointError(
                    f"Could not read {files[key]} in {run_dir} ({exc.strerror or exc}); check its permissions."
                ) from None
    except BaseException:
        _close_fds(fds)
        raise
    opened = _OpenFiles(fds, run_file)
    if missing:
        opened.missing = tuple(missing)
    return opened


def _parse_run_file(raw: bytes, meta_path: Path, run_dir: Path) -> Checkpoint:
    """Validate run.json against the one schema, with bounds, before anything is built from it."""
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise CheckpointError(f"{meta_path} is not valid JSON; the run is damaged or this is not a latentlab run.") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{run_dir} is not a latentlab run ({RUN_FILE} lacks the latentlab format tag).")
    version = meta.get("version")
    if not _is_int(version):
        raise CheckpointError(f"{meta_path} has no valid format version ({version!r}); the run is damaged.")
    if version > VERSION:
        raise CheckpointError(
            f"{run_dir} was written by a newer latentlab (format version {version}, this one reads {VERSION}); "
            f"upgrade latentlab to open it."
        )
    if version < VERSION:
        raise CheckpointError(
            f"{run_dir} was written by an older latentlab (format version {version}, this one reads {VERSION}) "
            f"and cannot be opened by this one."
        )

    def damaged(what: str) -> CheckpointError:
        return CheckpointError(f"{meta_path} is damaged ({what}); restore it from a copy or start a new run.")

    missing = [k for k in ("config", "epoch", "step", "epoch_complete", "image_shape", "files") if k not in meta]
    if missing:
        raise CheckpointError(f"{meta_path} is incomplete (it lacks {', '.join(missing)}); the run is damaged.")
    try:
        config = RunConfig.from_saved(meta["config"])
    except LatentlabError as exc:
        raise CheckpointError(f"The settings in {meta_path} are invalid: {exc}") from None
    epoch, step = meta["epoch"], meta["step"]
    if not (_is_int(epoch) and 0 <= epoch <= config.train.epochs):
        raise damaged(f"epoch {epoch!r} is not between 0 and the run's {config.train.epochs} epochs")
    if not (_is_int(step) and 0 <= step < 1 << 53):
        raise damaged(f"step {step!r} is not a whole number of zero or more")
    if not isinstance(meta["epoch_complete"], bool):
        raise damaged("epoch_complete is not true or false")
    shape = meta["image_shape"]
    if not (
        isinstance(shape, list) and len(shape) == 3 and all(_is_int(s) for s in shape)
        and shape[0] in (1, 3) and all(1 <= s <= MAX_SIDE for s in shape[1:])
    ):
        raise damaged(f"image_shape {shape!r} is not [channels 1 or 3, height, width] with sides 1 to {MAX_SIDE}")
    try:
        check_model_size(config.model, tuple(shape))  # before anything allocates it
    except LatentlabError as exc:
        raise CheckpointError(f"The settings in {meta_path} are invalid: {exc}") from None
    classes = meta.get("classes", [])
    if not (isinstance(classes, list) and len(classes) <= 100_000 and all(isinstance(c, str) for c in classes)):
        raise damaged("classes is not a list of names")
    files = meta["files"]
    if not (
        isinstance(files, dict)
        and all(isinstance(files.get(k), str) and _SAFE_NAME.fullmatch(files[k]) for k in _FILE_KEYS)
    ):
        raise damaged("it names no valid weights, snapshot, resume or test set file inside the run folder")
    history = meta.get("history", {"steps": [], "epochs": []})
    if not (
        isinstance(history, dict)
        and all(
            isinstance(rows, list)
            and all(isinstance(r, dict) and all(_is_number(v) for v in r.values()) for r in rows)
            for rows in history.values()
        )
    ):
        raise damaged("its history is not lists of numeric records")
    return Checkpoint(
        run_dir=run_dir,
        config=config,
        epoch=epoch,
        step=step,
        epoch_complete=meta["epoch_complete"],
        image_shape=tuple(shape),  # type: ignore[arg-type]
        classes=tuple(classes),
        history={"steps": [], "epochs": [], **{k: list(v) for k, v in history.items()}},
        files={k: files[k] for k in _FILE_KEYS},
        evaluation=_parse_evaluation(meta.get("evaluation"), step),
    )


MAX_RECORDED_SAMPLES = 10**6  # K beyond this is no estimate anyone ran: the entry is damaged


def _parse_evaluation(value, step: int) -> dict[str, float] | None:
    """The recorded evaluation, if it is one of this very checkpoint and its numbers are sane (finite
    NLL and -ELBO, a whole K in range); anything else is ignored, not fatal."""
    if not isinstance(value, dict) or value.get("step") != step or not all(_is_number(v) for v in value.values()):
        return None
    try:
        finite = all(math.isfinite(float(value[k])) for k in ("nll", "neg_elbo") if k in value)
        samples = value.get("iw_samples", 1)
        whole = math.isfinite(float(samples)) and float(samples) == int(samples) and 1 <= samples <= MAX_RECORDED_SAMPLES
    except (OverflowError, ValueError):
        return None
    return {k: float(v) for k, v in value.items()} if "nll" in value and finite and whole else None


def record_evaluation(run_dir: str | os.PathLike, step: int, values: dict[str, float]) -> bool:
    """Keep ``values`` (the test NLL and how it was estimated) in run.json, for the checkpoint at ``step``.

    Holds the run's lock while it rewrites run.json, so it never races a trainer; returns False,
    writing nothing, when the run is being trained or has moved on to another checkpoint.
    """
    run_dir = Path(run_dir)
    try:
        with RunLock(run_dir):
            meta_path = run_dir / RUN_FILE
            meta = json.loads(meta_path.read_bytes().decode("utf-8"))
            if not isinstance(meta, dict) or meta.get("step") != step:
                return False
            kept = _parse_evaluation(meta.get("evaluation"), step)
            if kept is not None and kept.get("iw_samples", 0) > values.get("iw_samples", 0):
                return False  # a finer estimate of this very checkpoint is kept already
            meta["evaluation"] = {**{k: float(v) for k, v in values.items()}, "step": step}
            atomic_write(meta_path, json.dumps(meta, indent=1).encode("utf-8"))
            return True
    except (LatentlabError, ValueError):  # locked by a trainer, or run.json unreadable: keep nothing
        return False
    except OSError as exc:
        raise CheckpointError(f"Could not record the evaluation in {run_dir} ({exc.strerror or exc}).") from None


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def write_testset(run_dir: Path, images: torch.Tensor, labels: torch.Tensor | None) -> None:
    tensors = {"images": images.detach().cpu().contiguous()}
    if labels is not None:
        tensors["labels"] = labels.detach().cpu().contiguous()
    atomic_write(run_dir / TESTSET_FILE, st_save_torch(tensors))


def save_checkpoint(
    run_dir: Path,
    *,
    config: RunConfig,
    model: VAE,
    resume_state: dict[str, Any],
    snapshot: dict[str, np.ndarray],
    epoch: int,
    step: int,
    epoch_complete: bool,
    image_shape: tuple[int, int, int],
    classes: tuple[str, ...],
    history: dict[str, list[dict[str, float]]],
) -> Path:
    """Write one checkpoint; returns the path of ``run.json``, its commit point."""
    from latentlab import __version__

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "weights": f"model-{step:09d}.safetensors",
        "snapshot": f"snapshot-{step:09d}.safetensors",
        "resume": f"resume-{step:09d}.pt",
        "testset": TESTSET_FILE,
    }
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(run_dir / files["weights"], st_save_torch(weights, metadata={"format": FORMAT, "step": str(step)}))
    atomic_write(run_dir / files["snapshot"], st_save_numpy({k: np.ascontiguousarray(v) for k, v in snapshot.items()}))
    buf = io.BytesIO()
    torch.save(resume_state, buf)
    atomic_write(run_dir / files["resume"], buf.getvalue())
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "latentlab": __version__,
        "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": config.to_dict(),
        "epoch": epoch,
        "step": step,
        "epoch_complete": epoch_complete,
        "image_shape": list(image_shape),
        "classes": list(classes),
        "files": files,
        "history": history,
    }
    run_file = run_dir / RUN_FILE
    atomic_write(run_file, json.dumps(meta, indent=1).encode("utf-8"))
    _remove_stale(run_dir, keep=set(files.values()))
    return run_file


def _remove_stale(run_dir: Path, keep: set[str]) -> None:
    """Delete older step files and temporaries left by an interrupted save."""
    for pattern in ("model-*", "snapshot-*", "resume-*", ".*.tmp"):
        for path in run_dir.glob(pattern):
            if path.name not in keep:
                path.unlink(missing_ok=True)


def remove_leftovers(run_dir: Path) -> None:
    """Delete what a killed save left beside the committed checkpoint; call only holding the run's lock."""
    keep = set(open_run(run_dir).files.values()) if is_run(run_dir) else {TESTSET_FILE}
    try:
        _remove_stale(Path(run_dir), keep)
    except OSError:
        pass  # a read-only folder: nothing can be cleaned, and nothing there is read


class RunLocked(CheckpointError):
    """Another process (or another run in this one) is training the run folder."""


class RunLock:
    """An advisory ``flock`` on ``train.lock`` held while a process trains a run folder.

    The kernel drops the lock when its holder exits, however it exits (kill -9 too), so a
    stale lock file never blocks; the file only tells a second trainer who holds it.
    """

    FILE = "train.lock"

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        path = self.run_dir / self.FILE
        for _attempt in range(10):
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
            except OSError as exc:
                raise CheckpointError(
                    f"Cannot train in {self.run_dir} ({exc.strerror or exc}); choose a folder you can write to."
                ) from None
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    holder = _describe_holder(fd)
                    os.close(fd)
                    raise RunLocked(
                        f"The run in {self.run_dir} is being trained by {holder}; wait for it to finish or stop it, "
                        f"or choose another folder."
                    ) from None
            if _same_file(fd, path):
                break
            os.close(fd)  # a releasing holder unlinked the file we locked: lock the new one
        else:
            raise RunLocked(f"The run in {self.run_dir} keeps changing hands; try again.")
        try:
            os.ftruncate(fd, 0)
            info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
            os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
        except OSError:
            pass  # the lock itself is held; the note about its holder is a courtesy
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:  # unlinked while still held, so a finished run leaves no lock file behind
                (self.run_dir / self.FILE).unlink()
            except OSError:
                pass
            os.close(fd)  # closing the descriptor drops the flock

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _describe_holder(fd: int) -> str:
    try:
        info = json.loads(_read_fd(fd, 4096).decode("utf-8"))
        return f"process {int(info['pid'])} on {info['host']} (since {info['since']})"
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return "another process"
