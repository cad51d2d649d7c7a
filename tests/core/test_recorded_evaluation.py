"""The test NLL kept in run.json: recorded for its own checkpoint only, never replaced by a coarser
estimate, and read leniently, so a damaged entry is ignored rather than breaking the run's opening."""

from __future__ import annotations

import json
import shutil

import pytest

from latentlab.core.checkpoint import open_run, record_evaluation


@pytest.fixture
def run(trained_run, tmp_path):
    return shutil.copytree(trained_run, tmp_path / "run")


def step_of(run) -> int:
    return json.loads((run / "run.json").read_text())["step"]


def test_an_evaluation_is_kept_for_its_checkpoint_and_a_coarser_one_does_not_replace_it(run):
    step = step_of(run)
    assert not record_evaluation(run, step + 1, {"nll": 90.0, "iw_samples": 100})  # another checkpoint's
    assert open_run(run).evaluation is None
    assert record_evaluation(run, step, {"nll": 90.0, "neg_elbo": 95.0, "iw_samples": 5000})
    assert not record_evaluation(run, step, {"nll": 90.4, "neg_elbo": 95.0, "iw_samples": 100})
    assert open_run(run).evaluation["iw_samples"] == 5000 and open_run(run).evaluation["nll"] == 90.0
    assert record_evaluation(run, step, {"nll": 89.9, "neg_elbo": 95.0, "iw_samples": 5000})  # as fine: replaced
    assert open_run(run).evaluation["nll"] == 89.9


@pytest.mark.parametrize("damage", [
    '"iw_samples": Infinity', '"iw_samples": NaN', '"iw_samples": 2.5', '"iw_samples": 0',
    '"nll": Infinity', '"nll": ' + "1" + "0" * 400, '"iw_samples": ' + "1" + "0" * 400, '"nll": "ninety"',
])
def test_a_damaged_evaluation_is_ignored_and_the_run_opens(run, damage):
    text = (run / "run.json").read_text()
    meta = json.loads(text)
    entry = {"nll": 90.0, "neg_elbo": 95.0, "iw_samples": 100, "step": meta["step"]}
    key = damage.split(":")[0].strip('"')
    entry_text = json.dumps({k: v for k, v in entry.items() if k != key})[:-1] + ", " + damage + "}"
    meta_text = json.dumps(meta)[:-1] + ', "evaluation": ' + entry_text + "}"
    (run / "run.json").write_text(meta_text)
    assert open_run(run).evaluation is None
