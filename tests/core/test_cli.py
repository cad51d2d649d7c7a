"""The ``latentlab`` command as a user runs it: a subprocess, exit codes, one-line errors, nothing lost."""

from __future__ import annotations

import json
import math
import random
import shutil
import signal
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from latentlab.core.checkpoint import open_run


class MakesMarker:
    """Unpickled without restriction, this creates a directory: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return (os.mkdir, (self.marker,))


def folder_state(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.rglob("*"))
            if p.is_file()}


def resume_file(run_dir: Path) -> Path:
    return run_dir / json.loads((run_dir / "run.json").read_text())["files"]["resume"]


def assert_same_weights(a: Path, b: Path) -> None:
    wa = load_file(a / open_run(a).files["weights"])
    wb = load_file(b / open_run(b).files["weights"])
    assert wa.keys() == wb.keys() and len(wa) > 0
    for key in wa:
        assert torch.equal(wa[key], wb[key]), f"{key} differs"


@pytest.fixture
def run_copy(tmp_path, trained_run) -> Path:
    dest = tmp_path / "run"
    shutil.copytree(trained_run, dest)
    return dest


# ---------------------------------------------------------------------------- usage


def test_help_and_version_exit_zero(cli):
    from latentlab import __version__

    assert "train" in cli.ok("--help").stdout
    assert "--resume" in cli.ok("train", "--help").stdout
    assert cli.ok("--version").stdout.strip() == f"latentlab {__version__}"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--epochs", "0"], "Epochs"),
        (["--latent-dim", "-3"], "latent dimension"),
        (["--batch-size", "0"], "batch size"),
        (["--lr", "-1"], "learning rate"),
        (["--dataset", "imagenet"], "--dataset"),
        (["--hidden", "0"], "--hidden"),
        (["--hidden", "400,abc"], "--hidden"),
        (["--data-dir", "somewhere"], "--dataset"),
        (["--epochs", "many"], "--epochs"),
    ],
    ids=["epochs-0", "latent-dim-neg", "batch-size-0", "lr-neg", "unknown-dataset", "hidden-0", "hidden-text",
         "data-dir-alone", "epochs-text"],
)
def test_nonsense_train_settings_are_one_line_user_errors(cli, tmp_path, args, needle, one_sentence):
    message = cli.user_error("train", "--out", tmp_path / "run", "--quiet", *args)
    one_sentence(message)
    assert needle in message
    assert not (tmp_path / "run").exists()  # nothing was created


def test_unknown_command_and_missing_argument_are_user_errors(cli, one_sentence):
    one_sentence(cli.user_error("frobnicate"))
    one_sentence(cli.user_error("evaluate"))


# ---------------------------------------------------------------------------- data errors


def test_missing_data_dir_is_a_user_error(cli, tmp_path, one_sentence):
    message = cli.user_error("train", "--out", tmp_path / "run", "--dataset", "mnist",
                             "--data-dir", tmp_path / "no-such-folder", "--quiet")
    one_sentence(message)
    assert "does not exist" in message and "no-such-folder" in message
    assert not (tmp_path / "run").exists()


def test_missing_dataset_files_are_a_user_error(cli, tmp_path, one_sentence):
    (tmp_path / "data").mkdir()
    message = cli.user_error("train", "--out", tmp_path / "run", "--dataset", "fashion-mnist",
                             "--data-dir", tmp_path / "data", "--quiet")
    one_sentence(message)
    assert "Fashion-MNIST" in message
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------- foreign or damaged run folders


def _no_run_json(run: Path) -> None:
    (run / "run.json").unlink()


def _not_json(run: Path) -> None:
    (run / "run.json").write_text("<html>not json</html>")


def _wrong_tag(run: Path) -> None:
    meta = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**meta, "format": "some-other-tool"}))


def _truncated_weights(run: Path) -> None:
    weights = run / json.loads((run / "run.json").read_text())["files"]["weights"]
    weights.write_bytes(weights.read_bytes()[:1000])


@pytest.mark.parametrize("damage", [_no_run_json, _not_json, _wrong_tag, _truncated_weights],
                         ids=["no-run-json", "not-json", "wrong-tag", "truncated-weights"])
def test_evaluating_a_foreign_or_damaged_run_is_a_user_error(cli, run_copy, damage, one_sentence):
    damage(run_copy)
    one_sentence(cli.user_error("evaluate", run_copy, "--iw-samples", "2"))


def test_resuming_from_a_pickled_object_runs_no_code(cli, run_copy, tmp_path, one_sentence):
    marker = tmp_path / "marker"
    torch.save({"optimizer": MakesMarker(marker), "generator": None, "order": None, "position": 0},
               resume_file(run_copy))
    before = folder_state(run_copy)
    message = cli.user_error("train", "--out", run_copy, "--resume", "--epochs", "40", "--quiet")
    one_sentence(message)
    assert "resume state" in message
    assert not marker.exists()
    assert folder_state(run_copy) == before


def test_training_into_a_folder_holding_a_run_without_resume_overwrites_nothing(cli, run_copy, one_sentence):
    before = folder_state(run_copy)
    message = cli.user_error("train", "--out", run_copy, "--epochs", "3", "--quiet")
    one_sentence(message)
    assert "--resume" in message
    assert folder_state(run_copy) == before


def test_resuming_a_run_already_at_its_epoch_count_overwrites_nothing(cli, run_copy, one_sentence):
    before = folder_state(run_copy)
    message = cli.user_error("train", "--out", run_copy, "--resume", "--quiet")  # the saved 30 epochs
    one_sentence(message)
    assert "already trained 30 epoch" in message
    assert folder_state(run_copy) == before


# ---------------------------------------------------------------------------- training, resuming, evaluating


def test_resume_through_the_cli_is_bitwise_equal_to_one_long_run(cli, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    cli.ok("train", "--out", a, "--epochs", "2", "--quiet")
    assert open_run(a).epoch == 2
    proc = cli.ok("train", "--out", a, "--resume", "--epochs", "4", "--quiet")
    assert "finished at epoch 4" in proc.stderr
    cli.ok("train", "--out", b, "--epochs", "4", "--quiet")
    assert open_run(a).epoch == open_run(b).epoch == 4
    assert open_run(a).config == open_run(b).config
    assert_same_weights(a, b)


def test_evaluate_json_prints_one_object_with_the_loss_parts(cli, run_copy):
    proc = cli.ok("evaluate", run_copy, "--iw-samples", "20", "--json")
    lines = proc.stdout.splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert isinstance(result, dict)
    assert {"recon", "kl", "total", "nll"} <= result.keys()
    assert all(math.isfinite(result[k]) for k in ("recon", "kl", "total", "nll"))
    assert result["total"] == pytest.approx(result["recon"] + result["kl"])
    assert result["nll"] < result["total"]
    assert (result["iw_samples"], result["n_items"], result["epoch"]) == (20, 359, 30)
    # Kept beside the checkpoint it scored, for the app to show when it opens the run.
    kept = open_run(run_copy).evaluation
    assert kept["nll"] == pytest.approx(result["nll"]) and kept["iw_samples"] == 20 and kept["step"] == result["step"]


def test_ctrl_c_stops_training_with_a_checkpoint_that_resumes(cli, tmp_path):
    run_dir = tmp_path / "run"
    proc = cli.popen("train", "--out", run_dir, "--epochs", "1000", "--quiet")
    try:
        wait_for(lambda: (run_dir / "run.json").exists(), proc)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert stderr.strip().splitlines()[-1].startswith("stopped at epoch")
    run = open_run(run_dir)
    assert 1 <= run.epoch < 1000
    run.load_model()
    run.load_resume_state()


def wait_for(condition, proc, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"training ended early with {proc.returncode}: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            raise AssertionError("training did not reach the expected point in time")
        time.sleep(0.02)


def test_sigkill_during_training_leaves_the_last_checkpoint_loadable(cli, tmp_path):
    """Kill -9 at random moments (often in the middle of a save): the run always opens whole and resumes."""
    run_dir = tmp_path / "run"
    rng = random.Random(20240601)
    last_step = -1
    for round_ in range(3):
        args = ["train", "--out", run_dir, "--epochs", "1000", "--quiet"] + (["--resume"] if round_ else [])
        proc = cli.popen(*args)
        try:
            # Wait for a checkpoint newer than the one this round started from, then kill at a random moment.
            wait_for(lambda: (run_dir / "run.json").exists() and open_run(run_dir).step > last_step, proc)
            time.sleep(rng.uniform(0.0, 0.4))
        finally:
            proc.kill()  # SIGKILL: no handler, no cleanup
            proc.communicate()
        assert proc.returncode == -signal.SIGKILL

        run = open_run(run_dir)
        assert run.step > last_step and run.epoch >= 1
        last_step = run.step
        model = run.load_model()
        assert all(torch.isfinite(t).all() for t in model.state_dict().values())
        snapshot = run.load_snapshot()
        assert snapshot["latents"].shape == (359, 2)
        state = run.load_resume_state()
        assert int(state["position"]) == 0  # epoch-end checkpoints only: nobody asked it to stop
        images, labels = run.load_testset()
        assert images.shape == (359, 1, 8, 8) and labels.shape == (359,)

    result = json.loads(cli.ok("evaluate", run_dir, "--iw-samples", "5", "--json").stdout)
    assert result["epoch"] == open_run(run_dir).epoch and math.isfinite(result["nll"])


# ---------------------------------------------------------------------------- the same entry point, in-process (cheap)


def main_error(capsys, *args) -> str:
    from latentlab.cli import main

    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("latentlab: error: "), err
    return lines[0][len("latentlab: error: ") :]


def test_main_trains_a_conv_model_on_real_cifar10_jpegs(tmp_path, cifar_jpg_subset, capsys):
    from latentlab.cli import main

    assert main(["train", "--out", str(tmp_path / "run"), "--dataset", "folder", "--data-dir", str(cifar_jpg_subset),
                 "--rgb", "--model", "conv", "--hidden", "32", "--latent-dim", "4", "--batch-size", "100",
                 "--likelihood", "gaussian", "--sigma", "0.2", "--epochs", "1", "--quiet"]) == 0
    assert "finished at epoch 1, step 2" in capsys.readouterr().err
    run = open_run(tmp_path / "run")
    assert run.image_shape == (3, 32, 32)
    assert (run.config.model.kind, run.config.model.likelihood, run.config.model.sigma) == ("conv", "gaussian", 0.2)
    assert run.config.data.channels == 3 and run.config.data.root == str(cifar_jpg_subset.resolve())
    assert run.classes[-1] == "truck" and run.load_testset()[0].shape == (200, 3, 32, 32)


def test_main_shows_progress_unless_quiet(tmp_path, capsys):
    from latentlab.cli import main

    assert main(["train", "--out", str(tmp_path / "run"), "--epochs", "2", "--batch-size", "128", "--hidden", "16",
                 "--kl-warmup", "1"]) == 0
    err = capsys.readouterr().err
    assert "training on " in err and ": 1438 train / 359 test items of shape 1x8x8, 2 epochs" in err
    assert "epoch 2/2: test recon" in err and "finished at epoch 2, step 24" in err
    assert open_run(tmp_path / "run").config.train.kl_warmup_epochs == 1.0


def test_main_evaluate_prints_a_readable_table(run_copy, capsys):
    from latentlab.cli import main

    assert main(["evaluate", str(run_copy), "--iw-samples", "3", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "reconstruction" in out and "-ELBO" in out and "NLL (K=3" in out and "359 test items" in out


def test_main_refuses_changed_settings_on_resume(run_copy, capsys, one_sentence):
    before = folder_state(run_copy)
    one_sentence(main_error(capsys, "train", "--out", run_copy, "--resume", "--epochs", "40", "--latent-dim", "3", "--quiet"))
    one_sentence(main_error(capsys, "train", "--out", run_copy, "--resume", "--epochs", "40", "--lr", "0.1", "--quiet"))
    assert folder_state(run_copy) == before


def test_main_reports_an_empty_image_folder(tmp_path, capsys, one_sentence):
    (tmp_path / "images").mkdir()
    one_sentence(main_error(capsys, "train", "--out", tmp_path / "run", "--dataset", "folder",
                            "--data-dir", tmp_path / "images", "--quiet"))
    assert not (tmp_path / "run").exists()


def test_main_rejects_negative_importance_samples_and_empty_exports(trained_run, capsys, one_sentence):
    one_sentence(main_error(capsys, "evaluate", trained_run, "--iw-samples", "-1"))
    one_sentence(main_error(capsys, "export", trained_run))
