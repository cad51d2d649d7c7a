"""Operating-system faults are one sentence and exit 2, never a traceback, never lost work.

Each fault is real: a full tmpfs, a read-only bind mount, a file where a folder should be,
permissions that bind even for root (see tests/os_faults.py).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from os_faults import cli_env, drop_root_file_powers, latentlab_cmd, run_with_mounts

ERROR = re.compile(r"^latentlab: error: (.+)$", re.M)
SMALL = ("--hidden", "32", "--device", "cpu", "--quiet")


def script_results(proc: subprocess.CompletedProcess) -> dict[str, str]:
    """``KEY=value`` lines a script printed to stdout."""
    assert "Traceback" not in proc.stderr, proc.stderr
    return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)


def error_lines(text: str) -> list[str]:
    return ERROR.findall(text)


def train_digits(out: Path, epochs: int, *extra: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "latentlab", "train", "--out", str(out), "--epochs", str(epochs), *SMALL, *extra],
        env=cli_env(), capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr


def saved_epoch(run: Path) -> int:
    return json.loads((run / "run.json").read_text())["epoch"]


# ------------------------------------------------------------------------------- --out


def test_out_that_names_an_existing_file_is_a_user_error(cli, tmp_path, one_sentence):
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    message = cli.user_error("train", "--out", target, "--epochs", "1", *SMALL)
    one_sentence(message)
    assert "is a file" in message and str(target) in message
    assert target.read_text() == "keep me"


def test_out_below_a_file_is_a_user_error(cli, tmp_path, one_sentence):
    (tmp_path / "file").write_text("x")
    message = cli.user_error("train", "--out", tmp_path / "file" / "run", "--epochs", "1", *SMALL)
    one_sentence(message)
    assert "Cannot create the run folder" in message and "Not a directory" in message


def test_out_in_a_read_only_folder_is_a_user_error(tmp_path, one_sentence):
    parent = tmp_path / "locked"
    parent.mkdir()
    proc = run_with_mounts(f"""
        mount --bind {parent} {parent} && mount -o remount,bind,ro {parent}
        set +e; {latentlab_cmd("train", "--out", parent / "run", "--epochs", "1", *SMALL)}; echo rc=$?
    """)
    assert script_results(proc)["rc"] == "2"
    [message] = error_lines(proc.stderr)
    one_sentence(message)
    assert "Read-only file system" in message and "choose a folder you can write to" in message
    assert not (parent / "run").exists()


def test_out_whose_parents_do_not_exist_yet_is_created(cli, tmp_path):
    out = tmp_path / "a" / "b" / "run"
    cli.ok("train", "--out", out, "--epochs", "1", *SMALL)
    assert saved_epoch(out) == 1


# ------------------------------------------------------------------------------- a full disk


def test_a_full_disk_during_a_checkpoint_keeps_the_last_one_which_then_resumes(tmp_path, one_sentence):
    disk = tmp_path / "disk"
    disk.mkdir()
    run = disk / "run"
    proc = run_with_mounts(f"""
        mount -t tmpfs -o size=16m tmpfs {disk}
        {latentlab_cmd("train", "--out", run, "--epochs", "2", "--batch-size", "128", *SMALL)}
        # Fill the disk to the last byte, as another program would.
        dd if=/dev/zero of={disk}/filler bs=64k status=none 2>/dev/null || true
        set +e
        {latentlab_cmd("train", "--out", run, "--resume", "--epochs", "4")}; echo full_rc=$?
        set -e
        echo left=$(ls -A {run} | tr '\\n' ' ')
        {latentlab_cmd("evaluate", run, "--iw-samples", "0", "--json")} | sed 's/^/eval=/'
        rm {disk}/filler
        {latentlab_cmd("train", "--out", run, "--resume", "--epochs", "4")}; echo resumed_rc=$?
        echo epoch=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['epoch'])" {run}/run.json)
        echo after=$(ls -A {run} | tr '\\n' ' ')
    """)
    out = script_results(proc)
    assert out["full_rc"] == "2", proc.stderr
    [message] = error_lines(proc.stderr)
    one_sentence(message)
    assert "No space left on device" in message and "last complete checkpoint kept" in message
    # The checkpoint of epoch 2 is whole, with no temporary file beside it.
    assert not any(name.endswith(".tmp") for name in out["left"].split()), out["left"]
    assert json.loads(out["eval"])["epoch"] == 2
    assert out["resumed_rc"] == "0" and out["epoch"] == "4"
    after = out["after"].split()
    assert "timeline" in after  # the frames of the epochs trained, beside the checkpoint
    assert sorted(n for n in after if n != "timeline")[-2:] == ["snapshot-000000048.safetensors", "testset.safetensors"]
    assert not any(name.endswith(".tmp") or name == "train.lock" for name in out["after"].split())


def test_a_full_disk_before_the_first_checkpoint_leaves_no_half_run(tmp_path, one_sentence):
    disk = tmp_path / "disk"
    disk.mkdir()
    proc = run_with_mounts(f"""
        mount -t tmpfs -o size=256k tmpfs {disk}
        dd if=/dev/zero of={disk}/filler bs=4k count=60 status=none
        set +e; {latentlab_cmd("train", "--out", disk / "run", "--epochs", "2", *SMALL)}; echo rc=$?
        echo left=$(ls -A {disk} | tr '\\n' ' ')
    """)
    out = script_results(proc)
    assert out["rc"] == "2"
    [message] = error_lines(proc.stderr)
    one_sentence(message)
    assert "No space left on device" in message and "before its first checkpoint" in message
    assert out["left"].split() == ["filler"]  # no run folder that looks like a run, nor a husk of one


# ------------------------------------------------------------------------------- read-only run folders


def test_resuming_a_read_only_run_is_a_user_error_and_reading_it_still_works(tmp_path, one_sentence):
    run = tmp_path / "run"
    train_digits(run, 1)
    proc = run_with_mounts(f"""
        mount --bind {run} {run} && mount -o remount,bind,ro {run}
        set +e; {latentlab_cmd("train", "--out", run, "--resume", "--epochs", "2")}; echo rc=$?; set -e
        {latentlab_cmd("evaluate", run, "--iw-samples", "0", "--json")} | sed 's/^/eval=/'
        {latentlab_cmd("export", run, "--latents", tmp_path / "z.csv")}; echo export_rc=$?
    """)
    out = script_results(proc)
    assert out["rc"] == "2"
    [message] = error_lines(proc.stderr)
    one_sentence(message)
    assert "Read-only file system" in message and str(run) in message
    assert json.loads(out["eval"])["epoch"] == 1 and out["export_rc"] == "0"
    train_digits(run, 2, "--resume")  # writable again: the same run goes on
    assert saved_epoch(run) == 2


def test_a_run_folder_made_read_only_mid_run_stops_with_the_last_checkpoint_kept(tmp_path, one_sentence):
    run = tmp_path / "run"
    proc = run_with_mounts(f"""
        timeout 240 {latentlab_cmd("train", "--out", run, "--epochs", "3000", *SMALL)} 2>{tmp_path}/train.err &
        pid=$!
        for i in $(seq 600); do [ -f {run}/run.json ] && break; sleep 0.1; done
        mount --bind {run} {run}
        # The remount is refused (busy) while a checkpoint file is open for writing through the new
        # mount: the trainer saves every few hundred ms, so try again until it falls between two saves.
        for i in $(seq 200); do mount -o remount,bind,ro {run} 2>/dev/null && break; sleep 0.02; done
        set +e; wait $pid; echo rc=$?
    """)
    out = script_results(proc)
    stderr = (tmp_path / "train.err").read_text()
    assert out["rc"] == "2", stderr
    [message] = error_lines(stderr)
    one_sentence(message)
    assert "Read-only file system" in message and "last complete checkpoint kept" in message
    kept = saved_epoch(run)
    assert kept >= 1
    train_digits(run, kept + 1, "--resume")
    assert saved_epoch(run) == kept + 1


# ------------------------------------------------------------------------------- exports and data


def test_an_export_path_that_is_a_folder_is_a_user_error(cli, trained_run, tmp_path, one_sentence):
    (tmp_path / "z.csv").mkdir()
    (tmp_path / "grid.png").mkdir()
    for option, path in (("--latents", "z.csv"), ("--reconstructions", "grid.png")):
        message = cli.user_error("export", trained_run, option, tmp_path / path)
        one_sentence(message)
        assert "Is a directory" in message


def test_an_export_into_a_read_only_folder_is_a_user_error(trained_run, tmp_path, one_sentence):
    target = tmp_path / "out"
    target.mkdir()
    proc = run_with_mounts(f"""
        mount --bind {target} {target} && mount -o remount,bind,ro {target}
        set +e; {latentlab_cmd("export", trained_run, "--samples", target / "s.png")}; echo rc=$?
    """)
    assert script_results(proc)["rc"] == "2"
    [message] = error_lines(proc.stderr)
    one_sentence(message)
    assert "Read-only file system" in message
    assert list(target.iterdir()) == []


@pytest.mark.parametrize("dataset", ["folder", "mnist"])
def test_a_data_folder_that_cannot_be_read_is_a_user_error(tmp_path, dataset, one_sentence):
    data = tmp_path / "data"
    (data / "a").mkdir(parents=True)
    (data / "MNIST").mkdir()
    data.chmod(0o000)
    try:
        proc = subprocess.run(
            drop_root_file_powers([sys.executable, "-m", "latentlab", "train", "--out", str(tmp_path / "run"),
                                   "--dataset", dataset, "--data-dir", str(data), "--epochs", "1", *SMALL]),
            env=cli_env(), capture_output=True, text=True, timeout=120,
        )
    finally:
        data.chmod(0o755)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    [message] = error_lines(proc.stderr)
    one_sentence(message)
    assert "Permission denied" in message or "cannot be read" in message
    assert not (tmp_path / "run").exists()
