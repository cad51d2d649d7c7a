"""Density images: every point on screen is counted once in its class and pixel, and coloured by its classes."""

from __future__ import annotations

import numpy as np

from latentlab.core.density import LONE_POINT_ALPHA, Frame, colourise, contour_field, contour_levels, pixel_sums, tint


def test_each_point_on_screen_is_counted_once_in_its_pixel_with_its_colour():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-2, 2, 5000).astype(np.float32), rng.uniform(-2, 2, 5000).astype(np.float32)
    colours = rng.uniform(0, 1, (3, 5000)).astype(np.float32)
    frame = Frame(-1.0, 1.0, -0.5, 1.5, 40, 20)
    counts, sums, inside = pixel_sums(x, y, frame, colours)
    assert counts.shape == (20, 40) and sums.shape == (3, 20, 40)
    expected = (x >= -1) & (x < 1) & (y >= -0.5) & (y < 1.5)
    np.testing.assert_array_equal(inside, expected)
    rows, cols = ((y[expected] + 0.5) * 10).astype(int), ((x[expected] + 1) * 20).astype(int)
    want = np.zeros((20, 40), dtype=int)
    np.add.at(want, (rows, cols), 1)
    np.testing.assert_array_equal(counts, want)  # row 0 is the bottom of the frame (y0)
    for channel in range(3):
        want_sum = np.zeros((20, 40))
        np.add.at(want_sum, (rows, cols), colours[channel, expected])
        np.testing.assert_allclose(sums[channel], want_sum, rtol=1e-5, atol=1e-5)
    assert pixel_sums(x, y, frame)[1] is None


def test_colours_mix_by_count_and_a_lone_point_still_shows():
    red, blue = [1.0, 0, 0], [0, 0, 1.0]
    x = np.array([0.5, 1.5, 1.5, 1.5, 1.5], dtype=np.float32)  # one red point; three red and one blue
    colours = np.array([red, red, red, red, blue], dtype=np.float32).T
    counts, sums, _ = pixel_sums(x, np.zeros(5, np.float32), Frame(0, 3, -0.5, 0.5, 3, 1), colours)
    image = colourise(counts, sums)
    assert tuple(image[0, 0, :3]) == (255, 0, 0) and image[0, 0, 3] == round(LONE_POINT_ALPHA * 255)
    assert tuple(image[0, 1, :3]) == (191, 0, 64) and image[0, 1, 3] == 255  # the densest pixel is opaque
    assert tuple(image[0, 2]) == (0, 0, 0, 0)  # empty pixels are transparent
    tinted = tint(counts, (0.0, 1.0, 0.0), alpha=0.5)
    assert tuple(tinted[0, 1]) == (0, 255, 0, 128) and tinted[0, 2, 3] == 0


def test_contours_rise_towards_the_dense_core():
    rng = np.random.default_rng(1)
    x, y = rng.normal(0, 1, 20_000).astype(np.float32), rng.normal(0, 1, 20_000).astype(np.float32)
    counts, _, _ = pixel_sums(x, y, Frame(-4, 4, -4, 4, 80, 80))
    field = contour_field(counts, shrink=4)
    levels = contour_levels(field)
    assert field.shape == (20, 20) and len(levels) == 3 and levels == sorted(levels)
    assert field[10, 10] > levels[-1] > field[0, 0]
    assert contour_levels(np.zeros((5, 5))) == []
