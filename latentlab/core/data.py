"""Datasets, each loaded once into one uint8 tensor of shape (N, C, H, W) plus labels.

Training draws batches by indexing that tensor on the training device; there is no
per-sample decode/transform pipeline in the loop, which is what makes the conventional
``DataLoader(ToTensor())`` loop slow on small images.
"""

from __future__ import annotations

import contextlib
import io
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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


def load_dataset(cfg: DataConfig) -> Dataset:
    """Load the dataset ``cfg`` names, or raise ``DataError`` with one sentence of advice."""
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
    return data


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
    """Open a torchvision dataset from ``root``; download only if the files are missing."""
    if not os.path.isdir(root):
        raise DataError(f"The data folder {root} does not exist; pass --data-dir with {expected}.")
    try:
        return _quiet_torchvision(lambda: (factory(train=True, download=False), factory(train=False, download=False)))
    except RuntimeError as exc:
        if "not found" not in str(exc):  # torchvision's word for missing (or not yet unpacked) files
            raise DataError(f"The {label} files under {root} are damaged or truncated; replace them.") from None
        # Missing: let torchvision verify and unpack the archives it finds, or fetch them.
    except Exception:
        raise DataError(f"The {label} files under {root} are damaged or truncated; replace them.") from None
    try:
        return _quiet_torchvision(lambda: (factory(train=True, download=True), factory(train=False, download=True)))
    except Exception:
        raise DataError(
            f"The {label} files were not found under {root} and could not be downloaded; "
            f"put {expected} there, or connect to the network."
        ) from None


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


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _extensions())


def _labelled_files(folder: Path) -> tuple[list[Path], list[int] | None, tuple[str, ...]]:
    """ImageFolder layout (one subfolder per class) if there are subfolders, else a flat folder."""
    from torchvision.datasets.folder import find_classes, make_dataset

    if any(p.is_dir() and not p.name.startswith(".") for p in folder.iterdir()):
        try:
            classes, class_to_idx = find_classes(str(folder))
            samples = make_dataset(str(folder), class_to_idx, extensions=_extensions())
        except FileNotFoundError as exc:  # torchvision: "Found no valid file for the classes X. Supported ..."
            first = str(exc).split(". ")[0].rstrip(".")
            raise DataError(f"{first} under {folder}; put images in every class subfolder.") from None
        return [Path(p) for p, _ in samples], [c for _, c in samples], tuple(classes)
    return _image_files(folder), None, ()


def _extensions() -> tuple[str, ...]:
    from torchvision.datasets.folder import IMG_EXTENSIONS

    return IMG_EXTENSIONS


def _read_images(paths: list[Path], channels: int, size: int | None) -> torch.Tensor:
    """Decode every file once (threads: PIL releases the GIL), as (N, C, H, W) uint8."""
    from PIL import Image, UnidentifiedImageError

    mode = "L" if channels == 1 else "RGB"

    def read(path: Path) -> np.ndarray:
        try:
            with Image.open(path) as img:
                img = img.convert(mode)
                if size is not None and img.size != (size, size):
                    img = img.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
                return np.asarray(img, dtype=np.uint8)
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise DataError(f"The image {path} could not be read ({exc}); remove or replace it.") from None

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
    if not root.is_dir():
        raise DataError(f"The image folder {root} does not exist; pass --data-dir with a folder of images.")
    splits = {name: root / name for name in ("train", "test")}
    if all(p.is_dir() for p in splits.values()):
        # An explicit split, as in cifar10-jpg/{train,test}/<class>/...
        (tr_files, tr_labels, classes), (te_files, te_labels, te_classes) = (
            _labelled_files(splits["train"]),
            _labelled_files(splits["test"]),
        )
        if classes != te_classes:
            raise DataError(f"{root}/train and {root}/test hold different class folders; make them match.")
        files, labels = tr_files + te_files, (None if tr_labels is None or te_labels is None else tr_labels + te_labels)
        train_idx = torch.arange(len(tr_files))
        test_idx = torch.arange(len(tr_files), len(files))
    else:
        files, labels, classes = _labelled_files(root)
        train_idx, test_idx = _split(len(files), cfg)
    if len(files) < 2:
        raise DataError(f"The folder {root} holds {len(files)} image(s); it needs at least 2 to train and test.")
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
