"""Every item on the scatter: training and test items encoded, placed in the view, drawn as density,
hovered, clicked and selected, on the digits (1,797 items) as a person would use it."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from latentlab.core.all_items import dataset_items, encode_means, encoder_from
from latentlab.core.projection import PCAProjection, ViewKind
from latentlab.core.regions import points_in_box, points_in_polygon
from latentlab.gui.explorer import MarkerSource
from latentlab.gui.widgets import density_layer

N_DIGITS, N_TEST_DIGITS = 1797, 359


def _show_all(window, ui, qtbot, timeout=120_000):
    presenter = window.all_items
    ui.click(presenter.layer.show_box)
    qtbot.waitUntil(lambda: presenter.shown is not None and presenter.job is None, timeout=timeout)
    assert presenter.layer.wait_rendered()
    return presenter.shown


@pytest.fixture
def window_all(make_window, ui, qtbot, run16):
    window = make_window()
    assert window.files.open_run(run16)
    qtbot.waitUntil(lambda: window.explorer.view is not None, timeout=30_000)
    return window


def test_all_items_are_every_digit_encoded_by_the_shown_model_with_pca_fitted_on_all(window_all, ui, qtbot):
    window = window_all
    shown = _show_all(window, ui, qtbot)
    explorer = window.explorer
    assert len(shown.points) == N_DIGITS and shown.n_test == N_TEST_DIGITS
    # The training items' latents are the shown model's posterior means of the dataset's training items.
    items = dataset_items(explorer.contents.config)
    model = encoder_from(explorer.contents.config["model"], explorer.contents.image_shape,
                         explorer.snapshot.model_state, torch.device("cpu"))
    expected = encode_means(model, items.train_images, torch.device("cpu"))
    np.testing.assert_allclose(shown.train_latents, expected, atol=1e-5)
    # PCA is fitted on every item, and that one projection is the explorer's: drawn points, test points, drags.
    view = explorer.view
    assert isinstance(view.projection, PCAProjection) and view.projection is shown.projection
    everything = np.concatenate([explorer.snapshot.latents, expected.astype(np.float64)])
    np.testing.assert_allclose(view.projection.mean, everything.mean(axis=0), atol=1e-4)
    np.testing.assert_allclose(shown.points[:N_TEST_DIGITS], view.points, atol=1e-4)
    np.testing.assert_allclose(shown.points[N_TEST_DIGITS:], view.projection.transform(expected), atol=1e-3)
    assert np.array_equal(window.scatter.layout_points, view.points)
    status = window.all_items.layer.status.text()
    assert "1,797 items (1,438 training, 359 test)" in status
    # 1,797 points fit on screen as markers; the test items' own markers make way for them.
    layer = window.all_items.layer
    assert layer.markers.isVisible() and not window.scatter.points.isVisible()
    assert len(layer.markers.data) == N_DIGITS

    ui.click(layer.show_box)  # off again: the test items alone, in a PCA of theirs
    assert window.scatter.points.isVisible() and not layer.markers.isVisible()
    assert window.scatter.hover_points
    qtbot.waitUntil(lambda: explorer.view.projection is not shown.projection, timeout=30_000)
    assert isinstance(explorer.view.projection, PCAProjection)
    np.testing.assert_allclose(explorer.view.projection.mean, explorer.snapshot.latents.mean(axis=0), atol=1e-6)


def test_hovering_and_clicking_a_training_item_previews_and_decodes_it(window_all, ui, qtbot):
    window = window_all
    shown = _show_all(window, ui, qtbot)
    scatter, layer = window.scatter, window.all_items.layer
    viewport = scatter.plot.viewport()
    target = None
    for i in range(N_TEST_DIGITS, N_DIGITS):  # a training item that is the nearest to its own pixel
        pixel = ui.view_to_viewport(scatter, *shown.points[i])
        if not viewport.rect().contains(pixel):
            continue
        p = scatter.plot.getViewBox().mapSceneToView(scatter.plot.mapToScene(pixel))
        marker = ui.marker_viewport_pos(scatter)
        if layer.item_at(p.x(), p.y()) == i and (pixel - marker).manhattanLength() > 30:
            target = (i, pixel)
            break
    assert target is not None
    i, pixel = target
    QTest.mouseMove(viewport, pixel + QPoint(0, 1))
    QTest.mouseMove(viewport, pixel)
    qtbot.waitUntil(lambda: scatter.preview_caption.text().startswith(
        f"Hovering training item {i - N_TEST_DIGITS}"), timeout=5000)
    hx, hy = scatter.highlight.getData()
    assert np.allclose([hx[0], hy[0]], shown.points[i], atol=1e-5)

    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pixel)
    qtbot.waitUntil(lambda: window.explorer.marker.source is MarkerSource.TRAIN_ITEM, timeout=5000)
    marker = window.explorer.marker
    assert marker.item == i - N_TEST_DIGITS
    np.testing.assert_allclose(marker.latent, shown.train_latents[i - N_TEST_DIGITS], atol=1e-6)
    assert window.canvas.caption.text().startswith(f"training item {i - N_TEST_DIGITS}: z = [")
    expected = window.explorer.decode(shown.train_latents[i - N_TEST_DIGITS])[0]
    np.testing.assert_allclose(window.canvas.image.image, expected[0], atol=1e-6)

    # Over a test item, the scatter's own preview (with its recon loss) answers.
    j = next(j for j in range(N_TEST_DIGITS) if layer.item_at(*shown.points[j]) == j
             and viewport.rect().contains(ui.view_to_viewport(scatter, *shown.points[j])))
    QTest.mouseMove(viewport, ui.view_to_viewport(scatter, *shown.points[j]))
    qtbot.waitUntil(lambda: scatter.preview_caption.text().startswith(f"Hovering test item {j}"), timeout=5000)


def test_a_box_and_a_lasso_select_among_every_item(window_all, ui, qtbot):
    window = window_all
    shown = _show_all(window, ui, qtbot)
    tool, presenter = window.directions.selection, window.all_items
    low, high = shown.points.min(axis=0), shown.points.max(axis=0)
    corner, other = tuple(low + 0.2 * (high - low)), tuple(low + 0.6 * (high - low))
    tool.select_box(corner, other)
    inside = points_in_box(shown.points, corner, other)
    assert np.array_equal(presenter.selected("A"), inside)
    assert np.array_equal(window.explorer.selections["A"].indices, inside[inside < N_TEST_DIGITS])
    assert f"A: {len(inside):,} of them" in presenter.layer.status.text()
    assert presenter.layer.wait_rendered() and presenter.layer.set_images["A"].isVisible()

    centre, radius = (low + high) / 2, (high - low) / 3
    angles = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    lasso = np.c_[centre[0] + radius[0] * np.cos(angles), centre[1] + radius[1] * np.sin(angles)]
    tool.select_lasso(lasso)  # the target moved on to B after A
    inside = points_in_polygon(shown.points, lasso)
    assert np.array_equal(presenter.selected("B"), inside)
    assert np.array_equal(window.explorer.selections["B"].indices, inside[inside < N_TEST_DIGITS])

    ui.click(tool.clear_button)
    assert presenter.selected("A") is None and presenter.selected("B") is None
    assert presenter.layer.wait_rendered() and not presenter.layer.set_images["A"].isVisible()


def test_a_real_shift_drag_selects_training_items_too(window_all, ui, qtbot):
    window = window_all
    shown = _show_all(window, ui, qtbot)
    scatter, viewport = window.scatter, window.scatter.plot.viewport()
    rect = viewport.rect()
    start, end = QPoint(rect.width() // 4, rect.height() // 4), QPoint(rect.width() * 3 // 4, rect.height() * 3 // 4)
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, start)
    for k in range(1, 6):
        QTest.mouseMove(viewport, start + (end - start) * k / 5)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, end)
    vb = scatter.plot.getViewBox()
    a = vb.mapSceneToView(scatter.plot.mapToScene(start))
    b = vb.mapSceneToView(scatter.plot.mapToScene(end))
    inside = points_in_box(shown.points, (a.x(), a.y()), (b.x(), b.y()))
    selected = window.all_items.selected("A")
    assert (inside >= N_TEST_DIGITS).any() and np.array_equal(selected, inside)


def test_beyond_the_marker_limit_the_items_are_a_density_image_of_the_region_on_screen(window_all, ui, qtbot,
                                                                                        monkeypatch):
    monkeypatch.setattr(density_layer, "MARKER_LIMIT", 100)
    window = window_all
    shown = _show_all(window, ui, qtbot)
    layer = window.all_items.layer
    assert layer.image.isVisible() and not layer.markers.isVisible()
    (x0, x1), (y0, y1) = layer.view_box.viewRange()
    rect = layer.image.mapRectToParent(layer.image.boundingRect())
    assert np.allclose([rect.left(), rect.right(), rect.top(), rect.bottom()], [x0, x1, y0, y1], rtol=1e-6, atol=1e-9)
    image = layer.image.image
    assert image.shape[:2] == (int(layer.view_box.height()), int(layer.view_box.width()))
    assert (image[..., 3] > 0).sum() > 300  # most of the 1,797 points have a pixel of their own

    # Zoomed in on a few items: they come back as markers, over exactly the region shown.
    centre = shown.points[0].astype(np.float64)
    span = (shown.points.max(axis=0) - shown.points.min(axis=0)).astype(np.float64) / 40
    layer.view_box.setRange(xRange=(centre[0] - span[0], centre[0] + span[0]),
                            yRange=(centre[1] - span[1], centre[1] + span[1]), padding=0)
    assert layer.wait_rendered()
    assert layer.markers.isVisible() and not layer.image.isVisible()
    x, y = layer.markers.getData()
    (x0, x1), (y0, y1) = layer.view_box.viewRange()
    on_screen = (shown.points[:, 0] >= x0) & (shown.points[:, 0] < x1) & (shown.points[:, 1] >= y0) & (
        shown.points[:, 1] < y1)
    assert len(x) == on_screen.sum() >= 1

    window.scatter.fit_view()
    ui.click(layer.contour_box)
    assert layer.wait_rendered()
    drawn = [c for c in layer.contour_lines if c.isVisible()]
    assert len(drawn) == 3 and all(np.isfinite(c.getData()[0]).sum() > 4 for c in drawn)


def test_a_tsne_view_places_the_training_items_with_its_transform(window_all, ui, qtbot):
    window = window_all
    presenter = window.all_items
    ui.click(presenter.layer.show_box)
    qtbot.waitUntil(lambda: presenter.shown is not None, timeout=120_000)
    jobs = []
    submit = presenter._worker.submit
    presenter._worker.submit = lambda job: (jobs.append(job), submit(job))
    ui.click(window.scatter.tsne_button)  # "Run t-SNE": the test items are its sample
    qtbot.waitUntil(lambda: "once the layout finishes" in presenter.layer.status.text(), timeout=30_000)
    assert not presenter.layer.active and window.scatter.points.isVisible()  # the test items move meanwhile
    qtbot.waitUntil(lambda: window.explorer.view.kind is ViewKind.TSNE and window.explorer.tsne is None, timeout=180_000)
    qtbot.waitUntil(lambda: presenter.shown is not None and presenter.shown.projection is window.explorer.view.projection,
                    timeout=120_000)
    view, shown = window.explorer.view, presenter.shown
    assert len(jobs) == 1 and jobs[0].view is view  # nothing placed in a layout still moving, no refits meanwhile
    np.testing.assert_allclose(shown.points[:N_TEST_DIGITS], view.points, atol=1e-4)
    np.testing.assert_allclose(shown.points[N_TEST_DIGITS:50 + N_TEST_DIGITS],
                               view.projection.transform(shown.train_latents[:50].astype(np.float64)), atol=1e-3)


def test_a_run_whose_dataset_is_gone_says_so_and_shows_the_test_items(make_window, ui, qtbot, mnist_run, tmp_path):
    run = tmp_path / "moved"
    shutil.copytree(mnist_run, run)
    meta = json.loads((run / "run.json").read_text())
    meta["config"]["data"]["root"] = str(tmp_path / "nowhere")
    (run / "run.json").write_text(json.dumps(meta))
    window = make_window()
    assert window.files.open_run(run)
    qtbot.waitUntil(lambda: window.explorer.view is not None, timeout=30_000)
    ui.click(window.all_items.layer.show_box)
    qtbot.waitUntil(lambda: window.error_box is not None and window.error_box.isVisible(), timeout=60_000)
    assert "\n" not in window.error_box.text().strip() and "Traceback" not in window.error_box.text()
    assert not window.all_items.layer.show_box.isChecked() and window.scatter.points.isVisible()


def test_another_epoch_fades_the_old_picture_and_places_every_item_again(window_all, ui, qtbot):
    window = window_all
    explorer, presenter = window.explorer, window.all_items
    layer = presenter.layer
    shown = _show_all(window, ui, qtbot)
    presenter._on_clicked(N_TEST_DIGITS + 5)  # the marker on a training item
    assert explorer.marker.source is MarkerSource.TRAIN_ITEM and explorer.marker.item == 5
    epochs = explorer.timeline.epochs
    assert explorer.show_epoch(epochs[len(epochs) // 2])
    # At once: the old places answer nothing and fade; the test items of the epoch shown are back.
    assert layer.stale and layer.item_at(*shown.points[0]) == -1
    assert window.scatter.points.isVisible() and window.scatter.hover_points
    qtbot.waitUntil(lambda: presenter.shown is not None and presenter.shown.snapshot is explorer.snapshot,
                    timeout=120_000)
    again = presenter.shown
    assert not layer.stale and not window.scatter.points.isVisible()
    assert not np.allclose(again.train_latents, shown.train_latents)  # that epoch's own encoder
    np.testing.assert_allclose(again.points[:N_TEST_DIGITS], explorer.view.points, atol=1e-4)
    assert explorer.view.projection is again.projection
    # The marker on the training item decodes that item under the epoch shown.
    assert explorer.marker.source is MarkerSource.TRAIN_ITEM and explorer.marker.item == 5
    np.testing.assert_allclose(explorer.marker.latent, again.train_latents[5], atol=1e-6)
    # Back to the newest epoch: its encoding is kept, not computed again.
    assert explorer.show_epoch(epochs[-1])
    qtbot.waitUntil(lambda: presenter.shown is not None and presenter.shown.snapshot is explorer.snapshot,
                    timeout=120_000)
    assert presenter.shown.train_latents is shown.train_latents


def test_a_set_drawn_while_all_items_are_off_does_not_bring_back_an_older_one(window_all, ui, qtbot):
    window = window_all
    shown = _show_all(window, ui, qtbot)
    tool, presenter = window.directions.selection, window.all_items
    low, high = shown.points.min(axis=0), shown.points.max(axis=0)
    tool.set_target("A")
    tool.select_box(tuple(low), tuple(low + 0.5 * (high - low)))
    assert presenter.selected("A") is not None
    ui.click(presenter.layer.show_box)  # off
    tool.set_target("A")
    tool.select_box(tuple(low + 0.5 * (high - low)), tuple(high))  # the test items alone
    ui.click(presenter.layer.show_box)  # on again
    qtbot.waitUntil(lambda: presenter.shown is not None and presenter.job is None, timeout=120_000)
    assert presenter.selected("A") is None
    assert presenter.layer.wait_rendered() and not presenter.layer.set_images["A"].isVisible()
    assert len(window.explorer.selections["A"].indices)  # the explorer's set is the newer box's


def test_a_point_not_finite_leaves_the_layer_whole():
    from latentlab.gui.widgets.density_layer import LayerPoints

    points = np.array([[0, 0], [np.nan, 1], [2, 3]], dtype=np.float32)
    prepared = LayerPoints.of(points, np.array([0, 1, 2]), np.eye(3))
    np.testing.assert_array_equal(prepared.extent[0], [0, 0])
    np.testing.assert_array_equal(prepared.extent[1], [2, 3])
    np.testing.assert_array_equal(prepared.point_colours, np.eye(3))
    assert prepared.index.nearest(2, 3, (0.1, 0.1), 5) == 2


def test_contours_surround_the_dense_core_where_it_is():
    from latentlab.core.density import Frame, pixel_sums
    from latentlab.gui.widgets.density_layer import _contours

    rng = np.random.default_rng(0)
    x, y = rng.normal(3, 0.5, 100_000).astype(np.float32), rng.normal(-1, 0.5, 100_000).astype(np.float32)
    frame = Frame(0, 10, -5, 5, 402, 398)  # sides not a multiple of the contours' 4-pixel cells
    lines = _contours(pixel_sums(x, y, frame)[0], frame)
    assert len(lines) == 3
    for xs, ys in lines:  # each level a ring about the centre, to within a pixel (0.025)
        finite = np.isfinite(xs)
        assert abs(xs[finite].mean() - 3) < 0.05 and abs(ys[finite].mean() + 1) < 0.05


def test_switching_off_while_the_dataset_loads_lets_it_go(window_all, ui, qtbot, monkeypatch):
    import time

    from latentlab.core import all_items as core_all_items

    load = core_all_items.dataset_items
    monkeypatch.setattr(core_all_items, "dataset_items", lambda config: (time.sleep(1.0), load(config))[1])
    presenter = window_all.all_items
    ui.click(presenter.layer.show_box)
    qtbot.waitUntil(lambda: presenter._worker.busy, timeout=5000)
    ui.click(presenter.layer.show_box)  # off, mid-load
    qtbot.waitUntil(lambda: not presenter._worker.busy, timeout=30_000)
    assert presenter.placer._items is None and presenter.placer._encodings == () and presenter.shown is None
    assert not presenter.layer.active and window_all.scatter.points.isVisible()


def test_another_kind_of_view_or_a_class_click_while_faded_leaves_nothing_old(window_all, ui, qtbot):
    window = window_all
    explorer, presenter = window.explorer, window.all_items
    layer, tool = presenter.layer, window.directions.selection
    shown = _show_all(window, ui, qtbot)
    low, high = shown.points.min(axis=0), shown.points.max(axis=0)
    tool.set_target("A")
    tool.select_box(tuple(low), tuple(low + 0.5 * (high - low)))
    assert layer.wait_rendered() and layer.set_images["A"].isVisible()
    epochs = explorer.timeline.epochs
    assert explorer.show_epoch(epochs[len(epochs) // 2])
    assert layer.stale
    tool.class_clicked.emit("A", 3)  # a legend click while faded: the old box's tint goes
    assert presenter.selected("A") is None and "A" not in layer.sets
    window.scatter.set_view(ViewKind.TSNE, emit=True)  # another kind while faded: the old picture goes at once
    assert not layer.active and not layer.image.isVisible() and not layer.markers.isVisible()
    window.projections.cancel_tsne()
