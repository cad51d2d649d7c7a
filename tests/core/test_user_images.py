"""The user's own images: files read as the dataset loader reads its files, drawings framed as
MNIST and digits frame theirs, and scores placed among the test split's."""

from __future__ import annotations

import io
import math
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from latentlab.core.config import DataConfig
from latentlab.core.data import load_dataset
from latentlab.core.errors import DataError
from latentlab.core.user_images import ImageSpec, frame_drawing, percentile_of, quantise, read_image

MNIST = ImageSpec.for_run((1, 28, 28), "mnist")
DIGITS = ImageSpec.for_run((1, 8, 8), "digits")
GREY28 = ImageSpec(1, 28, 28)
RGB32 = ImageSpec(3, 32, 32)
DIGIT_LEVELS = {int(np.rint(k * 255 / 16)) for k in range(17)}  # as core.data stretches digits' 0..16


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    image = image.astype(np.float64)
    cy, cx = (np.indices(image.shape) * image).reshape(2, -1).sum(axis=1) / image.sum()
    return float(cy), float(cx)


def ink_box(image: np.ndarray) -> tuple[int, int]:
    """Height and width of the box around every inked pixel."""
    rows, cols = np.flatnonzero(image.max(axis=1) > 0), np.flatnonzero(image.max(axis=0) > 0)
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def noise(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


# -- files -------------------------------------------------------------------------------------
def test_the_spec_follows_the_dataset():
    assert MNIST == ImageSpec(1, 28, 28, 256, frame=20 / 28)
    assert ImageSpec.for_run((1, 28, 28), "fashion-mnist") == MNIST
    assert DIGITS == ImageSpec(1, 8, 8, 17, frame=1.0)
    assert ImageSpec.for_run((3, 32, 32), "cifar10") == ImageSpec(3, 32, 32)
    assert ImageSpec.for_run((3, 32, 32), "folder").frame is None
    assert MNIST.grey and not RGB32.grey


def test_an_rgb_jpeg_read_for_a_grey_28_pixel_run_is_one_grey_channel(tmp_path):
    path = tmp_path / "photo.jpg"
    Image.fromarray(noise((64, 48, 3))).save(path, quality=90)
    item = read_image(path, GREY28)
    assert item.shape == (1, 28, 28) and item.dtype == np.uint8
    # Pillow's own grey of the photo, resized: the same numbers the loader would give.
    with Image.open(path) as img:
        expected = np.asarray(img.convert("L").resize((28, 28), Image.Resampling.BILINEAR, reducing_gap=3.0))
    np.testing.assert_array_equal(item[0], expected)


def test_a_grey_png_read_for_an_rgb_run_is_three_equal_channels(tmp_path):
    path = tmp_path / "grey.png"
    Image.fromarray(noise((20, 20))).save(path)
    item = read_image(path, RGB32)
    assert item.shape == (3, 32, 32) and item.dtype == np.uint8
    np.testing.assert_array_equal(item[0], item[1])
    np.testing.assert_array_equal(item[1], item[2])


def test_an_image_is_resized_to_the_runs_size(tmp_path):
    # Left half black, right half white: after resizing, still so, at the run's size.
    pixels = np.zeros((300, 200), dtype=np.uint8)
    pixels[:, 100:] = 255
    Image.fromarray(pixels).save(tmp_path / "half.png")
    item = read_image(tmp_path / "half.png", GREY28)[0]
    assert item.shape == (28, 28)
    assert (item[:, :12] == 0).all() and (item[:, -12:] == 255).all()
    # A file already at the run's size is not resampled at all.
    Image.fromarray(noise((28, 28))).save(tmp_path / "exact.png")
    np.testing.assert_array_equal(read_image(tmp_path / "exact.png", GREY28)[0], noise((28, 28)))


@pytest.mark.parametrize("channels, size", [(3, None), (1, 28)])
def test_a_cifar_jpeg_reads_as_the_image_folder_loader_read_it(cifar_jpg_subset, channels, size):
    dataset = load_dataset(DataConfig(name="folder", root=str(cifar_jpg_subset), channels=channels, image_size=size))
    side = size or 32
    spec = ImageSpec.for_run((channels, side, side), "folder")
    # The explicit test split lists its files class by class, in name order.
    files = sorted((cifar_jpg_subset / "test").rglob("*.jpg"))
    for index in (0, 57, len(files) - 1):
        item = read_image(files[index], spec)
        assert item.shape == (channels, side, side)
        np.testing.assert_array_equal(item, dataset.test_images[index].numpy(), err_msg=str(files[index]))


def test_an_mnist_item_saved_as_png_reads_back_as_itself(tmp_path, mnist_subset):
    item = mnist_subset.test_images[3].numpy()
    Image.fromarray(item[0]).save(tmp_path / "three.png")
    np.testing.assert_array_equal(read_image(tmp_path / "three.png", MNIST), item)


def test_a_digits_image_is_rounded_to_the_17_grey_levels(tmp_path):
    Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16)).save(tmp_path / "ramp.png")
    item = read_image(tmp_path / "ramp.png", DIGITS)
    assert item.shape == (1, 8, 8) and item.dtype == np.uint8
    assert set(np.unique(item).tolist()) <= DIGIT_LEVELS
    # Every value is the level nearest to it: 0..255 maps onto all 17 levels, in order.
    ramp = quantise(np.arange(256, dtype=np.uint8), DIGITS)
    assert set(ramp.tolist()) == DIGIT_LEVELS
    assert (np.diff(ramp.astype(int)) >= 0).all()
    assert np.abs(ramp.astype(int) - np.arange(256)).max() <= 8  # half a step of 255/16


