"""Small helpers for the views: images an ImageItem shows, labels that keep the layout still."""

from __future__ import annotations

import numpy as np


def to_display(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) or (C, H, W) floats/uint8 -> (N, H, W) grey or (N, H, W, 3) colour, float in [0, 1]."""
    a = np.asarray(images)
    if a.ndim == 3:
        a = a[None]
    a = a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32, copy=False)
    return a[:, 0] if a.shape[1] == 1 else np.moveaxis(a, 1, -1)


def tile(images: np.ndarray, columns: int, pad: int = 1, fill: float = 0.35) -> np.ndarray:
    """Lay (N, H, W[, 3]) images out in rows of ``columns``, separated by ``pad`` pixels of ``fill``."""
    n, h, w = images.shape[:3]
    rows = max(1, -(-n // columns))
    shape = (rows * (h + pad) - pad, columns * (w + pad) - pad) + images.shape[3:]
    out = np.full(shape, fill, dtype=np.float32)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = img
    return out


def steady_label(label, lines: int = 1):
    """Make a QLabel whose text changes often leave the layout alone.

    A label's size hint follows its text; a layout that obeys it would resize the plots
    beside the label, and a resized pyqtgraph view repaints everything (tens of ms).
    The label keeps room for ``lines`` lines and ignores its text's width.
    """
    from PySide6.QtWidgets import QSizePolicy

    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
    label.setFixedHeight(label.fontMetrics().lineSpacing() * lines + 4)
    return label
