"""Posterior uncertainty on the scatter of a real run: a hovered point's 2σ ellipse mapped through
the view (PCA of a 16-D latent, the 2-D latent itself, a t-SNE layout), pinned by a click, and
every point sized or coloured by its item's mean posterior σ, kept through moves and refreshed
by a new snapshot."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from latentlab.core.posterior import ellipse_in_view, mean_sigma
from latentlab.core.projection import ViewKind
from latentlab.gui.widgets.latent_scatter import PALETTE
from latentlab.gui.widgets.posterior_layer import COLOUR_LEVELS, SIZE_RANGE, PointStyle

N_TEST_DIGITS = 359


def far_point(window) -> int:
    """An item well away from the marker, so the pointer is over the point and not the marker."""
    layout = window.scatter.layout_points
    return int(np.argmax(np.linalg.norm(layout - np.array(window.scatter.marker_position()), axis=1)))


def hover(window, ui, qtbot, x: float, y: float) -> None:
    """Move the mouse over view position (x, y) of the scatter, as a person would."""
    QTest.mouseMove(window.scatter.plot.viewport(), ui.view_to_viewport(window.scatter, x, y))
    qtbot.wait(50)


def empty_spot(scatter) -> np.ndarray:
    """A place inside the plot far (in screen pixels) from every point."""
    px = np.array(scatter.plot.getViewBox().viewPixelSize())
    (x0, x1), (y0, y1) = scatter.plot.getViewBox().viewRange()
    grid = np.array([(x, y) for x in np.linspace(x0, x1, 15)[1:-1] for y in np.linspace(y0, y1, 15)[1:-1]])
    gaps = [np.min(np.linalg.norm((scatter.layout_points - g) / px, axis=1)) for g in grid]
    assert max(gaps) > 20
    return grid[int(np.argmax(gaps))]


def pick_style(qtbot, layer, style: PointStyle) -> None:
    """Choose a point style with the keyboard in the scatter's combo box."""
    box = layer.style_box
    box.setFocus()
    for _ in range(box.count()):
        if box.currentData() is style:
            return
        QTest.keyClick(box, Qt.Key.Key_Down if box.findData(style) > box.currentIndex() else Qt.Key.Key_Up)
    assert box.currentData() is style


def curve_points(ui, layer) -> np.ndarray:
    return np.column_stack(ui.curve_data(layer.curve))


def test_hovering_a_point_draws_its_exact_posterior_ellipse_on_the_pca_view(make_window, ui, qtbot, run16):
    window = make_window()
    assert window.open_run_dir(run16)
    view, snap, layer = window.explorer.view, window.explorer.snapshot, window.posteriors.layer
    assert view.kind is ViewKind.PCA and not layer.ellipse_shown()
    i = far_point(window)
    hover(window, ui, qtbot, *view.points[i])
    j = window.posteriors.hovered
    assert j >= 0 and window.posteriors.shown_item == j and layer.ellipse_shown()
    expected = ellipse_in_view(view.projection, snap.latents[j], snap.logvars[j])
    drawn = curve_points(ui, layer)
    np.testing.assert_allclose(drawn, expected.outline)
    # Centred on the item's own point, and the 2σ contour of W diag(σ²) Wᵀ, computed here apart.
    np.testing.assert_allclose(window.posteriors.shown.centre, window.scatter.layout_points[j], atol=1e-9)
    w = view.projection.components
    cov = w @ np.diag(np.exp(snap.logvars[j].astype(np.float64))) @ w.T
    d = drawn - view.points[j]
    np.testing.assert_allclose(np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d), 4.0, rtol=1e-6)
    caption = layer.label.textItem.toPlainText()
    assert caption == f"2σ posterior of item {j}, mean σ {mean_sigma(snap.logvars[j]):.3f}"

    hover(window, ui, qtbot, *empty_spot(window.scatter))  # away from every point: gone
    assert window.posteriors.hovered == -1 and not layer.ellipse_shown() and window.posteriors.shown is None


