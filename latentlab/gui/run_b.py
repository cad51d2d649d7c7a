"""Run B: a second run opened read-only beside the shown one (A), to compare against it.

Qt-free: B's contents and history, its KL per dimension, and a CPU copy of its model, to
decode A's marker and reconstruct A's gallery items. The explorer model stays A's; B never
trains and is never written to.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from latentlab.core.checkpoint import open_run
from latentlab.core.data import to_float
from latentlab.core.errors import CheckpointError

from latentlab.core.model import VAE

from .decoder import LatentDecoder
from .explorer_records import RunContents


@dataclass(frozen=True)
class RunB:
    contents: RunContents
    decoder: LatentDecoder
    model: VAE  # B's encoder and decoder, in eval mode on the CPU
    kl_per_dim: np.ndarray  # (D_B,) of B's latest snapshot

    @property
    def name(self) -> str:
        return self.contents.name

    @property
    def history(self) -> dict[str, list[dict[str, float]]]:
        return self.contents.history

    @property
    def latent_dim(self) -> int:
        return self.decoder.latent_dim

    def refusal(self, a_dim: int) -> str | None:
        """Why B's decoder cannot decode a latent of A's, or None where it can."""
        if a_dim == self.latent_dim:
            return None
        return f"B's latent has {self.latent_dim} dimensions, A's {a_dim}: it cannot decode A's marker."

    def decode(self, z: np.ndarray) -> np.ndarray:
        return self.decoder.decode(z)

    def cannot_reconstruct(self, image_shape: tuple[int, int, int]) -> str | None:
        """Why B cannot reconstruct A's images, or None where it can."""
        if tuple(image_shape) == tuple(self.contents.image_shape):
            return None
        c, h, w = self.contents.image_shape
        return f"B was trained on {w}x{h} images with {c} channel(s), so it cannot reconstruct A's."

    @torch.inference_mode()
    def reconstruct(self, images: np.ndarray) -> np.ndarray:
        """(N, C, H, W) uint8 images -> B's decodings of their posterior means, (N, C, H, W) in [0, 1]."""
        mu, _ = self.model.encode(to_float(torch.from_numpy(np.array(images, copy=True))))
        return self.model.decode_mean(mu).numpy()


def load_run_b(folder: str | Path) -> RunB:
    """Open ``folder`` as B; raises ``LatentlabError`` (one sentence) where it is no run or a damaged one."""
    try:
        with open_run(folder) as run:
            # B's test set is never shown: its items stay on disk.
            contents = RunContents(
                run_dir=run.run_dir, config=run.config.to_dict(), image_shape=run.image_shape,
                test_images=np.zeros((0, *run.image_shape), np.uint8), test_labels=None, classes=run.classes,
                epoch=run.epoch, step=run.step, history=run.history, evaluation=run.evaluation,
            )
            snap = run.load_epoch_snapshot()
            decoder = LatentDecoder(contents.config["model"], run.image_shape, snap.decoder_state)
            model = run.load_model("cpu")
    except (ValueError, RuntimeError):  # decoder weights of other shapes than the settings describe
        raise CheckpointError(
            f"The weights in {folder} do not fit the model its settings describe; the run is damaged."
        ) from None
    return RunB(contents, decoder, model, np.array(snap.kl_per_dim, dtype=np.float64))
