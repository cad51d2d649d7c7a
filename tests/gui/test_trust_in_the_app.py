"""How far to trust the 2-D view, on the scatter of a real run: each view's trustworthiness and
continuity in a corner of the plot (computed on a worker, stale answers dropped), and rings
around a hovered point's true nearest neighbours in the full latent space."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PySide6.QtTest import QTest

from latentlab.core.projection import ViewKind
from latentlab.core.trust import ViewTrust, view_trust
from latentlab.gui.trust import TrustJob, trust_note

N_TEST_DIGITS = 359


def hover(window, ui, qtbot, x: float, y: float) -> None:
    """Move the mouse over view position (x, y) of the scatter, as a person would."""
    QTest.mouseMove(window.scatter.plot.viewport(), ui.view_to_viewport(window.scatter, x, y))
    qtbot.wait(50)


def far_point(window) -> int:
    """An item well away from the marker, so the pointer is over the point and not the marker."""
    layout = window.scatter.layout_points
    return int(np.argmax(np.linalg.norm(layout - np.array(window.scatter.marker_position()), axis=1)))


def empty_spot(scatter) -> np.ndarray:
    """A place inside the plot far (in screen pixels) from every point."""
    px = np.array(scatter.plot.getViewBox().viewPixelSize())
    (x0, x1), (y0, y1) = scatter.plot.getViewBox().viewRange()
    grid = np.array([(x, y) for x in np.linspace(x0, x1, 15)[1:-1] for y in np.linspace(y0, y1, 15)[1:-1]])
    gaps = [np.min(np.linalg.norm((scatter.layout_points - g) / px, axis=1)) for g in grid]
    return grid[int(np.argmax(gaps))]


def brute_force_neighbours(latents: np.ndarray, i: int, k: int = 10) -> np.ndarray:
    d = np.linalg.norm(latents.astype(np.float64) - latents[i].astype(np.float64), axis=1)
    order = np.lexsort((np.arange(len(d)), d))
    return order[order != i][:k]


def wait_for_trust(window, qtbot) -> ViewTrust:
    qtbot.waitUntil(lambda: window.trust.shown_for is window.explorer.view, timeout=30_000)
    return window.trust.shown


def test_the_2d_latent_itself_is_fully_trustworthy_and_says_so_in_the_top_right_corner(make_window, qtbot, run2):
    window = make_window()
    assert window.open_run_dir(run2)
    view = window.explorer.view
    assert view.kind is ViewKind.LATENT
    trust = wait_for_trust(window, qtbot)
    assert trust == ViewTrust(1.0, 1.0, 10, N_TEST_DIGITS, N_TEST_DIGITS)
    layer = window.trust.layer
    assert layer.note_text() == "trust 1.00 · continuity 1.00 (k=10)"
    assert f"all {N_TEST_DIGITS} points" in layer.note.toolTip()
    # In the view box's top-right corner, clear of the legend (top left) and the manifold's note (bottom left).
    box = window.scatter.plot.getViewBox().sceneBoundingRect()
    note = layer.note.sceneBoundingRect()
    assert box.contains(note) and note.right() > box.right() - 10 and note.top() < box.top() + 10
    assert not note.intersects(window.scatter.legend.sceneBoundingRect())


def test_a_pca_view_shows_core_trusts_figures_for_its_latents_and_points(make_window, qtbot, run16):
    window = make_window()
    assert window.open_run_dir(run16)
    view = window.explorer.view
    assert view.kind is ViewKind.PCA
    trust = wait_for_trust(window, qtbot)
    assert trust == view_trust(view.latents, view.points)  # the same latents, points and sample
    assert 0.0 < trust.trustworthiness < 1.0 and 0.0 < trust.continuity < 1.0
    assert trust.k == 10 and trust.points == N_TEST_DIGITS
    assert window.trust.layer.note_text() == trust_note(trust)
    assert trust_note(trust).startswith(f"trust {int(trust.trustworthiness * 100) / 100:.2f} · continuity ")

    # A newer snapshot: the view is refitted, and scored again for its own latents.
    snap = window.explorer.snapshot
    moved = (snap.latents * np.linspace(1.0, 3.0, snap.latents.shape[1])).astype(np.float32)
    window.explorer.apply_snapshot(replace(snap, epoch=snap.epoch + 1, latents=moved))
    newer = wait_for_trust(window, qtbot)
    assert window.explorer.view is not view
    assert newer == view_trust(moved, window.explorer.view.points)


def test_hovering_a_point_rings_its_true_neighbours_in_the_latent_space(make_window, ui, qtbot, run16):
    window = make_window()
    assert window.open_run_dir(run16)
    view, trust, layer = window.explorer.view, window.trust, window.trust.layer
    assert layer.toggle.isChecked() and len(layer.ring_positions()) == 0
    latents = window.explorer.snapshot.latents
    checked = 0
    for i in [far_point(window), *np.random.default_rng(0).choice(N_TEST_DIGITS, 6, replace=False)]:
        hover(window, ui, qtbot, *view.points[i])
        j = trust.hovered
        if j < 0:
            continue  # under the marker, or between points: nothing hovered
        np.testing.assert_array_equal(trust.highlighted, brute_force_neighbours(latents, j))
        np.testing.assert_allclose(layer.ring_positions(), view.points[trust.highlighted])
        checked += 1
    assert checked >= 3
    index = trust.index_for(view)
    hover(window, ui, qtbot, *empty_spot(window.scatter))  # away from every point: the rings go
    assert trust.hovered == -1 and trust.highlighted is None and len(layer.ring_positions()) == 0
    assert trust.index_for(view) is index  # built once for the snapshot, not per hover

    layer.toggle.setChecked(False)  # off: a hover rings nothing
    i = far_point(window)
    hover(window, ui, qtbot, *view.points[i])
    assert trust.hovered >= 0 and trust.highlighted is None and len(layer.ring_positions()) == 0
    layer.toggle.setChecked(True)  # on again: the point still hovered gets its rings
    np.testing.assert_array_equal(trust.highlighted, brute_force_neighbours(latents, trust.hovered))
    assert len(layer.ring_positions()) == 10


def test_on_the_2d_latent_the_rings_are_the_nearest_points_on_screen(make_window, ui, qtbot, run2):
    window = make_window()
    assert window.open_run_dir(run2)
    view = window.explorer.view
    i = far_point(window)
    hover(window, ui, qtbot, *view.points[i])
    j = window.trust.hovered
    assert j >= 0
    np.testing.assert_array_equal(window.trust.highlighted, brute_force_neighbours(view.points, j))


def test_a_tsne_layout_is_scored_once_final_and_rings_follow_it(make_window, ui, qtbot, run16):
    window = make_window()
    assert window.open_run_dir(run16)
    explorer, trust = window.explorer, window.trust
    wait_for_trust(window, qtbot)
    # A t-SNE layout (a stand-in, arriving as a running t-SNE's would): not scored while it moves.
    request = explorer.choose_view(ViewKind.TSNE)
    rng = np.random.default_rng(1)
    layout = explorer.view.points * 3 + rng.normal(size=(N_TEST_DIGITS, 2))
    assert explorer.tsne_progress(request.generation, layout, 0.5)
    assert trust.layer.note_text() == "trust: once the t-SNE layout is final (k=10)"
    assert trust.shown_for is not explorer.view
    final = layout + rng.normal(scale=0.5, size=layout.shape)
    assert explorer.tsne_progress(request.generation, final, 1.0)
    scored = wait_for_trust(window, qtbot)
    assert scored == view_trust(request.latents, final)
    i = far_point(window)
    hover(window, ui, qtbot, *final[i])
    j = trust.hovered
    assert j >= 0
    np.testing.assert_array_equal(trust.highlighted, brute_force_neighbours(request.latents, j))
    np.testing.assert_allclose(trust.layer.ring_positions(), final[trust.highlighted])


def test_an_answer_for_a_view_no_longer_shown_is_dropped(make_window, qtbot, run16, run2):
    window = make_window()
    assert window.open_run_dir(run16)
    wait_for_trust(window, qtbot)
    old = window.trust._generation
    assert window.open_run_dir(run2)  # another run while nothing of it is scored yet
    shown = wait_for_trust(window, qtbot)
    assert shown.trustworthiness == 1.0  # run2's, whatever the worker still had of run16
    dropped = window.trust.dropped
    stale = ViewTrust(0.1, 0.1, 10, N_TEST_DIGITS, N_TEST_DIGITS)
    window.trust._on_computed(TrustJob(old, np.zeros((1, 2)), np.zeros((1, 2))), stale)
    assert window.trust.dropped == dropped + 1 and window.trust.shown == shown
    assert window.trust.layer.note_text() == "trust 1.00 · continuity 1.00 (k=10)"
