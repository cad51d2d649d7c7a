"""Binarized grey data (Burda et al.): dynamic draws every batch, static once; the test set once, with a fixed seed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import latentlab.core.trainer as trainer_module
from latentlab.core.checkpoint import open_run
from latentlab.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from latentlab.core.data import binarize, binarize_splits, load_dataset, sample_pixels
from latentlab.core.errors import CheckpointError, ConfigError
from latentlab.core.evaluate import elbo_parts, evaluate
from latentlab.core.events import EpochSnapshot, StepMetrics
from latentlab.core.trainer import RunControl, train
from test_trainer import assert_same_weights

STEPS_PER_EPOCH = 12  # digits: 1438 training images in batches of 128


def config(binarize: str | None, **train_kw) -> RunConfig:
    train_kw.setdefault("epochs", 2)
    train_kw.setdefault("batch_size", 128)
    return RunConfig(
        DataConfig(binarize=binarize), ModelConfig(hidden=(32,), latent_dim=2), TrainConfig(**train_kw)
    )


def record_batches(monkeypatch) -> list[tuple[np.ndarray, torch.Tensor]]:
    """Every training step's (item indices, float input), in order."""
    seen: list[tuple[np.ndarray, torch.Tensor]] = []
    real = trainer_module.batch_input

    def recording(images, batch, dynamic, generator):
        x = real(images, batch, dynamic, generator)
        seen.append((batch.cpu().numpy().copy(), x.detach().clone()))
        return x

    monkeypatch.setattr(trainer_module, "batch_input", recording)
    return seen


def by_item(batches: list[tuple[np.ndarray, torch.Tensor]]) -> torch.Tensor:
    """One epoch's recorded inputs, rearranged into item order."""
    indices = np.concatenate([b for b, _ in batches])
    x = torch.cat([x for _, x in batches])
    return x[torch.as_tensor(np.argsort(indices))]




def only_0_and_255(images: torch.Tensor) -> bool:
    return bool(((images == 0) | (images == 255)).all())


# ---------------------------------------------------------------------------- the draws


def test_binarizing_gives_0_or_255_and_binarized_pixels_stay_as_they_are(digits):
    once = binarize(digits.test_images, torch.Generator().manual_seed(5))
    assert once.dtype == torch.uint8 and once.shape == digits.test_images.shape
    assert only_0_and_255(once)
    assert torch.equal(binarize(once, torch.Generator().manual_seed(6)), once)  # p is 0 or 1 there
    assert not only_0_and_255(digits.test_images)  # the digits' 17 grey levels, for contrast


def test_the_mean_of_many_dynamic_draws_approaches_the_grey_intensity():
    p = torch.arange(256, dtype=torch.float32).div(255).repeat(4000, 1)  # every grey level, 4000 draws each
    mean = sample_pixels(p, torch.Generator().manual_seed(0)).mean(0)
    levels = torch.arange(256, dtype=torch.float32) / 255
    se = (levels * (1 - levels) / 4000).sqrt()
    assert bool(((mean - levels).abs() <= 5 * se + 1e-7).all())  # five standard errors, from a fixed seed
    assert mean[0] == 0 and mean[-1] == 1  # black never lights, white always does


def test_dynamic_training_draws_fresh_0_or_1_batches_every_step_and_epoch(digits, monkeypatch):
    seen = record_batches(monkeypatch)
    events = list(train(config("dynamic"), digits))
    assert len(seen) == 2 * STEPS_PER_EPOCH
    assert all(bool(((x == 0) | (x == 1)).all()) for _, x in seen)
    first, second = by_item(seen[:STEPS_PER_EPOCH]), by_item(seen[STEPS_PER_EPOCH:])
    assert not torch.equal(first, second)  # every epoch a new sample of each item
    grey = digits.train_images.float() / 255
    assert (first - grey).abs().mean() < 0.5 and (first.mean() - grey.mean()).abs() < 0.01  # a sample of these items
    started = events[0]
    assert only_0_and_255(torch.from_numpy(np.array(started.test_images)))  # the test set the run shows and scores


def test_dynamic_runs_are_identical_at_the_same_seed(tmp_path, digits, monkeypatch):
    draws = []
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        seen = record_batches(monkeypatch)
        list(train(config("dynamic", epochs=1, seed=seed), digits, run_dir=tmp_path / name))
        draws.append(torch.cat([x for _, x in seen]))
    assert torch.equal(draws[0], draws[1])
    assert_same_weights(tmp_path / "a", tmp_path / "b")
    assert not torch.equal(draws[0], draws[2])


