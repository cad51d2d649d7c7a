"""A damaged or hostile run folder is one clear CheckpointError: never a crash, a hang or a wrong word.

run.json is checked against one schema with bounds before anything is built from it;
every tensor loaded is checked against the model it is meant for.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from latentlab.core.checkpoint import VERSION, open_run
from latentlab.core.errors import CheckpointError

from os_faults import cli_env


@pytest.fixture
def run_copy(tmp_path, trained_run) -> Path:
    dest = tmp_path / "run"
    shutil.copytree(trained_run, dest)
    return dest


def meta(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


def write_meta(run: Path, data) -> None:
    (run / "run.json").write_text(json.dumps(data))


def refused(run: Path, one_sentence, *, load: str | None = None) -> str:
    with pytest.raises(CheckpointError) as info:
        ckpt = open_run(run)
        if load:
            getattr(ckpt, load)()
    one_sentence(str(info.value))
    return str(info.value)


def run_cli(*args, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "latentlab", *map(str, args)], env=cli_env(),
                          capture_output=True, text=True, timeout=timeout)


# ------------------------------------------------------------------------------- run.json


def test_deeply_nested_json_is_damage_not_a_recursion_error(run_copy, one_sentence):
    (run_copy / "run.json").write_text("[" * 200_000 + "]" * 200_000)
    assert "not valid JSON" in refused(run_copy, one_sentence)


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("image_shape", [1, -8, 8], "image_shape"),
        ("image_shape", [1, 100000, 100000], "image_shape"),
        ("image_shape", [2, 8, 8], "image_shape"),
        ("image_shape", "1x8x8", "image_shape"),
        ("epoch", -1, "epoch"),
        ("epoch", 31, "epoch"),  # more than the run's 30 epochs
        ("epoch", 3.5, "epoch"),
        ("step", -5, "step"),
        ("step", True, "step"),
        ("epoch_complete", "yes", "epoch_complete"),
        ("classes", [1, 2], "classes"),
        ("history", {"steps": [{"step": "x"}]}, "history"),
        ("history", {"steps": [[1, 2]]}, "history"),
        ("files", {"weights": "model.safetensors"}, "names no valid"),
    ],
)
def test_run_json_out_of_bounds_is_refused_before_anything_is_built(run_copy, key, value, needle, one_sentence):
    write_meta(run_copy, {**meta(run_copy), key: value})
    message = refused(run_copy, one_sentence)
    assert needle in message and "damaged" in message


@pytest.mark.parametrize("hidden", [[-3], [65536, 65536, 65536]])
def test_absurd_model_sizes_in_run_json_are_refused(run_copy, hidden, one_sentence):
    data = meta(run_copy)
    data["config"]["model"]["hidden"] = hidden
    write_meta(run_copy, data)
    with pytest.raises(CheckpointError) as info:
        open_run(run_copy).load_model()
    one_sentence(str(info.value))


@pytest.mark.parametrize(("version", "word"), [(VERSION + 1, "newer"), (0, "older"), ("2", "no valid"), (None, "no valid")])
def test_format_versions_are_called_older_newer_or_damaged_correctly(run_copy, version, word, one_sentence):
    write_meta(run_copy, {**meta(run_copy), "version": version})
    assert word in refused(run_copy, one_sentence)


@pytest.mark.parametrize("target", ["/dev/zero", "fifo"])
def test_run_json_that_is_no_regular_file_is_refused_at_once(run_copy, target, one_sentence):
    (run_copy / "run.json").unlink()
    if target == "fifo":
        os.mkfifo(run_copy / "run.json")  # opening it for reading would block forever
    else:
        (run_copy / "run.json").symlink_to(target)
    assert "not a regular file" in refused(run_copy, one_sentence)


def test_a_weights_file_that_is_a_fifo_is_refused_without_blocking(run_copy, one_sentence):
    name = meta(run_copy)["files"]["weights"]
    (run_copy / name).unlink()
    os.mkfifo(run_copy / name)
    assert "not a regular file" in refused(run_copy, one_sentence)


# ------------------------------------------------------------------------------- the test split


def _write_testset(run: Path, images: torch.Tensor, labels: torch.Tensor | None) -> None:
    tensors = {"images": images.contiguous()}
    if labels is not None:
        tensors["labels"] = labels.contiguous()
    save_file(tensors, run / "testset.safetensors")


@pytest.mark.parametrize("damage", ["empty", "short-labels", "wrong-shape", "label-out-of-range"])
def test_a_damaged_test_split_is_refused_and_export_does_not_hang(run_copy, damage, one_sentence, tmp_path):
    saved = load_file(run_copy / "testset.safetensors")
    images, labels = saved["images"], saved["labels"]
    if damage == "empty":
        images, labels = images[:0], labels[:0]
    elif damage == "short-labels":
        labels = labels[:10]
    elif damage == "wrong-shape":
        images = images[:, :, :4]
    else:
        labels = labels.clone()
        labels[0] = 99
    _write_testset(run_copy, images, labels)
    assert "test set" in refused(run_copy, one_sentence, load="load_testset")
    for command in (("export", run_copy, "--latents", tmp_path / "z.csv", "--reconstructions", tmp_path / "r.png"),
                    ("evaluate", run_copy, "--iw-samples", "2")):
        proc = run_cli(*command, timeout=60)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr


# ------------------------------------------------------------------------------- weights and resume state


def test_non_finite_weights_are_damage_for_evaluate_and_resume(run_copy, one_sentence):
    path = run_copy / meta(run_copy)["files"]["weights"]
    weights = load_file(path)
    name = next(k for k in weights if k.startswith("decoder."))
    weights[name] = weights[name].clone()
    weights[name].view(-1)[0] = float("nan")
    save_file(weights, path, metadata={"format": "latentlab-run", "step": "0"})
    assert "NaN or infinite" in refused(run_copy, one_sentence, load="load_model")
    for command in (("evaluate", run_copy), ("train", "--out", run_copy, "--resume", "--epochs", "40")):
        proc = run_cli(*command)
        assert proc.returncode == 2, proc.stderr
        message = proc.stderr.strip().removeprefix("latentlab: error: ")
        one_sentence(message)
        assert "NaN or infinite" in message and "damaged" in message
        assert "learning rate" not in message and "last good checkpoint" not in message


def _rewrite_resume_state(run: Path, change) -> None:
    path = run / meta(run)["files"]["resume"]
    state = torch.load(path, weights_only=True)
    change(state)
    buf = io.BytesIO()
    torch.save(state, buf)
    path.write_bytes(buf.getvalue())


@pytest.mark.parametrize(
    "damage",
    ["exp_avg-shape", "exp_avg_sq-dtype", "step-shape", "extra-param", "order-short", "order-repeats",
     "position-negative", "lr-changed"],
)
def test_a_resume_state_that_does_not_fit_the_model_is_refused_without_crashing(run_copy, damage, one_sentence):
    def change(state):
        opt = state["optimizer"]
        first = opt["state"][0]
        if damage == "exp_avg-shape":
            first["exp_avg"] = torch.zeros(3, 3)
        elif damage == "exp_avg_sq-dtype":
            first["exp_avg_sq"] = first["exp_avg_sq"].double()
        elif damage == "step-shape":
            first["step"] = torch.zeros(5)
        elif damage == "extra-param":
            opt["state"][99] = dict(first)
        elif damage == "order-short":
            state["order"] = torch.arange(10)
        elif damage == "order-repeats":
            state["order"] = torch.zeros(1438, dtype=torch.int64)
        elif damage == "position-negative":
            state["position"] = -5
        else:
            opt["param_groups"][0]["lr"] = 123.0

    if damage.startswith(("order", "position")):
        # A mid-epoch checkpoint carries the batch order.
        state = torch.load(run_copy / meta(run_copy)["files"]["resume"], weights_only=True)
        state["order"] = torch.randperm(1438)
        state["position"] = 128
        buf = io.BytesIO()
        torch.save(state, buf)
        (run_copy / meta(run_copy)["files"]["resume"]).write_bytes(buf.getvalue())
    _rewrite_resume_state(run_copy, change)
    # A subprocess: the old failure was a segmentation fault, which would take pytest down with it.
    proc = run_cli("train", "--out", run_copy, "--resume", "--epochs", "40", "--quiet")
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    message = proc.stderr.strip().removeprefix("latentlab: error: ")
    one_sentence(message)
    assert "resume state" in message and "cannot be resumed" in message
    assert meta(run_copy)["epoch"] == 30  # nothing was overwritten


def test_a_programming_error_while_loading_is_not_called_damage(run_copy, monkeypatch):
    """Only the errors a damaged file causes become "damaged"; a bug stays a bug, with its traceback."""
    import latentlab.core.checkpoint as checkpoint

    def broken(data):
        raise AttributeError("a bug, not a damaged file")

    monkeypatch.setattr(checkpoint, "st_load_torch", broken)
    with pytest.raises(AttributeError):
        open_run(run_copy).load_model()
