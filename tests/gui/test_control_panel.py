"""The settings form: its choices, ranges and defaults are the config's, and every valid run fits in it."""

from __future__ import annotations

import pytest

from latentlab.core.config import (
    DATASET_LABELS, DATASETS, DEVICE_LABELS, DEVICES, LIKELIHOODS, MAX_BATCH_SIZE, MAX_EPOCHS, MAX_LATENT_DIM, MAX_SEED,
    MODELS, RunConfig,
)
from latentlab.core.errors import ConfigError
from latentlab.gui.widgets.control_panel import ControlPanel


@pytest.fixture
def panel(qtbot) -> ControlPanel:
    panel = ControlPanel()
    qtbot.addWidget(panel)
    return panel


def combo_items(box) -> list[tuple[str, str]]:
    return [(box.itemData(i), box.itemText(i)) for i in range(box.count())]


def test_a_new_form_holds_the_configs_defaults(panel):
    assert RunConfig.from_dict(panel.settings()) == RunConfig()
    assert panel.epochs.value() == RunConfig().train.epochs and panel.batch_size.value() == RunConfig().train.batch_size


def test_settings_missing_from_a_run_fall_back_to_the_configs_defaults(panel):
    panel.set_settings({"model": {"latent_dim": 7}, "train": {"epochs": 3, "batch_size": 999, "seed": 42, "beta": 4.0}})
    assert panel.settings()["train"]["epochs"] == 3
    panel.set_settings({})
    assert RunConfig.from_dict(panel.settings()) == RunConfig()


def test_the_choices_are_the_configs_with_its_labels(panel):
    assert combo_items(panel.dataset) == list(DATASET_LABELS.items()) and tuple(DATASET_LABELS) == DATASETS
    assert [key for key, _ in combo_items(panel.model)] == list(MODELS)
    assert [key for key, _ in combo_items(panel.likelihood)] == list(LIKELIHOODS)
    panel.set_devices(list(DEVICES))
    assert combo_items(panel.device) == list(DEVICE_LABELS.items())


def test_the_ranges_are_the_configs_bounds_so_a_large_cli_run_is_shown_as_it_is(panel):
    assert (panel.epochs.maximum(), panel.batch_size.maximum(), panel.latent_dim.maximum()) == (
        MAX_EPOCHS, MAX_BATCH_SIZE, MAX_LATENT_DIM)
    big = RunConfig().with_changes(model={"latent_dim": 1000, "hidden": (512, 256)},
                                   train={"epochs": 20_000, "batch_size": 100_000})
    panel.set_settings(big.to_dict())
    assert RunConfig.from_dict(panel.settings()) == big


@pytest.mark.parametrize("seed", [0, 2**31, MAX_SEED], ids=["zero", "past-32-bits", "max"])
def test_any_valid_seed_round_trips_through_the_form(panel, seed):
    cfg = RunConfig().with_changes(train={"seed": seed})
    panel.set_settings(cfg.to_dict())  # a QSpinBox raised OverflowError past 2**31 - 1
    assert panel.settings()["train"]["seed"] == seed
    assert RunConfig.from_dict(panel.settings()) == cfg


def test_typing_a_seed_takes_digits_only_and_stops_at_the_largest_seed(panel, ui):
    ui.type_into(panel.seed, "12a-3.4")
    assert panel.seed.text() == "1234"
    ui.type_into(panel.seed, str(MAX_SEED) + "7")
    assert panel.settings()["train"]["seed"] == MAX_SEED
    ui.type_into(panel.seed, "9" * 20)
    assert panel.seed.text() == "9" * 18  # a 19th nine would pass the largest seed
    assert MAX_SEED.bit_length() == 63 and int(panel.seed.text()) <= MAX_SEED


def test_an_empty_seed_is_refused_by_the_config_in_one_sentence(panel, one_sentence):
    panel.seed.clear()
    with pytest.raises(ConfigError) as info:
        RunConfig.from_dict(panel.settings())
    one_sentence(str(info.value))
    assert "seed" in str(info.value)
