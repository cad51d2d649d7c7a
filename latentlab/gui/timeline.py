"""Replaying a run: the scrubber under the scatter, wired to the explorer's timeline.

The explorer holds which epochs can be shown and which one is (``Explorer.show_epoch``);
this only keeps the scrubber in step with it and turns the user's choice into a call.
Play waits while the epoch shown is still being laid out (t-SNE, UMAP), so each epoch is
seen in its own layout.
"""

from __future__ import annotations

from typing import Callable

from latentlab.core.errors import LatentlabError

from .explorer import Change, Explorer
from .widgets.timeline_scrubber import TimelineScrubber

WATCHED = Change.RUN | Change.SNAPSHOT | Change.TIMELINE | Change.TSNE


class TimelinePresenter:
    def __init__(self, explorer: Explorer, scrubber: TimelineScrubber, show_error: Callable[[str], None]):
        self.explorer, self.scrubber, self._show_error = explorer, scrubber, show_error
        explorer.subscribe(self._on_change)
        scrubber.epoch_chosen.connect(self.show_epoch)

    def show_epoch(self, epoch: int) -> bool:
        """Replay ``epoch``; a frame that cannot be read is a dialog, and the scrubber goes back."""
        try:
            return self.explorer.show_epoch(epoch)
        except LatentlabError as exc:
            self.scrubber.play_button.setChecked(False)
            self._refresh()
            self._show_error(str(exc))
            return False

    def _on_change(self, change: Change) -> None:
        if change & WATCHED:
            self._refresh()

    def _refresh(self) -> None:
        explorer = self.explorer
        timeline, snap = explorer.timeline, explorer.snapshot
        epochs = timeline.epochs if timeline is not None and snap is not None else []
        self.scrubber.set_epochs(epochs, snap.epoch if snap is not None else None, explorer.following,
                                 hold=explorer.tsne is not None)
