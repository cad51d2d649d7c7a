"""The run's timeline: one frame per kept epoch, written by the trainer, read back exactly."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab.core.checkpoint import open_run
from latentlab.core.config import ModelConfig, RunConfig, TrainConfig
from latentlab.core.errors import CheckpointError, ConfigError
from latentlab.core.events import EpochSnapshot
from latentlab.core.timeline import Timeline, frame_epochs, frame_path, keeps_epoch, read_frame
from latentlab.core.trainer import RunControl, train


def config(**train_kw) -> RunConfig:
    train_kw.setdefault("epochs", 3)
    train_kw.setdefault("batch_size", 128)
    return RunConfig(model=ModelConfig(hidden=(64,), latent_dim=3), train=TrainConfig(**train_kw))


def snapshots(events) -> dict[int, EpochSnapshot]:
    return {e.epoch: e for e in events if isinstance(e, EpochSnapshot)}


def assert_same_snapshot(a: EpochSnapshot, b: EpochSnapshot) -> None:
    assert (a.epoch, a.step) == (b.epoch, b.step)
    for name, value in a.to_arrays().items():
        np.testing.assert_array_equal(value, b.to_arrays()[name], err_msg=name)
    assert a.decoder_state.keys() == b.decoder_state.keys()
    for name in a.decoder_state:
        np.testing.assert_array_equal(a.decoder_state[name], b.decoder_state[name], err_msg=name)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, digits):
    run_dir = tmp_path_factory.mktemp("timeline") / "run"
    return run_dir, snapshots(train(config(), digits, run_dir=run_dir))


def test_every_epoch_leaves_a_frame_that_reads_back_as_that_epochs_snapshot(trained):
    run_dir, seen = trained
    assert frame_epochs(run_dir) == [1, 2, 3] == open_run(run_dir).timeline_epochs
    for epoch in (1, 2):
        assert_same_snapshot(read_frame(run_dir, epoch, like=seen[3]), seen[epoch])
    replayed = read_frame(run_dir, 1, like=seen[3])
    assert replayed.encoder_state.keys() == seen[1].encoder_state.keys()  # its images are scored by its own model
    for name in replayed.encoder_state:
        np.testing.assert_array_equal(replayed.encoder_state[name], seen[1].encoder_state[name])


def test_timeline_every_thins_the_frames_and_keeps_the_last(tmp_path, digits):
    events = list(train(config(epochs=5, timeline_every=2), digits, run_dir=tmp_path / "run"))
    assert frame_epochs(tmp_path / "run") == [2, 4, 5]
    list(train(config(epochs=2, timeline_every=0), digits, run_dir=tmp_path / "none"))
    assert frame_epochs(tmp_path / "none") == []
    assert [keeps_epoch(e, 3, 7) for e in range(1, 8)] == [False, False, True, False, False, True, True]
    assert TrainConfig(epochs=200).timeline_stride == 1 and TrainConfig(epochs=3280).timeline_stride == 17
    assert TrainConfig(epochs=3280, timeline_every=1).timeline_stride == 1
    assert events


def test_timeline_every_is_a_whole_number_of_epochs(one_sentence):
    with pytest.raises(ConfigError) as err:
        TrainConfig(timeline_every=-1)
    one_sentence(str(err.value))


def test_resume_drops_frames_past_the_checkpoint_and_may_change_the_thinning(tmp_path, digits):
    run_dir = tmp_path / "run"
    list(train(config(epochs=2), digits, run_dir=run_dir))
    frame_path(run_dir, 2).rename(frame_path(run_dir, 3))  # as if killed after epoch 3's frame, before its checkpoint
    assert frame_epochs(run_dir) == [1, 3]
    assert open_run(run_dir).timeline_epochs == [1]  # the uncommitted frame is no part of the checkpoint's past
    resumed = snapshots(train(config(epochs=4, timeline_every=2), digits, run_dir=run_dir, resume=True))
    assert frame_epochs(run_dir) == [1, 4]
    assert_same_snapshot(read_frame(run_dir, 4, like=resumed[4]), resumed[4])


def test_a_stop_mid_epoch_writes_no_frame_for_the_unfinished_epoch(tmp_path, digits):
    control = RunControl()
    for event in train(config(epochs=3), digits, run_dir=tmp_path / "run", control=control):
        if isinstance(event, EpochSnapshot) and event.epoch == 1:
            control.stop()
    assert frame_epochs(tmp_path / "run") == [1]


def test_save_as_copies_the_timeline(trained, tmp_path):
    run_dir, seen = trained
    copy = open_run(run_dir).copy_to(tmp_path / "copy")
    assert frame_epochs(copy) == [1, 2, 3]
    assert_same_snapshot(read_frame(copy, 2, like=seen[3]), seen[2])


@pytest.mark.parametrize("damage", ["truncated", "wrong shape", "nan", "foreign"])
def test_a_damaged_frame_is_one_sentence_never_garbage(trained, tmp_path, damage, one_sentence):
    from safetensors.numpy import save_file

    run_dir, seen = trained
    copy = open_run(run_dir).copy_to(tmp_path / "copy")
    path = frame_path(copy, 1)
    data = path.read_bytes()
    path.unlink()  # the copy's frame is a hard link to the run's: damage the copy's alone
    if damage == "truncated":
        path.write_bytes(data[:500])
    else:
        arrays = {**seen[1].to_arrays(), **{f"decoder_state/{k}": v for k, v in seen[1].decoder_state.items()}}
        if damage == "wrong shape":
            arrays["latents"] = np.zeros((5, 3), np.float32)
        elif damage == "nan":
            arrays["latents"] = np.full_like(arrays["latents"], np.nan)
        else:
            arrays = {"weights": np.zeros(3, np.float32)}
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(path))
    with pytest.raises(CheckpointError) as err:
        read_frame(copy, 1, like=seen[3])
    one_sentence(str(err.value))


def test_the_timeline_lists_saved_and_live_epochs_and_reads_evicted_ones_back(trained):
    run_dir, seen = trained
    timeline = Timeline(run_dir, [1, 2], every=1, last_epoch=3, cache_size=1)
    for epoch in (1, 2, 3):
        timeline.add(seen[epoch])
    assert timeline.epochs == [1, 2, 3]
    assert timeline.snapshot(3) is seen[3]
    assert_same_snapshot(timeline.snapshot(1), seen[1])  # evicted from memory: read from its frame
    with pytest.raises(CheckpointError):
        timeline.snapshot(7)


def test_a_run_without_a_folder_keeps_its_whole_timeline_in_memory(digits):
    seen = snapshots(train(config(epochs=3), digits))
    timeline = Timeline(None, cache_size=1)
    for snap in seen.values():
        timeline.add(snap)
    assert timeline.epochs == [1, 2, 3]
    assert all(timeline.snapshot(e) is seen[e] for e in (1, 2, 3))


def test_a_followed_run_lists_the_frames_written_since_it_was_opened(trained):
    run_dir, seen = trained
    timeline = Timeline(run_dir, [], every=1, last_epoch=3)  # opened before any frame was written
    timeline.add(seen[3])  # then its newest checkpoint arrives
    assert timeline.epochs == [1, 2, 3]
    assert_same_snapshot(timeline.snapshot(2), seen[2])


def test_save_as_links_the_frames_and_leaves_what_is_no_frame_behind(trained, tmp_path):
    import os

    run_dir, _ = trained
    source = open_run(run_dir).copy_to(tmp_path / "source")
    frame_path(source, 2).unlink()
    os.mkfifo(frame_path(source, 2))  # would block a plain read for ever
    frame_path(source, 3).unlink()
    frame_path(source, 3).symlink_to("/dev/zero")  # would read until memory runs out
    copy = open_run(source).copy_to(tmp_path / "copy")
    assert frame_epochs(copy) == [1]
    assert os.path.samefile(frame_path(copy, 1), frame_path(source, 1))  # a link, not a second copy
