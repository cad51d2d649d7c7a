"""One trainer per run folder; readers see a consistent checkpoint while it trains; signals and logs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from safetensors import safe_open

from latentlab.core.checkpoint import RunLock, RunLocked, open_run
from latentlab.core.config import ModelConfig, RunConfig, TrainConfig
from latentlab.core.events import CheckpointSaved, RunFinished
from latentlab.core.timeline import frame_epochs
from latentlab.core.trainer import RunControl, train

from os_faults import cli_env

SMALL = ("--hidden", "32", "--device", "cpu")


def start_trainer(out: Path, *args: str, stderr=subprocess.PIPE) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "latentlab", "train", "--out", str(out), *SMALL, *args],
        env=cli_env(), stdout=subprocess.PIPE, stderr=stderr, text=True,
    )


def wait_for(condition, timeout: float = 120.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def saved_epoch(run: Path) -> int:
    return json.loads((run / "run.json").read_text())["epoch"]


def tiny_config(epochs: int) -> RunConfig:
    return RunConfig(model=ModelConfig(hidden=(16,)), train=TrainConfig(epochs=epochs, log_every=5))


# ------------------------------------------------------------------------------- the lock


def test_a_second_trainer_on_a_folder_being_trained_is_refused_naming_the_holder(cli, tmp_path, one_sentence):
    run = tmp_path / "run"
    first = start_trainer(run, "--epochs", "5000", "--quiet")
    try:
        wait_for(lambda: (run / "run.json").is_file(), what="the first checkpoint")
        for args in (("--resume", "--epochs", "6000"), ("--epochs", "3")):
            message = cli.user_error("train", "--out", run, *args, *SMALL)
            one_sentence(message)
            assert f"being trained by process {first.pid}" in message
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=120)
    assert first.returncode == 0  # the first run was never disturbed, and saved when stopped
    assert not (run / "train.lock").exists()


def test_a_lock_left_by_a_killed_trainer_never_blocks(cli, tmp_path):
    run = tmp_path / "run"
    first = start_trainer(run, "--epochs", "5000", "--quiet")
    wait_for(lambda: (run / "run.json").is_file(), what="the first checkpoint")
    first.kill()
    first.communicate(timeout=60)
    assert (run / "train.lock").is_file()  # the file stays; the kernel has dropped the lock itself
    epoch = saved_epoch(run)
    cli.ok("train", "--out", run, "--resume", "--epochs", str(epoch + 1), *SMALL, "--quiet")
    assert saved_epoch(run) == epoch + 1
    assert not any(p.name.endswith(".tmp") for p in run.iterdir())


def test_two_runs_in_one_process_cannot_train_one_folder(tmp_path, digits, one_sentence):
    run = tmp_path / "run"
    control = RunControl()
    first = train(tiny_config(50), digits, run_dir=run, control=control)
    next(first)  # RunStarted: the lock is held
    with pytest.raises(RunLocked) as info:
        next(train(tiny_config(50), digits, run_dir=run))
    one_sentence(str(info.value))
    assert f"process {os.getpid()}" in str(info.value)
    control.stop()
    events = list(first)
    assert isinstance(events[-1], RunFinished) and events[-1].reason == "stopped"
    with RunLock(run):  # released with the generator's end
        pass


# ------------------------------------------------------------------------------- reading while it trains


def test_reading_a_run_while_it_trains_always_sees_one_whole_checkpoint(tmp_path, digits):
    run = tmp_path / "run"
    config = RunConfig(model=ModelConfig(hidden=(16,)), train=TrainConfig(epochs=400, log_every=50))
    saves = []
    control = RunControl()
    failure: list[BaseException] = []

    def trainer():
        try:
            for event in train(config, digits, run_dir=run, control=control):
                if isinstance(event, CheckpointSaved):
                    saves.append(event.step)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failure.append(exc)

    thread = threading.Thread(target=trainer)
    thread.start()
    try:
        wait_for(lambda: (run / "run.json").is_file(), what="the first checkpoint")
        reads = 0
        while thread.is_alive() and reads < 150:
            with open_run(run) as ckpt:
                time.sleep(0.01)  # let the trainer commit and clean up meanwhile
                model = ckpt.load_model()
                snap = ckpt.load_epoch_snapshot()
                images, _ = ckpt.load_testset()
                ckpt.load_resume_state()
                weights = ckpt.read_bytes("weights")
                assert model.latent_dim == snap.latents.shape[1] and images.shape[0] == snap.latents.shape[0]
                # The weights read are the ones of the step run.json named, not a newer commit's.
                header = json.loads(weights[8 : 8 + int.from_bytes(weights[:8], "little")])
                assert int(header["__metadata__"]["step"]) == ckpt.step == snap.step
            reads += 1
        copy = open_run(run).copy_to(tmp_path / "copy")  # a consistent copy mid-run, too
        with safe_open(str(copy / open_run(copy).files["weights"]), "pt") as f:
            assert int(f.metadata()["step"]) == open_run(copy).step
    finally:
        control.stop()
        thread.join(120)
    assert not failure, failure
    assert reads >= 20 and len(saves) >= 2


# ------------------------------------------------------------------------------- signals and logs


def test_sigterm_stops_at_the_next_step_saves_and_exits_zero(cli, tmp_path):
    run = tmp_path / "run"
    proc = start_trainer(run, "--epochs", "5000")
    wait_for(lambda: (run / "run.json").is_file(), what="the first checkpoint")
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr and "stopped at epoch" in stderr
    ckpt = open_run(run)
    assert not ckpt.epoch_complete  # saved at the step it stopped, mid-epoch
    cli.ok("train", "--out", run, "--resume", "--epochs", str(ckpt.epoch + 1), *SMALL, "--quiet")
    assert open_run(run).epoch == ckpt.epoch + 1


def test_progress_in_a_log_is_one_line_per_epoch(tmp_path):
    """stderr that is no terminal (nohup, a scheduler's log) gets no redrawn bar frames."""
    log = tmp_path / "train.log"
    with open(log, "w") as f:
        proc = start_trainer(tmp_path / "run", "--epochs", "4", stderr=f)
        proc.communicate(timeout=240)
    assert proc.returncode == 0
    text = log.read_text()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert lines[0].startswith("training on cpu") and lines[-1].startswith("finished at epoch 4")
    assert [line.split(":")[0] for line in lines[1:-1]] == [f"epoch {e}/4" for e in range(1, 5)]
    assert "items/s" in lines[1]
    assert len(text) < 2000


def test_after_kill_9_at_any_moment_evaluate_and_resume_work(cli, tmp_path):
    run = tmp_path / "run"
    for delay in (0.0, 0.05, 0.15, 0.3):
        resume = ["--resume"] if (run / "run.json").is_file() else []
        proc = start_trainer(run, "--epochs", "5000", "--quiet", *resume)
        wait_for(lambda: (run / "run.json").is_file(), what="a checkpoint")
        time.sleep(delay)  # later rounds: killed while loading, resuming, training or saving
        proc.kill()
        proc.communicate(timeout=60)
    result = json.loads(cli.ok("evaluate", run, "--iw-samples", "0", "--json").stdout)
    epoch = result["epoch"]
    cli.ok("train", "--out", run, "--resume", "--epochs", str(epoch + 1), *SMALL, "--quiet")
    assert saved_epoch(run) == epoch + 1
    names = sorted(p.name for p in run.iterdir())  # the checkpoint's five files, the metrics log, the timeline
    assert len(names) == 7 and "metrics.jsonl" in names and not any(n.startswith(".") for n in names), names
    # The resumed epoch's frame (5,000 epochs keep every 25th, the resumed run's 2 every one), no leftovers.
    assert frame_epochs(run)[-1] == epoch + 1
    assert not any(p.name.startswith(".") for p in (run / "timeline").iterdir())
    # Four kills and two resumes later, the metrics log still reads as one run: each step once, in order.
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] <= json.loads((run / "run.json").read_text())["step"]
