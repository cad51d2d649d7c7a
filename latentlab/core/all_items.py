"""Every item of a run's dataset, test and training alike, and their posterior means.

The scatter's own points are the test items (a snapshot holds their latents). To show
all of them, the dataset is loaded again as the run's config describes it, the test items
first (in the snapshot's order, so item i < n_test *is* test item i) and then the
training items, and the training items are encoded in batches on the training device
with the snapshot's encoder weights.

A run binarized afresh every batch ("dynamic") is encoded through one fixed binarization
of its training images, so an item's latent is the same every time it is asked for.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import torch

from .config import DataConfig, ModelConfig, RunConfig
from .data import binarize, load_dataset, to_float
from .errors import LatentlabError
from .events import frozen_array
from .model import build_from_state, is_decoder_key

ENCODE_BATCH = 4096  # items per forward pass: a conv model's activations for 4,096 28x28 items stay near 1 GB
_FIXED_BINARIZATION = 0x616C6C  # a dynamic run's training images, binarized once for every encoding


class Cancelled(Exception):
    """Raised inside ``encode_means`` when its ``cancel`` event is set between two batches."""


@dataclass(frozen=True)
class DatasetItems:
    """Every image of a run's dataset: the test items first, then the training items.

    The two splits stay the tensors they were loaded as (a million images are gigabytes:
    never copied into one); the labels run over both, test first.
    """

    test_images: torch.Tensor  # (M, C, H, W) uint8, on the CPU
    train_images: torch.Tensor  # (N - M, C, H, W) uint8, on the CPU
    labels: np.ndarray | None  # (N,) int64, read-only

    @property
    def n_test(self) -> int:
        return int(self.test_images.shape[0])

    @property
    def n_train(self) -> int:
        return int(self.train_images.shape[0])


def dataset_items(config: Mapping[str, Any]) -> DatasetItems:
    """Load the dataset a run's ``config`` (``RunConfig.to_dict``) names, binarized as it was trained.

    Raises ``DataError`` (one sentence) when its files are not on this machine.
    """
    data_cfg: DataConfig = RunConfig.from_saved(dict(config)).data
    data = load_dataset(data_cfg)
    train = data.train_images
    if data_cfg.binarize == "dynamic":
        train = binarize(train, torch.Generator().manual_seed(data_cfg.split_seed ^ _FIXED_BINARIZATION))
    labels = None
    if data.test_labels is not None and data.train_labels is not None:
        labels = frozen_array(torch.cat([data.test_labels.cpu(), data.train_labels.cpu()]).numpy().astype(np.int64))
    return DatasetItems(data.test_images.cpu(), train.cpu(), labels)


def encoder_from(model_config: Mapping[str, Any], image_shape: tuple[int, int, int],
                 model_state: Mapping[str, np.ndarray], device: torch.device):
    """The whole VAE of a snapshot's weights (``EpochSnapshot.model_state``), in eval mode on ``device``."""
    if all(is_decoder_key(k) for k in model_state):
        raise LatentlabError("This run's checkpoint keeps no encoder, so its other items cannot be encoded; "
                             "train it again with this version of latentlab.")
    cfg = ModelConfig(**{**model_config, "hidden": tuple(model_config.get("hidden", (400,)))})
    tensors = {k: torch.from_numpy(np.array(v, copy=True)) for k, v in model_state.items()}
    return build_from_state(cfg, tuple(image_shape), tensors).to(device)


@torch.no_grad()
def encode_means(model, images: torch.Tensor, device: torch.device, batch: int = ENCODE_BATCH,
                 cancel: threading.Event | None = None,
                 progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """The posterior means ``mu(x)`` of (N, C, H, W) uint8 ``images``: (N, D) float32, on the CPU.

    Each batch is copied to ``device``, encoded there, and its means copied back (one sync
    per batch). ``cancel`` is checked between batches (raising ``Cancelled``); ``progress``
    hears (items done, items in all) after each.
    """
    n = int(images.shape[0])
    out: np.ndarray | None = None
    for start in range(0, n, batch):
        if cancel is not None and cancel.is_set():
            raise Cancelled
        x = to_float(images[start : start + batch].to(device, non_blocking=True))
        mu = model.encode(x)[0].float().cpu().numpy()  # the GPU syncs here, once a batch
        if out is None:
            out = np.empty((n, mu.shape[1]), dtype=np.float32)
        out[start : start + len(mu)] = mu
        if progress is not None:
            progress(min(start + batch, n), n)
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)
