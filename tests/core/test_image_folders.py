"""Image folders a careless or hostile user might hand over: huge images, FIFOs, symlink loops,
hidden folders, odd files and odd pixel formats. Each loads, or is one DataError sentence; none
hangs, prints to the terminal or ends in a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from latentlab.core.config import DataConfig
from latentlab.core.data import load_dataset
from latentlab.core.errors import DataError

from os_faults import drop_root_file_powers


def folder_config(root: Path, **kw) -> DataConfig:
    return DataConfig(name="folder", root=str(root), **kw)


def write_grey(path: Path, value: int, size: int = 8) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size), value, dtype=np.uint8)).save(path)


def write_classes(root: Path, per_class: int = 6) -> None:
    for c, cls in enumerate(("a", "b")):
        for i in range(per_class):
            write_grey(root / cls / f"{i}.png", 20 * c + i)


def write_layout(root: Path, layout: str) -> None:
    """12 images: in classes a/ and b/, or flat."""
    if layout == "classes":
        write_classes(root)
    else:
        for i in range(12):
            write_grey(root / f"{i}.png", i)


def load_in_subprocess(root: Path, timeout: float = 60) -> str:
    """Load ``root`` in a child process that is killed if it hangs; returns its one line of output."""
    code = textwrap.dedent(f"""
        from latentlab.core.config import DataConfig
        from latentlab.core.data import load_dataset
        d = load_dataset(DataConfig(name="folder", root={str(root)!r}))
        print(d.n_train + d.n_test, ",".join(d.classes))
    """)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return proc.stdout.strip()


@pytest.fixture(scope="module")
def huge_pngs(tmp_path_factory) -> dict[str, Path]:
    """Real PNGs over Pillow's limits: 12000x12000 (over 89 megapixels: Pillow warns) and 14000x14000
    (over twice that: Pillow refuses). 1-bit zeros: a few KB each, and Pillow reads just the header."""
    folder = tmp_path_factory.mktemp("huge")
    paths = {}
    for side in (12000, 14000):
        paths[f"{side}"] = folder / f"huge{side}.png"
        Image.new("1", (side, side)).save(paths[f"{side}"])
    return paths


# ---------------------------------------------------------------------------- images too large to read


@pytest.mark.parametrize("side", ["12000", "14000"])
def test_an_image_over_the_pixel_limit_is_one_data_error_naming_its_size(tmp_path, huge_pngs, side, capfd,
                                                                        one_sentence):
    for i in range(3):
        write_grey(tmp_path / f"{i}.png", i)
    (tmp_path / "big.png").symlink_to(huge_pngs[side])
    with pytest.raises(DataError) as info:
        load_dataset(folder_config(tmp_path))
    message = str(info.value)
    one_sentence(message)
    assert "big.png" in message and f"{side}x{side} pixels" in message and "89 megapixels" in message
    assert capfd.readouterr().err == ""


def test_a_huge_image_is_refused_by_the_cli_with_one_line_and_nothing_else(tmp_path, huge_pngs, cli, one_sentence):
    """In the CLI warnings are not errors: Pillow's DecompressionBombWarning must not leak onto stderr."""
    images = tmp_path / "images"
    for i in range(3):
        write_grey(images / f"{i}.png", i)
    (images / "big.png").symlink_to(huge_pngs["12000"])
    message = cli.user_error("train", "--out", tmp_path / "run", "--dataset", "folder", "--data-dir", images, "--quiet")
    one_sentence(message)
    assert "12000x12000 pixels" in message
    assert not (tmp_path / "run").exists()


def test_a_huge_image_is_refused_even_when_pillows_own_limit_is_lifted(tmp_path, huge_pngs, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    for i in range(3):
        write_grey(tmp_path / f"{i}.png", i)
    (tmp_path / "big.png").symlink_to(huge_pngs["14000"])
    with pytest.raises(DataError, match="14000x14000 pixels"):
        load_dataset(folder_config(tmp_path))


# ---------------------------------------------------------------------------- files that are not regular files


def test_a_fifo_with_an_image_name_in_a_class_folder_is_skipped_not_waited_on(tmp_path):
    write_classes(tmp_path)
    os.mkfifo(tmp_path / "a" / "x.png")
    assert load_in_subprocess(tmp_path) == "12 a,b"  # a child process: a hang is killed, not inherited


def test_a_fifo_with_an_image_name_in_a_flat_folder_is_skipped(tmp_path):
    write_layout(tmp_path, "flat")
    os.mkfifo(tmp_path / "x.png")
    assert load_dataset(folder_config(tmp_path)).n_train == 10


def test_a_socket_with_an_image_name_is_skipped(tmp_path):
    write_classes(tmp_path)
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "b" / "s.png"))
        d = load_dataset(folder_config(tmp_path))
    finally:
        sock.close()
    assert d.n_train + d.n_test == 12


