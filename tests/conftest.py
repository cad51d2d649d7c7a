"""Shared fixtures. Qt runs offscreen unless a test starts its own display."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """The real MNIST and CIFAR-10 JPEG files that sit beside the project."""
    if not DATASETS.is_dir():
        pytest.fail(f"the shared datasets folder {DATASETS} is missing; the tests need its real MNIST and CIFAR-10 files")
    return DATASETS


@pytest.fixture(scope="session")
def mnist_root(tmp_path_factory, shared_datasets) -> Path:
    """A torchvision-layout MNIST root holding copies of the real files (never write into shared/)."""
    import shutil

    root = tmp_path_factory.mktemp("mnist")
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (shared_datasets / "mnist").glob("*.gz"):
        shutil.copy(f, raw / f.name)
    return root
