"""The explorer model's finished t-SNE and UMAP layouts, kept per epoch so scrubbing back to one is instant.

Qt-free like the explorer (explorer.py), which holds one per run. Each entry is keyed by
(kind, epoch, step) and holds the (N, 2) points, and for UMAP its own projection (the
fitted model its inverse needs); a t-SNE projection is rebuilt from the points. The
oldest entries go first, and at most ``KEPT_UMAPS`` fitted models are held.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from latentlab.core.events import EpochSnapshot
from latentlab.core.projection import Projection, TSNEProjection, ViewKind

from .explorer_records import LayoutRequest, ShownView

KEPT_LAYOUTS = 64  # finished layouts kept per run (their points: 160 kB each at 10,000 points)
KEPT_UMAPS = 4  # of which UMAPs, whose projection holds a fitted model (its graph and search index)


class KeptLayouts:
    def __init__(self) -> None:
        self._kept: OrderedDict[tuple, tuple[np.ndarray, Projection | None]] = OrderedDict()

    def view(self, kind: ViewKind, snap: EpochSnapshot) -> ShownView | None:
        """The finished layout of ``snap``'s latents kept from before, as a view again."""
        entry = self._kept.get((kind, snap.epoch, snap.step))
        if entry is None:
            return None
        self._kept.move_to_end((kind, snap.epoch, snap.step))
        layout, projection = entry
        projection = projection or TSNEProjection(layout, snap.latents, epoch=snap.epoch)
        return ShownView(projection, snap.latents, layout)

    def keep(self, request: LayoutRequest, layout: np.ndarray, projection: Projection) -> None:
        """Keep a finished layout: the (N, 2) points, and UMAP's own projection (its fitted model)."""
        umap = request.kind is ViewKind.UMAP
        self._kept[(request.kind, request.epoch, request.step)] = (np.array(layout, dtype=np.float64),
                                                                   projection if umap else None)
        umaps = [key for key, (_, kept) in self._kept.items() if kept is not None]
        for key in umaps[: max(0, len(umaps) - KEPT_UMAPS)]:
            del self._kept[key]
        while len(self._kept) > KEPT_LAYOUTS:
            self._kept.popitem(last=False)