def test_a_dynamic_run_stopped_mid_epoch_resumes_exactly(tmp_path, digits):
    cfg = config("dynamic", epochs=2, log_every=1)
    list(train(cfg, digits, run_dir=tmp_path / "whole"))
    control = RunControl()
    for event in train(cfg, digits, run_dir=tmp_path / "split", control=control):
        if isinstance(event, StepMetrics) and event.step == 17:
            control.stop()
    assert open_run(tmp_path / "split").step == 17
    list(train(cfg, digits, run_dir=tmp_path / "split", resume=True))
    assert_same_weights(tmp_path / "whole", tmp_path / "split")


def test_static_keeps_one_binarization_across_epochs_and_a_resume(tmp_path, digits, monkeypatch):
    seen = record_batches(monkeypatch)
    list(train(config("static", epochs=2), digits, run_dir=tmp_path / "run"))
    list(train(config("static", epochs=3), digits, run_dir=tmp_path / "run", resume=True))
    assert len(seen) == 3 * STEPS_PER_EPOCH
    epochs = [by_item(seen[i * STEPS_PER_EPOCH : (i + 1) * STEPS_PER_EPOCH]) for i in range(3)]
    assert torch.equal(epochs[0], epochs[1]) and torch.equal(epochs[1], epochs[2])
    loaded = load_dataset(config("static").data).train_images
    assert only_0_and_255(loaded) and torch.equal(epochs[0], loaded.float() / 255)
    list(train(config("static", epochs=3), digits, run_dir=tmp_path / "whole"))
    assert_same_weights(tmp_path / "run", tmp_path / "whole")


def test_the_test_set_is_binarized_once_with_a_fixed_seed_alike_for_static_and_dynamic(digits):
    static, dynamic = load_dataset(DataConfig(binarize="static")), load_dataset(DataConfig(binarize="dynamic"))
    assert only_0_and_255(static.test_images)
    assert torch.equal(static.test_images, dynamic.test_images)
    assert torch.equal(load_dataset(DataConfig(binarize="dynamic")).test_images, dynamic.test_images)
    assert torch.equal(dynamic.train_images, digits.train_images)  # dynamic: the trainer samples these per batch
    assert torch.equal(binarize_splits(digits, DataConfig(binarize="dynamic")).test_images, dynamic.test_images)
    assert binarize_splits(digits, DataConfig()) is digits


def test_the_test_elbo_of_every_epoch_is_on_the_binarized_test_set(tmp_path, digits):
    cfg = config("static", epochs=1)
    snaps = [e for e in train(cfg, digits, run_dir=tmp_path / "run") if isinstance(e, EpochSnapshot)]
    run = open_run(tmp_path / "run")
    images, _ = run.load_testset()
    assert only_0_and_255(images)
    model = run.load_model()
    assert elbo_parts(model, images, seed=cfg.train.seed)[2] == pytest.approx(snaps[-1].test_total, rel=1e-5)
    # BCE is linear in its target, so the grey set's -ELBO differs only through the encoder: a little, but not nothing.
    assert elbo_parts(model, digits.test_images, seed=cfg.train.seed)[2] != pytest.approx(snaps[-1].test_total, rel=1e-5)


# ---------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "data",
    [{"name": "cifar10", "root": "/data"}, {"name": "folder", "root": "/images", "channels": 3}],
    ids=["cifar10", "rgb-folder"],
)
def test_rgb_data_with_binarize_is_refused_with_a_sentence(data, one_sentence):
    with pytest.raises(ConfigError) as info:
        DataConfig(**data, binarize="dynamic")
    one_sentence(str(info.value))
    assert "grey" in str(info.value) and "--binarize" in str(info.value)
    DataConfig(name="folder", root="/images", binarize="static")  # a grey folder binarizes


@pytest.mark.parametrize("value", ["sometimes", "", 1, True], ids=["word", "empty", "number", "bool"])
def test_an_unknown_binarization_is_refused_with_a_sentence(value, one_sentence):
    with pytest.raises(ConfigError) as info:
        RunConfig.from_dict({"data": {"binarize": value}})
    one_sentence(str(info.value))


