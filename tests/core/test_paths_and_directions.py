"""Paths and directions in latent space: slerp and lerp agree at their endpoints, the arc keeps
the norm, degenerate endpoints stay finite, and directions are the centroid differences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from latentlab.core.directions import (
    Direction, Selection, centroid, class_direction, direction_from, interpolate, lerp, selection_direction, slerp,
)

DIMS = st.integers(1, 24)
COORD = st.floats(-10, 10, allow_nan=False, width=64)


def latent_pairs(min_dim: int = 1):
    return st.integers(min_dim, 24).flatmap(lambda d: st.tuples(arrays(np.float64, d, elements=COORD),
                                                                arrays(np.float64, d, elements=COORD)))


@given(latent_pairs(), st.sampled_from(["linear", "spherical"]), st.integers(2, 20))
def test_slerp_and_lerp_agree_at_their_endpoints(pair, kind, steps):
    a, b = pair
    path = interpolate(a, b, steps, kind)
    assert path.shape == (steps, len(a)) and np.all(np.isfinite(path))
    np.testing.assert_array_equal(path[0], a)
    np.testing.assert_array_equal(path[-1], b)
    np.testing.assert_allclose(slerp(a, b, 0.0), lerp(a, b, 0.0), atol=1e-9)
    np.testing.assert_allclose(slerp(a, b, 1.0), lerp(a, b, 1.0), atol=1e-9)


@settings(max_examples=200)
@given(st.integers(2, 24).flatmap(lambda d: st.tuples(
    arrays(np.float64, d, elements=st.floats(-1, 1, allow_nan=False)),
    arrays(np.float64, d, elements=st.floats(-1, 1, allow_nan=False)))),
    st.floats(0.1, 10), st.floats(0, 1))
def test_slerp_keeps_the_norm_of_equal_norm_endpoints(pair, radius, t):
    a, b = pair
    assume(min(np.linalg.norm(a), np.linalg.norm(b)) > 1e-3)  # a direction to scale to the radius
    a, b = radius * a / np.linalg.norm(a), radius * b / np.linalg.norm(b)
    assume(a @ b / radius**2 > -1 + 1e-6)  # opposite endpoints have no one great circle (tested below)
    assert np.linalg.norm(slerp(a, b, t)) == pytest.approx(radius, rel=1e-6)


def test_slerp_goes_round_the_arc_where_lerp_cuts_inside_it():
    a, b = np.array([3.0, 0.0, 0.0]), np.array([0.0, 3.0, 0.0])
    mid_arc, mid_line = slerp(a, b, 0.5), lerp(a, b, 0.5)
    np.testing.assert_allclose(mid_arc, [3 / np.sqrt(2), 3 / np.sqrt(2), 0.0])
    np.testing.assert_allclose(mid_line, [1.5, 1.5, 0.0])
    angles = [np.arctan2(p[1], p[0]) for p in interpolate(a, b, 5, "spherical")]
    np.testing.assert_allclose(angles, np.linspace(0, np.pi / 2, 5))  # equal steps in angle


@pytest.mark.parametrize("a, b", [
    (np.zeros(4), np.ones(4)),  # an endpoint at the origin: no angle
    (np.ones(4), np.zeros(4)),
    (np.zeros(4), np.zeros(4)),
    (np.ones(4), 2 * np.ones(4)),  # parallel: no arc
    (np.ones(4), -np.ones(4)),  # opposite: no one great circle
    (np.array([1.0, 1e-9]), np.array([1.0, 0.0])),  # nearly parallel
])
def test_degenerate_endpoints_give_the_straight_line(a, b):
    path = interpolate(a, b, 7, "spherical")
    assert np.all(np.isfinite(path))
    np.testing.assert_allclose(path, interpolate(a, b, 7, "linear"), atol=1e-9)


def test_interpolate_refuses_an_unknown_kind_or_too_few_steps():
    with pytest.raises(ValueError, match="path kind"):
        interpolate(np.zeros(2), np.ones(2), 5, "cubic")
    with pytest.raises(ValueError, match="at least 2 steps"):
        interpolate(np.zeros(2), np.ones(2), 1)


def test_a_selection_direction_is_the_difference_of_the_centroids():
    latents = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 4.0], [12.0, 6.0], [-5.0, -5.0]])
    np.testing.assert_allclose(selection_direction(latents, [0, 1], [2, 3]), [10.0, 5.0])
    mask_a, mask_b = np.array([1, 1, 0, 0, 0], bool), np.array([0, 0, 1, 1, 0], bool)
    np.testing.assert_allclose(selection_direction(latents, mask_a, mask_b), [10.0, 5.0])


def test_a_class_direction_leads_from_the_marker_to_the_class_centroid():
    latents = np.array([[1.0, 1.0], [3.0, 1.0], [0.0, 9.0]])
    labels = np.array([4, 4, 2])
    np.testing.assert_allclose(class_direction(latents, labels, 4, np.array([0.0, -1.0])), [2.0, 2.0])
    with pytest.raises(ValueError):
        class_direction(latents, labels, 7, np.zeros(2))  # a class with no items has no centroid
    with pytest.raises(ValueError):
        centroid(latents, np.zeros(0, dtype=np.int64))


def test_direction_from_selections_both_one_or_none():
    latents = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 4.0], [12.0, 6.0]])
    a, b = Selection([1, 0, 1], "3"), Selection([2, 3], "8")
    np.testing.assert_array_equal(a.indices, [0, 1])  # sorted and unique
    origin = np.array([1.0, 1.0])
    both = direction_from(latents, a, b, origin)
    assert both.label == "3 → 8"
    np.testing.assert_allclose(both.vector, [10.0, 5.0])
    np.testing.assert_allclose(both.at(2.0), origin + 2.0 * np.array([10.0, 5.0]) / np.hypot(10, 5))
    assert np.linalg.norm(both.unit) == pytest.approx(1.0)
    only_b = direction_from(latents, None, b, origin)
    assert only_b.label == "marker → 8"
    np.testing.assert_allclose(only_b.vector, [10.0, 4.0])
    assert only_b.at(only_b.length) == pytest.approx(centroid(latents, b.indices))  # walking its length reaches B
    assert direction_from(latents, None, None, origin) is None
    assert direction_from(latents, a, Selection([1, 0], "same"), origin) is None  # the centroids coincide


@given(DIMS, st.floats(-3, 3))
def test_walking_a_direction_moves_only_along_it(dim, t):
    rng = np.random.default_rng(dim)
    d = Direction("x", rng.normal(size=dim) + 0.1, rng.normal(size=dim))
    moved = d.at(t) - d.origin
    np.testing.assert_allclose(moved, t * d.unit, atol=1e-12)
    assert np.linalg.norm(moved) == pytest.approx(abs(t), abs=1e-12)
