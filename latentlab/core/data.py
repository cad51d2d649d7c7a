"""Datasets, each loaded once into one uint8 tensor of shape (N, C, H, W) plus labels.

Training draws batches by indexing that tensor on the training device; there is no
per-sample decode/transform pipeline in the loop, which is what makes the conventional
``DataLoader(ToTensor())`` loop slow on small images.

Binarized grey data (``DataConfig.binarize``) takes each pixel's intensity in [0, 1] as
the probability of a Bernoulli draw (Burda et al., arXiv 1509.00519). The test set is
binarized here once, with a fixed seed, under either kind, so test figures are
reproducible; a static run's training set likewise; a dynamic run's training set stays
grey and the trainer draws every batch afresh. Binarized pixels are stored as 0 or 255,
so everything that reads uint8 images reads them unchanged.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import struct
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from .config import DataConfig
from .errors import DataError


@dataclass(frozen=True)
class Dataset:
    """A fixed train/test split of uint8 images with optional integer labels."""

    name: str
    train_images: torch.Tensor  # (N, C, H, W) uint8
    train_labels: torch.Tensor | None  # (N,) int64, None when unlabelled
    test_images: torch.Tensor  # (M, C, H, W) uint8
    test_labels: torch.Tensor | None
    classes: tuple[str, ...] = ()  # label names, index = label

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_images.shape[1:])  # type: ignore[return-value]

    @property
    def n_train(self) -> int:
        return self.train_images.shape[0]

    @property
    def n_test(self) -> int:
        return self.test_images.shape[0]

    def to(self, device: torch.device | str) -> Dataset:
        def move(t):
            return None if t is None else t.to(device)

        return Dataset(
            self.name,
            move(self.train_images),
            move(self.train_labels),
            move(self.test_images),
            move(self.test_labels),
            self.classes,
        )


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32 in [0, 1], on the same device."""
    return images.float().div_(255.0)


