"""Following a run that another process trains: each new checkpoint shown within 2 s, the
step records drawn as they are written, a torn metrics line survived and read once whole."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from latentlab.core.follow import read_progress
from latentlab.core.metrics_log import METRICS_FILE, decode

REPO = Path(__file__).resolve().parents[2]
LATENCY_S = 2.0


def _start_trainer(out: Path, log) -> subprocess.Popen:
    env = {**{k: v for k, v in os.environ.items() if k != "DISPLAY"}, "OMP_NUM_THREADS": "1"}
    # Small batches, so an epoch takes a noticeable moment and the follower sees them one by one.
    return subprocess.Popen(
        [sys.executable, "-m", "latentlab", "train", "--out", str(out), "--device", "cpu", "--quiet",
         "--epochs", "5", "--latent-dim", "2", "--hidden", "16", "--batch-size", "4"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=log,
    )


def _train_steps(window) -> list[int]:
    return [int(s) for s in window.loss_plot.history()["train"]["step"]]


def test_a_run_trained_by_another_process_is_followed_live(make_window, qtbot, tmp_path):
    run = tmp_path / "run"
    log = open(tmp_path / "trainer.log", "wb")
    trainer = _start_trainer(run, log)
    try:
        qtbot.waitUntil(lambda: read_progress(run) is not None or trainer.poll() is not None, timeout=120_000)
        assert trainer.poll() is None, "the trainer ended before its first checkpoint could be followed"
        window = make_window()
        assert window.follow.start(run)
        # Sample both sides every 20 ms: when run.json moved to a step, and when the window showed it.
        committed: dict[int, float] = {}
        shown: dict[int, float] = {}
        while trainer.poll() is None:
            progress = read_progress(run)
            now = time.monotonic()
            if progress is not None:
                committed.setdefault(progress.step, now)
            if window.snapshot is not None:
                shown.setdefault(window.snapshot.step, now)
            qtbot.wait(20)
        assert trainer.returncode == 0, (tmp_path / "trainer.log").read_text()
    finally:
        if trainer.poll() is None:
            trainer.kill()
            trainer.wait()
        log.close()
    final = read_progress(run)
    qtbot.waitUntil(lambda: window.snapshot.step == final.step, timeout=int(LATENCY_S * 1000))
    committed.setdefault(final.step, time.monotonic())
    shown.setdefault(final.step, time.monotonic())
    assert len(committed) >= 3, f"too few checkpoints seen to test following: {sorted(committed)}"
    latencies = {}
    for step, at in committed.items():
        # The first time the window showed this checkpoint or a later one.
        latencies[step] = round(min(t for s, t in shown.items() if s >= step) - at, 3)
    assert max(latencies.values()) <= LATENCY_S, f"checkpoint shown too late: {latencies} (s after commit)"
    qtbot.waitUntil(lambda: window.status.epoch.text().endswith("finished"), timeout=3000)
    assert window.status.epoch.text() == f"Following run: epoch {final.epoch}, finished"
    # Every logged step, once, in order: run.json's history and metrics.jsonl agree.
    logged = [decode(line).step for line in (run / METRICS_FILE).read_bytes().splitlines()]
    qtbot.waitUntil(lambda: _train_steps(window) == logged, timeout=3000)
    epochs = [r["step"] for r in window.explorer.history["epochs"]]
    assert len(epochs) == final.epoch and epochs == sorted(set(epochs))
    assert [int(s) for s in window.loss_plot.history()["test"]["step"]] == epochs
    assert window.follow.load_ms and max(window.follow.load_ms) < 50

    # A record written in two pieces: the window waits for the newline, then draws it once.
    line = (run / METRICS_FILE).read_bytes().splitlines()[-1]
    record = decode(line)
    torn = line.replace(f'"step":{record.step}'.encode(), f'"step":{record.step + 1}'.encode()) + b"\n"
    with open(run / METRICS_FILE, "ab") as f:
        f.write(torn[:25])
    qtbot.wait(1500)
    assert _train_steps(window) == logged and window.isVisible()
    with open(run / METRICS_FILE, "ab") as f:
        f.write(torn[25:])
    qtbot.waitUntil(lambda: _train_steps(window) == logged + [record.step + 1], timeout=int(LATENCY_S * 1000))
    print(f"checkpoint latencies: {latencies}; load ms: {window.follow.load_ms}; apply ms: {window.follow.apply_ms}")
    window.follow.stop()


def test_following_a_folder_that_is_no_run_is_a_dialog(make_window, tmp_path):
    window = make_window()
    assert not window.follow.start(tmp_path)
    assert not window.follow.following
    assert window.error_box is not None and "not a latentlab run" in window.error_box.text()


def test_without_file_watching_the_poll_still_follows(make_window, qtbot, cli_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(cli_run, run)
    window = make_window()
    watcher = window.follow._watcher
    watcher.addPaths = lambda paths: paths  # as on a filesystem where watching fails: nothing watched
    assert window.follow.start(run)
    assert watcher.files() == [] and watcher.directories() == []
    before = _train_steps(window)
    line = (run / METRICS_FILE).read_bytes().splitlines()[-1]
    step = decode(line).step
    started = time.monotonic()
    with open(run / METRICS_FILE, "ab") as f:
        f.write(line.replace(f'"step":{step}'.encode(), f'"step":{step + 7}'.encode()) + b"\n")
    qtbot.waitUntil(lambda: _train_steps(window) == before + [step + 7], timeout=3000)
    assert time.monotonic() - started <= 1.5


def test_training_or_opening_another_run_stops_following(make_window, cli_run, tmp_path, monkeypatch):
    window = make_window()
    assert window.follow.start(cli_run) and window.follow.following
    assert window.open_run_dir(cli_run) and not window.follow.following
    assert window.follow.start(cli_run)
    started = []
    monkeypatch.setattr(window.controller, "start", lambda *args, **kw: started.append(args))
    window._on_start()  # the panel's Start
    assert started and not window.follow.following
