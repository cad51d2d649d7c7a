"""Traversal latents: each row moves z along one direction only, over the chosen values."""

from __future__ import annotations

import numpy as np

from latentlab.core.traversal import ACTIVE_NATS, axis_rows, dimension_rows, traverse


def test_dimension_rows_go_by_kl_with_unused_ones_marked_or_left_out():
    kl = np.array([0.5, 0.001, 2.0, ACTIVE_NATS])
    rows = dimension_rows(kl)
    assert [r.dim for r in rows] == [2, 0, 3, 1]
    assert [r.active for r in rows] == [True, True, True, False]
    assert rows[0].label == "z2  (KL 2.00)"
    assert [r.dim for r in dimension_rows(kl, include_inactive=False)] == [2, 0, 3]


def test_a_dimension_row_sets_that_coordinate_and_holds_the_others_at_z():
    z = np.array([0.3, -1.2, 2.5])
    t = traverse(z, dimension_rows(np.array([1.0, 0.5, 0.2])), span=2.0, columns=5)
    assert t.shape == (3, 5) and t.latents.shape == (15, 3)
    np.testing.assert_allclose(t.values, [-2, -1, 0, 1, 2])
    for c, v in enumerate(t.values):
        np.testing.assert_allclose(t.latent(1, c), [0.3, v, 2.5])  # row 1 is dimension 1 (KL 0.5)


def test_an_axis_row_moves_z_along_that_axis_only():
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(6, 2)))
    z = rng.normal(size=6)
    t = traverse(z, axis_rows(q.T), span=3.0, columns=7)
    for r in range(2):
        u = q[:, r]
        for c, v in enumerate(t.values):
            moved = t.latent(r, c)
            assert np.isclose(moved @ u, v)  # the coordinate along the axis is the value
            np.testing.assert_allclose(moved - (moved @ u) * u, z - (z @ u) * u, atol=1e-12)  # the rest is z's


def test_no_rows_gives_an_empty_grid():
    t = traverse(np.zeros(4), [])
    assert t.shape == (0, 11) and t.latents.shape == (0, 4)
