"""The grid index finds what brute force finds: the nearest point on screen, and the points in a box or lasso."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from latentlab.core.point_index import PointIndex
from latentlab.core.regions import points_in_box, points_in_polygon


def _brute_nearest(points, x, y, per_pixel, radius):
    d2 = ((points[:, 0] - x) / per_pixel[0]) ** 2 + ((points[:, 1] - y) / per_pixel[1]) ** 2
    d2 = np.where(np.isfinite(d2), d2, np.inf)
    best = int(np.argmin(d2)) if len(points) else -1
    return best if best >= 0 and d2[best] <= radius**2 else -1, d2


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 3000), st.integers(0, 10_000), st.floats(1e-3, 1.0), st.floats(1e-3, 1.0),
       st.floats(1.0, 20.0))
def test_the_nearest_point_on_screen_is_the_brute_force_one(n, seed, px, py, radius):
    rng = np.random.default_rng(seed)
    points = np.concatenate([rng.normal(0, 1, (n // 2, 2)), rng.normal(3, 0.05, (n - n // 2, 2))]).astype(np.float32)
    index = PointIndex(points)
    for q in rng.normal(1, 2, (10, 2)):
        found = index.nearest(float(q[0]), float(q[1]), (px, py), radius)
        expected, d2 = _brute_nearest(points.astype(np.float32), q[0], q[1], (px, py), radius)
        if expected < 0:
            assert found == -1
        else:  # ties may pick either of two equally near points
            assert found >= 0 and np.isclose(d2[found], d2[expected], rtol=1e-5, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 2000), st.integers(0, 10_000))
def test_a_box_and_a_polygon_select_what_the_plain_region_tests_select(n, seed):
    rng = np.random.default_rng(seed)
    points = rng.normal(0, 1, (n, 2)).astype(np.float32)
    index = PointIndex(points)
    a, b = rng.normal(0, 1, 2), rng.normal(0, 1, 2)
    np.testing.assert_array_equal(index.in_box(tuple(a), tuple(b)), points_in_box(points, tuple(a), tuple(b)))
    angles = np.sort(rng.uniform(0, 2 * np.pi, 12))
    polygon = np.c_[np.cos(angles), np.sin(angles)] * rng.uniform(0.2, 2, (12, 1)) + rng.normal(0, 0.5, 2)
    np.testing.assert_array_equal(index.in_polygon(polygon), points_in_polygon(points, polygon))


def test_points_outside_the_bounds_and_not_finite_are_handled():
    points = np.array([[0, 0], [1, 1], [np.nan, 0.5], [np.inf, 0], [0.5, 0.5]], dtype=np.float32)
    index = PointIndex(points)
    assert index.nearest(0.5, 0.5, (0.01, 0.01), 5) == 4
    assert index.nearest(100.0, 100.0, (0.01, 0.01), 5) == -1  # far outside the grid: nothing near
    assert index.nearest(1.02, 1.0, (0.01, 0.01), 5) == 1  # just beyond the last bucket, within reach
    np.testing.assert_array_equal(index.in_box((-1, -1), (2, 2)), [0, 1, 4])
    assert PointIndex(np.zeros((0, 2))).nearest(0, 0, (1, 1), 8) == -1
    single = PointIndex(np.ones((3, 2)))  # every point in one place: a grid of no extent
    assert single.nearest(1, 1, (1, 1), 1) in (0, 1, 2)


def test_points_on_a_bucket_edge_or_the_grid_edge_are_found():
    points = np.array([[0, 0], [1, 1]], dtype=np.float32)
    np.testing.assert_array_equal(PointIndex(points).in_box((1, 1), (2, 2)), [1])
    np.testing.assert_array_equal(PointIndex(points).in_box((-1, -1), (0, 0)), [0])
    rng = np.random.default_rng(3)
    grid = (rng.integers(0, 50, (4000, 2)) / 7).astype(np.float32)  # many points exactly on bucket edges
    index = PointIndex(grid)
    for a, b in rng.integers(0, 50, (300, 2, 2)) / 7:
        np.testing.assert_array_equal(index.in_box(tuple(a), tuple(b)), points_in_box(grid, tuple(a), tuple(b)))
