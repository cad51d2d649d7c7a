"""Box and lasso regions: the even-odd test agrees with known shapes and with the box."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from latentlab.core.regions import points_in_box, points_in_polygon


def test_points_in_a_box_whichever_corners_are_given():
    points = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5], [-1.0, 0.5], [1.0, 2.5]])
    np.testing.assert_array_equal(points_in_box(points, (0, 0), (2, 2)), [0, 1, 2])
    np.testing.assert_array_equal(points_in_box(points, (2, 2), (0, 0)), [0, 1, 2])
    assert len(points_in_box(np.zeros((0, 2)), (0, 0), (1, 1))) == 0


def test_a_concave_polygon_leaves_out_its_notch():
    # A "U": the notch between its arms is outside, the arms and the base inside.
    u = np.array([[0, 0], [3, 0], [3, 3], [2, 3], [2, 1], [1, 1], [1, 3], [0, 3]], dtype=float)
    points = np.array([[0.5, 2.0], [2.5, 2.0], [1.5, 0.5], [1.5, 2.0], [4.0, 1.0], [-0.5, 0.5]])
    np.testing.assert_array_equal(points_in_polygon(points, u), [0, 1, 2])


def test_fewer_than_three_vertices_enclose_nothing():
    points = np.random.default_rng(0).normal(size=(20, 2))
    assert len(points_in_polygon(points, np.array([[0.0, 0.0], [1.0, 1.0]]))) == 0


@given(st.floats(-5, 5), st.floats(-5, 5), st.floats(0.1, 5), st.floats(0.1, 5), st.integers(0, 10))
def test_a_rectangle_as_a_polygon_selects_what_the_box_does(x0, y0, w, h, seed):
    points = np.random.default_rng(seed).uniform(-6, 11, size=(300, 2))
    rect = np.array([[x0, y0], [x0 + w, y0], [x0 + w, y0 + h], [x0, y0 + h]])
    in_polygon = set(points_in_polygon(points, rect).tolist())
    in_box = set(points_in_box(points, (x0, y0), (x0 + w, y0 + h)).tolist())
    # Only points exactly on an edge may differ (the box includes its edges); random floats never are.
    assert in_polygon == in_box


def crossings_of_every_edge(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """The even-odd rule as written down: every point against every edge."""
    x, y = points[:, 0:1], points[:, 1:2]
    (xa, ya), (xb, yb) = polygon.T, np.roll(polygon, -1, axis=0).T
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = xa + (y - ya) * (xb - xa) / (yb - ya)
    hits = ((ya > y) != (yb > y)) & (x < crossing)
    return np.flatnonzero(hits.sum(axis=1) % 2 == 1)


@given(st.integers(3, 40), st.integers(0, 1000))
def test_any_polygon_self_crossing_or_not_agrees_with_testing_every_edge(vertices, seed):
    rng = np.random.default_rng(seed)
    polygon = rng.uniform(-3, 3, size=(vertices, 2))  # random vertices: concave, self-crossing
    points = rng.uniform(-4, 4, size=(500, 2))
    np.testing.assert_array_equal(points_in_polygon(points, polygon), crossings_of_every_edge(points, polygon))


def test_a_circle_of_many_vertices_selects_the_points_within_its_radius():
    rng = np.random.default_rng(1)
    points = rng.uniform(-2, 2, size=(5000, 2))
    angle = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    circle = np.c_[np.cos(angle), np.sin(angle)]
    inside = np.zeros(len(points), bool)
    inside[points_in_polygon(points, circle)] = True
    radius = np.hypot(points[:, 0], points[:, 1])
    clear = np.abs(radius - 1) > 1e-3  # the polygon's chords cut a hair inside the circle
    np.testing.assert_array_equal(inside[clear], radius[clear] < 1)