def test_on_the_2d_latent_the_ellipse_spans_two_sigma_around_the_point(make_window, ui, qtbot, run2):
    window = make_window()
    assert window.open_run_dir(run2)
    view, snap, layer = window.explorer.view, window.explorer.snapshot, window.posteriors.layer
    assert view.kind is ViewKind.LATENT
    i = far_point(window)
    hover(window, ui, qtbot, *view.points[i])
    j = window.posteriors.hovered
    assert j >= 0
    drawn = curve_points(ui, layer)
    sigma = np.exp(0.5 * snap.logvars[j].astype(np.float64))
    mu = snap.latents[j].astype(np.float64)
    np.testing.assert_allclose(drawn.min(axis=0), mu - 2 * sigma, rtol=0.01)  # 64 segments: within 1%
    np.testing.assert_allclose(drawn.max(axis=0), mu + 2 * sigma, rtol=0.01)
    np.testing.assert_allclose(window.scatter.layout_points[j], mu, atol=1e-9)


def test_a_clicked_point_keeps_its_ellipse_until_the_marker_leaves_it(make_window, ui, qtbot, run16):
    window = make_window()
    assert window.open_run_dir(run16)
    scatter, layer = window.scatter, window.posteriors.layer
    i = far_point(window)
    pos = ui.view_to_viewport(scatter, *scatter.layout_points[i])
    QTest.mouseClick(scatter.plot.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)
    qtbot.waitUntil(lambda: window.explorer.marker.item is not None, timeout=5000)
    j = window.explorer.marker.item
    hover(window, ui, qtbot, *empty_spot(scatter))
    assert window.posteriors.hovered == -1 and window.posteriors.shown_item == j and layer.ellipse_shown()
    np.testing.assert_allclose(window.posteriors.shown.centre, scatter.layout_points[j], atol=1e-9)

    ui.drag_marker(scatter, 30, -25)  # the marker leaves the item: nothing pinned any more
    assert window.explorer.marker.item is None
    assert window.posteriors.hovered == -1 and not layer.ellipse_shown()


def test_size_by_sigma_orders_the_points_and_survives_moves_and_a_new_snapshot(make_window, ui, qtbot, run16):
    window = make_window()
    assert window.open_run_dir(run16)
    layer, points, explorer = window.posteriors.layer, window.scatter.points, window.explorer
    brushes = list(points.data["brush"])
    pick_style(qtbot, layer, PointStyle.SIZE)
    sigmas = mean_sigma(explorer.snapshot.logvars)
    sizes = np.array(points.data["size"], dtype=np.float64)
    assert sizes.shape == (N_TEST_DIGITS,)
    assert np.all(np.diff(sizes[np.argsort(sigmas)]) >= 0)  # ordered like the sigmas
    assert sizes.min() == SIZE_RANGE[0] and sizes.max() == SIZE_RANGE[1] and len(np.unique(sizes)) > 5
    assert all(a is b for a, b in zip(points.data["brush"], brushes))  # still the class colours
    assert layer.key.isVisible() and layer.key.text().startswith("σ ")

    # A t-SNE layout (a stand-in: its points arrive as a running t-SNE's would) moves the points
    # in place: the sizes stay, no restyle of every point, and the ellipse says it is approximate.
    restyles = layer.restyles
    request = explorer.choose_view(ViewKind.TSNE)
    layout = np.random.default_rng(0).normal(size=(N_TEST_DIGITS, 2)) * 10
    assert explorer.tsne_progress(request.generation, layout, 0.5)
    np.testing.assert_array_equal(window.scatter.layout_points, layout)
    np.testing.assert_array_equal(points.data["size"], sizes)
    assert layer.restyles == restyles
    i = far_point(window)
    hover(window, ui, qtbot, *layout[i])
    j = window.posteriors.hovered
    assert j >= 0 and not window.posteriors.shown.exact
    assert layer.label.textItem.toPlainText().endswith("(approximate: t-SNE is no linear map)")
    np.testing.assert_allclose(window.posteriors.shown.centre, layout[j], atol=1e-9)
    explorer.cancel_tsne()
    qtbot.waitUntil(lambda: explorer.view.kind is ViewKind.PCA, timeout=30_000)
    np.testing.assert_array_equal(points.data["size"], sizes)

    # A newer snapshot with other posteriors: the sizes follow its sigmas.
    snap = explorer.snapshot
    explorer.apply_snapshot(replace(snap, epoch=snap.epoch + 1, logvars=snap.logvars[::-1].copy()))
    resized = np.array(points.data["size"], dtype=np.float64)
    np.testing.assert_array_equal(resized, sizes[::-1])


