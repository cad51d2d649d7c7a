"""File → Open run as B…: a second run's curves over A's losses, its KL bars beside A's, its
reconstructions of A's gallery items under A's, and A's marker decoded by B too.

Holds the one ``RunB`` (or none) and draws it: the losses pane's overlay and KL bars, the
gallery's third row and the Decoder pane's B image. The explorer model stays A's; this
only reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from latentlab.core.errors import LatentlabError

from .explorer import Change, Explorer
from .run_b import RunB, load_run_b
from .widgets.loss_overlay import LossOverlay


def elbo_curves(history) -> tuple[tuple[list[float], list[float]], tuple[list[float], list[float]]]:
    """(steps, -ELBO) for the train rows (recon + KL, whatever beta weighted) and the test rows."""
    steps, epochs = history.get("steps", []), history.get("epochs", [])
    train = ([float(r["step"]) for r in steps], [float(r["recon"]) + float(r["kl"]) for r in steps])
    test = ([float(r["step"]) for r in epochs], [float(r["total"]) for r in epochs])
    return train, test


class CompareRuns:
    def __init__(self, explorer: Explorer, loss_plot, canvas, gallery, show_error: Callable[[str], None]):
        self.explorer, self.canvas, self.gallery, self.show_error = explorer, canvas, gallery, show_error
        self.loss_plot = loss_plot
        self.overlay = LossOverlay(loss_plot.plot, loss_plot.legend)
        self.b: RunB | None = None
        # Subscribed after the presenter, which redraws A's gallery first; B's row then joins it.
        explorer.subscribe(self._on_change)
        gallery.worst_toggled.connect(lambda _: self._draw_gallery_row())

    def ask_and_open(self, ask_folder: Callable[[str], str | None]) -> None:
        folder = ask_folder("Open a latentlab run as B, to compare")
        if folder:
            self.open_b(folder)

    def open_b(self, folder: str | Path) -> bool:
        """Show ``folder`` as B (replacing any B); a run that cannot be read is a dialog."""
        try:
            b = load_run_b(folder)
        except LatentlabError as exc:
            self.show_error(str(exc))
            return False
        self.b = b
        self.overlay.set_curves(b.name, *elbo_curves(b.history))
        self.loss_plot.set_kl_per_dim_b(b.kl_per_dim, b.name)
        self._draw_b()
        self._draw_gallery_row()
        return True

    def close_b(self) -> None:
        self.b = None
        self.overlay.clear()
        self.canvas.hide_b()
        self.loss_plot.set_kl_per_dim_b(None)
        self.gallery.set_b(None)

    def _on_change(self, change: Change) -> None:
        if self.b is not None and change & (Change.RUN | Change.MARKER):
            self._draw_b()
        if self.b is not None and change & (Change.RUN | Change.SNAPSHOT):
            self._draw_gallery_row()

    def _draw_gallery_row(self) -> None:
        """B's reconstructions of the items A's gallery shows, as its third row."""
        b, snap, contents = self.b, self.explorer.snapshot, self.explorer.contents
        if b is None or snap is None or contents is None:
            return
        why = b.cannot_reconstruct(contents.image_shape)
        if why is not None:
            self.gallery.set_b(None, why)
            return
        indices = snap.worst_indices if self.gallery.show_worst() else snap.probe_indices
        self.gallery.set_b(b.reconstruct(contents.test_images[indices]), f"B ({b.name}) below")

    def _draw_b(self) -> None:
        b, dim, marker = self.b, self.explorer.latent_dim, self.explorer.marker
        if b is None:
            return
        why = b.refusal(dim) if dim is not None else None
        if why is not None:
            self.canvas.set_b(None, why)
        elif marker is None:
            self.canvas.set_b(None, f"B: {b.name}")
        else:
            self.canvas.set_b(b.decode(marker.latent)[0], "B")