def test_the_cli_refuses_binarizing_rgb_images(tmp_path, cifar_jpg_subset, capsys, one_sentence):
    from latentlab.cli import main

    code = main(["train", "--out", str(tmp_path / "run"), "--dataset", "folder", "--data-dir", str(cifar_jpg_subset),
                 "--rgb", "--binarize", "static", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("latentlab: error: ")
    one_sentence(err[len("latentlab: error: "):])
    assert not (tmp_path / "run").exists()


def test_a_bad_binarize_value_on_the_command_line_is_one_sentence_and_exit_2(cli, tmp_path, one_sentence):
    message = cli.user_error("train", "--out", tmp_path / "run", "--binarize", "sometimes", "--quiet")
    one_sentence(message)
    assert "--binarize" in message and "dynamic" in message
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------- run folders and the CLI


def test_the_cli_flag_reaches_run_json_and_an_mnist_run_trains_on_it(tmp_path, mnist_root, capsys):
    from latentlab.cli import main

    run_dir = tmp_path / "run"
    assert main(["train", "--out", str(run_dir), "--dataset", "mnist", "--data-dir", str(mnist_root),
                 "--binarize", "static", "--hidden", "16", "--latent-dim", "2", "--batch-size", "500",
                 "--epochs", "1", "--quiet"]) == 0
    assert json.loads((run_dir / "run.json").read_text())["config"]["data"]["binarize"] == "static"
    run = open_run(run_dir)
    assert run.config.data.binarize == "static"
    images, _ = run.load_testset()
    assert images.shape == (500, 1, 28, 28) and only_0_and_255(images)
    # Resuming keeps the run's binarization without the flag; asking for another is refused.
    assert main(["train", "--out", str(run_dir), "--resume", "--epochs", "2", "--quiet"]) == 0
    assert open_run(run_dir).config.data.binarize == "static"
    capsys.readouterr()
    assert main(["train", "--out", str(run_dir), "--resume", "--epochs", "3", "--binarize", "dynamic", "--quiet"]) == 2
    assert "data settings differ" in capsys.readouterr().err


def strip_new_settings(run_dir: Path) -> None:
    """Make run.json as an earlier latentlab wrote it: without the settings added since."""
    meta = json.loads((run_dir / "run.json").read_text())
    del meta["config"]["data"]["binarize"]
    del meta["config"]["model"]["activation"]
    del meta["config"]["train"]["lr_schedule"]
    del meta["config"]["train"]["adam_eps"]
    (run_dir / "run.json").write_text(json.dumps(meta, indent=1))


def test_an_old_run_json_without_the_field_opens_evaluates_and_resumes(tmp_path, digits, capsys):
    from latentlab.cli import main

    run_dir = tmp_path / "run"
    list(train(config(None, epochs=1), digits, run_dir=run_dir))
    strip_new_settings(run_dir)
    run = open_run(run_dir)
    assert run.config.data.binarize is None and run.config.model.activation == "relu"
    assert (run.config.train.lr_schedule, run.config.train.adam_eps) == ("constant", 1e-8)
    assert main(["evaluate", str(run_dir), "--iw-samples", "2", "--device", "cpu", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["binarize"] is None
    assert main(["train", "--out", str(run_dir), "--resume", "--epochs", "2", "--quiet"]) == 0
    assert open_run(run_dir).epoch == 2
    list(train(config(None, epochs=2), digits, run_dir=tmp_path / "whole"))
    assert_same_weights(run_dir, tmp_path / "whole")  # resumed exactly, as if never stopped


def test_evaluate_on_a_binarized_run_scores_the_binarized_test_set(tmp_path, digits, capsys):
    from latentlab.cli import main

    run_dir = tmp_path / "run"
    list(train(config("dynamic", epochs=1), digits, run_dir=run_dir))
    assert main(["evaluate", str(run_dir), "--iw-samples", "5", "--device", "cpu", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["binarize"] == "dynamic" and result["n_items"] == digits.n_test
    model = open_run(run_dir).load_model()
    binarized = load_dataset(DataConfig(binarize="dynamic")).test_images
    expected = evaluate(model, binarized, iw_samples=5)
    assert (result["total"], result["nll"]) == pytest.approx((expected.total, expected.nll), rel=1e-6)
    grey = evaluate(model, digits.test_images, iw_samples=5)
    assert grey.nll != pytest.approx(expected.nll, rel=1e-5)  # the figure is the binarized set's
    assert main(["evaluate", str(run_dir), "--iw-samples", "5", "--device", "cpu"]) == 0
    assert f"{digits.n_test} binarized test items" in capsys.readouterr().out


def test_a_grey_test_set_in_a_binarized_run_is_called_damaged(tmp_path, digits, one_sentence):
    run_dir = tmp_path / "run"
    list(train(config("static", epochs=1), digits, run_dir=run_dir))
    testset = run_dir / open_run(run_dir).files["testset"]
    save_file({"images": digits.test_images.contiguous(), "labels": digits.test_labels.contiguous()}, testset)
    with pytest.raises(CheckpointError) as info:
        open_run(run_dir).load_testset()
    one_sentence(str(info.value))
    assert "binarized" in str(info.value)
