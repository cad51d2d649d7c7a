"""The scores beside the explorer model: the user's images and the test NLL, each tied to the
snapshot that scored it, so a percentile only ever compares an image with test items scored by
the same model, and nothing of one run survives into another."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from latentlab.gui.explorer import Change, Explorer
from latentlab.gui import scores as model  # its TestNLL is no test class: not imported by name
from latentlab.gui.scores import IW_SAMPLES, Scores
from test_explorer import FakeDecoder, contents, snapshot


LATENTS = np.random.default_rng(1).normal(size=(20, 3))


@pytest.fixture
def world():
    explorer = Explorer(FakeDecoder)
    scores = Scores(explorer)
    changes: list[Change] = []
    explorer.subscribe(changes.append)
    explorer.load(contents(3, 20), snapshot(np.random.default_rng(0).normal(size=(20, 3)), epoch=1))
    changes.clear()
    return explorer, scores, changes


def score(scores: Scores, at, nll: float, samples: int = IW_SAMPLES):
    ids = [i.id for i in scores.unscored()]
    n = len(ids)
    return scores.inputs_scored(at, samples, ids, np.zeros((n, 3)), np.zeros((n, 3)), np.full(n, nll + 1.0), np.full(n, nll))


def test_an_image_is_scored_by_the_model_on_screen_and_ranked_among_its_test_items(world):
    explorer, scores, changes = world
    item = scores.add("a.png", np.zeros((1, 2, 2), np.uint8))
    assert Change.INPUTS in changes[-1] and scores.unscored() == (item,)
    assert not item.image.flags.writeable  # it crosses to the worker thread: frozen
    assert score(scores, (1, 10), nll=5.0)
    assert scores.unscored() == () and scores.inputs[0].nll == 5.0
    assert scores.percentile(scores.inputs[0]) is None  # no test items scored yet
    per_item = np.arange(10, dtype=np.float64)  # NLLs 0..9: 5.0 has 5 below and one tie
    assert scores.test_scored(model.TestNLL(1, 10, IW_SAMPLES, 4.5, 5.0, per_item))
    assert scores.percentile(scores.inputs[0]) == pytest.approx(55.0)


def test_scores_of_a_model_no_longer_on_screen_are_dropped(world):
    explorer, scores, _ = world
    scores.add("a.png", np.zeros((1, 2, 2), np.uint8))
    explorer.apply_snapshot(snapshot(LATENTS, epoch=2))  # a newer model meanwhile
    assert not score(scores, (1, 10), nll=5.0)
    assert scores.inputs[0].nll is None
    assert not scores.test_scored(model.TestNLL(1, 10, IW_SAMPLES, 4.5, 5.0, np.zeros(20)))
    assert scores.test is None
    assert score(scores, (2, 20), nll=3.0) and scores.inputs[0].scored_at == (2, 20)
    # A test NLL of epoch 2 and an image scored at epoch 2 compare; after epoch 3 neither is current.
    assert scores.test_scored(model.TestNLL(2, 20, IW_SAMPLES, 4.5, 5.0, np.zeros(20)))
    explorer.apply_snapshot(snapshot(LATENTS, epoch=3))
    assert scores.unscored() == scores.inputs  # to be scored again by the newer model
    assert not scores.test_is_current()
    assert scores.percentile(scores.inputs[0]) == 100.0  # still the same model's pair, until rescored
    scores.inputs = (replace(scores.inputs[0], scored_at=(3, 30)),)
    assert scores.percentile(scores.inputs[0]) is None  # scored by epoch 3, test items by epoch 2


def test_another_run_forgets_the_images_and_the_test_nll(world):
    explorer, scores, changes = world
    scores.add("a.png", np.zeros((1, 2, 2), np.uint8))
    scores.test_started()
    explorer.load(contents(3, 20, name="other"), snapshot(LATENTS, epoch=1))
    assert scores.inputs == () and scores.test is None and not scores.pending_test


def test_a_recorded_test_nll_is_shown_for_its_own_checkpoint_only(world):
    explorer, scores, _ = world
    recorded = {"nll": 90.5, "neg_elbo": 95.0, "iw_samples": 1000.0, "step": 10}
    explorer.load(replace(contents(3, 20), step=10, evaluation=recorded), snapshot(LATENTS, epoch=1))
    assert scores.test == model.TestNLL(1, 10, 1000, 90.5, 95.0, None)
    assert scores.test_is_current() and not scores.test_is_current(per_item=True)  # a mean, no per-item NLLs
    # A checkpoint of another step (the snapshot's step differs): nothing recorded applies.
    explorer.load(replace(contents(3, 20), step=99, evaluation=recorded), snapshot(LATENTS, epoch=1))
    assert scores.test is None


def test_clear_forgets_all_images_once(world):
    explorer, scores, changes = world
    scores.clear()
    assert changes == []  # nothing to clear: nothing announced
    for name in ("a", "b"):
        scores.add(name, np.zeros((1, 2, 2), np.uint8))
    assert [i.id for i in scores.inputs] == [1, 2]
    scores.clear()
    assert scores.inputs == () and Change.INPUTS in changes[-1]
    assert scores.add("c", np.zeros((1, 2, 2), np.uint8)).id == 3  # ids are never reused: stale answers miss


def test_another_k_rescores_the_images_and_ranks_them_only_among_test_items_of_that_k(world):
    explorer, scores, changes = world
    scores.add("a.png", np.zeros((1, 2, 2), np.uint8))
    assert score(scores, (1, 10), nll=5.0)
    assert scores.test_scored(model.TestNLL(1, 10, IW_SAMPLES, 4.5, 5.0, np.arange(10.0)))
    assert scores.percentile(scores.inputs[0]) is not None
    assert not scores.set_samples(IW_SAMPLES) and not scores.set_samples(0) and not scores.set_samples(10**6)
    assert scores.set_samples(1000) and Change.INPUTS in changes[-1]
    assert scores.unscored() == scores.inputs  # to be scored again, with K = 1000
    assert not scores.test_is_current(per_item=True)  # the test items' NLLs are of K = 100
    assert not score(scores, (1, 10), nll=4.0, samples=IW_SAMPLES)  # an answer asked for at the old K: dropped
    assert score(scores, (1, 10), nll=4.0, samples=1000)
    assert scores.percentile(scores.inputs[0]) is None  # K = 1000 against K = 100: no ranking
    assert scores.test_scored(model.TestNLL(1, 10, 1000, 4.4, 5.0, np.arange(10.0)))
    assert scores.percentile(scores.inputs[0]) == pytest.approx(45.0)
