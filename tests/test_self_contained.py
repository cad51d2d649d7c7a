"""The suite runs in a bare clone: no test reads data from outside the repository, and the
committed subset in ``tests/data/`` is what its script says it is."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import re
import struct
import tarfile
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
DATA = TESTS / "data"
SCRIPT = DATA / "make_subset.py"

# The datasets folder beside the project, however a path to it is spelt: "../shared",
# ".." / "shared", root.parent / "shared", "shared/datasets", "shared" / "datasets", ...
# or the fixture that once handed it to tests.
OUTSIDE = re.compile(
    r"""\.\.["']?\s*[/\\,]\s*["']?shared|\.parent\s*/\s*["']shared|shared["']?\s*[/\\,]\s*["']?datasets"""
    r"""|\bshared_datasets\b""",
    re.IGNORECASE,
)
# The script that cuts the subset takes the full files' folder as its default source; this
# file spells the pattern out to test it.
ALLOWED = {SCRIPT, Path(__file__).resolve()}


@pytest.fixture(scope="module")
def make_subset():
    spec = importlib.util.spec_from_file_location("make_subset", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_test_file_reads_data_from_outside_the_repository():
    scanned, offending = 0, []
    for path in sorted(TESTS.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix in (".jpg", ".gz"):
            continue
        if path in ALLOWED:
            continue
        text = path.read_text(errors="replace")
        scanned += 1
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                offending.append(f"{path.relative_to(TESTS)}:{number}: {line.strip()}")
    assert scanned > 10, "the scan found almost no test files"
    assert not offending, "tests must use tests/data, not data outside the repository:\n" + "\n".join(offending)


def test_the_scan_catches_the_usual_spellings():
    for line in ('root / ".." / "shared"', 'p = "../shared/datasets"', 'Path(x).parent / "shared" / "datasets"',
                 'os.path.join(up, "shared", "datasets")', "..\\shared\\datasets", 'ROOT.parent / "shared"',
                 'os.path.join(root, "..", "shared")', "def test_x(shared_datasets):"):
        assert OUTSIDE.search(line), line
    assert not OUTSIDE.search('"a run shared by tests"') and not OUTSIDE.search("shared.ini")


def idx(raw: bytes) -> tuple[int, tuple[int, ...]]:
    magic, = struct.unpack(">I", raw[:4])
    ndim = magic & 0xFF
    return magic, struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])


def test_committed_mnist_subset_has_valid_idx_files_with_the_scripts_counts(make_subset):
    for name, (_, count) in make_subset.MNIST_FILES.items():
        blob = (DATA / "mnist" / name).read_bytes()
        assert blob[:2] == b"\x1f\x8b" and blob[4:8] == b"\0\0\0\0", f"{name}: not gzip with mtime 0"
        raw = gzip.decompress(blob)
        magic, dims = idx(raw)
        images = "images" in name
        assert magic == (0x0803 if images else 0x0801), name
        assert dims == ((count, 28, 28) if images else (count,)), name
        assert len(raw) == 4 + 4 * len(dims) + count * (784 if images else 1), name
        if not images:
            assert set(raw[8:]) == set(range(10)), name
    assert (make_subset.MNIST_TRAIN, make_subset.MNIST_TEST) == (2000, 500)


def test_idx_head_keeps_the_first_items_and_rewrites_the_count(make_subset):
    raw = gzip.decompress((DATA / "mnist" / "train-images-idx3-ubyte.gz").read_bytes())
    head = make_subset.idx_head(raw, 7)
    assert idx(head) == (0x0803, (7, 28, 28))
    assert head[16:] == raw[16 : 16 + 7 * 784]
    # Re-compressed, the same bytes always come out: the header carries no time and no name.
    assert make_subset.gzip_bytes(head) == make_subset.gzip_bytes(head)
    assert gzip.decompress(make_subset.gzip_bytes(head)) == head


def test_committed_cifar_subset_is_listed_in_its_sha256sums(make_subset):
    root = DATA / "cifar10-jpg"
    listed = [line.split() for line in (root / "SHA256SUMS").read_text().splitlines()]
    jpegs = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name != "SHA256SUMS")
    assert [name for _, name in listed] == jpegs  # sorted, and nothing else in the folder
    per_class = make_subset.CIFAR_PER_CLASS
    assert jpegs == sorted(
        f"{split}/{cls}/{i:04d}.jpg" for split in ("train", "test") for cls in make_subset.CIFAR_CLASSES
        for i in range(per_class)
    )
    for digest, name in listed:
        data = (root / name).read_bytes()
        assert data[:2] == b"\xff\xd8", name  # a JPEG
        assert hashlib.sha256(data).hexdigest() == digest, name


def test_write_cifar_from_an_archive_reproduces_the_committed_bytes(make_subset, tmp_path):
    """The script's CIFAR half, run on an archive holding the subset and more images than it
    keeps: the output is the committed folder, byte for byte."""
    committed = DATA / "cifar10-jpg"
    source = tmp_path / "source"
    source.mkdir()
    sums = (committed / "SHA256SUMS").read_text()
    extra = b"\xff\xd8 not kept"
    extra_name = f"train/cat/{make_subset.CIFAR_PER_CLASS:04d}.jpg"
    sums += f"{hashlib.sha256(extra).hexdigest()}  {extra_name}\n"
    with tarfile.open(source / "cifar10-jpg.tar", "w") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(f"cifar10-jpg/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add("SHA256SUMS", sums.encode())
        add(extra_name, extra)
        for path in sorted(committed.rglob("*.jpg"), reverse=True):  # another order than the output's
            add(path.relative_to(committed).as_posix(), path.read_bytes())
    out = tmp_path / "out"
    make_subset.write_cifar(source, out)
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    expected = sorted(p.relative_to(committed).as_posix() for p in committed.rglob("*") if p.is_file())
    assert written == expected
    for name in expected:
        assert (out / name).read_bytes() == (committed / name).read_bytes(), name