def test_digits_items_are_already_on_the_levels(digits):
    images = digits.test_images.numpy()
    np.testing.assert_array_equal(quantise(images, DIGITS), images)
    np.testing.assert_array_equal(quantise(images, MNIST), images)  # 256 levels: nothing to round


def test_a_16_bit_grey_png_keeps_its_grey_levels(tmp_path):
    ramp = np.arange(64, dtype=np.uint16).reshape(8, 8) * 1024  # 0 .. 64512
    img = Image.fromarray(ramp)
    assert img.mode == "I;16"
    img.save(tmp_path / "sixteen.png")
    item = read_image(tmp_path / "sixteen.png", ImageSpec(1, 8, 8))
    np.testing.assert_array_equal(item[0], (ramp >> 8).astype(np.uint8))  # not clipped to white
    assert item.min() == 0 and item.max() == 252


def test_a_palette_png_with_transparency_reads_without_a_warning(tmp_path):
    palette = Image.new("P", (8, 8), 1)
    palette.putpalette([0, 0, 0, 128, 128, 128] + [0] * 762)
    palette.save(tmp_path / "palette.png", transparency=bytes([0, 200] + [255] * 254))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for spec in (ImageSpec(1, 8, 8), ImageSpec(3, 8, 8)):
            # Grey 128 at alpha 200, over the black that contrasts with light ink.
            assert (np.abs(read_image(tmp_path / "palette.png", spec).astype(int) - round(128 * 200 / 255)) <= 1).all()
    assert not caught, [str(w.message) for w in caught]


@pytest.mark.parametrize("ink, sheet", [(0, 255), (255, 0)])
def test_a_stroke_on_a_transparent_sheet_keeps_its_ink(tmp_path, ink, sheet):
    """Dropping alpha leaves the colour under the transparent pixels, often the ink's own: all ink."""
    pixels = np.zeros((28, 28, 4), np.uint8)
    pixels[..., :3] = ink  # the colour under transparency is the ink's, as drawing programs leave it
    pixels[4:24, 12:16, 3] = 255
    Image.fromarray(pixels, "RGBA").save(tmp_path / "stroke.png")
    for spec in (ImageSpec(1, 28, 28), ImageSpec(3, 28, 28)):
        item = read_image(tmp_path / "stroke.png", spec)
        assert (item[:, 10, 13] == ink).all() and (item[:, 0, 0] == sheet).all()


def png_claiming_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header says it is ``width`` x ``height`` pixels (its data is far shorter)."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = bytes(data[12:16]) + struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(ihdr))
    return bytes(data)


@pytest.mark.parametrize("side", [9000, 10000, 20000])
def test_a_huge_image_is_one_sentence_and_no_warning(tmp_path, one_sentence, side):
    # 9000: above latentlab's limit; 10000: above Pillow's warning; 20000: above its error.
    path = tmp_path / "huge.png"
    path.write_bytes(png_claiming_size(side, side))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(DataError) as info:
            read_image(path, GREY28)
    assert not caught, [str(w.message) for w in caught]
    message = str(info.value)
    one_sentence(message)
    assert "huge.png" in message and "too large" in message


def truncated_png(path: Path) -> None:
    buf = io.BytesIO()
    Image.fromarray(noise((64, 64, 3))).save(buf, "PNG")
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])


@pytest.mark.parametrize("case", ["not-an-image", "empty", "truncated", "missing", "folder"])
def test_an_unreadable_file_is_one_sentence_naming_it(tmp_path, one_sentence, case):
    path = tmp_path / f"{case}.png"
    if case == "not-an-image":
        path = tmp_path / "notes.txt"
        path.write_text("these are my notes, not a picture\n")
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "truncated":
        truncated_png(path)
    elif case == "folder":
        path.mkdir()
    with pytest.raises(DataError) as info:
        read_image(path, GREY28)
    message = str(info.value)
    one_sentence(message)
    assert path.name in message
    assert "Traceback" not in message and "Error" not in message and "File \"" not in message
    assert info.value.__suppress_context__  # raised "from None": no chained traceback either


