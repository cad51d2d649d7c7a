"""The IWAE paper's settings (Burda et al.): tanh hidden layers, the 3^i-epoch learning-rate stages, Adam's epsilon."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from latentlab.core.checkpoint import open_run
from latentlab.core.config import ModelConfig, RunConfig, TrainConfig, iwae_stage
from latentlab.core.errors import ConfigError
from latentlab.core.model import build_model, parameter_count
from latentlab.core.trainer import train


def config(**train_kw) -> RunConfig:
    train_kw.setdefault("batch_size", 128)
    return RunConfig(model=ModelConfig(hidden=(32,), latent_dim=2, activation="tanh"), train=TrainConfig(**train_kw))


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(run_dir / open_run(run_dir).files["weights"])


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def saved_adam_group(run_dir: Path) -> dict:
    return open_run(run_dir).load_resume_state()["optimizer"]["param_groups"][0]


# ---------------------------------------------------------------------------- activation


@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_the_activation_chooses_the_hidden_nonlinearity_and_keeps_the_weights_layout(kind):
    shape = (1, 28, 28)
    relu = build_model(ModelConfig(kind=kind, hidden=(32,)), shape)
    tanh = build_model(ModelConfig(kind=kind, hidden=(32,), activation="tanh"), shape)
    assert any(isinstance(m, nn.ReLU) for m in relu.modules()) and not any(isinstance(m, nn.Tanh) for m in relu.modules())
    assert any(isinstance(m, nn.Tanh) for m in tanh.modules()) and not any(isinstance(m, nn.ReLU) for m in tanh.modules())
    assert relu.state_dict().keys() == tanh.state_dict().keys()  # no parameters: a saved run's weights load under either
    assert parameter_count(ModelConfig(kind=kind, hidden=(32,), activation="tanh"), shape) == sum(
        p.numel() for p in tanh.parameters()
    )


def test_tanh_hidden_units_are_bounded():
    model = build_model(ModelConfig(hidden=(200, 200), latent_dim=50, activation="tanh"), (1, 28, 28))
    h = model.encoder(torch.randn(8, 1, 28, 28) * 100)
    assert h.abs().max() <= 1.0


# ---------------------------------------------------------------------------- the schedule


def test_the_iwae_stages_last_3_to_the_i_epochs_each_and_stop_at_the_eighth():
    stages = [iwae_stage(e) for e in range(3280)]
    assert [stages.count(i) for i in range(8)] == [3**i for i in range(8)]  # 3280 epochs in all
    assert stages == sorted(stages)
    assert iwae_stage(3280) == iwae_stage(100_000) == 7  # past the schedule: its last rate


def test_the_learning_rate_is_lr_times_10_to_the_minus_i_over_7():
    tc = TrainConfig(lr_schedule="iwae")
    assert [tc.lr_at(e) for e in (0, 1, 3, 4, 12, 13)] == pytest.approx(
        [1e-3, 1e-3 * 10 ** (-1 / 7), 1e-3 * 10 ** (-1 / 7), 1e-3 * 10 ** (-2 / 7), 1e-3 * 10 ** (-2 / 7),
         1e-3 * 10 ** (-3 / 7)]
    )
    assert tc.lr_at(3279) == pytest.approx(1e-4)
    assert TrainConfig(lr=5e-4).lr_at(3279) == 5e-4  # constant: the one rate


def test_the_schedule_changes_training_only_after_its_first_stage(tmp_path, digits):
    for name, schedule, epochs in (("c1", "constant", 1), ("i1", "iwae", 1), ("c2", "constant", 2), ("i2", "iwae", 2)):
        list(train(config(epochs=epochs, lr_schedule=schedule), digits, run_dir=tmp_path / name))
    assert same_weights(tmp_path / "c1", tmp_path / "i1")  # stage 0 trains at lr itself
    assert not same_weights(tmp_path / "c2", tmp_path / "i2")
    assert saved_adam_group(tmp_path / "i2")["lr"] == TrainConfig(lr_schedule="iwae").lr_at(2)


def test_resuming_across_a_stage_boundary_is_exact(tmp_path, digits):
    list(train(config(epochs=1, lr_schedule="iwae", adam_eps=1e-4), digits, run_dir=tmp_path / "run"))
    list(train(config(epochs=5, lr_schedule="iwae", adam_eps=1e-4), digits, run_dir=tmp_path / "run", resume=True))
    list(train(config(epochs=5, lr_schedule="iwae", adam_eps=1e-4), digits, run_dir=tmp_path / "whole"))
    assert same_weights(tmp_path / "run", tmp_path / "whole")
    group = saved_adam_group(tmp_path / "run")
    assert group["eps"] == 1e-4 and group["lr"] == pytest.approx(1e-3 * 10 ** (-2 / 7))


# ---------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    "d",
    [{"model": {"activation": "sigmoid"}}, {"train": {"lr_schedule": "cosine"}}, {"train": {"adam_eps": 0}},
     {"train": {"adam_eps": math.inf}}, {"train": {"adam_eps": "small"}}],
    ids=["activation", "schedule", "eps-0", "eps-inf", "eps-text"],
)
def test_bad_recipe_settings_are_one_sentence(d, one_sentence):
    with pytest.raises(ConfigError) as info:
        RunConfig.from_dict(d)
    one_sentence(str(info.value))


def test_the_cli_flags_reach_run_json(tmp_path, capsys):
    from latentlab.cli import main

    run_dir = tmp_path / "run"
    assert main(["train", "--out", str(run_dir), "--hidden", "16,16", "--activation", "tanh", "--lr-schedule", "iwae",
                 "--adam-eps", "1e-4", "--batch-size", "500", "--epochs", "1", "--quiet"]) == 0
    saved = json.loads((run_dir / "run.json").read_text())["config"]
    assert saved["model"]["activation"] == "tanh"
    assert (saved["train"]["lr_schedule"], saved["train"]["adam_eps"]) == ("iwae", 1e-4)
    assert any(isinstance(m, nn.Tanh) for m in open_run(run_dir).load_model().modules())


@pytest.mark.parametrize(
    ("args", "needle"),
    [(["--activation", "sigmoid"], "--activation"), (["--lr-schedule", "cosine"], "--lr-schedule"),
     (["--adam-eps", "0"], "--adam-eps")],
    ids=["activation", "schedule", "eps"],
)
def test_bad_recipe_flags_are_one_line_user_errors(cli, tmp_path, args, needle, one_sentence):
    message = cli.user_error("train", "--out", tmp_path / "run", "--quiet", *args)
    one_sentence(message)
    assert needle in message
    assert not (tmp_path / "run").exists()
