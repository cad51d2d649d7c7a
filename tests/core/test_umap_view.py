"""The UMAP view (umap-learn, the extra latentlab[umap]): chunked progress, cancel, warm start, transform, inverse."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

from latentlab.core import umap_view
from latentlab.core.errors import ConfigError
from latentlab.core.projection import ViewKind
from latentlab.core.umap_view import UMAPPartialProjection, UMAPProjection, umap_available, umap_layout

# The optional extra (the test extra installs it). Not importorskip: importing umap costs seconds.
pytestmark = pytest.mark.skipif(not umap_available(), reason="umap-learn is not installed (pip install '.[umap]')")

CLUSTERS = 5


def clustered(n: int = 300, dim: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Five well-separated Gaussian clusters and each point's cluster."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(CLUSTERS, dim)) * 6
    labels = np.arange(n) % CLUSTERS
    return centres[labels] + rng.normal(size=(n, dim)), labels


@pytest.fixture(scope="module")
def run():
    """One finished layout, shared: the first one in a process pays seconds of numba compilation."""
    latents, labels = clustered()
    records = list(umap_layout(latents, chunk=50, epoch=3))
    return latents, labels, records


def test_progress_arrives_in_chunks_and_ends_with_the_projection(run):
    latents, _, records = run
    assert umap_available()
    assert [r.iteration for r in records] == list(range(50, 501, 50))  # umap's 500 epochs for <= 10,000 points
    assert {r.total_iterations for r in records} == {500}
    assert [r.done for r in records] == [False] * 9 + [True]
    assert all(r.projection is None for r in records[:-1])
    for record in records:
        assert record.layout.shape == (len(latents), 2) and np.isfinite(record.layout).all()
        assert not record.layout.flags.writeable
    # The layout really moves between chunks.
    assert not np.allclose(records[0].layout, records[-1].layout)
    final = records[-1].projection
    assert isinstance(final, UMAPProjection)
    assert final.kind is ViewKind.UMAP and not final.exact and not final.partial and final.fraction == 1.0
    assert "UMAP of epoch 3" in final.describe() and "approximate" in final.describe()
    assert "inverse_transform" in final.describe()


def test_a_partial_layout_is_decoded_by_neighbours():
    latents, _ = clustered(n=40)
    layout = np.random.default_rng(1).normal(size=(40, 2))
    view = UMAPPartialProjection(layout, latents, epoch=2, fraction=0.3)
    assert view.kind is ViewKind.UMAP and view.partial and not view.exact
    assert "UMAP of epoch 2 in progress" in view.describe()
    assert np.allclose(view.inverse(layout[:3]), latents[:3])


def test_transform_places_its_own_latents_at_the_layout_and_others_near_their_cluster(run):
    latents, labels, records = run
    view = records[-1].projection
    assert np.array_equal(view.transform(latents), records[-1].layout)
    new, new_labels = clustered(n=10, seed=0)  # the same centres, fresh noise
    new = new + np.random.default_rng(5).normal(size=new.shape) * 0.3
    placed = view.transform(new)
    assert placed.shape == (10, 2) and np.isfinite(placed).all()
    centres = np.stack([records[-1].layout[labels == c].mean(0) for c in range(CLUSTERS)])
    nearest = np.argmin(((placed[:, None] - centres[None]) ** 2).sum(-1), axis=1)
    assert np.array_equal(nearest, new_labels)


def test_transform_does_not_wait_for_a_graph_being_built(run):
    # umap's parallel kernels must not run on two threads at once (numba's workqueue layer aborts):
    # while a worker builds a graph, a new latent is placed by its neighbours instead of waiting.
    latents, _, records = run
    view = records[-1].projection
    new = latents[:4] + 0.01
    with umap_view._PARALLEL:
        placed = view.transform(new)
        assert np.array_equal(view.transform(latents), records[-1].layout)  # nor do its own latents
    assert placed.shape == (4, 2)
    assert np.linalg.norm(placed - records[-1].layout[:4], axis=1).max() < 1.0


def test_inverse_of_a_cluster_centre_is_nearest_that_clusters_latents(run):
    latents, labels, records = run
    view, layout = records[-1].projection, records[-1].layout
    latent_centres = np.stack([latents[labels == c].mean(0) for c in range(CLUSTERS)])
    layout_centres = np.stack([layout[labels == c].mean(0) for c in range(CLUSTERS)])
    decoded = view.inverse(layout_centres)
    assert decoded.shape == (CLUSTERS, latents.shape[1]) and np.isfinite(decoded).all()
    distances = np.linalg.norm(decoded[:, None] - latent_centres[None], axis=-1)
    assert np.array_equal(np.argmin(distances, axis=1), np.arange(CLUSTERS))
    # A 12 x 12 grid over the whole view, corners outside the layout's hull included.
    lo, hi = layout.min(0) - 2, layout.max(0) + 2
    grid = np.stack(np.meshgrid(np.linspace(lo[0], hi[0], 12), np.linspace(lo[1], hi[1], 12)), -1).reshape(-1, 2)
    decoded = view.inverse(grid)
    assert decoded.shape == (144, latents.shape[1]) and np.isfinite(decoded).all()
    assert np.abs(decoded).max() < 3 * np.abs(latents).max()


def test_inverse_is_umaps_inverse_transform_inside_the_layout(run):
    _, _, records = run
    view = records[-1].projection
    rng = np.random.default_rng(2)
    points = records[-1].layout[rng.integers(0, len(records[-1].layout), 12)] + rng.normal(size=(12, 2)) * 0.05
    # Inside the triangulation; outside it umap starts from an arbitrary triangle, and we from the nearest point.
    points = points[view._inverse.tri.find_simplex(points.astype(np.float32)) >= 0]
    assert len(points) >= 8
    assert np.allclose(view.inverse(points), view.model.inverse_transform(points), rtol=0, atol=1e-4)


def test_the_chunked_sgd_is_umaps_own_optimisation(run):
    from sklearn.utils import check_random_state
    from umap.layouts import optimize_layout_euclidean
    from umap.umap_ import INT32_MAX, INT32_MIN, make_epochs_per_sample

    latents, _, records = run
    model = records[-1].projection.model
    graph = umap_view._pruned_graph(model.graph_, 60, 500)
    start = np.random.default_rng(3).uniform(0, 10, size=(len(latents), 2)).astype(np.float32)
    ours = umap_view._EpochSGD(start.copy(), graph, 60, model._a, model._b, 1.0, 1.0, 5, check_random_state(7), False)
    for _ in range(60):
        ours.step()
    theirs = start.copy()
    optimize_layout_euclidean(
        theirs, theirs, graph.row, graph.col, 60, graph.shape[1], make_epochs_per_sample(graph.data, 60),
        model._a, model._b, check_random_state(7).randint(INT32_MIN, INT32_MAX, 3).astype(np.int64),
        1.0, 1.0, 5, parallel=False, move_other=True,
    )
    assert np.array_equal(ours.embedding, theirs)


def test_cancel_takes_effect_within_a_chunk(monkeypatch):
    latents, _ = clustered(n=120)
    cancel = threading.Event()
    steps = []
    step = umap_view._EpochSGD.step

    def counted(self):
        step(self)
        steps.append(self.epoch)
        if self.epoch == 15:  # halfway through the second chunk of 10
            cancel.set()

    monkeypatch.setattr(umap_view._EpochSGD, "step", counted)
    records = list(umap_layout(latents, chunk=10, epochs=100, cancel=cancel))
    assert [r.iteration for r in records] == [10]
    assert steps[-1] == 15  # not one epoch more


def test_cancel_before_the_first_epoch_yields_nothing():
    cancel = threading.Event()
    cancel.set()
    assert list(umap_layout(clustered(n=60)[0], cancel=cancel)) == []


def test_a_warm_start_begins_near_its_init(run):
    latents, _, records = run
    init = np.array(records[-1].layout)
    extent = float(np.ptp(init, axis=0).max())
    warm = list(umap_layout(latents, init=init, chunk=10))
    assert warm[-1].done and warm[-1].total_iterations < 500  # fewer epochs than a cold start
    moved = np.linalg.norm(warm[0].layout - init, axis=1)
    assert np.median(moved) < 0.05 * extent, (np.median(moved), extent)  # umap's sampling jostles a little
    assert np.median(np.linalg.norm(warm[-1].layout - init, axis=1)) < 0.1 * extent
    cold = np.linalg.norm(records[0].layout - init, axis=1)
    assert np.median(cold) > 5 * np.median(moved)


def test_too_few_points_is_a_config_error_sentence(one_sentence):
    with pytest.raises(ConfigError) as info:
        next(umap_layout(np.zeros((4, 8))))
    one_sentence(str(info.value))
    assert "UMAP" in str(info.value)


def test_a_missing_umap_is_a_config_error_sentence(monkeypatch, one_sentence):
    monkeypatch.setitem(sys.modules, "umap", None)  # what an import finds when umap-learn is not installed
    assert not umap_available()
    with pytest.raises(ConfigError) as info:
        next(umap_layout(clustered(n=30)[0]))
    one_sentence(str(info.value))
    assert "umap-learn" in str(info.value) and "pip install 'latentlab[umap]'" in str(info.value)


def test_importing_the_module_does_not_import_umap_or_numba():
    code = "import sys, latentlab.core.umap_view; print(sorted(m for m in ('umap', 'numba') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
