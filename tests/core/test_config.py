"""Run settings: validated on construction with one sentence, round-tripped through JSON."""

from __future__ import annotations

import json

import pytest

from latentlab.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from latentlab.core.errors import ConfigError


def test_settings_round_trip_through_json():
    cfg = RunConfig(
        DataConfig(name="folder", root="/data/x", image_size=32, channels=3, test_fraction=0.1, split_seed=4),
        ModelConfig(kind="conv", latent_dim=20, hidden=(512, 256), likelihood="gaussian", sigma=0.1),
        TrainConfig(epochs=7, batch_size=64, lr=3e-4, beta=4.0, kl_warmup_epochs=2.5, seed=11, device="cpu"),
    )
    again = RunConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    assert isinstance(again.model.hidden, tuple)


def test_missing_keys_take_defaults_and_with_changes_replaces_fields():
    assert RunConfig.from_dict({}) == RunConfig()
    cfg = RunConfig().with_changes(train={"epochs": 4}, model={"latent_dim": 3})
    assert (cfg.train.epochs, cfg.model.latent_dim, cfg.train.lr) == (4, 3, 1e-3)
    with pytest.raises(ConfigError):
        RunConfig().with_changes(train={"epochs": 0})


@pytest.mark.parametrize(
    "d",
    [[], {"data": []}, {"model": {"colour": "red"}}, {"train": {"epochs": "ten"}}, {"train": {"epochs": 2.5}},
     {"data": {"name": "imagenet"}}],
    ids=["not-a-dict", "section-not-a-dict", "unknown-key", "string-epochs", "fractional-epochs", "unknown-dataset"],
)
def test_malformed_settings_are_config_errors(d, one_sentence):
    with pytest.raises(ConfigError) as info:
        RunConfig.from_dict(d)
    one_sentence(str(info.value))


@pytest.mark.parametrize(
    "make",
    [
        lambda: DataConfig(name="imagenet"),
        lambda: DataConfig(name="mnist"),  # no folder
        lambda: DataConfig(name="folder", root="x", channels=2),
        lambda: DataConfig(name="folder", root="x", image_size=2),
        lambda: DataConfig(test_fraction=0.0),
        lambda: DataConfig(test_fraction=1.0),
        lambda: TrainConfig(epochs=0),
        lambda: TrainConfig(batch_size=0),
        lambda: TrainConfig(lr=-1.0),
        lambda: TrainConfig(lr=float("nan")),
        lambda: TrainConfig(lr=1e6),
        lambda: TrainConfig(beta=-0.5),
        lambda: TrainConfig(kl_warmup_epochs=-1.0),
        lambda: TrainConfig(device="tpu"),
        lambda: TrainConfig(log_every=0),
        lambda: TrainConfig(checkpoint_every=0),
        lambda: ModelConfig(latent_dim=5000),
        lambda: ModelConfig(latent_dim=2.5),
    ],
)
def test_nonsense_values_are_config_errors_in_one_sentence(make, one_sentence):
    with pytest.raises(ConfigError) as info:
        make()
    one_sentence(str(info.value))


def test_config_error_is_a_value_error_for_callers_that_expect_one():
    with pytest.raises(ValueError):
        TrainConfig(epochs=-1)
