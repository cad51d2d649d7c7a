"""File → Open run as B…: a second run's curves over A's losses, and A's marker decoded by B too.

Holds the one ``RunB`` (or none) and draws it: the losses pane's overlay and the Decoder
pane's B image. The explorer model stays A's; this only reads its marker.
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
    def __init__(self, explorer: Explorer, loss_plot, canvas, show_error: Callable[[str], None]):
        self.explorer, self.canvas, self.show_error = explorer, canvas, show_error
        self.overlay = LossOverlay(loss_plot.plot, loss_plot.legend)
        self.b: RunB | None = None
        explorer.subscribe(self._on_change)

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
        self._draw_b()
        return True

    def close_b(self) -> None:
        self.b = None
        self.overlay.clear()
        self.canvas.hide_b()

    def _on_change(self, change: Change) -> None:
        if self.b is not None and change & (Change.RUN | Change.MARKER):
            self._draw_b()

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
