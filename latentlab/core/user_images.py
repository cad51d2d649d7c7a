"""The user's own images, prepared exactly as the run's dataset items were, and scored.

An image file is read as the dataset's loader reads its files (grey or RGB, resized to the
run's size, uint8 0..255); sklearn's digits hold only 17 grey levels, so an image for a
digits run is rounded to them too. A drawing (ink in [0, 1], any size) is first framed as
the digit datasets frame theirs: MNIST fits the ink's bounding box into 20x20 pixels and
centres its centre of mass in 28x28 (LeCun et al.); digits fills its 8x8 box.

NumPy and Pillow only: the scoring itself is ``core.evaluate.item_scores``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError

DIGITS_LEVELS = 17  # sklearn's digits count 0..16 pixels of a 4x4 block
PHOTO_PIXELS = 2048 * 2048  # larger than any dataset's items: read at a reduced scale
MAX_FILE_PIXELS = 8192 * 8192  # as large as a photo gets; beyond it, a decompression bomb


@dataclass(frozen=True)
class ImageSpec:
    """What a run's items are: channels, size, and the grey levels they can take."""

    channels: int
    height: int
    width: int
    levels: int = 256
    frame: float | None = None  # a drawing's ink fills this share of the side (None: the whole image)
    binary: bool = False  # a binarized run's items: each pixel one Bernoulli draw of its intensity

    @classmethod
    def for_run(cls, image_shape: tuple[int, int, int], dataset: str, binarize: str | None = None) -> ImageSpec:
        c, h, w = (int(v) for v in image_shape)
        binary = binarize is not None
        if dataset == "digits":
            return cls(c, h, w, DIGITS_LEVELS, frame=1.0, binary=binary)
        if dataset in ("mnist", "fashion-mnist"):
            return cls(c, h, w, 256, frame=20 / 28, binary=binary)
        return cls(c, h, w, binary=binary)

    @property
    def grey(self) -> bool:
        return self.channels == 1


def read_image(path: str | Path, spec: ImageSpec) -> np.ndarray:
    """An image file as a (C, H, W) uint8 item of ``spec``; ``DataError`` when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with warnings.catch_warnings():
            # As the dataset loader does: Pillow's notes on odd metadata (a palette's transparency,
            # EXIF) change no pixel read and stay off the terminal; its bomb warning is an error.
            warnings.filterwarnings("ignore", module=r"PIL\.")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.size[0] * img.size[1] > MAX_FILE_PIXELS:
                    w, h = img.size
                    raise DataError(f"The image {path.name} is {w}x{h} pixels, too large to encode.")
                if img.format == "JPEG" and img.size[0] * img.size[1] > PHOTO_PIXELS:
                    # A photo, never a dataset item: let the decoder shrink it by 2-8x as it reads
                    # (some ms instead of over 100 on the GUI thread); the resize below does the rest.
                    img.draft("L" if spec.grey else "RGB", (4 * spec.width, 4 * spec.height))
                if img.mode.startswith("I;16"):  # 16-bit grey: convert() would clip it to white
                    img = Image.fromarray((np.asarray(img).astype(np.uint16) >> 8).astype(np.uint8))
                if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
                    img = _flatten(img)
                img = img.convert("L" if spec.grey else "RGB")
                if img.size != (spec.width, spec.height):
                    img = img.resize((spec.width, spec.height), Image.Resampling.BILINEAR, reducing_gap=3.0)
                pixels = np.asarray(img, dtype=np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(f"The image {path.name} is too large to encode.") from None
    except UnidentifiedImageError:
        raise DataError(f"{path.name} is not an image latentlab can read; choose a PNG, JPEG or similar file.") from None
    except (OSError, ValueError, EOFError, SyntaxError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        raise DataError(f"The image {path.name} could not be read ({reason}).") from None
    return quantise(pixels[None] if spec.grey else pixels.transpose(2, 0, 1), spec)


def _flatten(img):
    """An image with transparency on a plain background that contrasts with what is drawn.

    Dropping alpha (what ``convert`` does) leaves the colour under transparent pixels, often
    the very colour of the ink: a black stroke on a transparent sheet became all black.
    """
    from PIL import Image

    rgba = img.convert("RGBA")
    alpha = np.asarray(rgba.getchannel("A"))
    if not alpha.any():
        return rgba.convert("RGB")  # nothing opaque: no ink to contrast with
    ink = np.asarray(rgba.convert("L"))[alpha > 0].mean()
    shade = 255 if ink < 128 else 0  # dark ink on white, light ink on black
    return Image.alpha_composite(Image.new("RGBA", rgba.size, (shade, shade, shade, 255)), rgba).convert("RGB")


def quantise(image: np.ndarray, spec: ImageSpec) -> np.ndarray:
    """Round a uint8 image to the grey levels the dataset's items can take; binarize it as a binarized
    run's test items are (one draw per pixel, from a fixed seed: the same image scores the same)."""
    if spec.levels < 256:
        image = _round_to_levels(image, spec.levels)
    if spec.binary:
        draws = np.random.default_rng(0).random(image.shape)
        return np.where(draws < image / 255.0, 255, 0).astype(np.uint8)
    return np.ascontiguousarray(image, dtype=np.uint8)


