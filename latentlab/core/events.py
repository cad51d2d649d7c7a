"""What the trainer yields: frozen records of CPU data, safe to hand to another thread.

Arrays inside are NumPy copies marked read-only, so no receiver can change what another
receiver sees, and nothing refers back to the live model or the training device.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np


def frozen_array(a) -> np.ndarray:
    """A read-only NumPy copy of an array or CPU/GPU tensor."""
    if hasattr(a, "detach"):
        a = a.detach().to("cpu").numpy()
    out = np.array(a, copy=True)
    out.flags.writeable = False
    return out


class RunState(enum.Enum):
    """Where a training run stands, as its controller reports it."""

    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"  # asked to stop; saving at its next step


@dataclass(frozen=True)
class RunStarted:
    """Once per run, before the first step: what is being trained, on what."""

    config: dict[str, Any]  # RunConfig.to_dict()
    device: str
    image_shape: tuple[int, int, int]
    n_train: int
    n_test: int
    steps_per_epoch: int
    total_steps: int
    start_step: int  # > 0 when resuming
    start_epoch: int  # epochs already completed
    test_images: np.ndarray  # (M, C, H, W) uint8, the items the scatter shows, in order
    test_labels: np.ndarray | None  # (M,) int64
    classes: tuple[str, ...]
    run_dir: str | None


@dataclass(frozen=True)
class StepMetrics:
    """Training loss parts averaged over the last ``log_every`` steps, nats per image."""

    epoch: int  # 1-based epoch in progress
    step: int  # optimizer steps done so far in the whole run
    total_steps: int
    recon: float
    kl: float
    total: float  # recon + beta * kl, the objective being minimised
    beta: float  # the KL weight in force (warm-up ramps it)
    items_per_second: float
    elapsed: float  # seconds of training in this session


@dataclass(frozen=True)
class EpochSnapshot:
    """The model seen through the test set at the end of an epoch (or at a stop)."""

    epoch: int  # epochs completed
    step: int
    test_recon: float  # test-set parts with one sample of z, nats per image
    test_kl: float
    test_total: float  # negative ELBO (beta = 1)
    latents: np.ndarray  # (M, D) posterior means of the test set
    logvars: np.ndarray  # (M, D)
    kl_per_dim: np.ndarray  # (D,) mean KL of each latent dimension over the test set
    item_recon: np.ndarray  # (M,) reconstruction loss of each test item (for "worst" views)
    probe_indices: np.ndarray  # (P,) test indices of the fixed probe batch
    probe_recons: np.ndarray  # (P, C, H, W) float32 in [0, 1]: decoded posterior means
    worst_indices: np.ndarray  # (P,) test indices with the highest reconstruction loss
    worst_recons: np.ndarray  # (P, C, H, W)
    decoder_state: dict[str, np.ndarray] = field(repr=False)  # enough to decode on another thread
    # With the decoder's, enough to encode the user's own images and score them (their NLL).
    encoder_state: dict[str, np.ndarray] = field(default_factory=lambda: MappingProxyType({}), repr=False)


    ARRAYS: ClassVar[tuple[str, ...]] = (
        "latents", "logvars", "kl_per_dim", "item_recon", "probe_indices", "probe_recons", "worst_indices",
        "worst_recons",
    )

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The arrays worth keeping in a checkpoint (the decoder is in the weights)."""
        arrays = {name: getattr(self, name) for name in self.ARRAYS}
        arrays["test_parts"] = np.array([self.test_recon, self.test_kl, self.test_total], dtype=np.float64)
        return arrays

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, np.ndarray], decoder_state: dict[str, np.ndarray], *, epoch: int, step: int,
        encoder_state: dict[str, np.ndarray] | None = None,
    ) -> EpochSnapshot:
        """The inverse of ``to_arrays``; KeyError or ValueError when an array is missing or malformed."""
        recon, kl, total = (float(v) for v in arrays["test_parts"])
        return cls(
            epoch=epoch, step=step, test_recon=recon, test_kl=kl, test_total=total,
            **{name: frozen_array(arrays[name]) for name in cls.ARRAYS},
            decoder_state=MappingProxyType({k: frozen_array(v) for k, v in decoder_state.items()}),
            encoder_state=MappingProxyType({k: frozen_array(v) for k, v in (encoder_state or {}).items()}),
        )

    @property
    def model_state(self) -> dict[str, np.ndarray]:
        """The whole model's weights (empty of the encoder when the snapshot carries none)."""
        return {**self.encoder_state, **self.decoder_state}


@dataclass(frozen=True)
class CheckpointSaved:
    path: str
    epoch: int
    step: int


@dataclass(frozen=True)
class RunFinished:
    reason: str  # "completed" or "stopped"
    epoch: int
    step: int
    run_dir: str | None
