"""Density images: every point on screen is counted once in its class and pixel, and coloured by its classes."""

from __future__ import annotations

import numpy as np

from latentlab.core.density import (
    LONE_POINT_ALPHA, Frame, class_counts, colourise, contour_field, contour_levels, tint,
)


def test_each_point_on_screen_is_counted_once_in_its_class_and_pixel():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-2, 2, 5000).astype(np.float32), rng.uniform(-2, 2, 5000).astype(np.float32)
    labels = rng.integers(0, 3, 5000)
    frame = Frame(-1.0, 1.0, -0.5, 1.5, 40, 20)
    counts, inside = class_counts(x, y, labels, 3, frame)
    assert counts.shape == (3, 20, 40)
    expected = (x >= -1) & (x < 1) & (y >= -0.5) & (y < 1.5)
    np.testing.assert_array_equal(inside, expected)
    for c in range(3):
        mine = expected & (labels == c)
        rows = ((y[mine] + 0.5) * 10).astype(int)
        cols = ((x[mine] + 1) * 20).astype(int)
        want = np.zeros((20, 40), dtype=int)
        np.add.at(want, (rows, cols), 1)
        np.testing.assert_array_equal(counts[c], want)  # row 0 is the bottom of the frame (y0)


def test_colours_mix_by_count_and_a_lone_point_still_shows():
    counts = np.zeros((2, 1, 3), dtype=np.int64)
    counts[0, 0, 0] = 1  # one red point
    counts[:, 0, 1] = (3, 1)  # three red, one blue
    image = colourise(counts, np.array([[1.0, 0, 0], [0, 0, 1.0]]))
    assert tuple(image[0, 0, :3]) == (255, 0, 0) and image[0, 0, 3] == round(LONE_POINT_ALPHA * 255)
    assert tuple(image[0, 1, :3]) == (191, 0, 64) and image[0, 1, 3] == 255  # the densest pixel is opaque
    assert tuple(image[0, 2]) == (0, 0, 0, 0)  # empty pixels are transparent
    tinted = tint(counts.sum(axis=0), (0.0, 1.0, 0.0), alpha=0.5)
    assert tuple(tinted[0, 1]) == (0, 255, 0, 128) and tinted[0, 2, 3] == 0


def test_contours_rise_towards_the_dense_core():
    rng = np.random.default_rng(1)
    x, y = rng.normal(0, 1, 20_000).astype(np.float32), rng.normal(0, 1, 20_000).astype(np.float32)
    counts, _ = class_counts(x, y, None, 1, Frame(-4, 4, -4, 4, 80, 80))
    field = contour_field(counts[0], shrink=4)
    levels = contour_levels(field)
    assert field.shape == (20, 20) and len(levels) == 3 and levels == sorted(levels)
    assert field[10, 10] > levels[-1] > field[0, 0]
    assert contour_levels(np.zeros((5, 5))) == []