def _round_to_levels(image: np.ndarray, levels: int) -> np.ndarray:
    if levels >= 256:
        return np.ascontiguousarray(image, dtype=np.uint8)
    step = 255.0 / (levels - 1)
    return (np.rint(np.rint(image / step) * step)).astype(np.uint8)


def frame_drawing(ink: np.ndarray, spec: ImageSpec) -> np.ndarray:
    """A drawing (H', W') with ink in [0, 1] as a (1, H, W) uint8 item, framed like the dataset's digits.

    Raises ``DataError`` when nothing is drawn.
    """
    from PIL import Image

    ink = np.clip(np.asarray(ink, dtype=np.float64), 0.0, 1.0)
    rows, cols = np.flatnonzero(ink.max(axis=1) > 0.05), np.flatnonzero(ink.max(axis=0) > 0.05)
    if len(rows) == 0:
        raise DataError("The drawing is empty; draw something first.")
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    if spec.frame is None:  # no convention to follow: the whole pad, resized
        crop, frame = ink, 1.0
    else:
        frame = spec.frame
    # Fit the ink's box into frame * side, keeping its aspect ratio.
    scale = frame * min(spec.height / crop.shape[0], spec.width / crop.shape[1])
    h, w = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
    small = np.asarray(Image.fromarray((crop * 255).astype(np.uint8)).resize((w, h), Image.Resampling.LANCZOS),
                       dtype=np.float64) / 255.0
    out = np.zeros((spec.height, spec.width))
    if spec.frame is not None and spec.frame < 1.0 and small.sum() > 0:
        # MNIST: the centre of mass at the centre of the image.
        cy, cx = (np.indices(small.shape) * small).reshape(2, -1).sum(axis=1) / small.sum()
        top, left = round(spec.height / 2 - cy), round(spec.width / 2 - cx)
    else:
        top, left = (spec.height - h) // 2, (spec.width - w) // 2
    top, left = min(max(top, 0), spec.height - h), min(max(left, 0), spec.width - w)
    out[top : top + h, left : left + w] = small
    return quantise(np.rint(out * 255).astype(np.uint8)[None], spec)


def percentile_of(value: float, reference: np.ndarray) -> float:
    """The share of ``reference`` below ``value``, in percent (ties count half): 50 is a typical item."""
    reference = np.asarray(reference, dtype=np.float64)
    if len(reference) == 0 or not math.isfinite(value):
        return math.nan
    below = np.count_nonzero(reference < value) + 0.5 * np.count_nonzero(reference == value)
    return 100.0 * below / len(reference)
