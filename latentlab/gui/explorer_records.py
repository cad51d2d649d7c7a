"""The frozen records the explorer model holds and hands out: the run, the view, the marker, requests,
and the ``Change`` flags it announces.

Plain data, Qt-free like the explorer itself (``explorer.py``), which imports them for its
subscribers; kept apart so the model's rules read without its vocabulary in the way.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from latentlab.core.events import RunStarted
from latentlab.core.projection import PCAProjection, Projection, ViewKind


class Change(enum.Flag):
    RUN = enum.auto()  # another run: everything else is new too
    SNAPSHOT = enum.auto()  # a newer snapshot (decoder, losses, gallery)
    VIEW = enum.auto()  # the 2-D view or its points
    MARKER = enum.auto()  # the marker and the latent it decodes
    ENDPOINTS = enum.auto()  # the A/B endpoints of the interpolation strip
    TSNE = enum.auto()  # a t-SNE or UMAP layout started, progressed, finished or was cancelled
    SELECTION = enum.auto()  # the selected point sets A/B, or the direction built from them
    INPUTS = enum.auto()  # the user's encoded images or the test NLL (``Scores``, beside this model)
    TIMELINE = enum.auto()  # the epochs that can be replayed, or the one on screen


class MarkerSource(enum.Enum):
    DRAG = "drag"  # placed in the view: its latent is the view's inverse there
    ITEM = "item"  # a test item's own latent, at that item's point
    SAMPLE = "sample"  # a draw from the prior, where the view puts it
    CELL = "cell"  # a traversal cell's latent, where the view puts it
    DIRECTION = "direction"  # moved along the selections' direction from a fixed origin, where the view puts it
    INPUT = "input"  # an encoded image's posterior mean (``item`` is its id), where the view puts it
    TRAIN_ITEM = "train item"  # a training item's posterior mean (``item``: its index among them), where the view puts it


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    latent: np.ndarray  # (D,)
    source: MarkerSource
    item: int | None = None  # the test item (ITEM) or the encoded image's id (INPUT)


@dataclass(frozen=True)
class RunContents:
    """What a run shows, however it arrived: started, resumed or opened from disk."""

    run_dir: Path | None
    config: dict[str, Any]  # RunConfig.to_dict()
    image_shape: tuple[int, int, int]
    test_images: np.ndarray  # (M, C, H, W) uint8
    test_labels: np.ndarray | None
    classes: tuple[str, ...]
    epoch: int = 0
    step: int = 0
    history: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    evaluation: dict[str, float] | None = None  # the test NLL run.json keeps for the checkpoint (epoch, step)
    training: bool = False  # trained by this process (it writes the run folder), not opened or followed

    @classmethod
    def from_run_started(cls, event: RunStarted) -> RunContents:
        return cls(
            run_dir=Path(event.run_dir) if event.run_dir else None,
            config=event.config, image_shape=event.image_shape,
            test_images=event.test_images, test_labels=event.test_labels, classes=event.classes,
            epoch=event.start_epoch, step=event.start_step, training=True,
        )

    @property
    def name(self) -> str:
        return self.run_dir.name if self.run_dir is not None else "unsaved run"


@dataclass(frozen=True)
class ShownView:
    """A projection with the latents it claims to show and the points it drew for them."""

    projection: Projection
    latents: np.ndarray  # (N, D)
    points: np.ndarray  # (N, 2) == projection.transform(latents)

    @property
    def kind(self) -> ViewKind:
        return self.projection.kind


@dataclass(frozen=True)
class FitRequest:
    """A view to fit (off the GUI thread in the app), stamped with the generation it answers."""

    generation: int
    kind: ViewKind
    latents: np.ndarray
    previous: PCAProjection | None


@dataclass(frozen=True)
class LayoutRequest:
    """A t-SNE or UMAP layout to compute, stamped with the generation it answers."""

    generation: int
    latents: np.ndarray
    init: np.ndarray | None  # warm start from the last layout of the same points (an earlier epoch's)
    epoch: int
    kind: ViewKind = ViewKind.TSNE
    step: int = 0  # with the epoch, which snapshot's latents these are (a stop shares its epoch's number)
