"""metrics.jsonl as `latentlab train` writes it, and following a run folder from outside."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from latentlab.core.events import StepMetrics
from latentlab.core.follow import FollowState, MetricsTail, RunFollower, has_newer_checkpoint, read_progress
from latentlab.core.metrics_log import METRICS_FILE, MetricsLog, encode

TINY = ("--latent-dim", "2", "--hidden", "16", "--batch-size", "256", "--quiet")


def record(step: int, epoch: int = 1) -> StepMetrics:
    return StepMetrics(epoch=epoch, step=step, total_steps=100, recon=50.0 + step, kl=2.5, total=52.5,
                       beta=1.0, items_per_second=1e4, elapsed=0.1 * step)


def logged_steps(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / METRICS_FILE).read_bytes().splitlines()]


def history_steps(run: Path) -> list[int]:
    return [r["step"] for r in json.loads((run / "run.json").read_text())["history"]["steps"]]


def latentlab(*args) -> subprocess.CompletedProcess:
    """`python -m latentlab ...` as a user runs it, on one torch thread (a shared 2-core machine)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "latentlab", *map(str, args)], capture_output=True, text=True,
                          timeout=180, env=env)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("follow") / "run"
    done = latentlab("train", "--out", run, "--epochs", "2", *TINY)
    assert done.returncode == 0, done.stderr
    return latentlab, run


def test_train_writes_a_line_per_step_record_matching_the_history(cli_run):
    _cli, run = cli_run
    steps = logged_steps(run)
    assert steps and steps == history_steps(run)
    tail = MetricsTail(run / METRICS_FILE)
    got = tail.read_new()
    assert [m.step for m in got] == steps and all(isinstance(m, StepMetrics) for m in got)
    assert got[0].recon == json.loads((run / "run.json").read_text())["history"]["steps"][0]["recon"]


def test_resume_cuts_lines_past_the_checkpoint_and_continues_the_file(cli_run, tmp_path):
    import shutil

    cli, source = cli_run
    run = tmp_path / "run"
    shutil.copytree(source, run)
    saved = history_steps(run)
    # What a trainer killed after its last checkpoint leaves: records past it, a torn last line.
    with open(run / METRICS_FILE, "ab") as f:
        f.write(encode(record(saved[-1] + 1, 3)) + encode(record(saved[-1] + 2, 3)) + b'{"epoch": 3, "st')
    done = cli("train", "--out", run, "--resume", "--epochs", "3", *TINY)
    assert done.returncode == 0, done.stderr
    steps = logged_steps(run)
    assert steps == history_steps(run)
    assert steps[: len(saved)] == saved and len(steps) > len(saved)
    assert steps == sorted(set(steps))


def test_a_half_written_line_is_read_once_it_is_completed(tmp_path):
    path = tmp_path / METRICS_FILE
    line = encode(record(3))
    path.write_bytes(encode(record(1)) + line[:20])
    tail = MetricsTail(path)
    assert [m.step for m in tail.read_new()] == [1]
    assert tail.read_new() == []  # still no newline: waits
    with open(path, "ab") as f:
        f.write(line[20:])
    assert [m.step for m in tail.read_new()] == [3]
    assert tail.read_new() == []


def test_garbage_lines_are_skipped_not_fatal(tmp_path):
    path = tmp_path / METRICS_FILE
    bad = [b"not json\n", b"[1, 2]\n", b'{"step": "x"}\n', b"\xff\xfe\n", b'{"epoch":1,"step":2}\n', b"\n",
           json.dumps({**json.loads(encode(record(9))), "recon": "NaN"}).encode() + b"\n"]
    path.write_bytes(encode(record(1)) + b"".join(bad) + encode(record(4)))
    assert [m.step for m in MetricsTail(path).read_new()] == [1, 4]


def test_an_over_long_line_without_newline_is_dropped_up_to_its_end(tmp_path):
    path = tmp_path / METRICS_FILE
    path.write_bytes(encode(record(1)) + b"x" * 200_000)
    tail = MetricsTail(path)
    assert [m.step for m in tail.read_new()] == [1]
    assert tail.read_new() == []
    with open(path, "ab") as f:
        f.write(b"yyy\n" + encode(record(2)))
    assert [m.step for m in tail.read_new()] == [2]


def test_a_file_cut_back_by_a_resume_is_reread_without_repeating_steps(tmp_path):
    run = tmp_path
    with MetricsLog(run, 0) as log:
        for step in (1, 2, 3, 4):
            log.append(record(step))
    tail = MetricsTail(run / METRICS_FILE)
    assert [m.step for m in tail.read_new()] == [1, 2, 3, 4]
    with MetricsLog(run, 2) as log:  # resumed from a checkpoint at step 2
        assert logged_steps(run) == [1, 2]
        for step in (3, 4, 5):
            log.append(record(step))
    assert [m.step for m in tail.read_new()] == [5]
    with MetricsLog(run, 0):  # a fresh run starts the file over
        assert (run / METRICS_FILE).read_bytes() == b""


def test_progress_newer_checkpoint_and_run_states(cli_run, tmp_path):
    import shutil

    _cli, source = cli_run
    run = tmp_path / "run"
    shutil.copytree(source, run)
    progress = read_progress(run)
    assert progress is not None and progress.epoch == progress.epochs == 2 and progress.finished
    assert has_newer_checkpoint(run, progress.step - 1) and not has_newer_checkpoint(run, progress.step)
    assert read_progress(tmp_path / "nowhere") is None

    now = [0.0]
    follower = RunFollower(run, stale_after=5.0, clock=lambda: now[0])
    first = follower.poll()
    assert first.state is FollowState.FINISHED and first.progress == progress and len(first.metrics) > 0
    assert follower.poll().progress is None and follower.poll().metrics == ()  # nothing new

    # The same run set to train on, with a trainer holding it: live, until nothing changes for a while.
    meta = json.loads((run / "run.json").read_text())
    meta["config"]["train"]["epochs"] = 5
    (run / "run.json").write_text(json.dumps(meta))
    (run / "train.lock").write_text("{}")
    update = follower.poll()
    assert update.state is FollowState.LIVE and update.progress.epochs == 5
    now[0] = 4.0
    with open(run / METRICS_FILE, "ab") as f:
        f.write(encode(record(progress.step + 1, 3)))
    update = follower.poll()
    assert update.state is FollowState.LIVE and [m.step for m in update.metrics] == [progress.step + 1]
    now[0] = 9.5
    assert follower.poll().state is FollowState.STALE
    (run / "train.lock").unlink()  # the trainer let go before its last epoch
    assert follower.poll().state is FollowState.STOPPED


def test_a_damaged_run_file_is_no_newer_checkpoint(tmp_path):
    (tmp_path / "run.json").write_text('{"step": 5, "epoch": 1')  # mid-sync
    assert read_progress(tmp_path) is None and not has_newer_checkpoint(tmp_path, 0)
    (tmp_path / "run.json").write_text('{"step": -1, "epoch": 1, "epoch_complete": true, "config": {"train": {"epochs": 2}}}')
    assert read_progress(tmp_path) is None


def test_the_app_takes_follow_as_a_flag():
    from latentlab.cli import build_parser

    assert build_parser().parse_args(["--follow", "runs/x"]).follow == "runs/x"
    assert build_parser().parse_args([]).follow is None