def test_a_folder_of_fifos_is_a_data_error_naming_one(tmp_path, one_sentence):
    write_grey(tmp_path / "real.png", 1)
    os.mkfifo(tmp_path / "x.png")
    with pytest.raises(DataError) as info:
        load_dataset(folder_config(tmp_path))
    one_sentence(str(info.value))
    assert "x.png is not a regular file" in str(info.value)


# ---------------------------------------------------------------------------- links: loops, duplicates, dangling


def test_a_symlink_loop_is_walked_once(tmp_path):
    write_classes(tmp_path)
    (tmp_path / "a" / "again").symlink_to(tmp_path / "a")  # a/again/again/... forever
    (tmp_path / "b" / "up").symlink_to(tmp_path)  # b/up/a, b/up/b/up/...
    d = load_dataset(folder_config(tmp_path))
    assert d.n_train + d.n_test == 12
    assert d.classes == ("a", "b")
    assert sorted(torch.cat([d.train_labels, d.test_labels]).tolist()) == [0] * 6 + [1] * 6


def test_a_file_reached_by_several_names_is_taken_once(tmp_path):
    write_classes(tmp_path)
    os.link(tmp_path / "a" / "0.png", tmp_path / "a" / "hard.png")
    (tmp_path / "a" / "soft.png").symlink_to(tmp_path / "a" / "1.png")
    (tmp_path / "a" / "sub").mkdir()
    (tmp_path / "a" / "sub" / "linked").symlink_to(tmp_path / "a" / "sub", target_is_directory=True)
    d = load_dataset(folder_config(tmp_path))
    assert d.n_train + d.n_test == 12


@pytest.mark.parametrize("layout", ["flat", "classes"])
def test_a_broken_symlink_with_an_image_name_is_skipped(tmp_path, layout):
    write_layout(tmp_path, layout)
    (tmp_path / ("b" if layout == "classes" else ".") / "gone.png").symlink_to(tmp_path / "nowhere.png")
    d = load_dataset(folder_config(tmp_path))
    assert d.n_train + d.n_test == 12


def test_a_folder_named_like_an_image_is_walked_not_read(tmp_path):
    write_classes(tmp_path)
    write_grey(tmp_path / "a" / "x.png" / "inner.png", 99)
    d = load_dataset(folder_config(tmp_path))
    assert d.n_train + d.n_test == 13


# ---------------------------------------------------------------------------- hidden files and folders


def test_hidden_folders_are_not_classes(tmp_path):
    write_classes(tmp_path)
    write_grey(tmp_path / ".ipynb_checkpoints" / "0.png", 5)
    (tmp_path / ".git").mkdir()
    d = load_dataset(folder_config(tmp_path))
    assert d.classes == ("a", "b")
    assert d.n_train + d.n_test == 12


def test_a_folder_with_only_hidden_subfolders_is_flat(tmp_path):
    for i in range(5):
        write_grey(tmp_path / f"{i}.png", i)
    write_grey(tmp_path / ".thumbnails" / "0.png", 9)
    d = load_dataset(folder_config(tmp_path))
    assert d.classes == () and d.train_labels is None and d.n_train + d.n_test == 5


def test_hidden_files_such_as_macos_companions_are_skipped(tmp_path):
    write_classes(tmp_path)
    (tmp_path / "a" / "._0.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble, not a PNG")
    (tmp_path / "a" / "sub" / ".hidden").mkdir(parents=True)
    write_grey(tmp_path / "a" / "sub" / ".hidden" / "7.png", 7)
    d = load_dataset(folder_config(tmp_path))
    assert d.n_train + d.n_test == 12


# ---------------------------------------------------------------------------- odd files and pixel formats


def test_an_empty_png_is_a_data_error_that_says_so(tmp_path, one_sentence):
    for i in range(3):
        write_grey(tmp_path / f"{i}.png", i)
    (tmp_path / "empty.png").touch()
    with pytest.raises(DataError) as info:
        load_dataset(folder_config(tmp_path))
    one_sentence(str(info.value))
    assert "empty.png" in str(info.value) and "the file is empty" in str(info.value)


