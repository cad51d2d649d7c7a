"""What the app knows of likelihoods: the test set's NLL and the user's own encoded images.

Qt-free, beside the ``Explorer`` it belongs to: its changes are announced through the
explorer as ``Change.INPUTS``. Every score names the snapshot (epoch, step) it was computed
with, so a percentile only ever compares an image with test items scored by the same model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from latentlab.core.user_images import percentile_of

from .explorer import Change, Explorer

IW_SAMPLES = 100  # importance samples per item (Burda et al.'s K) unless the user picks another; the CLI's default too
MAX_IW_SAMPLES = 5000  # the IWAE paper's evaluation K: as many as anyone asks for


@dataclass(frozen=True)
class EncodedInput:
    """One of the user's images, prepared as the dataset's items, and its score under one model."""

    id: int
    name: str  # the file's name, or "drawing 2"
    image: np.ndarray  # (C, H, W) uint8
    mu: np.ndarray | None = None  # (D,) the posterior mean: where it lands
    logvar: np.ndarray | None = None
    neg_elbo: float | None = None  # nats
    nll: float | None = None  # nats, importance-sampled with ``samples`` draws
    scored_at: tuple[int, int] | None = None  # (epoch, step) of the model that scored it
    samples: int | None = None  # K of that score


@dataclass(frozen=True)
class TestNLL:
    """The test items' importance-sampled NLL under one model; per item once computed here."""

    epoch: int
    step: int
    samples: int
    mean: float
    neg_elbo: float
    per_item: np.ndarray | None = None  # (M,): None when only the mean is known (read from run.json)


class Scores:
    def __init__(self, explorer: Explorer):
        self.explorer = explorer
        self.inputs: tuple[EncodedInput, ...] = ()
        self.test: TestNLL | None = None
        self.pending_test = False  # a test NLL is being computed
        self.samples = IW_SAMPLES  # K for every score from now on: images and test items compare at one K
        self._next_id = 1
        explorer.subscribe(self._on_change)

    def _on_change(self, change: Change) -> None:
        # The panes read this after it (it subscribes first), so it announces nothing of its own here.
        if Change.RUN in change:  # another model: nothing scored by the last one means anything here
            self.inputs, self.test, self.pending_test = (), None, False  # prepared for another dataset
        if Change.SNAPSHOT in change and self.test is None:
            self._show_recorded()

    def _show_recorded(self) -> None:
        """The test NLL the run folder keeps (run.json) for the checkpoint on screen, until one is computed here."""
        contents, snap = self.explorer.contents, self.explorer.snapshot
        evaluation = contents.evaluation if contents is not None else None
        if not evaluation or snap.step != contents.step or not math.isfinite(evaluation.get("nll", math.nan)):
            return
        self.test = TestNLL(snap.epoch, snap.step, int(evaluation.get("iw_samples", IW_SAMPLES)),
                            float(evaluation["nll"]), float(evaluation.get("neg_elbo", math.nan)))

    @property
    def current(self) -> tuple[int, int] | None:
        snap = self.explorer.snapshot
        return None if snap is None else (snap.epoch, snap.step)

    # -- the user's images --------------------------------------------------------------------
    def add(self, name: str, image: np.ndarray) -> EncodedInput:
        item = EncodedInput(self._next_id, name, np.array(image, dtype=np.uint8, copy=True))
        item.image.flags.writeable = False
        self._next_id += 1
        self.inputs = (*self.inputs, item)
        self.explorer.notify(Change.INPUTS)
        return item

    def clear(self) -> None:
        if self.inputs:
            self.inputs = ()
            self.explorer.notify(Change.INPUTS)

    def set_samples(self, k: int) -> bool:
        """Score with K = ``k`` from now on; False (nothing changes) when it is already that, or out of range."""
        k = int(k)
        if k == self.samples or not 1 <= k <= MAX_IW_SAMPLES:
            return False
        self.samples = k
        self.explorer.notify(Change.INPUTS)
        return True

    def unscored(self) -> tuple[EncodedInput, ...]:
        """Inputs not yet scored by the model on screen, at the K chosen."""
        return tuple(i for i in self.inputs if i.scored_at != self.current or i.samples != self.samples)

    def inputs_scored(self, at: tuple[int, int], samples: int, ids, mu, logvar, neg_elbo, nll) -> bool:
        """Scores of inputs ``ids`` under the model of ``at`` with K = ``samples``; dropped (False) when that
        model is gone or another K has been chosen meanwhile."""
        if at != self.current or samples != self.samples:
            return False
        by_id = {int(i): k for k, i in enumerate(ids)}
        self.inputs = tuple(
            replace(item, mu=_frozen(mu[by_id[item.id]]), logvar=_frozen(logvar[by_id[item.id]]),
                    neg_elbo=float(neg_elbo[by_id[item.id]]), nll=float(nll[by_id[item.id]]), scored_at=at,
                    samples=samples)
            if item.id in by_id else item
            for item in self.inputs
        )
        self.explorer.notify(Change.INPUTS)
        return True

    def percentile(self, item: EncodedInput) -> float | None:
        """Where ``item``'s NLL falls among the test items' (same model), in percent; None until known."""
        test = self.test
        if (item.nll is None or test is None or test.per_item is None or item.scored_at != (test.epoch, test.step)
                or item.samples != test.samples):
            return None
        return percentile_of(item.nll, test.per_item)

    # -- the test set ---------------------------------------------------------------------------
    def test_is_current(self, per_item: bool = False) -> bool:
        test = self.test
        return (test is not None and (test.epoch, test.step) == self.current
                and (not per_item or (test.per_item is not None and test.samples == self.samples)))

    def test_started(self) -> None:
        self.pending_test = True
        self.explorer.notify(Change.INPUTS)

    def test_scored(self, result: TestNLL | None) -> bool:
        """A test NLL arrives (None: it stopped without one); dropped (False) when its model is gone."""
        self.pending_test = False
        fresh = result is not None and (result.epoch, result.step) == self.current
        if fresh:
            self.test = result
        self.explorer.notify(Change.INPUTS)
        return fresh

def _frozen(a) -> np.ndarray:
    out = np.array(a, dtype=np.float64, copy=True)
    out.flags.writeable = False
    return out
