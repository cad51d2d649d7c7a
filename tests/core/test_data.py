"""Every dataset path, and every way a dataset can be missing or damaged."""

from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from latentlab.core.config import DataConfig
from latentlab.core.data import Dataset, load_dataset, to_float
from latentlab.core.errors import DataError

CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


# ---------------------------------------------------------------------------- helpers


def idx_bytes(array: np.ndarray) -> bytes:
    """The idx format of LeCun's MNIST files: magic (0, 0, type 0x08 = ubyte, ndim), big-endian sizes, data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">I", 0x0800 | array.ndim) + b"".join(struct.pack(">I", s) for s in array.shape)
    return header + array.tobytes()


def read_idx_gz(path: Path) -> np.ndarray:
    """An independent reader of an idx .gz file, to check what the loader made of it."""
    raw = gzip.decompress(path.read_bytes())
    magic, = struct.unpack(">I", raw[:4])
    ndim = magic & 0xFF
    shape = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def fashion_arrays(n_train: int = 30, n_test: int = 12) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def write_fashion(root: Path, arrays: dict[str, np.ndarray], *, gz: bool = False) -> dict[str, Path]:
    """Write the four files in torchvision's ``FashionMNIST/raw/`` layout, plain or gzipped."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, array in arrays.items():
        data = idx_bytes(array)
        path = raw / (name + ".gz" if gz else name)
        path.write_bytes(gzip.compress(data) if gz else data)
        paths[name] = path
    return paths


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_cifar_batches(root: Path, per_batch: int = 6, n_test: int = 8) -> dict[str, np.ndarray]:
    """Small ``cifar-10-batches-py`` pickles in the python-version format torchvision reads."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    train_data, train_labels = [], []
    for i in range(1, 6):
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)  # rows: 1024 R, 1024 G, 1024 B
        labels = [int(v) for v in rng.integers(0, 10, per_batch)]
        batch = {"batch_label": f"training batch {i} of 5", "labels": labels, "data": data,
                 "filenames": [f"img_{i}_{j}.png" for j in range(per_batch)]}
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch, protocol=2))
        train_data.append(data)
        train_labels += labels
    test_data = rng.integers(0, 256, (n_test, 3072), dtype=np.uint8)
    test_labels = [int(v) for v in rng.integers(0, 10, n_test)]
    (folder / "test_batch").write_bytes(pickle.dumps(
        {"batch_label": "testing batch 1 of 1", "labels": test_labels, "data": test_data,
         "filenames": [f"test_{j}.png" for j in range(n_test)]}, protocol=2))
    meta = {"num_cases_per_batch": per_batch, "label_names": list(CIFAR_CLASSES), "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return {
        "train": np.concatenate(train_data).reshape(-1, 3, 32, 32),
        "train_labels": np.array(train_labels),
        "test": test_data.reshape(-1, 3, 32, 32),
        "test_labels": np.array(test_labels),
    }


def accept_cifar_checksums(monkeypatch, root: Path) -> None:
    """torchvision checks the md5 of each batch file against the real archive's; accept ours instead."""
    from torchvision.datasets import CIFAR10

    folder = root / "cifar-10-batches-py"
    monkeypatch.setattr(CIFAR10, "train_list", [[f"data_batch_{i}", md5(folder / f"data_batch_{i}")] for i in range(1, 6)])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", md5(folder / "test_batch")]])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": md5(folder / "batches.meta")})


def write_image(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def grey(seed: int, size: int = 12) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)


def rgb(seed: int, size: int = 12) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def folder_config(root: Path, **kw) -> DataConfig:
    return DataConfig(name="folder", root=str(root), **kw)


# ---------------------------------------------------------------------------- digits (default)


def test_digits_is_the_default_and_loads_without_files(digits):
    assert DataConfig().name == "digits"
    assert digits.name == "digits"
    assert digits.image_shape == (1, 8, 8)
    assert digits.train_images.dtype == torch.uint8 and digits.test_images.dtype == torch.uint8
    assert digits.n_train + digits.n_test == 1797
    assert digits.n_test == round(1797 * 0.2)
    assert digits.classes == tuple(str(c) for c in range(10))
    assert set(digits.train_labels.tolist()) == set(range(10))
    # Counts 0..16 are stretched to the full byte range.
    assert int(digits.train_images.max()) == 255 and int(digits.train_images.min()) == 0


