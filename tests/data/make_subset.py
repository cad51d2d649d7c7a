"""Cut the small real MNIST and CIFAR-10 subset under tests/data from the full files.

    python tests/data/make_subset.py [--source DIR]

DIR defaults to ``$LATENTLAB_DATA``, else ``../shared/datasets`` beside the project root.
It must hold the four original MNIST ``.gz`` files (in ``DIR/mnist/``, ``DIR/MNIST/raw/``
or ``DIR`` itself) and ``cifar10-jpg.tar`` (``cifar10-jpg/{train,test}/<class>/NNNN.jpg``
plus ``cifar10-jpg/SHA256SUMS``). The source is only read. The output is deterministic:
running the script again writes the same bytes (given the same zlib), so ``git status``
stays clean.

What it writes (replacing what was there):

- ``mnist/``: the first ``MNIST_TRAIN`` training and first ``MNIST_TEST`` test items, in
  the original idx format and gzip-compressed (mtime 0, no file name in the header), under
  the original file names.
- ``cifar10-jpg/``: the JPEGs ``0000.jpg`` .. ``{CIFAR_PER_CLASS - 1}.jpg`` of every class
  in both splits, byte for byte as in the tar, and a ``SHA256SUMS`` listing of exactly
  those files, copied from the tar's own listing.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import shutil
import struct
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parents[1]
DEFAULT_SOURCE = PROJECT_ROOT.parent / "shared" / "datasets"

MNIST_TRAIN = 2000
MNIST_TEST = 500
CIFAR_PER_CLASS = 20
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

# The full MNIST files (the ones whose md5 torchvision checks): file -> (sha256, items kept).
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", MNIST_TRAIN),
    "train-labels-idx1-ubyte.gz": ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", MNIST_TRAIN),
    "t10k-images-idx3-ubyte.gz": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", MNIST_TEST),
    "t10k-labels-idx1-ubyte.gz": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", MNIST_TEST),
}


def fail(message: str) -> None:
    sys.exit(f"make_subset: error: {message}")


def find_mnist(source: Path) -> Path:
    for folder in (source / "mnist", source / "MNIST" / "raw", source):
        if all((folder / name).is_file() for name in MNIST_FILES):
            return folder
    fail(f"the four MNIST .gz files are not in {source / 'mnist'}, {source / 'MNIST' / 'raw'} nor {source}.")


def gzip_bytes(data: bytes) -> bytes:
    """gzip with a fixed header (mtime 0, no name) so the same data always gives the same bytes."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as f:
        f.write(data)
    return buf.getvalue()


def idx_head(raw: bytes, count: int) -> bytes:
    """The first ``count`` items of an idx file, with the header's item count set to ``count``."""
    magic, n = struct.unpack(">II", raw[:8])
    if magic >> 8 != 0x08:  # 0x00 0x00, then type 0x08 (unsigned byte), then the number of dimensions
        fail(f"not an unsigned-byte idx file (magic {magic:#010x}).")
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * (ndim - 1), raw[8 : 4 + 4 * ndim])
    if count > n:
        fail(f"asked for {count} items but the file holds {n}.")
    item = 1
    for d in dims:
        item *= d
    offset = 4 + 4 * ndim
    header = struct.pack(">II", magic, count) + raw[8:offset]
    return header + raw[offset : offset + count * item]


def write_mnist(source: Path, out: Path) -> None:
    folder = find_mnist(source)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name, (sha256, count) in MNIST_FILES.items():
        data = (folder / name).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            fail(f"{folder / name} is not the original MNIST file (its sha256 differs).")
        (out / name).write_bytes(gzip_bytes(idx_head(gzip.decompress(data), count)))


def write_cifar(source: Path, out: Path) -> None:
    tar_path = source / "cifar10-jpg.tar"
    if not tar_path.is_file():
        fail(f"{tar_path} is missing.")
    wanted = {
        f"{split}/{cls}/{i:04d}.jpg" for split in ("train", "test") for cls in CIFAR_CLASSES for i in range(CIFAR_PER_CLASS)
    }
    files: dict[str, bytes] = {}
    sums: dict[str, str] = {}
    with tarfile.open(tar_path) as tar:
        for member in tar:
            if not member.isfile() or not member.name.startswith("cifar10-jpg/"):
                continue
            name = member.name[len("cifar10-jpg/") :]
            if name == "SHA256SUMS":
                for line in tar.extractfile(member).read().decode().splitlines():
                    digest, listed = line.split()
                    sums[listed] = digest
            elif name in wanted:
                files[name] = tar.extractfile(member).read()
    missing = sorted(wanted - files.keys())
    if missing:
        fail(f"{tar_path} lacks {len(missing)} of the wanted images, {missing[0]} first.")
    for name, data in files.items():
        if sums.get(name) != hashlib.sha256(data).hexdigest():
            fail(f"{name} in {tar_path} does not match the tar's SHA256SUMS.")
    if out.exists():
        shutil.rmtree(out)
    for name in sorted(files):
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(files[name])
    (out / "SHA256SUMS").write_text("".join(f"{sums[name]}  {name}\n" for name in sorted(files)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--source", "--data-dir", dest="source",
        help="folder with mnist/*.gz and cifar10-jpg.tar (default $LATENTLAB_DATA, else ../shared/datasets)",
    )
    ap.add_argument("--out", default=str(HERE), help="where to write mnist/ and cifar10-jpg/ (default: this folder)")
    args = ap.parse_args(argv)
    source = Path(args.source or os.environ.get("LATENTLAB_DATA") or DEFAULT_SOURCE)
    if not source.is_dir():
        fail(f"the source folder {source} does not exist; pass --source with the full MNIST and CIFAR-10 files.")
    out = Path(args.out)
    write_mnist(source, out / "mnist")
    write_cifar(source, out / "cifar10-jpg")
    print(f"wrote {out / 'mnist'} ({MNIST_TRAIN} train / {MNIST_TEST} test) and "
          f"{out / 'cifar10-jpg'} ({CIFAR_PER_CLASS} per class and split) from {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
