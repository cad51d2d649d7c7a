"""Run folders: atomic saves, safe opening, and a clear CheckpointError for anything foreign or damaged."""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from latentlab.core.checkpoint import FORMAT, VERSION, atomic_write, is_run, open_run
from latentlab.core.config import ModelConfig, RunConfig, TrainConfig
from latentlab.core.errors import CheckpointError
from latentlab.core.model import VAE
from latentlab.core.trainer import train


class MakesMarker:
    """A pickle that, if ever unpickled without restriction, creates a directory: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.fixture
def run_copy(tmp_path, trained_run) -> Path:
    """A private copy of the trained run, free to damage."""
    dest = tmp_path / "run"
    shutil.copytree(trained_run, dest)
    return dest


def meta(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def write_meta(run_dir: Path, data) -> None:
    (run_dir / "run.json").write_text(json.dumps(data))


# ---------------------------------------------------------------------------- a healthy run


def test_open_run_reads_settings_progress_and_every_part(trained_run, digits):
    run = open_run(trained_run)
    assert is_run(trained_run)
    assert run.config == RunConfig(model=ModelConfig(latent_dim=2, hidden=(128,)),
                                   train=TrainConfig(epochs=30, batch_size=128, seed=3))
    assert (run.epoch, run.step, run.epoch_complete) == (30, 30 * 12, True)
    assert run.image_shape == (1, 8, 8) and run.classes == digits.classes
    model = run.load_model()
    assert isinstance(model, VAE) and not model.training and model.latent_dim == 2
    images, labels = run.load_testset()
    assert torch.equal(images, digits.test_images) and torch.equal(labels, digits.test_labels)
    snap = run.load_snapshot()
    assert snap["latents"].shape == (359, 2) and snap["test_parts"].shape == (3,)
    state = run.load_resume_state()
    assert {"optimizer", "generator", "order", "position"} <= state.keys()
    assert [e["epoch"] for e in run.history["epochs"]] == list(range(1, 31))
    # The weights file holds exactly the model's state, as plain tensors.
    weights = load_file(trained_run / run.files["weights"])
    assert weights.keys() == model.state_dict().keys()


def test_run_json_is_the_format_tagged_commit_point(trained_run):
    data = meta(trained_run)
    assert data["format"] == FORMAT == "latentlab-run" and data["version"] == VERSION
    assert RunConfig.from_dict(data["config"]) == open_run(trained_run).config
    for name in data["files"].values():
        assert (trained_run / name).is_file()


def test_open_run_accepts_the_path_of_run_json_itself(trained_run):
    assert open_run(trained_run / "run.json").run_dir == trained_run


def test_a_new_checkpoint_replaces_the_old_step_files(tmp_path, digits):
    run_dir = tmp_path / "run"
    cfg = RunConfig(model=ModelConfig(hidden=(16,)), train=TrainConfig(epochs=3, batch_size=128))  # 12 steps an epoch
    list(train(cfg, digits, run_dir=run_dir))
    names = sorted(p.name for p in run_dir.iterdir())
    assert names == ["model-000000036.safetensors", "resume-000000036.pt", "run.json",
                     "snapshot-000000036.safetensors", "testset.safetensors", "timeline"]
    assert sorted(p.name for p in (run_dir / "timeline").iterdir()) == [  # each epoch's frame stays
        "epoch-000001.safetensors", "epoch-000002.safetensors", "epoch-000003.safetensors"]


def test_atomic_write_replaces_the_whole_file_and_leaves_no_temporaries(tmp_path):
    target = tmp_path / "file.bin"
    atomic_write(target, b"first version")
    atomic_write(target, b"second")
    assert target.read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]


def test_a_failed_atomic_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "file.bin"
    atomic_write(target, b"good")
    with pytest.raises(TypeError):
        atomic_write(target, "not bytes")  # type: ignore[arg-type]  # fails mid-write
    assert target.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]


# ---------------------------------------------------------------------------- foreign or damaged run folders


def test_missing_path_is_a_checkpoint_error(tmp_path, one_sentence):
    with pytest.raises(CheckpointError) as info:
        open_run(tmp_path / "nothing-here")
    one_sentence(str(info.value))


def test_folder_without_run_json_is_not_a_run(tmp_path, one_sentence):
    (tmp_path / "model.safetensors").write_bytes(b"whatever")
    assert not is_run(tmp_path)
    with pytest.raises(CheckpointError) as info:
        open_run(tmp_path)
    one_sentence(str(info.value))
    assert "not a latentlab run" in str(info.value)


@pytest.mark.parametrize("content", [b"{ this is not json", b"\xff\xfe\x00garbage", b""], ids=["syntax", "binary", "empty"])
def test_run_json_that_is_not_json_is_a_checkpoint_error(run_copy, content, one_sentence):
    (run_copy / "run.json").write_bytes(content)
    with pytest.raises(CheckpointError) as info:
        open_run(run_copy)
    one_sentence(str(info.value))
    assert "not valid JSON" in str(info.value)


@pytest.mark.parametrize("data", [[1, 2, 3], {"format": "someone-elses-run", "version": 1}, {"version": 1}, "latentlab-run"],
                         ids=["list", "other-tag", "no-tag", "string"])
def test_run_json_without_the_format_tag_is_not_a_run(run_copy, data, one_sentence):
    write_meta(run_copy, data)
    with pytest.raises(CheckpointError) as info:
        open_run(run_copy)
    one_sentence(str(info.value))
    assert "format tag" in str(info.value)


def test_run_from_a_newer_format_version_asks_for_an_upgrade(run_copy, one_sentence):
    write_meta(run_copy, {**meta(run_copy), "version": VERSION + 1})
    with pytest.raises(CheckpointError) as info:
        open_run(run_copy)
    one_sentence(str(info.value))
    assert "upgrade" in str(info.value)


@pytest.mark.parametrize("key", ["config", "epoch", "files", "image_shape"])
def test_run_json_missing_a_field_is_a_checkpoint_error(run_copy, key, one_sentence):
    data = meta(run_copy)
    del data[key]
    write_meta(run_copy, data)
    with pytest.raises(CheckpointError) as info:
        open_run(run_copy)
    one_sentence(str(info.value))


def test_run_json_with_nonsense_settings_is_a_checkpoint_error(run_copy):
    data = meta(run_copy)
    data["config"]["train"]["epochs"] = -4
    write_meta(run_copy, data)
    with pytest.raises(CheckpointError) as info:
        open_run(run_copy)
    assert "settings" in str(info.value) and "Epochs" in str(info.value)
    data["config"]["model"]["wormholes"] = 3
    write_meta(run_copy, data)
    with pytest.raises(CheckpointError, match="wormholes"):
        open_run(run_copy)


@pytest.mark.parametrize("name", ["../../outside.safetensors", "/etc/passwd", ".hidden", "sub\\dir.bin", 42])
def test_run_json_cannot_point_outside_the_run_folder(run_copy, name, one_sentence):
    data = meta(run_copy)
    data["files"]["weights"] = name
    write_meta(run_copy, data)
    with pytest.raises(CheckpointError) as info:
        open_run(run_copy).load_model()
    one_sentence(str(info.value))


def test_truncated_safetensors_weights_are_a_checkpoint_error(run_copy, one_sentence):
    weights = run_copy / meta(run_copy)["files"]["weights"]
    data = weights.read_bytes()
    for cut in (len(data) // 2, 20, 4, 0):
        weights.write_bytes(data[:cut])
        with pytest.raises(CheckpointError) as info:
            open_run(run_copy).load_model()
        one_sentence(str(info.value))
        assert "weights" in str(info.value) and "damaged" in str(info.value)


def test_missing_weights_file_is_a_checkpoint_error(run_copy, one_sentence):
    (run_copy / meta(run_copy)["files"]["weights"]).unlink()
    run = open_run(run_copy)  # the settings still open
    with pytest.raises(CheckpointError) as info:
        run.load_model()
    one_sentence(str(info.value))
    assert "missing" in str(info.value)


def test_weights_that_do_not_fit_the_settings_are_a_checkpoint_error(run_copy, one_sentence):
    data = meta(run_copy)
    data["config"]["model"]["latent_dim"] = 5
    write_meta(run_copy, data)
    with pytest.raises(CheckpointError) as info:
        open_run(run_copy).load_model()
    one_sentence(str(info.value))
    assert "do not fit" in str(info.value)


@pytest.mark.parametrize("part", ["snapshot", "testset"])
def test_damaged_snapshot_or_test_set_is_a_checkpoint_error(run_copy, part, one_sentence):
    path = run_copy / meta(run_copy)["files"][part]
    path.write_bytes(path.read_bytes()[:100])
    run = open_run(run_copy)
    with pytest.raises(CheckpointError) as info:
        run.load_snapshot() if part == "snapshot" else run.load_testset()
    one_sentence(str(info.value))


def test_resume_state_that_is_a_pickled_object_is_refused_without_running_it(run_copy, tmp_path, one_sentence):
    # Positive control: the payload is live, plain unpickling really runs it.
    control = tmp_path / "control-marker"
    pickle.loads(pickle.dumps(MakesMarker(control)))
    assert control.is_dir()

    resume = run_copy / meta(run_copy)["files"]["resume"]
    for i, save in enumerate((lambda obj, f: torch.save(obj, f), lambda obj, f: pickle.dump(obj, f, protocol=2))):
        marker = tmp_path / f"marker-{i}"
        with open(resume, "wb") as f:
            save({"optimizer": MakesMarker(marker), "generator": None, "order": None, "position": 0}, f)
        # torch.load with weights_only=True itself refuses it...
        with pytest.raises(pickle.UnpicklingError):
            torch.load(io.BytesIO(resume.read_bytes()), weights_only=True)
        assert not marker.exists()
        # ...and so the run refuses it with one sentence, and nothing ran.
        with pytest.raises(CheckpointError) as info:
            open_run(run_copy).load_resume_state()
        one_sentence(str(info.value))
        assert "damaged or foreign" in str(info.value)
        assert not marker.exists()


def test_refusing_a_plain_pickle_resume_state_emits_no_warning(run_copy, tmp_path):
    marker = tmp_path / "marker"
    with open(run_copy / meta(run_copy)["files"]["resume"], "wb") as f:
        pickle.dump({"optimizer": MakesMarker(marker)}, f)  # the default protocol (4 or 5), as a stranger would
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(CheckpointError):
            open_run(run_copy).load_resume_state()
    assert not marker.exists()
    assert [str(w.message) for w in caught] == []


def test_resuming_from_a_malicious_resume_state_runs_no_code(run_copy, tmp_path, digits):
    marker = tmp_path / "marker"
    resume = run_copy / meta(run_copy)["files"]["resume"]
    with open(resume, "wb") as f:
        torch.save(MakesMarker(marker), f)
    cfg = open_run(run_copy).config.with_changes(train={"epochs": 9})
    with pytest.raises(CheckpointError):
        next(train(cfg, digits, run_dir=run_copy, resume=True))
    assert not marker.exists()


def test_resume_state_of_plain_tensors_with_the_wrong_keys_is_a_checkpoint_error(run_copy, one_sentence):
    resume = run_copy / meta(run_copy)["files"]["resume"]
    torch.save({"weights": torch.zeros(3)}, resume)
    with pytest.raises(CheckpointError) as info:
        open_run(run_copy).load_resume_state()
    one_sentence(str(info.value))
    assert "incomplete" in str(info.value)


def test_resume_state_that_does_not_fit_the_run_is_a_checkpoint_error(run_copy, digits, one_sentence):
    resume = run_copy / meta(run_copy)["files"]["resume"]
    state = torch.load(resume, weights_only=True)
    state["generator"] = torch.zeros(3, dtype=torch.uint8)  # not a generator state
    torch.save(state, resume)
    cfg = open_run(run_copy).config.with_changes(train={"epochs": 9})
    with pytest.raises(CheckpointError) as info:
        next(train(cfg, digits, run_dir=run_copy, resume=True))
    one_sentence(str(info.value))


def test_snapshot_arrays_round_trip_through_the_checkpoint(tmp_path, digits):
    from latentlab.core.events import EpochSnapshot

    run_dir = tmp_path / "run"
    cfg = RunConfig(model=ModelConfig(hidden=(16,), latent_dim=3), train=TrainConfig(epochs=1))
    snap = [e for e in train(cfg, digits, run_dir=run_dir) if isinstance(e, EpochSnapshot)][-1]
    saved = open_run(run_dir).load_snapshot()
    for name in ("latents", "logvars", "kl_per_dim", "item_recon", "probe_indices", "probe_recons", "worst_indices"):
        assert np.array_equal(saved[name], getattr(snap, name)), name
    assert saved["test_parts"].tolist() == pytest.approx([snap.test_recon, snap.test_kl, snap.test_total])


def test_the_saved_epoch_snapshot_reopens_with_its_decoder_without_building_a_model(tmp_path, digits):
    from latentlab.core.events import EpochSnapshot

    run_dir = tmp_path / "run"
    cfg = RunConfig(model=ModelConfig(hidden=(16,), latent_dim=3), train=TrainConfig(epochs=1))
    snap = [e for e in train(cfg, digits, run_dir=run_dir) if isinstance(e, EpochSnapshot)][-1]
    reopened = open_run(run_dir).load_epoch_snapshot()
    assert (reopened.epoch, reopened.step) == (snap.epoch, snap.step)
    assert reopened.test_total == pytest.approx(snap.test_total)
    for name in EpochSnapshot.ARRAYS:
        assert np.array_equal(getattr(reopened, name), getattr(snap, name)), name
        assert not getattr(reopened, name).flags.writeable
    assert reopened.decoder_state.keys() == snap.decoder_state.keys()
    for key, value in snap.decoder_state.items():
        assert np.array_equal(reopened.decoder_state[key], value), key