def sample_pixels(p: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One Bernoulli draw per pixel, ``p`` (float in [0, 1]) its probability: 0.0 or 1.0, like ``p``.

    u < p with u uniform in [0, 1): a pixel of 0 never lights and one of 1 always does, so
    binarizing binarized pixels changes nothing.
    """
    u = torch.rand(p.shape, generator=generator, device=p.device, dtype=p.dtype)
    return (u < p).to(p.dtype)


_BINARIZE_ROWS = 4096  # items per chunk: MNIST's 47 M pixels would need 190 MB of floats at once
_BINARIZE_STREAM = 0x62696E  # mixed into split_seed: binarization noise is not the split's permutation stream


def binarize(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """uint8 images -> one Bernoulli sample of each pixel, as uint8 0 or 255."""
    out = torch.empty_like(images)
    for start in range(0, images.shape[0], _BINARIZE_ROWS):
        chunk = to_float(images[start : start + _BINARIZE_ROWS].cpu())  # drawn where the generator is
        out[start : start + chunk.shape[0]] = sample_pixels(chunk, generator).mul_(255).to(out.device, torch.uint8)
    return out


def binarization_generator(cfg: DataConfig) -> torch.Generator:
    """The CPU generator of a run's fixed binarizations: the same on every machine and device."""
    return torch.Generator().manual_seed(cfg.split_seed ^ _BINARIZE_STREAM)


def binarize_splits(data: Dataset, cfg: DataConfig) -> Dataset:
    """The test set (and, when static, the training set) binarized once with the config's fixed seed.

    The test set is drawn first, so it is the same sample whether the run is static or dynamic.
    """
    if cfg.binarize is None:
        return data
    gen = binarization_generator(cfg)
    test = binarize(data.test_images, gen)
    train = binarize(data.train_images, gen) if cfg.binarize == "static" else data.train_images
    return replace(data, train_images=train, test_images=test)


def load_dataset(cfg: DataConfig) -> Dataset:
    """Load the dataset ``cfg`` names (binarized as it says), or raise ``DataError`` with one sentence of advice."""
    loaders = {
        "digits": _load_digits,
        "mnist": _load_mnist,
        "fashion-mnist": _load_mnist,
        "cifar10": _load_cifar10,
        "folder": _load_folder,
    }
    data = loaders[cfg.name](cfg)
    if data.n_train == 0 or data.n_test == 0:
        raise DataError(f"The {cfg.name} dataset has too few images to hold out a test split; add more images.")
    return binarize_splits(data, cfg)


def _split(n: int, cfg: DataConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed random split of range(n) into (train, test) index tensors, each sorted."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.split_seed))
    n_test = max(1, round(n * cfg.test_fraction)) if n > 1 else 0
    return order[n_test:].sort().values, order[:n_test].sort().values


def _load_digits(cfg: DataConfig) -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # Pixel values are counts 0..16; stretch them to the full uint8 range.
    images = torch.from_numpy(np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)).unsqueeze(1)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    train, test = _split(len(images), cfg)
    classes = tuple(str(c) for c in bunch.target_names)
    return Dataset("digits", images[train], labels[train], images[test], labels[test], classes)


def _quiet_torchvision(make):
    """Run a torchvision dataset constructor with its download chatter kept off stdout."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return make()


def _open_torchvision(factory, root: str, label: str, expected: str):
    """Open a torchvision dataset from ``root``, never downloading: that is ``latentlab fetch``'s job."""
    from . import fetch

    name = next(key for key, value in fetch.LABELS.items() if value == label)
    if not os.path.isdir(root):
        raise DataError(
            f"The data folder {root} does not exist; pass --data-dir with {expected}, "
            f"or run {fetch.fetch_command(name, root)}."
        )
    damaged = DataError(
        f"The {label} files under {fetch.dataset_folder(name, root)} are damaged or truncated; "
        f"replace them, or delete them and run {fetch.fetch_command(name, root)}."
    )

    def open_both():
        return _quiet_torchvision(lambda: (factory(train=True, download=False), factory(train=False, download=False)))

    try:
        return open_both()
    except RuntimeError as exc:
        if "not found" not in str(exc):  # torchvision's word for missing (or not yet unpacked) files
            raise damaged from None
    except Exception:
        raise damaged from None
    # Missing, or for CIFAR-10 failing their checksums: unpack verified archives found here, offline.
    if not fetch.unpack_present_archives(name, root):
        if fetch.files_exist(name, root):
            raise damaged  # every file is there, yet torchvision refused them
        raise DataError(
            f"The {label} files are not in {root}; run {fetch.fetch_command(name, root)}, "
            f"or {fetch.by_hand(name, root)}."
        )
    try:
        return open_both()
    except Exception:
        raise damaged from None


def _load_mnist(cfg: DataConfig) -> Dataset:
    from torchvision import datasets

    kind, label = (datasets.MNIST, "MNIST") if cfg.name == "mnist" else (datasets.FashionMNIST, "Fashion-MNIST")
    expected = f"{kind.__name__}/raw/ holding the four idx files"
    train, test = _open_torchvision(lambda **kw: kind(cfg.root, **kw), cfg.root, label, expected)
    # torchvision has already parsed the idx files into tensors: no per-item PIL round trip.
    for part in (train, test):
        if part.data.ndim != 3 or part.data.shape[0] != part.targets.shape[0]:
            raise DataError(f"The {label} files under {cfg.root} disagree on the number of items; replace them.")
    return Dataset(
        cfg.name,
        train.data.unsqueeze(1).contiguous(),
        train.targets.long(),
        test.data.unsqueeze(1).contiguous(),
        test.targets.long(),
        tuple(train.classes),
    )


def _load_cifar10(cfg: DataConfig) -> Dataset:
    from torchvision import datasets

    expected = "cifar-10-batches-py/ (the python version of CIFAR-10)"
    train, test = _open_torchvision(lambda **kw: datasets.CIFAR10(cfg.root, **kw), cfg.root, "CIFAR-10", expected)

    def images(part) -> torch.Tensor:  # (N, 32, 32, 3) -> (N, 3, 32, 32)
        return torch.from_numpy(np.ascontiguousarray(part.data.transpose(0, 3, 1, 2)))

    return Dataset(
        "cifar10",
        images(train),
        torch.as_tensor(train.targets, dtype=torch.long),
        images(test),
        torch.as_tensor(test.targets, dtype=torch.long),
        tuple(train.classes),
    )


def _unreadable(folder: Path, exc: OSError) -> DataError:
    return DataError(f"The image folder {folder} cannot be read ({exc.strerror or exc}); check its permissions.")


def _list_dir(folder: Path) -> list[str]:
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        raise _unreadable(folder, exc) from None
    if not os.access(folder, os.X_OK):  # listed, but nothing in it can be opened
        raise _unreadable(folder, PermissionError(errno.EACCES, os.strerror(errno.EACCES)))
    return names


def _is_image_name(name: str) -> bool:
    # Hidden files are never images here: macOS's "._x.png" companions are not PNGs at all.
    return not name.startswith(".") and name.lower().endswith(_extensions())


def _file_key(path: str | Path) -> tuple[int, int] | None:
    """(device, inode) of what ``path`` leads to after symlinks; None if it leads nowhere."""
    try:
        st = os.stat(path)
    except OSError:  # a broken symlink, or a loop of them
        return None
    return st.st_dev, st.st_ino


class _Picker:
    """Takes each regular file once, however many names (hard links, symlinks) reach it."""

    def __init__(self) -> None:
        self.seen: set[tuple[int, int]] = set()
        self.skipped: list[str] = []  # image names that are FIFOs, sockets or devices

    def take(self, path: str | Path) -> bool:
        try:
            st = os.stat(path)
        except OSError:
            return False
        if not stat.S_ISREG(st.st_mode):
            # A FIFO would block the reader forever; a device or socket is no image either.
            if not stat.S_ISDIR(st.st_mode):
                self.skipped.append(str(path))
            return False
        key = (st.st_dev, st.st_ino)
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


def _image_files(folder: Path, picker: _Picker) -> list[Path]:
    return [folder / name for name in _list_dir(folder) if _is_image_name(name) and picker.take(folder / name)]


def _labelled_files(folder: Path, picker: _Picker) -> tuple[list[Path], list[int] | None, tuple[str, ...]]:
    """ImageFolder layout (one subfolder per class) if there are subfolders, else a flat folder.

    Classes, order and labels are torchvision's ``find_classes``/``make_dataset``'s for an
    ordinary folder, but hidden folders are no class, and every folder is walked once (a
    symlink loop would be walked again and again) and every file taken once.
    """
    classes = [n for n in _list_dir(folder) if not n.startswith(".") and os.path.isdir(folder / n)]
    if not classes:
        return _image_files(folder, picker), None, ()
    visited = {_file_key(folder)} | {_file_key(folder / c) for c in classes}
    files: list[Path] = []
    labels: list[int] = []
    empty = []
    for label, cls in enumerate(classes):
        found = []
        for dirpath, dirnames, filenames in os.walk(folder / cls, followlinks=True):
            keep = []
            for d in sorted(dirnames):  # sorted: which of two routes to a folder counts is fixed
                key = _file_key(os.path.join(dirpath, d))
                if not d.startswith(".") and key is not None and key not in visited:
                    visited.add(key)
                    keep.append(d)
            dirnames[:] = keep
            found.append((dirpath, sorted(f for f in filenames if _is_image_name(f))))
        before = len(files)
        for dirpath, names in sorted(found):
            for name in names:
                path = os.path.join(dirpath, name)
                if picker.take(path):
                    files.append(Path(path))
                    labels.append(label)
        if len(files) == before:
            empty.append(cls)
    if empty:
        raise DataError(
            f"The class folder(s) {', '.join(empty)} under {folder} hold no images; put images in every class subfolder."
        )
    return files, labels, tuple(classes)


def _extensions() -> tuple[str, ...]:
    from torchvision.datasets.folder import IMG_EXTENSIONS

    return IMG_EXTENSIONS


# Pillow's default decompression-bomb limit (about 89 megapixels), kept here so that code which
# lifts Pillow's process-wide limit does not lift ours.
_MAX_IMAGE_PIXELS = 89_478_485


def _header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file's header, past Pillow's bomb check (which ``Image.open`` runs)."""
    from PIL import Image

    Image.init()
    try:
        with open(path, "rb") as fp:
            prefix = fp.read(16)
            for fmt in Image.ID:
                factory, accept = Image.OPEN[fmt]
                ok = not accept or accept(prefix)
                if ok and not isinstance(ok, str):
                    fp.seek(0)
                    return factory(fp, str(path)).size
    except Exception:  # only for the message: without a size, it names the limit alone
        return None
    return None


def _is_empty(path: Path) -> bool:
    try:
        return os.path.getsize(path) == 0
    except OSError:
        return False


def _too_large(path: Path, size: tuple[int, int] | None) -> DataError:
    limit = f"larger than latentlab reads ({_MAX_IMAGE_PIXELS // 10**6} megapixels at most); shrink it or remove it."
    if size is None:
        return DataError(f"The image {path} is {limit}")
    return DataError(f"The image {path} is {size[0]}x{size[1]} pixels, {limit}")


def _read_images(paths: list[Path], channels: int, size: int | None) -> torch.Tensor:
    """Decode every file once (threads: PIL releases the GIL), as (N, C, H, W) uint8."""
    from PIL import Image, UnidentifiedImageError

    mode = "L" if channels == 1 else "RGB"

    def read(path: Path) -> np.ndarray:
        try:
            with Image.open(path) as img:
                if img.size[0] * img.size[1] > _MAX_IMAGE_PIXELS:
                    raise _too_large(path, img.size)
                if img.mode.startswith("I;16"):  # 16-bit grey: convert() would clip it to white
                    img = Image.fromarray((np.asarray(img).astype(np.uint16) >> 8).astype(np.uint8))
                img = img.convert(mode)
                if size is not None and img.size != (size, size):
                    img = img.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
                return np.asarray(img, dtype=np.uint8)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_large(path, _header_size(path)) from None
        except (OSError, UnidentifiedImageError, ValueError, EOFError, SyntaxError, IndexError, struct.error) as exc:
            if isinstance(exc, UnidentifiedImageError):
                reason = "the file is empty" if _is_empty(path) else "not in an image format Pillow reads"
            else:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise DataError(f"The image {path} could not be read ({reason}); remove or replace it.") from None

    with warnings.catch_warnings():
        # The filters are process-wide, not per thread: set here, they hold in the pool's workers.
        # Pillow's notes on odd metadata (EXIF, a palette's transparency) do not change the
        # pixels read; keep them off the terminal. Its bomb warning becomes an error read() maps.
        warnings.filterwarnings("ignore", module=r"PIL\.")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) * 2)) as pool:
            arrays = list(pool.map(read, paths))
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise DataError(
            f"The images have different sizes ({len(shapes)} distinct); pass --image-size to resize them to one."
        )
    stacked = np.stack(arrays)
    if channels == 1:
        stacked = stacked[:, None]
    else:
        stacked = stacked.transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(stacked))


def _load_folder(cfg: DataConfig) -> Dataset:
    root = Path(cfg.root)
    try:
        is_dir = stat.S_ISDIR(os.stat(root).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        is_dir = False
    except OSError as exc:  # Path.is_dir would raise a permission error as a traceback
        raise _unreadable(root, exc) from None
    if not is_dir:
        raise DataError(f"The image folder {root} does not exist; pass --data-dir with a folder of images.")
    _list_dir(root)  # an unreadable folder is named as such, not taken for an empty one
    splits = {name: root / name for name in ("train", "test")}
    picker = _Picker()
    if all(os.path.isdir(p) for p in splits.values()):
        # An explicit split, as in cifar10-jpg/{train,test}/<class>/...
        (tr_files, tr_labels, classes), (te_files, te_labels, te_classes) = (
            _labelled_files(splits["train"], picker),
            _labelled_files(splits["test"], _Picker()),  # one image may sit in both splits
        )
        if classes != te_classes:
            raise DataError(f"{root}/train and {root}/test hold different class folders; make them match.")
        files, labels = tr_files + te_files, (None if tr_labels is None or te_labels is None else tr_labels + te_labels)
        train_idx = torch.arange(len(tr_files))
        test_idx = torch.arange(len(tr_files), len(files))
    else:
        files, labels, classes = _labelled_files(root, picker)
        train_idx, test_idx = _split(len(files), cfg)
    if len(files) < 2:
        special = f" ({picker.skipped[0]} is not a regular file)" if picker.skipped else ""
        raise DataError(
            f"The folder {root} holds {len(files)} image(s){special}; it needs at least 2 to train and test."
        )
    images = _read_images(files, cfg.channels, cfg.image_size)
    label_tensor = None if labels is None else torch.tensor(labels, dtype=torch.long)
    pick = (lambda t, idx: None if t is None else t[idx])
    return Dataset(
        "folder",
        images[train_idx],
        pick(label_tensor, train_idx),
        images[test_idx],
        pick(label_tensor, test_idx),
        classes,
    )
