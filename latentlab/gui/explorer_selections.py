"""The explorer model's selections A/B and the direction they define, apart from its views and marker.

A part of ``Explorer`` (explorer.py), which holds the state these methods read and write
(``snapshot``, ``contents``, ``marker``, ``selections``, ``_walk``) and announces their
changes. Qt-free like it.
"""

from __future__ import annotations

import numpy as np

from latentlab.core.directions import Direction, Selection, direction_from

from .explorer_records import Change, Marker, MarkerSource


class SelectionsAndDirection:
    def select_points(self, which: str, indices, name: str | None = None) -> Selection | None:
        """Make set ``which`` ("A" or "B") these test items, named ``name`` (else the set's own
        letter); no items at all forgets the set."""
        if self.snapshot is None or which not in ("A", "B"):
            return None
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        indices = indices[(indices >= 0) & (indices < len(self.snapshot.latents))]
        selection = Selection(indices, name or which) if len(indices) else None
        if selection is None:
            self.selections.pop(which, None)
        else:
            self.selections[which] = selection
        self._emit(Change.SELECTION)
        return selection

    def select_class(self, which: str, c: int) -> Selection | None:
        contents = self.contents
        if contents is None or contents.test_labels is None:
            return None
        name = contents.classes[c] if 0 <= c < len(contents.classes) else str(c)
        return self.select_points(which, np.flatnonzero(np.asarray(contents.test_labels) == c), name)

    def clear_selections(self) -> None:
        if self.selections:
            self.selections = {}
            self._emit(Change.SELECTION)

    @property
    def direction_offset(self) -> float | None:
        """How far (prior σ) the direction slider moved the marker from its origin, while it is there."""
        walked = self.marker is not None and self.marker.source is MarkerSource.DIRECTION
        return self._walk[1] if walked and self._walk is not None else None

    @property
    def direction(self) -> Direction | None:
        """The selections' direction from the marker; while the slider walks it, from where the walk began."""
        if self.snapshot is None or self.marker is None or not self.selections:
            return None
        origin = self._walk[0] if self.direction_offset is not None else self.marker.latent
        return direction_from(self.snapshot.latents, self.selections.get("A"), self.selections.get("B"), origin)

    def move_along_direction(self, t: float) -> Marker | None:
        """Put the marker t prior σ along the direction from its origin, which stays put while t changes."""
        direction = self.direction
        if direction is None:
            return None
        self._walk = (direction.origin, float(t))  # before the marker moves: its subscribers read it
        return self.place_latent(direction.at(t), MarkerSource.DIRECTION)

