"""The loss plot: a train and a test curve of one name show one quantity; the weighted objective is apart."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab.core.config import ModelConfig, RunConfig, TrainConfig
from latentlab.core.events import EpochSnapshot, StepMetrics
from latentlab.core.trainer import train
from latentlab.gui.widgets.loss_plot import OBJECTIVE_LABEL, LossPlot


def trained_events(beta: float, warmup: float = 0.0) -> tuple[list[StepMetrics], list[EpochSnapshot]]:
    cfg = RunConfig(model=ModelConfig(hidden=(16,)),
                    train=TrainConfig(epochs=2, batch_size=128, beta=beta, kl_warmup_epochs=warmup, log_every=4))
    events = list(train(cfg))
    return [e for e in events if isinstance(e, StepMetrics)], [e for e in events if isinstance(e, EpochSnapshot)]


def feed(plot: LossPlot, metrics: list[StepMetrics], snapshots: list[EpochSnapshot]) -> None:
    """As the app does with each event."""
    for m in metrics:
        plot.add_train(m.step, m.recon, m.kl, m.recon + m.kl, None if m.beta == 1 else m.total)
    for s in snapshots:
        plot.add_test(s.step, s.test_recon, s.test_kl, s.test_total)


def as_history(metrics: list[StepMetrics], snapshots: list[EpochSnapshot]) -> tuple[list[dict], list[dict]]:
    """The rows the trainer saves in run.json for the same events."""
    steps = [{"step": m.step, "epoch": m.epoch, "recon": m.recon, "kl": m.kl, "total": m.total, "beta": m.beta}
             for m in metrics]
    epochs = [{"epoch": s.epoch, "step": s.step, "recon": s.test_recon, "kl": s.test_kl, "total": s.test_total}
              for s in snapshots]
    return steps, epochs


def legend(plot: LossPlot) -> dict[str, object]:
    """Legend text -> the curve it names."""
    return {label.text: sample.item for sample, label in plot.legend.items}


def drawn(qtbot, plot: LossPlot, curve, n: int) -> np.ndarray:
    qtbot.waitUntil(lambda: curve.yData is not None and len(curve.yData) == n, timeout=5000)
    return np.asarray(curve.yData)


@pytest.fixture
def plot(qtbot) -> LossPlot:
    plot = LossPlot()
    qtbot.addWidget(plot)
    return plot


@pytest.fixture(scope="module")
def beta_2_run():
    return trained_events(beta=2.0)


@pytest.mark.parametrize("source", ["live", "opened"])
def test_with_beta_2_train_and_test_under_one_name_are_the_elbo_and_the_objective_is_its_own_curve(
        plot, qtbot, beta_2_run, source):
    metrics, snapshots = beta_2_run
    if source == "live":
        feed(plot, metrics, snapshots)
    else:
        plot.set_history(*as_history(metrics, snapshots))
    recon, kl = np.array([m.recon for m in metrics]), np.array([m.kl for m in metrics])
    train_elbo = drawn(qtbot, plot, plot.train_curves["elbo"], len(metrics))
    test_elbo = drawn(qtbot, plot, plot.test_curves["elbo"], len(snapshots))
    names = legend(plot)
    assert names["train \u2212ELBO"] is plot.train_curves["elbo"] and names["test \u2212ELBO"] is plot.test_curves["elbo"]
    np.testing.assert_allclose(train_elbo, recon + kl, rtol=1e-12)  # the same quantity as ...
    np.testing.assert_allclose(test_elbo, [s.test_recon + s.test_kl for s in snapshots], rtol=1e-6)  # ... the test's
    # What was minimised, recon + 2 KL, is drawn apart and named for what it is.
    assert plot.shows_objective and names[f"train {OBJECTIVE_LABEL}"] is plot.objective_curve
    assert plot.objective_curve.isVisible()
    objective = drawn(qtbot, plot, plot.objective_curve, len(metrics))
    np.testing.assert_allclose(objective, recon + 2.0 * kl, rtol=1e-5)
    assert np.all(objective > train_elbo)
    history = plot.history()
    np.testing.assert_allclose(history["train"]["elbo"], recon + kl, rtol=1e-12)
    np.testing.assert_allclose(history["train"]["objective"], [m.total for m in metrics])
    assert set(history["test"]) == {"step", "recon", "kl", "elbo"}


@pytest.mark.parametrize("source", ["live", "opened"])
def test_with_beta_1_there_is_no_objective_curve(plot, qtbot, source):
    metrics, snapshots = trained_events(beta=1.0)
    if source == "live":
        feed(plot, metrics, snapshots)
    else:
        plot.set_history(*as_history(metrics, snapshots))
    drawn(qtbot, plot, plot.train_curves["elbo"], len(metrics))
    assert not plot.shows_objective and not plot.objective_curve.isVisible()
    assert sorted(legend(plot)) == sorted(f"{split} {name}" for split in ("train", "test")
                                          for name in ("\u2212ELBO", "recon", "KL"))
    assert "objective" not in plot.history()["train"]


def test_a_kl_warm_up_to_beta_1_shows_the_objective_while_it_differs(plot, qtbot):
    metrics, snapshots = trained_events(beta=1.0, warmup=1.0)
    plot.set_history(*as_history(metrics, snapshots))
    assert plot.shows_objective
    objective = drawn(qtbot, plot, plot.objective_curve, len(metrics))
    elbo = np.array([m.recon + m.kl for m in metrics])
    warming = np.array([m.beta < 1 for m in metrics])
    assert warming[0] and not warming[-1]
    assert np.all(objective[warming] < elbo[warming])
    np.testing.assert_allclose(objective[~warming], elbo[~warming], rtol=1e-5)  # beta 1: they meet


def test_clearing_takes_the_objective_out_of_the_legend(plot, qtbot, beta_2_run):
    feed(plot, *beta_2_run)
    qtbot.waitUntil(lambda: f"train {OBJECTIVE_LABEL}" in legend(plot), timeout=5000)
    plot.clear()
    qtbot.waitUntil(lambda: f"train {OBJECTIVE_LABEL}" not in legend(plot), timeout=5000)
    assert not plot.objective_curve.isVisible() and plot.history()["train"]["step"] == []


def test_a_saved_row_without_beta_shows_the_objective_only_where_its_numbers_differ(plot, qtbot):
    plain = [{"step": 1, "epoch": 1, "recon": 30.0, "kl": 2.0, "total": 32.0}]
    plot.set_history(plain, [])
    assert not plot.shows_objective and plot.history()["train"]["elbo"] == [32.0]
    plot.set_history(plain + [{"step": 2, "epoch": 1, "recon": 29.0, "kl": 2.0, "total": 33.0}], [])
    assert plot.shows_objective and plot.history()["train"]["objective"] == [32.0, 33.0]


def test_four_arguments_add_a_train_point_whose_objective_is_its_elbo(plot):
    plot.add_train(5, 30.0, 2.0, 32.0)
    assert plot.history()["train"] == {"step": [5], "recon": [30.0], "kl": [2.0], "elbo": [32.0]}
    assert not plot.shows_objective
