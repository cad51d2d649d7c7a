"""torchrun with DDP on the CPU (gloo): two processes train the run one process would, resume it,
and end together, with a sentence, when one of them dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from safetensors.torch import load_file

from latentlab.core.checkpoint import open_run
from latentlab.core.distributed import Group, is_collective_failure

SETTINGS = ("--batch-size", "128", "--hidden", "64", "--latent-dim", "3", "--device", "cpu", "--quiet")


def env() -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != "DISPLAY"}, "OMP_NUM_THREADS": "1"}


def torchrun(cwd: Path, *args: str, processes: int = 2) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes),
            "-m", "latentlab", "train", *args]


def run(cwd: Path, command: list[str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(command, cwd=cwd, env=env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(run_dir / open_run(run_dir).files["weights"])


def assert_same_run(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:  # the same steps, summed in another order: equal to float tolerance
        torch.testing.assert_close(wa[key], wb[key], rtol=1e-4, atol=1e-5)
    ha, hb = open_run(a).history, open_run(b).history
    assert [r["step"] for r in ha["steps"]] == [r["step"] for r in hb["steps"]]
    for ra, rb in zip(ha["steps"] + ha["epochs"], hb["steps"] + hb["epochs"]):
        for part in ("recon", "kl", "total"):
            assert ra[part] == pytest.approx(rb[part], rel=1e-4, abs=1e-5)


@pytest.fixture(scope="module")
def one_process_run(tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("one")
    run(cwd, [sys.executable, "-m", "latentlab", "train", "--out", "run", "--epochs", "2", *SETTINGS])
    return cwd / "run"


def test_two_gloo_processes_train_what_one_process_trains_with_the_same_global_batch(tmp_path, one_process_run):
    proc = run(tmp_path, torchrun(tmp_path, "--out", "run", "--epochs", "2", *SETTINGS))
    assert_same_run(tmp_path / "run", one_process_run)
    assert proc.stderr.count("finished at epoch 2") == 1  # rank 0 alone speaks for the run
    assert (tmp_path / "run" / "metrics.jsonl").is_file() and sorted(p.name for p in (tmp_path / "run").glob("*.pt"))


def test_two_processes_resume_the_run_from_its_folder(tmp_path, one_process_run):
    run(tmp_path, torchrun(tmp_path, "--out", "run", "--epochs", "1", *SETTINGS))
    assert open_run(tmp_path / "run").epoch == 1
    run(tmp_path, torchrun(tmp_path, "--out", "run", "--resume", "--epochs", "2", "--device", "cpu", "--quiet"))
    assert_same_run(tmp_path / "run", one_process_run)


def _rank_pid(out: Path, rank: int) -> int | None:
    """The pid of the process of ``rank`` training into ``out`` (Linux: from /proc)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"latentlab" in cmdline and str(out).encode() in b" ".join(cmdline) and f"RANK={rank}".encode() in environ:
            return int(entry.name)
    return None


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the rank's process through /proc (Linux)")
def test_killing_one_process_ends_the_other_with_a_sentence_within_the_timeout(tmp_path):
    out = tmp_path / "run"
    timeout_s = 20
    proc = subprocess.Popen(torchrun(tmp_path, "--out", str(out), "--epochs", "5000", *SETTINGS,
                                     "--dist-timeout", str(timeout_s)),
                            cwd=tmp_path, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "run.json").is_file() or _rank_pid(out, 1) is None:  # training, with a checkpoint
            assert proc.poll() is None and time.monotonic() < deadline, "the group did not start training"
            time.sleep(0.2)
        os.kill(_rank_pid(out, 1), signal.SIGKILL)
        killed = time.monotonic()
        _, stderr = proc.communicate(timeout=timeout_s + 60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert time.monotonic() - killed < timeout_s + 30
    assert proc.returncode != 0
    said = [line for line in stderr.splitlines() if line.startswith("latentlab: error: ")]
    assert said and "Training process 0 of 2 lost the others" in said[0] and "--resume" in said[0], stderr[-3000:]
    assert open_run(out).epoch >= 1  # the last checkpoint is kept


@given(n=st.integers(0, 600), world=st.integers(1, 9))
def test_the_shards_of_a_batch_cover_it_once_in_order(n, world):
    shards = [Group(rank, world, rank, "gloo").shard(n) for rank in range(world)]
    assert [i for s in shards for i in range(n)[s]] == list(range(n))
    assert max(s.stop - s.start for s in shards) - min(s.stop - s.start for s in shards) <= 1


def test_a_failed_collective_is_told_apart_from_a_bug():
    assert is_collective_failure(RuntimeError("[pair.cc:545] Read error [127.0.0.1]:1: Connection reset by peer"))
    assert not is_collective_failure(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    lost = Group(1, 4, 1, "gloo").lost(RuntimeError("[x/pair.cc:5] Read error: Connection reset by peer. GLHF"))
    assert str(lost).startswith("Training process 1 of 4 lost the others (Read error: Connection reset by peer)")
