"""How far to trust a 2-D view: trustworthiness and continuity (scikit-learn's figures, on a fixed
sample), and each item's true nearest neighbours in the latent space, as a brute force finds them."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab.core.errors import ConfigError
from latentlab.core.projection import IdentityProjection, PCAProjection
from latentlab.core.trust import (
    NeighbourIndex, ViewTrust, continuity, sample_indices, trustworthiness, view_trust,
)


@pytest.fixture
def latents16():
    rng = np.random.default_rng(5)
    return (rng.standard_normal((400, 16)) * np.linspace(3.0, 0.2, 16)).astype(np.float32)


def brute_force_neighbours(latents: np.ndarray, i: int, k: int) -> np.ndarray:
    """Item i's k nearest others by the plain Euclidean distance, equal distances by index."""
    x = latents.astype(np.float64)
    d = np.linalg.norm(x - x[i], axis=1)
    order = np.lexsort((np.arange(len(x)), d))
    return order[order != i][:k]


def test_the_identity_view_of_a_2d_latent_is_fully_trustworthy_and_continuous():
    latents = np.random.default_rng(1).standard_normal((3000, 2)).astype(np.float32)  # as snapshots hold them
    points = IdentityProjection(latents).transform(latents)
    trust = view_trust(latents, points)
    assert trust == ViewTrust(1.0, 1.0, 10, 3000, 3000) and not trust.sampled


def test_ties_never_count_against_a_view():
    grid = np.array([(x, y) for x in range(15) for y in range(15)], dtype=np.float64)  # distances tie everywhere
    assert trustworthiness(grid, grid) == 1.0 and continuity(grid, grid) == 1.0


def test_a_random_view_is_less_trustworthy_and_less_continuous(latents16):
    pca = PCAProjection(latents16).transform(latents16)
    scrambled = np.random.default_rng(2).standard_normal((len(latents16), 2))
    good, bad = view_trust(latents16, pca), view_trust(latents16, scrambled)
    assert 0.5 < good.trustworthiness < 1.0 and 0.5 < good.continuity < 1.0
    assert bad.trustworthiness < 0.6 and bad.continuity < 0.6  # about 0.5: chance
    assert bad.trustworthiness < good.trustworthiness - 0.2 and bad.continuity < good.continuity - 0.2


def test_the_figures_are_scikit_learns_with_continuity_its_roles_swapped(latents16):
    from sklearn.manifold import trustworthiness as sklearn_trustworthiness

    rng = np.random.default_rng(3)
    pca = PCAProjection(latents16).transform(latents16)
    for view in (pca, pca + rng.normal(0.0, 0.5, pca.shape), latents16[:, 5:7]):
        for k in (1, 5, 10):
            high = latents16.astype(np.float64)
            assert trustworthiness(latents16, view, k) == pytest.approx(
                sklearn_trustworthiness(high, view, n_neighbors=k), abs=1e-12)
            assert continuity(latents16, view, k) == pytest.approx(
                sklearn_trustworthiness(view, high, n_neighbors=k), abs=1e-12)


def test_large_views_are_scored_on_the_same_fixed_sample_every_time(latents16):
    view = PCAProjection(latents16).transform(latents16)
    sample = sample_indices(len(latents16), 150)
    assert len(sample) == 150 and np.all(np.diff(sample) > 0)
    np.testing.assert_array_equal(sample, sample_indices(len(latents16), 150))  # fixed seed
    trust = view_trust(latents16, view, max_points=150)
    assert (trust.points, trust.of, trust.k) == (150, 400, 10) and trust.sampled
    assert trust.trustworthiness == trustworthiness(latents16[sample], view[sample])
    assert trust.continuity == continuity(latents16[sample], view[sample])
    assert view_trust(latents16, view, max_points=150) == trust
    np.testing.assert_array_equal(sample_indices(100, 150), np.arange(100))  # fewer: all of them


def test_too_few_points_or_mismatched_views_are_refused():
    with pytest.raises(ConfigError, match="more than 20 points"):
        view_trust(np.zeros((20, 3)), np.zeros((20, 2)))
    with pytest.raises(ConfigError, match="a point per latent"):
        view_trust(np.zeros((50, 3)), np.zeros((49, 2)))


@pytest.mark.parametrize("dim", [2, 16, 50])
def test_the_index_finds_the_brute_force_neighbours(dim):
    rng = np.random.default_rng(dim)
    latents = (rng.standard_normal((3000, dim)) * rng.uniform(0.1, 2.0, dim)).astype(np.float32)
    index = NeighbourIndex(latents)
    assert len(index) == 3000
    for i in rng.choice(3000, size=150, replace=False):
        found = index.neighbours(int(i))
        np.testing.assert_array_equal(found, brute_force_neighbours(latents, int(i), 10))
        assert i not in found and not found.flags.writeable
    np.testing.assert_array_equal(index.neighbours(7, k=25), brute_force_neighbours(latents, 7, 25))


def test_equal_distances_are_broken_by_index_and_duplicates_are_neighbours():
    grid = np.array([(x, y) for x in range(12) for y in range(12)], dtype=np.float64)
    latents = np.vstack([grid, grid[[30, 30, 77]]])  # item 30 three times over, 77 twice
    index = NeighbourIndex(latents)
    for i in range(len(latents)):
        for k in (1, 4, 10):
            np.testing.assert_array_equal(index.neighbours(i, k), brute_force_neighbours(latents, i, k))
    assert set(index.neighbours(30, 2)) == {144, 145}  # its copies, at distance 0
    np.testing.assert_array_equal(index.neighbours(144, 2), [30, 145])


def test_the_index_keeps_its_own_copy_and_bounds():
    latents = np.random.default_rng(4).standard_normal((6, 3))
    index = NeighbourIndex(latents)
    latents[:] = 0.0  # the caller's array changing later leaves the index as it was built
    assert not index.latents.flags.writeable and np.any(index.latents != 0.0)
    assert len(index.neighbours(0, k=100)) == 5  # at most every other item
    with pytest.raises(IndexError):
        index.neighbours(6)
    assert len(NeighbourIndex(np.zeros((1, 3))).neighbours(0)) == 0
