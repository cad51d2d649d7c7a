"""2-D views of the latent space and their ways back: identity, PCA (exact), t-SNE (chunked, approximate)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from latentlab.core.errors import ConfigError
from latentlab.core.projection import IdentityProjection, NeighbourInverse, PCAProjection, LayoutProgress, tsne_layout


def clustered(n: int = 300, dim: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(6, dim)) * 5
    return centres[rng.integers(0, 6, n)] + rng.normal(size=(n, dim))


def along(direction: np.ndarray, seed: int) -> np.ndarray:
    """Points spread mostly along ``direction`` (3-D), a little along the other axes."""
    rng = np.random.default_rng(seed)
    other = np.cross(direction, [0.0, 0.0, 1.0])
    return (rng.normal(size=(500, 1)) * 5 * direction + rng.normal(size=(500, 1)) * 2 * other
            + rng.normal(size=(500, 1)) * 0.3 * np.array([0.0, 0.0, 1.0]))


# ---------------------------------------------------------------------------- identity


def test_identity_is_the_view_of_a_2d_latent():
    z = np.random.default_rng(1).normal(size=(20, 2))
    view = IdentityProjection(z)
    assert view.exact
    assert np.array_equal(view.transform(z), z) and np.array_equal(view.inverse(z), z)


def test_identity_refuses_a_latent_that_is_not_2d(one_sentence):
    with pytest.raises(ConfigError) as info:
        IdentityProjection(np.zeros((5, 3)))
    one_sentence(str(info.value))


# ---------------------------------------------------------------------------- PCA


def test_pca_inverse_is_exact_on_the_plane():
    z = clustered(dim=8)
    view = PCAProjection(z)
    assert view.exact and view.components.shape == (2, 8)
    points = np.random.default_rng(2).normal(size=(50, 2)) * 10
    assert np.allclose(view.transform(view.inverse(points)), points, rtol=0, atol=1e-10)
    # The components are orthonormal, and the view is the top-2 principal plane.
    assert np.allclose(view.components @ view.components.T, np.eye(2), atol=1e-12)
    assert view.explained_variance_ratio[0] >= view.explained_variance_ratio[1] > 0


def test_pca_keeps_its_orientation_when_a_refit_would_flip_it():
    # sklearn signs each component so that its largest entry is positive: rotating the data's main
    # axis across 45 degrees (from (cos 50, -sin 50) to (cos 40, -sin 40)) flips the fresh fit.
    def unit(deg):
        r = np.radians(deg)
        return np.array([np.cos(r), -np.sin(r), 0.0])

    first = PCAProjection(along(unit(50), seed=3))
    fresh = PCAProjection(along(unit(40), seed=4))
    assert np.dot(first.components[0], fresh.components[0]) < 0  # the refit alone flips the first axis

    aligned = PCAProjection(along(unit(40), seed=4), previous=first)
    assert np.dot(first.components[0], aligned.components[0]) > 0
    assert np.dot(first.components[1], aligned.components[1]) > 0
    # A point far along the main axis stays on the same side of the view.
    probe = 10 * unit(45)[None]
    assert np.sign(first.transform(probe)[0, 0]) == np.sign(aligned.transform(probe)[0, 0])
    assert np.allclose(np.abs(aligned.components), np.abs(fresh.components))  # only signs changed


def test_pca_needs_two_points_of_two_dimensions(one_sentence):
    for bad in (np.zeros((1, 3)), np.zeros((10, 1)), np.zeros(10)):
        with pytest.raises(ConfigError) as info:
            PCAProjection(bad)
        one_sentence(str(info.value))


# ---------------------------------------------------------------------------- approximate inverse


def test_neighbour_inverse_returns_the_latent_exactly_on_a_layout_point():
    rng = np.random.default_rng(5)
    latents, layout = rng.normal(size=(300, 7)), rng.normal(size=(300, 2)) * 20
    inverse = NeighbourInverse(layout, latents)
    assert not inverse.exact
    assert np.array_equal(inverse.inverse(layout[[0, 17, 299]]), latents[[0, 17, 299]])
    small = NeighbourInverse(layout[:5], latents[:5])  # fewer points than neighbours
    assert np.array_equal(small.inverse(layout[:5]), latents[:5])


def test_neighbour_inverse_between_points_is_a_weighted_mean_of_neighbours():
    layout = np.array([[0.0, 0.0], [1.0, 0.0], [50.0, 50.0]])
    latents = np.array([[0.0, 0.0], [10.0, 20.0], [99.0, 99.0]])
    inverse = NeighbourInverse(layout, latents, k=2)
    assert np.allclose(inverse.inverse(np.array([0.5, 0.0])), [[5.0, 10.0]])
    nearer = inverse.inverse(np.array([0.9, 0.0]))[0]
    assert 5.0 < nearer[0] < 10.0
    with pytest.raises(ConfigError):
        inverse.transform(latents)



def test_neighbour_inverse_finds_the_neighbours_a_search_tree_finds():
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(7)
    latents, layout = rng.normal(size=(2000, 5)), rng.normal(size=(2000, 2)) * 30
    queries = rng.uniform(-60, 60, size=(600, 2))  # more than one block of 256
    dist, idx = NearestNeighbors(n_neighbors=8).fit(layout).kneighbors(queries)
    weights = 1.0 / dist
    expected = np.einsum("nk,nkd->nd", weights / weights.sum(1, keepdims=True), latents[idx])
    assert np.allclose(NeighbourInverse(layout, latents).inverse(queries), expected)


# ---------------------------------------------------------------------------- t-SNE


def test_tsne_yields_progress_with_increasing_iteration_until_done():
    z = clustered()
    progress = list(tsne_layout(z, early_iterations=30, iterations=40, chunk=10))
    assert all(isinstance(p, LayoutProgress) for p in progress)
    assert [p.iteration for p in progress] == list(range(10, 71, 10))
    assert all(p.total_iterations == 70 for p in progress)
    assert [p.done for p in progress] == [False] * 6 + [True]
    assert progress[-1].fraction == 1.0
    for p in progress:
        assert p.layout.shape == (300, 2) and np.isfinite(p.layout).all()
        assert not p.layout.flags.writeable
    assert not np.array_equal(progress[0].layout, progress[-1].layout)


def test_tsne_stops_with_no_further_yields_once_cancelled():
    cancel = threading.Event()
    gen = tsne_layout(clustered(), early_iterations=50, iterations=50, chunk=10, cancel=cancel)
    first = next(gen)
    assert first.iteration == 10 and not first.done
    cancel.set()
    assert list(gen) == []


def test_tsne_cancelled_before_it_starts_yields_nothing():
    cancel = threading.Event()
    cancel.set()
    assert list(tsne_layout(clustered(), cancel=cancel)) == []


def test_tsne_warm_starts_from_an_earlier_layout():
    z = clustered()
    cold = list(tsne_layout(z, early_iterations=100, iterations=100, chunk=50))[-1].layout
    # Start from the earlier layout turned a quarter turn: a warm start keeps that orientation,
    # where a cold start (PCA initialisation) would not.
    turned = np.column_stack([-cold[:, 1], cold[:, 0]])
    warm = list(tsne_layout(z, init=turned, early_iterations=250, iterations=20, chunk=20))
    assert warm[-1].total_iterations == 20  # no early exaggeration: the structure is there
    for p in (warm[0], warm[-1]):
        for axis in (0, 1):
            assert np.corrcoef(p.layout[:, axis], turned[:, axis])[0, 1] > 0.9
    assert abs(np.corrcoef(warm[-1].layout[:, 0], cold[:, 0])[0, 1]) < 0.5


def test_tsne_warm_start_keeps_the_scale_of_its_init_and_runs_fewer_iterations():
    z = clustered()
    cold = list(tsne_layout(z, chunk=25))
    assert cold[-1].total_iterations == 100 + 150  # the cold schedule's defaults
    previous = cold[-1].layout
    nudged = z + np.random.default_rng(3).normal(scale=0.05, size=z.shape)  # the next epoch's latents
    warm = list(tsne_layout(nudged, init=previous, chunk=5))
    assert warm[-1].total_iterations == 50 and warm[-1].done  # TSNE_WARM_ITERATIONS
    assert [p.iteration for p in warm] == list(range(5, 51, 5))
    # It starts where the previous layout was, at its scale (not shrunk to a fresh start's),
    # and ends near it: the picture does not jump between epochs.
    spread = np.ptp(previous, axis=0)
    assert np.allclose(np.ptp(warm[0].layout, axis=0), spread, rtol=0.1)
    assert np.allclose(np.ptp(warm[-1].layout, axis=0), spread, rtol=0.3)
    assert np.median(np.linalg.norm(warm[-1].layout - previous, axis=1)) < 0.1 * spread.max()
    assert list(tsne_layout(nudged, init=previous, warm_iterations=10, chunk=5))[-1].total_iterations == 10


def test_tsne_of_a_tiny_set_and_of_duplicates_is_finite():
    rng = np.random.default_rng(4)
    tiny = list(tsne_layout(rng.normal(size=(6, 3)), early_iterations=20, iterations=20, chunk=10))
    assert tiny[-1].done and tiny[-1].layout.shape == (6, 2) and np.isfinite(tiny[-1].layout).all()
    twins = np.repeat(rng.normal(size=(50, 4)), 2, axis=0)  # every point twice: zero distances
    last = list(tsne_layout(twins, early_iterations=20, iterations=20, chunk=20))[-1]
    assert np.isfinite(last.layout).all()


def test_tsne_ignores_an_init_of_the_wrong_shape_and_needs_four_points(one_sentence):
    z = clustered(n=40)
    progress = list(tsne_layout(z, init=np.zeros((10, 2)), early_iterations=10, iterations=10, chunk=10))
    assert progress[-1].total_iterations == 20 and progress[-1].done
    with pytest.raises(ConfigError) as info:
        list(tsne_layout(np.zeros((3, 5))))
    one_sentence(str(info.value))
