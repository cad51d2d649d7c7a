"""Shared fixtures. Qt runs offscreen unless a test starts its own display.

Every dataset a test reads is either written by the test itself or comes from the small
real subset committed under ``tests/data/`` (see its README), so the suite runs in a bare
clone with no network.
"""

import os
import re
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

TEST_DATA = Path(__file__).resolve().parent / "data"
MNIST_GZ = TEST_DATA / "mnist"
MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


@pytest.fixture(scope="session")
def mnist_gz_dir() -> Path:
    """The committed MNIST subset: the four original-format idx ``.gz`` files (read only)."""
    missing = [name for name in MNIST_FILES if not (MNIST_GZ / name).is_file()]
    if missing:
        pytest.fail(f"the committed MNIST subset lacks {', '.join(missing)} in {MNIST_GZ}")
    return MNIST_GZ


@pytest.fixture(scope="session")
def mnist_root(tmp_path_factory, mnist_gz_dir) -> Path:
    """A torchvision-layout MNIST root, ``<root>/MNIST/raw/``, holding copies of the subset's
    ``.gz`` files and their unpacked idx files. Unpacked, torchvision finds them with
    ``download=False``; with only the ``.gz`` files it would check their md5 against the
    full files', fail, and try the network."""
    import gzip
    import shutil

    root = tmp_path_factory.mktemp("mnist")
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in MNIST_FILES:
        shutil.copyfile(mnist_gz_dir / name, raw / name)
        with gzip.open(raw / name, "rb") as src, open(raw / name[: -len(".gz")], "wb") as dst:
            shutil.copyfileobj(src, dst)
    return root


def _check_one_sentence(message: str) -> None:
    """A user-facing error: one line, one sentence, no traceback."""
    assert message, "the error message is empty"
    assert "\n" not in message.strip(), f"the error spans several lines: {message!r}"
    assert "Traceback" not in message
    assert message.rstrip().endswith("."), f"the error is not a finished sentence: {message!r}"
    # A full stop followed by a capital starts a second sentence (dots inside paths do not match).
    assert not re.search(r"\.\s+[A-Z]", message), f"the error holds more than one sentence: {message!r}"
    assert "()" not in message, f"the error carries an empty explanation: {message!r}"


@pytest.fixture(scope="session")
def one_sentence():
    """``one_sentence(message)`` asserts ``message`` is a single clear sentence."""
    return _check_one_sentence
