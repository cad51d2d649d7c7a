"""Which 2-D view of the latent is shown, and the way back from a view point to a latent.

Plain Python over ``latentlab.core.projection``; the main window owns one.
"""

from __future__ import annotations

import numpy as np

from latentlab.core.projection import IdentityProjection, NeighbourInverse, PCAProjection


class LatentSpace:
    def __init__(self) -> None:
        self.latents = np.zeros((0, 2))
        self.mode = "pca"
        self.projection = None
        self.layout = np.zeros((0, 2))
        self.tsne_epoch: int | None = None  # the epoch the t-SNE layout was computed for
        self._last_pca: PCAProjection | None = None  # orientation reference, kept across t-SNE detours

    @property
    def dim(self) -> int:
        return self.latents.shape[1]

    @property
    def exact(self) -> bool:
        return bool(getattr(self.projection, "exact", True))

    def default_mode(self) -> str:
        return "latent" if self.dim == 2 else "pca"

    def update(self, latents: np.ndarray) -> None:
        """New posterior means (a new epoch): refit the live views; a t-SNE layout stays as it is."""
        self.latents = np.asarray(latents)
        if self.mode == "tsne" and self.projection is not None:
            return
        self.set_mode(self.mode if self.mode != "tsne" else self.default_mode())

    def set_mode(self, mode: str) -> None:
        if mode == "latent" and self.dim != 2:
            mode = "pca"
        if mode == "pca" and self.dim < 2:
            mode = "line"
        self.mode = mode
        if mode == "latent":
            self.projection = IdentityProjection(self.latents)
        elif mode == "pca":
            self.projection = self._last_pca = PCAProjection(self.latents, previous=self._last_pca)
        elif mode == "line":  # a 1-D latent: plot it against zero
            self.projection = None
            self.layout = np.column_stack([self.latents[:, 0], np.zeros(len(self.latents))])
            return
        else:
            return  # t-SNE arrives through set_tsne
        self.layout = self.projection.transform(self.latents)

    def set_tsne(self, layout: np.ndarray, latents: np.ndarray, epoch: int | None) -> None:
        self.mode = "tsne"
        self.layout = np.asarray(layout)
        self.projection = NeighbourInverse(layout, latents)
        self.tsne_epoch = epoch

    def to_latent(self, x: float, y: float) -> np.ndarray:
        """The latent vector (D,) at view position (x, y)."""
        if self.projection is None:  # 1-D latent
            return np.array([x])
        return self.projection.inverse(np.array([[x, y]]))[0]

    def to_view(self, z: np.ndarray) -> tuple[float, float]:
        """Where latent ``z`` sits in the current view (t-SNE: near its nearest neighbours)."""
        z = np.atleast_2d(z)
        if self.projection is None:
            return float(z[0, 0]), 0.0
        if isinstance(self.projection, NeighbourInverse):
            d = np.linalg.norm(self.projection.latents - z, axis=1)
            nearest = np.argsort(d)[:8]
            w = 1.0 / np.maximum(d[nearest], 1e-9)
            x, y = (self.layout[nearest] * (w / w.sum())[:, None]).sum(0)
            return float(x), float(y)
        x, y = self.projection.transform(z)[0]
        return float(x), float(y)

    def describe(self) -> str:
        if self.mode == "latent":
            return "The 2-D latent itself; decoding is exact."
        if self.mode == "line":
            return "A 1-D latent, drawn along x."
        if self.mode == "pca":
            share = float(np.sum(self.projection.explained_variance_ratio))
            return f"PCA of the {self.dim}-D latent ({share:.0%} of its variance); decoding is exact on this plane."
        epoch = f" of epoch {self.tsne_epoch}" if self.tsne_epoch is not None else ""
        return f"t-SNE{epoch}: decoding is approximate (nearest neighbours). Run it again to update."