# -- drawings ----------------------------------------------------------------------------------
def test_a_small_off_centre_blob_is_framed_as_mnist_frames_its_digits():
    ink = np.zeros((280, 280))
    ink[20:50, 200:240] = 1.0  # a small blob in the top right corner
    ink[50:90, 225:235] = 0.7  # and a fainter tail below it: the mass is not the box's centre
    item = frame_drawing(ink, MNIST)
    assert item.shape == (1, 28, 28) and item.dtype == np.uint8
    cy, cx = centre_of_mass(item[0])
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1, (cy, cx)
    h, w = ink_box(item[0])
    assert max(h, w) <= 20 and max(h, w) >= 19, (h, w)  # the longer side fills the 20 px frame
    assert item.max() >= 250  # full ink stays full


@pytest.mark.parametrize("shape", [(30, 60), (60, 30), (45, 45)])
def test_a_drawing_for_digits_fills_the_8_pixel_box_on_its_longer_side(shape):
    ink = np.zeros((200, 200))
    ink[10 : 10 + shape[0], 100 : 100 + shape[1]] = 1.0
    item = frame_drawing(ink, DIGITS)
    assert item.shape == (1, 8, 8) and item.dtype == np.uint8
    assert set(np.unique(item).tolist()) <= DIGIT_LEVELS
    h, w = ink_box(item[0])
    assert max(h, w) == 8, (h, w)
    assert min(h, w) == round(8 * min(shape) / max(shape)), (h, w)  # the aspect ratio is kept


def test_a_drawing_for_a_run_with_no_framing_convention_is_the_whole_pad():
    ink = np.zeros((100, 100))
    ink[0:10, 0:10] = 1.0  # top left stays top left: no cropping, no centring
    item = frame_drawing(ink, ImageSpec(1, 20, 20))[0]
    assert item[:2, :2].min() >= 200 and item[3:, 3:].max() <= 2  # Lanczos rings a little, no more


@pytest.mark.parametrize("ink", [np.zeros((280, 280)), np.full((50, 50), 0.01)], ids=["blank", "faint"])
def test_an_empty_drawing_is_one_sentence(one_sentence, ink):
    with pytest.raises(DataError) as info:
        frame_drawing(ink, MNIST)
    one_sentence(str(info.value))
    assert "empty" in str(info.value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    height=st.integers(5, 200),
    width=st.integers(5, 200),
    spec=st.sampled_from([MNIST, DIGITS, GREY28, ImageSpec(1, 32, 24, frame=0.8)]),
)
def test_a_framed_drawing_is_always_one_item_of_the_runs_shape(data, height, width, spec):
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    ink = rng.random((height, width)) * (rng.random((height, width)) < data.draw(st.floats(0.001, 1.0)))
    y, x = data.draw(st.integers(0, height - 1)), data.draw(st.integers(0, width - 1))
    ink[y, x] = data.draw(st.floats(0.06, 1.0))  # at least one inked pixel
    item = frame_drawing(ink, spec)
    assert item.shape == (1, spec.height, spec.width) and item.dtype == np.uint8
    if spec.levels < 256:
        assert set(np.unique(item).tolist()) <= DIGIT_LEVELS


# -- scores ------------------------------------------------------------------------------------
def test_percentile_of_counts_ties_half():
    reference = np.array([1.0, 2.0, 2.0, 3.0])
    assert percentile_of(2.0, reference) == pytest.approx(50.0)  # one below, two ties
    assert percentile_of(2.5, reference) == pytest.approx(75.0)
    assert percentile_of(1.0, reference) == pytest.approx(12.5)
    assert percentile_of(0.0, reference) == 0.0
    assert percentile_of(99.0, reference) == 100.0
    assert percentile_of(5.0, np.full(10, 5.0)) == pytest.approx(50.0)


@pytest.mark.parametrize("value, reference", [(math.nan, [1.0, 2.0]), (1.0, [])])
def test_percentile_of_is_nan_when_there_is_nothing_to_compare(value, reference):
    assert math.isnan(percentile_of(value, np.asarray(reference)))


def test_an_image_for_a_binarized_run_is_binarized_as_its_test_items_are(tmp_path):
    grey = np.full((28, 28), 64, np.uint8)
    grey[:, 14:] = 192
    Image.fromarray(grey).save(tmp_path / "grey.png")
    spec = ImageSpec.for_run((1, 28, 28), "mnist", binarize="dynamic")
    item = read_image(tmp_path / "grey.png", spec)
    assert set(np.unique(item)) <= {0, 255}
    assert np.array_equal(item, read_image(tmp_path / "grey.png", spec))  # the same image scores the same
    left, right = item[0, :, :14].mean() / 255, item[0, :, 14:].mean() / 255
    assert abs(left - 64 / 255) < 0.1 and abs(right - 192 / 255) < 0.1  # each pixel a draw of its intensity
    assert not ImageSpec.for_run((1, 28, 28), "mnist").binary
