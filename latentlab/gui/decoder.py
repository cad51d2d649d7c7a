"""Decoding on the GUI thread from a CPU copy of the latest decoder.

A 20->400->784 MLP decode is ~0.3 M multiply-adds: far under a frame, so no thread is
needed; the copy means the GUI never touches the live model the worker is training.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch

from latentlab.core.config import ModelConfig
from latentlab.core.model import build_decoder


class LatentDecoder:
    def __init__(self, model_config: dict[str, Any], image_shape: tuple[int, int, int], state: Mapping[str, np.ndarray]):
        # This runs on the GUI thread: keep its torch work on that one thread, so it never
        # starts an OpenMP team of its own beside the training thread's. (This also becomes
        # the count later threads start with; the training worker sets its own.)
        torch.set_num_threads(1)
        cfg = ModelConfig(**{**model_config, "hidden": tuple(model_config.get("hidden", (400,)))})
        self.latent_dim = cfg.latent_dim
        self.image_shape = tuple(image_shape)
        self.model = build_decoder(cfg, self.image_shape, self._tensors(state))
        self._state = state

    @staticmethod
    def _tensors(state: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
        # np.array copies (the snapshot's arrays are read-only); from_numpy then shares that copy.
        return {k: torch.from_numpy(np.array(v, copy=True)) for k, v in state.items()}

    def update(self, state: Mapping[str, np.ndarray]) -> None:
        """Load a newer decoder state (same architecture); assign, since the tensors are fresh copies."""
        if state is self._state:
            return
        self._state = state
        self.model.load_state_dict(self._tensors(state), strict=False, assign=True)

    @torch.inference_mode()
    def decode(self, z: np.ndarray) -> np.ndarray:
        """(N, D) latents -> (N, C, H, W) float32 images in [0, 1]."""
        zt = torch.tensor(np.atleast_2d(z), dtype=torch.float32)  # a copy: snapshot arrays are read-only
        return self.model.decode_mean(zt).numpy()
