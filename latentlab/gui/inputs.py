"""Likelihoods on screen, fed from the scores kept beside the explorer model.

Subscribed to ``Explorer`` like the other presenters: the user's images become rows of the
"Your images" pane (input, reconstruction through the one decoder copy, -ELBO, NLL,
percentile) and numbered stars on the scatter where the view puts their posterior means;
the test NLL becomes a line of the losses pane. Reconstructions are decoded only when the
scores or the snapshot change, never on a marker move.
"""

from __future__ import annotations

import math

import numpy as np

from .explorer import Change, Explorer
from .scores import Scores
from .widgets.input_list import InputRow

SCORED = Change.RUN | Change.SNAPSHOT | Change.INPUTS


def nats(value: float | None) -> str:
    return "\u2026" if value is None else f"{value:.2f}" if math.isfinite(value) else "\u2014"


class InputsPresenter:
    def __init__(self, explorer: Explorer, scores: Scores, panel, stars, loss_plot):
        self.explorer, self.scores = explorer, scores
        self.panel, self.stars, self.loss_plot = panel, stars, loss_plot
        self.progress: tuple[int, int] | None = None  # (done, all) of the test NLL on its way
        self._recons: dict[int, tuple] = {}  # id -> (mean, snapshot, reconstruction) it was decoded from
        explorer.subscribe(self._on_change)

    def _on_change(self, change: Change) -> None:
        if change & SCORED:
            self.update_rows()
            self.update_test()
        if change & (SCORED | Change.VIEW):
            self.update_stars()

    def test_progress(self, done: int, total: int) -> None:
        self.progress = (done, total) if done < total else None
        self.update_test()

    # -- the "Your images" pane ------------------------------------------------------------------
    def update_rows(self) -> None:
        contents = self.explorer.contents
        ready = contents is not None and self.explorer.snapshot is not None
        self.panel.set_ready(ready, drawable=ready and contents.image_shape[0] == 1)
        rows = []
        for item in self.scores.inputs:
            percentile = self.scores.percentile(item)
            if item.nll is None:
                shown = "\u2026"
            elif percentile is not None:
                shown = f"{percentile:.1f}"
            else:
                shown = "after the test NLL\u2026" if self.scores.pending_test else "\u2014"
            epoch = f" by the model of epoch {item.scored_at[0]}" if item.scored_at else ""
            rows.append(InputRow(item.id, f"{item.id}. {item.name}", item.image, self._recon(item),
                                 nats(item.neg_elbo), nats(item.nll), shown,
                                 f"{item.name}: scored{epoch} with {item.samples or self.scores.samples} importance samples"))
        self.panel.set_rows(rows)
        self._recons = {i.id: self._recons[i.id] for i in self.scores.inputs if i.id in self._recons}

    def _recon(self, item) -> np.ndarray | None:
        """The decoding of ``item``'s mean, kept while neither the mean (a rescore makes a new array)
        nor the snapshot changes: the pane then reuses its thumbnail."""
        if item.mu is None:
            return None
        snap = self.explorer.snapshot
        cached = self._recons.get(item.id)
        if cached is not None and cached[0] is item.mu and cached[1] is snap:
            return cached[2]
        decoded = self.explorer.decode(item.mu[None])
        if decoded is None:
            return None
        self._recons[item.id] = (item.mu, snap, decoded[0])
        return decoded[0]

    # -- stars on the scatter ------------------------------------------------------------------
    def update_stars(self) -> None:
        view = self.explorer.view
        scored = [i for i in self.scores.inputs if i.mu is not None]
        if view is None or not scored or len(scored[0].mu) != view.latents.shape[1]:
            self.stars.set_points(np.zeros((0, 2)), [])
            return
        points = view.projection.transform(np.stack([i.mu for i in scored]))
        self.stars.set_points(points, [str(i.id) for i in scored])

    # -- the losses pane's test NLL ------------------------------------------------------------
    def update_test(self) -> None:
        scores, snap = self.scores, self.explorer.snapshot
        test = scores.test
        if snap is None:
            self.loss_plot.set_test_nll("", enabled=False)
            return
        if scores.pending_test:
            done = f" {100 * self.progress[0] // self.progress[1]}%" if self.progress else ""
            self.loss_plot.set_test_nll(f"Computing the test NLL\u2026{done}", enabled=False)
            return
        if test is None:
            self.loss_plot.set_test_nll("Test NLL: not computed yet", enabled=True)
            return
        old = "" if (test.epoch, test.step) == (snap.epoch, snap.step) else " (not the epoch shown)"
        elbo = f" \u00b7 test \u2212ELBO {test.neg_elbo:.2f}" if math.isfinite(test.neg_elbo) else ""
        self.loss_plot.set_test_nll(
            f"Test NLL {test.mean:.2f} nats (K={test.samples}, epoch {test.epoch}){old}{elbo}", enabled=True,
            tooltip="The importance-sampled negative log-likelihood of the test items, averaged: the tighter "
                    "bound the -ELBO approaches from above.")
