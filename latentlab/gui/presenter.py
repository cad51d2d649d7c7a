"""The fan-out from the explorer model to the passive panes: scatter, decoder, gallery, KL bars.

Subscribed to ``Explorer``; reads it and calls the widgets' setters. Nothing here keeps
state of its own that the explorer does not hold, so no two code paths can disagree.
"""

from __future__ import annotations

import numpy as np

from latentlab.core.projection import ViewKind

from .directions import strip_latents
from .explorer import Change, Explorer, MarkerSource


def format_latent(z: np.ndarray, shown: int = 6) -> str:
    return ", ".join(f"{v:+.2f}" for v in z[:shown]) + (", …" if len(z) > shown else "")


def _inverse_note(view) -> str:
    """How an approximate view's inverse finds the latent it decodes."""
    if view.kind is ViewKind.UMAP:
        partial = getattr(view.projection, "partial", True)
        return "UMAP in progress; nearest neighbours' latents" if partial else "UMAP's inverse_transform"
    return "t-SNE has no inverse; nearest neighbours' latents"


class Presenter:
    def __init__(self, explorer: Explorer, scatter, canvas, gallery, loss_plot):
        self.explorer = explorer
        self.scatter, self.canvas, self.gallery, self.loss_plot = scatter, canvas, gallery, loss_plot
        self._shown_kind: ViewKind | None = None
        self._shown_latents = None  # the latents of the points drawn: other ones (another epoch) glide there
        explorer.subscribe(self._on_change)
        scatter.point_hovered.connect(lambda i: self.preview(i, "Hovering"))
        gallery.worst_toggled.connect(lambda _: self._update_gallery())
        canvas.steps_changed.connect(lambda _: self._update_strip())
        canvas.path_kind_changed.connect(lambda _: self._update_strip())

    def _on_change(self, change: Change) -> None:
        if Change.RUN in change:
            self._on_run()
        if Change.SNAPSHOT in change:
            self._on_snapshot()
        if Change.VIEW in change:
            self._on_view()
        if Change.TSNE in change:
            request, view = self.explorer.tsne, self.explorer.view
            fraction = None
            if request is not None:
                laid_out = view is not None and view.kind is request.kind and view.latents is request.latents
                fraction = getattr(view.projection, "fraction", 0.0) if laid_out else 0.0
            self.scatter.set_tsne_progress(fraction, "UMAP" if self.explorer.chosen is ViewKind.UMAP else "t-SNE")
            self.scatter.set_view(self.explorer.chosen)
        if Change.MARKER in change:
            self._on_marker()
        if Change.ENDPOINTS in change:
            self._update_strip()

    def _on_run(self) -> None:
        contents = self.explorer.contents
        self._shown_kind = self._shown_latents = None
        self.scatter.set_views_enabled(self.explorer.latent_dim == 2)
        self.scatter.set_view(self.explorer.chosen)
        self.scatter.set_points(np.zeros((0, 2)), None, ())
        self.scatter.set_note("")
        self.scatter.set_tsne_progress(None)
        self.canvas.clear()
        self.gallery.clear()
        ready = contents is not None
        self.scatter.setEnabled(False)
        self.canvas.setEnabled(False)
        if ready and contents.history:
            self.loss_plot.set_history(contents.history.get("steps", []), contents.history.get("epochs", []))
        elif ready:
            self.loss_plot.clear()

    def _on_snapshot(self) -> None:
        snap = self.explorer.snapshot
        self.loss_plot.set_kl_per_dim(snap.kl_per_dim)
        self.scatter.setEnabled(True)
        self.canvas.setEnabled(True)
        self._update_gallery()
        self._update_strip()

    def _on_view(self) -> None:
        view, contents = self.explorer.view, self.explorer.contents
        if view is None or contents is None:
            return
        # Another epoch in the same kind of view: the points travel to their new places.
        glide = view.kind is self._shown_kind and view.latents is not self._shown_latents
        self._shown_latents = view.latents
        self.scatter.set_points(view.points, contents.test_labels, contents.classes, animate=glide)
        self.scatter.set_note(view.projection.describe())
        self.scatter.set_view(self.explorer.chosen)
        if view.kind is not self._shown_kind:  # a new kind of view: show all of it
            self.scatter.fit_view()
            self._shown_kind = view.kind

    def _on_marker(self) -> None:
        marker, view = self.explorer.marker, self.explorer.view
        if marker is None or self.explorer.decoder is None:
            return
        self.scatter.set_marker(marker.x, marker.y)
        image = self.explorer.decode(marker.latent)[0]
        if marker.source is MarkerSource.ITEM:
            caption = f"test item {marker.item}: z = [{format_latent(marker.latent)}]"
        elif marker.source is MarkerSource.SAMPLE:
            caption = f"prior sample z = [{format_latent(marker.latent)}]"
        elif marker.source is MarkerSource.TRAIN_ITEM:
            caption = f"training item {marker.item}: z = [{format_latent(marker.latent)}]"
        elif marker.source is MarkerSource.CELL:
            caption = f"traversal cell z = [{format_latent(marker.latent)}]"
        elif marker.source is MarkerSource.DIRECTION:
            along = self.explorer.direction
            caption = (f"{self.explorer.direction_offset:+.2f} σ along {along.label if along else 'the direction'}: "
                       f"z = [{format_latent(marker.latent)}]")
        else:
            how = "" if view.projection.exact else f"  (approximate: {_inverse_note(view)})"
            caption = f"z = [{format_latent(marker.latent)}]{how}"
        self.canvas.set_image(image, caption)

    def _update_gallery(self) -> None:
        snap, contents = self.explorer.snapshot, self.explorer.contents
        if snap is None or contents is None:
            return
        if self.gallery.show_worst():
            idx, recons, what = snap.worst_indices, snap.worst_recons, "the worst-reconstructed test items"
        else:
            idx, recons, what = snap.probe_indices, snap.probe_recons, "a fixed probe batch"
        self.gallery.set_pairs(contents.test_images[idx], recons,
                               f"Epoch {snap.epoch}: {what}, inputs above reconstructions")

    def _update_strip(self) -> None:
        steps, kind = self.canvas.steps.value(), self.canvas.path_kind()
        z = strip_latents(self.explorer, steps, kind)  # the path drawn on the scatter goes through these too
        if self.explorer.decoder is None or z is None:
            return
        how = "Interpolation" if kind == "linear" else "Spherical interpolation (slerp)"
        self.canvas.set_strip(self.explorer.decode(z), f"{how} from A to B in {steps} steps")

    def preview(self, index: int, verb: str) -> None:
        snap, contents = self.explorer.snapshot, self.explorer.contents
        if index < 0 or snap is None or contents is None or self.explorer.decoder is None:
            return
        if index >= len(snap.latents):
            return
        recon = self.explorer.decode(snap.latents[index])[0]
        label = ""
        if contents.test_labels is not None:
            c = int(contents.test_labels[index])
            label = f", label {contents.classes[c] if c < len(contents.classes) else c}"
        self.scatter.show_preview(contents.test_images[index], recon,
                                  f"{verb} test item {index}{label}\nrecon loss {snap.item_recon[index]:.1f} nats")