def test_digits_split_is_fixed_by_split_seed(digits):
    again = load_dataset(DataConfig())
    assert torch.equal(again.test_images, digits.test_images)
    other = load_dataset(DataConfig(split_seed=1))
    assert not torch.equal(other.test_images, digits.test_images)
    half = load_dataset(DataConfig(test_fraction=0.5))
    assert half.n_test == round(1797 * 0.5) and half.n_train == 1797 - half.n_test


def test_to_float_maps_bytes_to_unit_interval():
    x = torch.tensor([0, 51, 255], dtype=torch.uint8)
    assert torch.allclose(to_float(x), torch.tensor([0.0, 0.2, 1.0]))
    assert x.tolist() == [0, 51, 255]  # the uint8 source is untouched


# ---------------------------------------------------------------------------- mnist (real files)


def test_mnist_reads_the_real_files(mnist_subset, mnist_gz_dir):
    d = mnist_subset
    assert d.name == "mnist"
    assert (d.n_train, d.n_test) == (2000, 500)  # the committed subset: the first items of each split
    assert d.image_shape == (1, 28, 28)
    assert d.train_labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]  # the famous first digits
    assert d.test_labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    for split, images, labels in (("train", d.train_images, d.train_labels), ("t10k", d.test_images, d.test_labels)):
        expected = read_idx_gz(mnist_gz_dir / f"{split}-images-idx3-ubyte.gz")
        assert expected.shape == (len(images), 28, 28)
        assert np.array_equal(images[:, 0].numpy(), expected)
        assert np.array_equal(labels.numpy(), read_idx_gz(mnist_gz_dir / f"{split}-labels-idx1-ubyte.gz"))
    assert np.bincount(d.train_labels.numpy(), minlength=10).min() > 150  # every digit, in real proportions
    assert len(d.classes) == 10 and d.classes[0].startswith("0")


def test_mnist_missing_files_is_a_data_error(tmp_path, one_sentence):
    (tmp_path / "MNIST" / "raw").mkdir(parents=True)
    with pytest.raises(DataError) as info:
        load_dataset(DataConfig(name="mnist", root=str(tmp_path)))
    message = str(info.value)
    one_sentence(message)
    assert "MNIST" in message and str(tmp_path) in message


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10", "folder"])
def test_missing_data_dir_is_a_data_error(tmp_path, name, one_sentence):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError) as info:
        load_dataset(DataConfig(name=name, root=str(missing)))
    one_sentence(str(info.value))
    assert str(missing) in str(info.value) and "does not exist" in str(info.value)
    assert not missing.exists()  # nothing was created while failing


# ---------------------------------------------------------------------------- fashion-mnist (idx files written here)


def test_fashion_mnist_reads_uncompressed_idx_files(tmp_path):
    arrays = fashion_arrays()
    write_fashion(tmp_path, arrays)
    d = load_dataset(DataConfig(name="fashion-mnist", root=str(tmp_path)))
    assert d.name == "fashion-mnist"
    assert d.image_shape == (1, 28, 28)
    assert np.array_equal(d.train_images[:, 0].numpy(), arrays["train-images-idx3-ubyte"])
    assert np.array_equal(d.test_images[:, 0].numpy(), arrays["t10k-images-idx3-ubyte"])
    assert d.train_labels.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    assert d.test_labels.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    assert d.classes == FASHION_CLASSES


def test_fashion_mnist_reads_gzipped_idx_files(tmp_path, monkeypatch):
    from torchvision.datasets import FashionMNIST

    arrays = fashion_arrays()
    paths = write_fashion(tmp_path, arrays, gz=True)
    # torchvision verifies .gz files by md5 before unpacking them; accept the ones written here.
    monkeypatch.setattr(FashionMNIST, "resources", [(p.name, md5(p)) for p in paths.values()])
    d = load_dataset(DataConfig(name="fashion-mnist", root=str(tmp_path)))
    assert np.array_equal(d.train_images[:, 0].numpy(), arrays["train-images-idx3-ubyte"])
    assert d.test_labels.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()


