"""The decoded manifold fed from the explorer: the visible view tiled with its own decodings.

Subscribed to ``Explorer`` like the traversal presenter. With the scatter's *Manifold* box
ticked, the range coming to rest after a pan or zoom, a newer snapshot (another decoder)
or another view redraws the tiles: the view's inverse at each tile's centre, decoded.
That is exact on the 2-D latent and PCA views, and approximate on t-SNE (nearest
neighbours' latents), and the note on the plot says which.

A redraw that would take longer than ``BACKGROUND_ABOVE_MS`` goes to a worker thread
(``tile_decoder``) and its tiles arrive a moment later; results that another run, range,
view or snapshot has overtaken are dropped by their generation. What a grid costs is the
time the last one took (here or on the worker) for the same kind and size of view; the
first of a run or a view is estimated from a few of its tiles, timed here, scaled up.
That estimate errs on the worker's side (a small batch carries the same fixed costs as a
whole grid), and the next redraw goes by the time the worker took.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QTimer

from latentlab.core.errors import ConfigError
from latentlab.core.manifold import DEFAULT_TILES, TileGrid, decode_tiles, tile_grid

from .explorer import Change, Explorer
from .tile_decoder import BackgroundTiles, TileJob
from .widgets.manifold_layer import ManifoldLayer

BACKGROUND_ABOVE_MS = 8.0  # half a frame: the rest of the frame is the repaint
PROBE_TILES = 8  # tiles timed to estimate the cost of a whole grid


@dataclass(frozen=True)
class ShownManifold:
    """What the layer shows: the tiles' grid, their latents and decodings, and how they were made."""

    grid: TileGrid
    latents: np.ndarray  # (n * n, D): the view's inverse at the tile centres
    images: np.ndarray  # (n * n, C, H, W) in [0, 1]
    exact: bool
    background: bool  # decoded on the worker thread

    @property
    def centres(self) -> np.ndarray:
        return self.grid.centres


def manifold_note(n: int, epoch: int, projection) -> str:
    if projection.exact:
        return f"Manifold, epoch {epoch}: {n}×{n} tiles, each the exact decoding of the view at its centre"
    moving = "; the layout still moves" if getattr(projection, "partial", False) else ""
    return (f"Manifold, epoch {epoch}: {n}×{n} tiles, approximate "
            f"(t-SNE has no inverse; nearest neighbours' latents){moving}")


class ManifoldPresenter:
    def __init__(self, explorer: Explorer, scatter, layer: ManifoldLayer | None = None):
        self.explorer = explorer
        self.layer = layer or ManifoldLayer(scatter)
        self.tiles = DEFAULT_TILES  # per side
        self.background_above_ms = BACKGROUND_ABOVE_MS
        self.shown: ShownManifold | None = None
        self.updates = 0  # redraws shown (tests, the self-test, benchmarks)
        self.dropped = 0  # worker results that arrived stale
        self._generation = 0  # bumped by everything that makes a job in flight stale
        self._asked: tuple | None = None  # (grid, view, snapshot) of the last redraw asked for
        self._cost: tuple[tuple, float] | None = None  # (what was measured, ms a whole grid took)
        self._closed = False  # the window has closed: nothing more is decoded
        self.worker = BackgroundTiles()
        self.worker.decoded.connect(self._on_decoded)
        # Coalesces a snapshot and the refitted view it brings into one redraw.
        self._soon = QTimer()
        self._soon.setSingleShot(True)
        self._soon.setInterval(0)
        self._soon.timeout.connect(self.update)
        explorer.subscribe(self._on_change)
        self.layer.toggled.connect(self._on_toggled)
        self.layer.range_settled.connect(self.update)

    @property
    def busy(self) -> bool:
        return self.worker.busy

    def _on_change(self, change: Change) -> None:
        if Change.RUN in change:
            self._forget()
            self._cost = None  # another model: its decodes may cost anything
            self.layer.clear()
        if change & (Change.RUN | Change.SNAPSHOT | Change.VIEW):
            self._stale()
            if self.layer.enabled:
                self._soon.start()

    def _on_toggled(self, on: bool) -> None:
        if on:
            self.update()
        else:
            self._forget()
            self.layer.clear()

    def _stale(self) -> None:
        self._generation += 1
        self._asked = None

    def _forget(self) -> None:
        self._stale()
        self.shown = None

    def update(self) -> None:
        """Redraw the tiles for the visible range, the shown view and the newest decoder, unless already asked."""
        explorer = self.explorer
        view, snap, contents = explorer.view, explorer.snapshot, explorer.contents
        if self._closed or not self.layer.enabled:
            return
        if view is None or snap is None or contents is None or explorer.decoder is None:
            return
        try:
            grid = tile_grid(*self.layer.visible_range(), self.tiles)
        except ConfigError:
            return  # no visible area (a pane shrunk to nothing): nothing to tile
        asked = (grid, view, snap)
        if self._asked is not None and grid == self._asked[0] and view is self._asked[1] and snap is self._asked[2]:
            return  # the range came to rest where it was redrawn already
        self._asked = asked
        self._generation += 1
        projection = view.projection
        cost_key = (view.kind, len(view.points), grid.n)  # what the inverse and decode cost scales with
        known = self._cost[1] if self._cost is not None and self._cost[0] == cost_key else None
        if (self._estimated_ms(grid, projection) if known is None else known) <= self.background_above_ms:
            start = time.perf_counter()
            latents, images = decode_tiles(grid, projection.inverse, explorer.decode)
            self._cost = (cost_key, (time.perf_counter() - start) * 1000)
            self._show(grid, latents, images, projection, snap.epoch, background=False)
        else:
            self.worker.submit(TileJob(self._generation, grid, projection, contents.config["model"],
                                       tuple(contents.image_shape), snap.decoder_state, snap.epoch, cost_key))

    def _estimated_ms(self, grid: TileGrid, projection) -> float:
        """What the whole grid would cost on this thread: a few of its tiles, timed, scaled up."""
        centres = grid.centres
        probe = centres[:: max(1, len(centres) // PROBE_TILES)][:PROBE_TILES]
        start = time.perf_counter()
        self.explorer.decode(projection.inverse(probe))
        return (time.perf_counter() - start) * 1000 * len(centres) / len(probe)

    def _on_decoded(self, job: TileJob, result) -> None:
        if self._closed:
            return  # queued before the window closed; its widgets may be gone
        if job.generation != self._generation or not self.layer.enabled:
            self.dropped += 1  # another run, range, view or snapshot since: not what is on screen
            return
        if isinstance(result, Exception):
            self.layer.set_note(f"The manifold could not be decoded ({result}).")
            return
        self._cost = (job.cost_key, result.ms)
        self._show(job.grid, result.latents, result.images, job.projection, job.epoch, background=True)

    def _show(self, grid: TileGrid, latents: np.ndarray, images: np.ndarray, projection, epoch: int,
              background: bool) -> None:
        self.layer.set_tiles(images, grid, manifold_note(grid.n, epoch, projection))
        self.shown = ShownManifold(grid, latents, images, bool(projection.exact), background)
        self.updates += 1

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Stop the worker thread and wait for it; nothing survives the window, nor starts after it."""
        self._closed = True  # a range settling after the close must not start the worker again
        self._stale()
        self._soon.stop()
        self.worker.shutdown(timeout_s)