def test_colour_by_sigma_then_plain_restores_the_class_colours(make_window, ui, qtbot, run16):
    window = make_window()
    assert window.open_run_dir(run16)
    layer, points, scatter = window.posteriors.layer, window.scatter.points, window.scatter
    labels = window.explorer.contents.test_labels
    pick_style(qtbot, layer, PointStyle.COLOUR)
    colours = [b.color().name() for b in points.data["brush"]]
    sigmas = mean_sigma(window.explorer.snapshot.logvars)
    least, most = int(np.argmin(sigmas)), int(np.argmax(sigmas))
    assert colours[least] != colours[most]
    assert len(set(colours)) > 10 and len(set(colours)) <= COLOUR_LEVELS
    assert not set(colours) & {c.lower() for c in PALETTE}  # no class colour left
    assert not scatter.legend.isVisible() and layer.key.isVisible()
    assert np.all(np.array(points.data["size"]) == -1)  # one size

    pick_style(qtbot, layer, PointStyle.PLAIN)
    assert [b.color().name() for b in points.data["brush"]] == [PALETTE[c] for c in labels]
    assert np.all(np.array(points.data["size"]) == -1)
    assert scatter.legend.isVisible() and not layer.key.isVisible()


def test_a_style_carries_over_to_the_next_run_opened(make_window, qtbot, run16, run2):
    window = make_window()
    assert window.open_run_dir(run16)
    layer, scatter = window.posteriors.layer, window.scatter
    pick_style(qtbot, layer, PointStyle.SIZE)
    assert window.open_run_dir(run2)
    qtbot.waitUntil(lambda: window.explorer.view is not None and window.explorer.view.kind is ViewKind.LATENT,
                    timeout=30_000)
    sizes = np.array(scatter.points.data["size"], dtype=np.float64)
    sigmas = mean_sigma(window.explorer.snapshot.logvars)
    assert np.all(np.diff(sizes[np.argsort(sigmas)]) >= 0) and sizes.max() == SIZE_RANGE[1]
    assert [b.color().name() for b in scatter.points.data["brush"]] == \
        [PALETTE[c] for c in window.explorer.contents.test_labels]


@pytest.mark.parametrize("style", [PointStyle.SIZE, PointStyle.COLOUR])
def test_a_drag_never_restyles_the_points(make_window, ui, qtbot, run16, style):
    window = make_window()
    assert window.open_run_dir(run16)
    layer = window.posteriors.layer
    pick_style(qtbot, layer, style)
    restyles = layer.restyles
    ui.drag_marker(window.scatter, 40, 30)
    assert layer.restyles == restyles


def test_a_new_snapshot_redraws_only_the_points_whose_sigma_level_moved(qtbot):
    from latentlab.core.posterior import sigma_scale
    from latentlab.gui.widgets.latent_scatter import LatentScatter
    from latentlab.gui.widgets.posterior_layer import PosteriorLayer

    scatter = LatentScatter()
    qtbot.addWidget(scatter)
    rng = np.random.default_rng(2)
    scatter.set_points(rng.normal(size=(500, 2)), rng.integers(0, 10, 500), tuple("0123456789"))
    layer = PosteriorLayer(scatter)
    sigmas = np.exp(rng.normal(-1.0, 0.4, 500))
    layer.set_sigmas(sigma_scale(sigmas))
    layer.set_style(PointStyle.SIZE)
    data = scatter.points.data
    sigmas[:20] *= 3.0  # a newer snapshot: a few items less certain, the rest as they were
    layer.set_sigmas(sigma_scale(sigmas))
    expected = np.round(SIZE_RANGE[0] + sigma_scale(sigmas).unit * (SIZE_RANGE[1] - SIZE_RANGE[0]))
    np.testing.assert_array_equal(data["size"], expected)
    # Every point's cached symbol is the one a full lookup gives it.
    kept = data["sourceRect"].copy()
    data["sourceRect"] = 0
    scatter.points.updateSpots(data)
    np.testing.assert_array_equal(data["sourceRect"], kept)
