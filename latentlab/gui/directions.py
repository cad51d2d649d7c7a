"""Selections, the direction they define and the A-B path, between the explorer model and the panes.

Subscribed to ``Explorer`` like the presenter. What the selection tool reports (the points
inside a box or lasso, a class clicked in the legend) becomes the explorer's set A or B;
the sets are drawn back onto the scatter from the explorer, so they follow the points
through every epoch and view. The direction they define is offered on the Decoder pane's
slider, which walks the marker along it. The A-B path the strip decodes is drawn on the
scatter: ``strip_latents`` is the one place its latents come from, for the strip and the
path alike.
"""

from __future__ import annotations

import numpy as np

from latentlab.core.directions import interpolate

from .explorer import Change, Explorer
from .widgets.latent_path import LatentPath
from .widgets.selection_tool import SelectionTool


def strip_latents(explorer: Explorer, steps: int, kind: str) -> np.ndarray | None:
    """The (steps, D) latents from endpoint A to B along the ``kind`` of path; None until both are set."""
    ends = explorer.endpoints
    if "A" not in ends or "B" not in ends:
        return None
    return interpolate(ends["A"], ends["B"], steps, kind)


class DirectionsPresenter:
    def __init__(self, explorer: Explorer, scatter, canvas, selection: SelectionTool | None = None,
                 path: LatentPath | None = None):
        self.explorer, self.canvas = explorer, canvas
        self.selection = selection or SelectionTool(scatter)
        self.path = path or LatentPath(scatter)
        self.slider = canvas.direction
        self.path_latents: np.ndarray | None = None  # the latents the drawn path goes through
        explorer.subscribe(self._on_change)
        self.selection.points_selected.connect(lambda which, indices: self._select(which, indices=indices))
        self.selection.class_clicked.connect(lambda which, c: self._select(which, c=c))
        self.selection.clear_requested.connect(explorer.clear_selections)
        self.slider.moved.connect(explorer.move_along_direction)
        canvas.steps_changed.connect(lambda _: self.update_path())
        canvas.path_kind_changed.connect(lambda _: self.update_path())

    def _on_change(self, change: Change) -> None:
        if Change.RUN in change:
            self.selection.set_target("A")
        if change & (Change.RUN | Change.SELECTION | Change.VIEW):
            self.update_sets()
        if change & (Change.RUN | Change.SELECTION | Change.MARKER | Change.SNAPSHOT):
            self.update_direction()
        if change & (Change.RUN | Change.ENDPOINTS | Change.VIEW):
            self.update_path()

    def _select(self, which: str, indices: np.ndarray | None = None, c: int | None = None) -> None:
        explorer = self.explorer
        chosen = explorer.select_class(which, c) if c is not None else explorer.select_points(which, indices)
        if chosen is not None and which == "A" and "B" not in explorer.selections:
            self.selection.set_target("B")  # A first, then B: the next selection makes the other end

    def update_sets(self) -> None:
        view, selections = self.explorer.view, self.explorer.selections
        names = {}
        for which in ("A", "B"):
            chosen = selections.get(which)
            shown = view is not None and chosen is not None and len(view.points) > chosen.indices.max()
            self.selection.show_set(which, view.points[chosen.indices] if shown else None)
            if chosen is not None:
                count = f"{len(chosen.indices)} items"
                names[which] = count if chosen.name == which else f"{chosen.name} ({count})"
        self.selection.set_summary(names)

    def update_direction(self) -> None:
        direction, walked = self.explorer.direction, self.explorer.direction_offset
        self.slider.set_direction(None if direction is None else f"{direction.label}, {direction.length:.2f} σ long")
        self.slider.set_value(0.0 if walked is None else walked)  # the marker went elsewhere: the walk starts there

    def update_path(self) -> None:
        view = self.explorer.view
        self.path_latents = strip_latents(self.explorer, self.canvas.steps.value(), self.canvas.path_kind())
        if self.path_latents is None or view is None:
            self.path.set_points(None)
        else:
            self.path.set_points(view.projection.transform(self.path_latents))