def folder_error_as_a_user_sees_it(folder: Path) -> str:
    """Load ``folder`` in a process whose file permissions bind (root gives up overriding them)."""
    code = textwrap.dedent("""
        import sys
        from latentlab.core.config import DataConfig
        from latentlab.core.data import load_dataset
        from latentlab.core.errors import DataError
        try:
            load_dataset(DataConfig(name="folder", root=sys.argv[1]))
        except DataError as exc:
            print(exc)
        else:
            print("loaded")
    """)
    proc = subprocess.run(drop_root_file_powers([sys.executable, "-c", code, str(folder)]),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    return proc.stdout.strip()


def test_an_unreadable_image_is_a_data_error_naming_it(tmp_path, one_sentence):
    for i in range(3):
        write_grey(tmp_path / f"{i}.png", i)
    (tmp_path / "2.png").chmod(0)
    message = folder_error_as_a_user_sees_it(tmp_path)
    one_sentence(message)
    assert "2.png" in message and "Permission denied" in message


@pytest.mark.parametrize(("locked", "mode"), [("images", 0o300), ("images", 0o600), ("images", 0), (".", 0o600)],
                         ids=["no-listing", "no-entering", "nothing", "parent-not-entered"])
def test_an_unreadable_folder_is_a_data_error(tmp_path, locked, mode, one_sentence):
    write_classes(tmp_path / "images")
    (tmp_path / locked).chmod(mode)
    try:
        message = folder_error_as_a_user_sees_it(tmp_path / "images")
    finally:
        (tmp_path / locked).chmod(0o700)
    one_sentence(message)
    assert "cannot be read (Permission denied)" in message


def write_mixed_modes(folder: Path) -> None:
    """One 8x8 image in each common PNG mode, all the same mid grey where opaque."""
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 8), 128).save(folder / "l.png")
    Image.new("LA", (8, 8), (128, 255)).save(folder / "la.png")
    Image.new("RGB", (8, 8), (128, 128, 128)).save(folder / "rgb.png")
    Image.new("RGBA", (8, 8), (128, 128, 128, 255)).save(folder / "rgba.png")
    Image.new("1", (8, 8), 1).save(folder / "one.png")
    Image.fromarray(np.full((8, 8), 128 << 8, dtype=np.uint16)).save(folder / "sixteen.png")  # mode I;16
    palette = Image.new("P", (8, 8), 1)
    palette.putpalette([0, 0, 0, 128, 128, 128] + [0] * 762)
    palette.save(folder / "palette.png", transparency=bytes([0, 200] + [255] * 254))  # partial: tRNS stays bytes


@pytest.mark.parametrize("channels", [1, 3])
def test_a_mix_of_png_modes_loads_without_a_warning(tmp_path, channels, capfd):
    write_mixed_modes(tmp_path)
    d = load_dataset(folder_config(tmp_path, channels=channels))
    images = torch.cat([d.train_images, d.test_images])
    assert images.shape == (7, channels, 8, 8)
    levels = sorted(int(image.unique().item()) for image in images)  # each image is one flat level
    assert levels == [128] * 6 + [255]  # the 1-bit image is white; every other one is mid grey
    assert capfd.readouterr().err == ""


def test_a_16_bit_grey_png_keeps_its_grey_levels(tmp_path):
    ramp = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1024)  # 0 .. 64512
    for i in range(2):
        Image.fromarray(ramp).save(tmp_path / f"{i}.png")
    d = load_dataset(folder_config(tmp_path))
    assert np.array_equal(d.train_images[0, 0].numpy(), (ramp >> 8).astype(np.uint8))


# ---------------------------------------------------------------------------- ordinary folders: as torchvision


def test_an_ordinary_nested_folder_has_torchvisions_classes_order_and_labels(tmp_path):
    from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

    from latentlab.core.data import _labelled_files, _Picker

    for cls in ("b", "a", "c-d", "c"):
        for sub in ("", "x", "x/y", "x-y", "X"):
            for name in ("2.png", "10.jpg", "1.PNG", "notes.txt"):
                path = tmp_path / cls / sub / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"")
    classes, class_to_idx = find_classes(str(tmp_path))
    expected = make_dataset(str(tmp_path), class_to_idx, extensions=IMG_EXTENSIONS)
    files, labels, got_classes = _labelled_files(tmp_path, _Picker())
    assert got_classes == tuple(classes)
    assert [(str(f), c) for f, c in zip(files, labels)] == expected
