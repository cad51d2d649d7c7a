"""Run folders: save atomically, open safely.

A run folder holds::

    run.json                    format tag, settings, progress, metric history; names the files below
    testset.safetensors         the test split (uint8 images, labels), written once
    model-<step>.safetensors    all model weights
    snapshot-<step>.safetensors the latest EpochSnapshot's arrays (latents, reconstructions, ...)
    resume-<step>.pt            optimizer, RNG and batch-order state; plain tensors only

Every file is written to a temporary name in the same folder, flushed, fsynced and
renamed over. ``run.json`` is written last and is the commit point: it names the files of
the checkpoint it describes, so a crash or kill at any moment leaves the previous
checkpoint whole. Stale step files are removed only after the commit.

Opening reads JSON, safetensors and ``torch.load(weights_only=True)``: nothing in a run
folder can make us execute code, and anything unexpected is a ``CheckpointError``.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.numpy import load as st_load_numpy
from safetensors.numpy import save as st_save_numpy
from safetensors.torch import load as st_load_torch
from safetensors.torch import save as st_save_torch

from .config import RunConfig
from .errors import CheckpointError, LatentlabError
from .events import EpochSnapshot
from .model import VAE, build_model

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


@dataclass(frozen=True)
class Checkpoint:
    """An opened run folder. Heavy parts load on demand."""

    run_dir: Path
    config: RunConfig
    epoch: int  # epochs completed
    step: int  # optimizer steps done
    epoch_complete: bool  # False when saved mid-epoch by a stop
    image_shape: tuple[int, int, int]
    classes: tuple[str, ...]
    history: dict[str, list[dict[str, float]]]
    files: dict[str, str]

    def _read(self, key: str) -> bytes:
        name = self.files.get(key)
        if not isinstance(name, str) or "/" in name or "\\" in name or name.startswith("."):
            raise CheckpointError(f"{self.run_dir / RUN_FILE} names no valid {key} file; the run is damaged.")
        try:
            return (self.run_dir / name).read_bytes()
        except OSError:
            raise CheckpointError(f"The run {self.run_dir} is missing {name}; it is damaged or incomplete.") from None

    def load_model(self, device: str | torch.device = "cpu") -> VAE:
        """The model with its saved weights, in eval mode."""
        model = build_model(self.config.model, self.image_shape)
        state = _safetensors(lambda: st_load_torch(self._read("weights")), self.run_dir, "weights")
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError:
            raise CheckpointError(
                f"The weights in {self.run_dir} do not fit the model its settings describe; the run is damaged."
            ) from None
        return model.to(device).eval()

    def load_snapshot(self) -> dict[str, np.ndarray]:
        return _safetensors(lambda: st_load_numpy(self._read("snapshot")), self.run_dir, "snapshot")

    def load_epoch_snapshot(self) -> EpochSnapshot:
        """The saved snapshot with its decoder weights, read without building a model."""
        weights = _safetensors(lambda: st_load_numpy(self._read("weights")), self.run_dir, "weights")
        decoder = {k: v for k, v in weights.items() if k.startswith("decoder.") or k == "log_sigma"}
        if not any(k.startswith("decoder.") for k in decoder):
            raise CheckpointError(f"The weights in {self.run_dir} hold no decoder; the run is damaged.")
        try:
            return EpochSnapshot.from_arrays(self.load_snapshot(), decoder, epoch=self.epoch, step=self.step)
        except (KeyError, ValueError) as exc:
            raise CheckpointError(f"The snapshot in {self.run_dir} lacks {exc}; the run is damaged.") from None

    def load_testset(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        arrays = _safetensors(lambda: st_load_torch(self._read("testset")), self.run_dir, "test set")
        if "images" not in arrays or arrays["images"].dtype != torch.uint8 or arrays["images"].ndim != 4:
            raise CheckpointError(f"The test set in {self.run_dir} is malformed; the run is damaged.")
        return arrays["images"], arrays.get("labels")

    def load_resume_state(self) -> dict[str, Any]:
        try:
            with warnings.catch_warnings():  # a refused foreign pickle is our error to report, not torch's
                warnings.simplefilter("ignore")
                state = torch.load(io.BytesIO(self._read("resume")), map_location="cpu", weights_only=True)
        except LatentlabError:
            raise
        except Exception:
            # weights_only refuses anything but plain tensors and containers; we never retry without it.
            raise CheckpointError(f"The resume state in {self.run_dir} is damaged or foreign; it cannot be resumed.") from None
        if not isinstance(state, dict) or not {"optimizer", "generator", "order", "position"} <= state.keys():
            raise CheckpointError(f"The resume state in {self.run_dir} is incomplete; it cannot be resumed.")
        return state


def _safetensors(load: Callable[[], Any], run_dir: Path, what: str):
    try:
        return load()
    except LatentlabError:
        raise
    except (SafetensorError, ValueError, OSError, RuntimeError, Exception):
        raise CheckpointError(f"The {what} file in {run_dir} is damaged (not valid safetensors).") from None


def open_run(run_dir: str | os.PathLike) -> Checkpoint:
    """Open a run folder, or raise ``CheckpointError`` saying why it cannot be."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise CheckpointError(f"There is no run at {run_dir}; check the path.")
    meta_path = run_dir / RUN_FILE if run_dir.is_dir() else run_dir
    if run_dir.is_file():
        run_dir = run_dir.parent
    try:
        raw = meta_path.read_bytes()
    except OSError:
        raise CheckpointError(f"{run_dir} is not a latentlab run (it has no {RUN_FILE}).") from None
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(f"{meta_path} is not valid JSON; the run is damaged or this is not a latentlab run.") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{run_dir} is not a latentlab run ({RUN_FILE} lacks the latentlab format tag).")
    if meta.get("version") != VERSION:
        raise CheckpointError(
            f"{run_dir} was written by a newer latentlab (format version {meta.get('version')}); upgrade latentlab."
        )
    try:
        return Checkpoint(
            run_dir=run_dir,
            config=RunConfig.from_dict(meta["config"]),
            epoch=int(meta["epoch"]),
            step=int(meta["step"]),
            epoch_complete=bool(meta["epoch_complete"]),
            image_shape=tuple(int(s) for s in meta["image_shape"]),  # type: ignore[arg-type]
            classes=tuple(str(c) for c in meta.get("classes", ())),
            history={k: list(v) for k, v in dict(meta.get("history", {})).items()},
            files=dict(meta["files"]),
        )
    except LatentlabError as exc:
        raise CheckpointError(f"The settings in {meta_path} are invalid: {exc}") from None
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{meta_path} is incomplete or malformed; the run is damaged.") from None


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
