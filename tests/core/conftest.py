"""Fixtures for the core (Qt-free) tests: small real datasets (from ``tests/data/``), a trained run, the CLI as a subprocess."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

CIFAR_SUBSET = Path(__file__).resolve().parents[1] / "data" / "cifar10-jpg"
CIFAR_PER_CLASS = 20  # per class and split in the committed subset
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@contextlib.contextmanager
def one_torch_thread():
    """One intra-op thread: on a shared 2-core machine, OpenMP threads that spin against other
    processes make these tiny models many times slower. Restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    with one_torch_thread():
        yield


class Cli:
    """Runs ``python -m latentlab`` in a subprocess, the way a user does."""

    def __init__(self, cwd: Path):
        self.cwd = cwd

    def run(self, *args: str | os.PathLike, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "latentlab", *map(str, args)],
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=cli_env(),
        )

    def popen(self, *args: str | os.PathLike) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "latentlab", *map(str, args)],
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
        )

    def ok(self, *args: str | os.PathLike, timeout: float = 180) -> subprocess.CompletedProcess:
        proc = self.run(*args, timeout=timeout)
        assert proc.returncode == 0, f"latentlab {' '.join(map(str, args))} failed:\n{proc.stderr}"
        assert "Traceback" not in proc.stderr
        return proc

    def user_error(self, *args: str | os.PathLike, timeout: float = 180) -> str:
        """Run a command that must fail as a user's mistake; returns the message after the prefix."""
        proc = self.run(*args, timeout=timeout)
        assert proc.returncode == 2, f"exit code {proc.returncode}, stderr:\n{proc.stderr}"
        assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
        lines = proc.stderr.splitlines()
        assert len(lines) == 1, f"stderr is not one line:\n{proc.stderr}"
        assert lines[0].startswith("latentlab: error: "), lines[0]
        return lines[0][len("latentlab: error: ") :]


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"  # shared 2-core machine: one torch thread, as in-process (see _one_torch_thread)
    return env


@pytest.fixture
def cli(tmp_path) -> Cli:
    return Cli(tmp_path)


@pytest.fixture(scope="session")
def digits():
    """The embedded default dataset (scikit-learn's 8x8 digits), loaded once."""
    from latentlab.core.config import DataConfig
    from latentlab.core.data import load_dataset

    return load_dataset(DataConfig())


@pytest.fixture(scope="session")
def mnist_subset(mnist_root):
    """The committed real MNIST subset (the first 2000 training and 500 test items), read
    through the ``mnist`` dataset path."""
    from latentlab.core.config import DataConfig
    from latentlab.core.data import load_dataset

    return load_dataset(DataConfig(name="mnist", root=str(mnist_root)))


@pytest.fixture(scope="session")
def mnist_small(mnist_subset):
    """A slice of the real MNIST subset, small enough to train on in a test."""
    from latentlab.core.data import Dataset

    d = mnist_subset
    return Dataset(
        "mnist",
        d.train_images[:1000].clone(),
        d.train_labels[:1000].clone(),
        d.test_images[:200].clone(),
        d.test_labels[:200].clone(),
        d.classes,
    )


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """A digits run trained for a few epochs (latent 2). Tests must not modify it: copy it first."""
    from latentlab.core.config import ModelConfig, RunConfig, TrainConfig
    from latentlab.core.trainer import train

    run_dir = tmp_path_factory.mktemp("trained") / "run"
    cfg = RunConfig(model=ModelConfig(latent_dim=2, hidden=(128,)), train=TrainConfig(epochs=30, batch_size=128, seed=3))
    with one_torch_thread():  # a session fixture is set up before the module's autouse one
        events = list(train(cfg, run_dir=run_dir))
    assert type(events[-1]).__name__ == "RunFinished"
    return run_dir


@pytest.fixture(scope="session")
def cifar_jpg_subset(tmp_path_factory) -> Path:
    """Real CIFAR-10 JPEGs in the ``{train,test}/<class>/`` layout: the committed subset (the
    first 20 per class and split, byte for byte as in the full archive), copied once per
    session so no test can write into the repository, each checked against the subset's
    SHA256SUMS (the full archive's own digests)."""
    import hashlib
    import shutil

    root = tmp_path_factory.mktemp("cifar10-jpg") / "cifar10-jpg"
    shutil.copytree(CIFAR_SUBSET, root, ignore=shutil.ignore_patterns("SHA256SUMS"))  # only images in the root
    sums = dict(reversed(line.split()) for line in (CIFAR_SUBSET / "SHA256SUMS").read_text().splitlines())
    jpegs = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.jpg"))
    assert jpegs == sorted(sums) and len(jpegs) == 2 * 10 * CIFAR_PER_CLASS
    for name in jpegs:
        assert hashlib.sha256((root / name).read_bytes()).hexdigest() == sums[name], name
    for split in ("train", "test"):
        assert sorted(p.name for p in (root / split).iterdir()) == list(CIFAR_CLASSES)
        for cls in CIFAR_CLASSES:
            assert len(list((root / split / cls).iterdir())) == CIFAR_PER_CLASS
    return root