def test_fashion_mnist_with_missing_files_is_a_data_error(tmp_path, one_sentence):
    arrays = fashion_arrays()
    paths = write_fashion(tmp_path, arrays)
    paths["t10k-labels-idx1-ubyte"].unlink()
    with pytest.raises(DataError) as info:
        load_dataset(DataConfig(name="fashion-mnist", root=str(tmp_path)))
    one_sentence(str(info.value))
    assert "Fashion-MNIST" in str(info.value)


def _truncate_body(paths):
    data = paths["train-images-idx3-ubyte"].read_bytes()
    paths["train-images-idx3-ubyte"].write_bytes(data[: len(data) // 2])


def _truncate_header(paths):
    paths["t10k-labels-idx1-ubyte"].write_bytes(b"\x00\x00")


def _garbage(paths):
    paths["train-labels-idx1-ubyte"].write_bytes(b"this is not an idx file at all")


@pytest.mark.parametrize("damage", [_truncate_body, _truncate_header, _garbage], ids=["body", "header", "garbage"])
def test_damaged_idx_file_is_a_data_error(tmp_path, damage):
    paths = write_fashion(tmp_path, fashion_arrays())
    damage(paths)
    with pytest.raises(DataError) as info:
        load_dataset(DataConfig(name="fashion-mnist", root=str(tmp_path)))
    message = str(info.value)
    assert "\n" not in message and message.endswith(".")
    assert "Fashion-MNIST" in message and str(tmp_path) in message


@pytest.mark.parametrize("damage", [_truncate_body, _truncate_header], ids=["body", "header"])
def test_damaged_idx_file_error_says_damaged_not_missing(tmp_path, damage, one_sentence):
    paths = write_fashion(tmp_path, fashion_arrays())
    damage(paths)
    with pytest.raises(DataError) as info:
        load_dataset(DataConfig(name="fashion-mnist", root=str(tmp_path)))
    message = str(info.value)
    assert "not found" not in message and "download" not in message
    one_sentence(message)


def test_idx_files_that_disagree_on_item_count_are_a_data_error(tmp_path, one_sentence):
    arrays = fashion_arrays()
    arrays["train-labels-idx1-ubyte"] = arrays["train-labels-idx1-ubyte"][:-3]
    write_fashion(tmp_path, arrays)
    with pytest.raises(DataError) as info:
        load_dataset(DataConfig(name="fashion-mnist", root=str(tmp_path)))
    one_sentence(str(info.value))
    assert "disagree" in str(info.value)


# ---------------------------------------------------------------------------- cifar10 (python batches written here)


def test_cifar10_reads_python_batches(tmp_path, monkeypatch):
    written = write_cifar_batches(tmp_path)
    accept_cifar_checksums(monkeypatch, tmp_path)
    d = load_dataset(DataConfig(name="cifar10", root=str(tmp_path)))
    assert d.name == "cifar10"
    assert d.image_shape == (3, 32, 32)
    assert (d.n_train, d.n_test) == (30, 8)
    assert np.array_equal(d.train_images.numpy(), written["train"])  # channel planes end up as C of (N, C, H, W)
    assert np.array_equal(d.test_images.numpy(), written["test"])
    assert d.train_labels.tolist() == written["train_labels"].tolist()
    assert d.test_labels.tolist() == written["test_labels"].tolist()
    assert d.classes == CIFAR_CLASSES
    assert d.train_images.is_contiguous()


def test_cifar10_batches_that_fail_their_checksum_are_a_data_error(tmp_path, one_sentence):
    write_cifar_batches(tmp_path)  # real torchvision checksums: these small files do not match
    with pytest.raises(DataError) as info:
        load_dataset(DataConfig(name="cifar10", root=str(tmp_path)))
    one_sentence(str(info.value))
    assert "CIFAR-10" in str(info.value) and "cifar-10-batches-py" in str(info.value)


def test_cifar10_missing_batch_is_a_data_error(tmp_path, monkeypatch, one_sentence):
    write_cifar_batches(tmp_path)
    accept_cifar_checksums(monkeypatch, tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DataError) as info:
        load_dataset(DataConfig(name="cifar10", root=str(tmp_path)))
    one_sentence(str(info.value))


# ---------------------------------------------------------------------------- folder: ImageFolder, flat, explicit split


def test_folder_in_imagefolder_layout_is_labelled_by_subfolder(tmp_path):
    for c, cls in enumerate(("cat", "dog", "emu")):
        for i in range(5):
            write_image(tmp_path / cls / f"{i}.png", grey(10 * c + i))
    d = load_dataset(folder_config(tmp_path, test_fraction=0.2))
    assert d.classes == ("cat", "dog", "emu")
    assert d.image_shape == (1, 12, 12)
    assert (d.n_train, d.n_test) == (12, 3)
    labels = torch.cat([d.train_labels, d.test_labels]).tolist()
    assert sorted(labels) == [0] * 5 + [1] * 5 + [2] * 5
    # Every image is in the set exactly once, with its own label.
    expected = {grey(10 * c + i).tobytes(): c for c in range(3) for i in range(5)}
    for images, labs in ((d.train_images, d.train_labels), (d.test_images, d.test_labels)):
        for img, lab in zip(images, labs):
            assert expected.pop(img[0].numpy().tobytes()) == int(lab)
    assert not expected


def test_flat_folder_has_no_labels(tmp_path):
    for i in range(10):
        write_image(tmp_path / f"img{i:02d}.png", grey(i))
    (tmp_path / "notes.txt").write_text("not an image, ignored")
    d = load_dataset(folder_config(tmp_path))
    assert d.train_labels is None and d.test_labels is None
    assert d.classes == ()
    assert d.n_train + d.n_test == 10 and d.n_test == 2


def test_flat_explicit_split_has_no_labels(tmp_path):
    for i in range(6):
        write_image(tmp_path / "train" / f"{i}.png", grey(i))
    for i in range(3):
        write_image(tmp_path / "test" / f"{i}.png", grey(100 + i))
    d = load_dataset(folder_config(tmp_path))
    assert (d.n_train, d.n_test) == (6, 3)
    assert d.train_labels is None and d.test_labels is None
    assert np.array_equal(d.test_images[0, 0].numpy(), grey(100))  # the test split is the test folder, in order


def test_real_cifar10_jpegs_in_explicit_split_layout_rgb(cifar_jpg_subset):
    d = load_dataset(folder_config(cifar_jpg_subset, channels=3))
    assert d.name == "folder"
    assert d.classes == CIFAR_CLASSES
    assert d.image_shape == (3, 32, 32)
    assert (d.n_train, d.n_test) == (200, 200)
    assert np.bincount(d.train_labels.numpy()).tolist() == [20] * 10
    assert np.bincount(d.test_labels.numpy()).tolist() == [20] * 10
    first_test = sorted((cifar_jpg_subset / "test" / "airplane").iterdir())[0]
    with Image.open(first_test) as img:
        expected = np.asarray(img.convert("RGB")).transpose(2, 0, 1)
    assert np.array_equal(d.test_images[0].numpy(), expected)
    last_train = sorted((cifar_jpg_subset / "train" / "truck").iterdir())[-1]
    with Image.open(last_train) as img:
        assert np.array_equal(d.train_images[-1].numpy(), np.asarray(img.convert("RGB")).transpose(2, 0, 1))
    assert d.train_labels[-1] == CIFAR_CLASSES.index("truck")


def test_real_cifar10_jpegs_read_as_grey(cifar_jpg_subset):
    d = load_dataset(folder_config(cifar_jpg_subset, channels=1))
    assert d.image_shape == (1, 32, 32)
    first = sorted((cifar_jpg_subset / "train" / "airplane").iterdir())[0]
    with Image.open(first) as img:
        assert np.array_equal(d.train_images[0, 0].numpy(), np.asarray(img.convert("L")))


def test_image_size_resizes_every_image(cifar_jpg_subset):
    d = load_dataset(folder_config(cifar_jpg_subset, channels=3, image_size=16))
    assert d.image_shape == (3, 16, 16)
    assert d.train_images.shape == (200, 3, 16, 16)
    first = sorted((cifar_jpg_subset / "train" / "airplane").iterdir())[0]
    with Image.open(first) as img:
        small = np.asarray(img.convert("RGB").resize((16, 16), Image.Resampling.BILINEAR)).transpose(2, 0, 1)
    assert np.abs(d.train_images[0].numpy().astype(int) - small.astype(int)).mean() < 4


def test_mixed_sizes_without_image_size_are_a_data_error(tmp_path, one_sentence):
    write_image(tmp_path / "a.png", grey(1, size=12))
    write_image(tmp_path / "b.png", grey(2, size=16))
    write_image(tmp_path / "c.png", rgb(3, size=20))
    with pytest.raises(DataError) as info:
        load_dataset(folder_config(tmp_path))
    one_sentence(str(info.value))
    assert "--image-size" in str(info.value)
    d = load_dataset(folder_config(tmp_path, image_size=8, channels=3))
    assert d.image_shape == (3, 8, 8) and d.n_train + d.n_test == 3


def test_unreadable_image_is_a_data_error_naming_the_file(tmp_path, one_sentence):
    for i in range(4):
        write_image(tmp_path / f"{i}.png", grey(i))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but then nothing sensible")
    with pytest.raises(DataError) as info:
        load_dataset(folder_config(tmp_path))
    one_sentence(str(info.value))
    assert "broken.png" in str(info.value)


def test_truncated_real_jpeg_is_a_data_error(tmp_path, cifar_jpg_subset, one_sentence):
    sources = sorted((cifar_jpg_subset / "train" / "cat").iterdir())[:3]
    for src in sources:
        (tmp_path / src.name).write_bytes(src.read_bytes())
    cut = tmp_path / sources[1].name
    cut.write_bytes(cut.read_bytes()[:200])
    with pytest.raises(DataError) as info:
        load_dataset(folder_config(tmp_path, channels=3))
    one_sentence(str(info.value))
    assert sources[1].name in str(info.value)


def test_empty_folder_is_a_data_error(tmp_path, one_sentence):
    with pytest.raises(DataError) as info:
        load_dataset(folder_config(tmp_path))
    one_sentence(str(info.value))
    assert "0 image" in str(info.value)


def test_folder_with_a_single_image_is_a_data_error(tmp_path, one_sentence):
    write_image(tmp_path / "only.png", grey(0))
    with pytest.raises(DataError) as info:
        load_dataset(folder_config(tmp_path))
    one_sentence(str(info.value))


def test_empty_class_subfolder_is_a_data_error(tmp_path):
    write_image(tmp_path / "cat" / "0.png", grey(0))
    write_image(tmp_path / "cat" / "1.png", grey(1))
    (tmp_path / "dog").mkdir()
    with pytest.raises(DataError) as info:
        load_dataset(folder_config(tmp_path))
    message = str(info.value)
    assert "dog" in message and str(tmp_path) in message and "\n" not in message


def test_empty_class_subfolder_error_is_one_sentence(tmp_path, one_sentence):
    write_image(tmp_path / "cat" / "0.png", grey(0))
    write_image(tmp_path / "cat" / "1.png", grey(1))
    (tmp_path / "dog").mkdir()
    with pytest.raises(DataError) as info:
        load_dataset(folder_config(tmp_path))
    one_sentence(str(info.value))


def test_train_and_test_with_different_classes_is_a_data_error(tmp_path, one_sentence):
    write_image(tmp_path / "train" / "cat" / "0.png", grey(0))
    write_image(tmp_path / "train" / "dog" / "0.png", grey(1))
    write_image(tmp_path / "test" / "cat" / "0.png", grey(2))
    write_image(tmp_path / "test" / "emu" / "0.png", grey(3))
    with pytest.raises(DataError) as info:
        load_dataset(folder_config(tmp_path))
    one_sentence(str(info.value))
    assert "different class folders" in str(info.value)


def test_dataset_moves_to_a_device_whole():
    images = torch.zeros(4, 1, 2, 2, dtype=torch.uint8)
    d = Dataset("x", images, None, images[:1], torch.tensor([3]), ())
    moved = d.to("cpu")
    assert moved.train_labels is None and moved.test_labels.tolist() == [3]
    assert moved.image_shape == (1, 2, 2) and (moved.n_train, moved.n_test) == (4, 1)
