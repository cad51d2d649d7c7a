"""The decoded manifold on real runs: the visible view tiled with the decodings of its inverse at
each tile's centre, exact on the 2-D latent and PCA views, approximate on t-SNE; redrawn after
a zoom; faded by its slider; decoded on the worker thread when that is the faster way, with
stale results dropped."""

from __future__ import annotations

import threading

import numpy as np
from PySide6.QtCore import QPointF, Qt

from latentlab.core.manifold import tile_grid
from latentlab.core.projection import ViewKind
from latentlab.gui import tile_decoder
from latentlab.gui.widgets.images import to_display
from latentlab.gui.widgets.manifold_layer import mosaic

WAIT_MS = 30_000


def turn_on(window, qtbot) -> None:
    """Tick the scatter's Manifold box as a person would, and wait for the first tiles."""
    before = window.manifold.updates
    toggle = window.manifold.layer.toggle
    qtbot.mouseClick(toggle, Qt.MouseButton.LeftButton, pos=toggle.rect().center())
    assert toggle.isChecked()
    qtbot.waitUntil(lambda: window.manifold.updates > before, timeout=WAIT_MS)


def tile_on_screen(layer, x: float, y: float, h: int, w: int) -> np.ndarray:
    """The pixels the layer's image shows for the h x w tile centred at view point (x, y), upright.

    Found through pyqtgraph's own mapping from the view to the image's pixels, not the layer's.
    """
    p = layer.image.mapFromView(QPointF(x, y))  # row-major image: x is the column, y the row
    r0, c0 = round(p.y() - h / 2), round(p.x() - w / 2)
    return layer.image.image[r0:r0 + h, c0:c0 + w][::-1]  # the view's y points up: row 0 is drawn lowest


def assert_tiles_decode_the_view_at_their_centres(window) -> None:
    explorer, shown, layer = window.explorer, window.manifold.shown, window.manifold.layer
    projection = explorer.view.projection
    expected = to_display(explorer.decode(projection.inverse(shown.centres)))
    h, w = expected.shape[1:3]
    assert shown.images.shape[0] == len(shown.centres) == shown.grid.n**2
    for i, (x, y) in enumerate(shown.centres):
        np.testing.assert_allclose(tile_on_screen(layer, x, y, h, w), expected[i], atol=1e-5)
        one = to_display(explorer.decode(projection.inverse(np.array([[x, y]]))))[0]  # each tile on its own
        np.testing.assert_allclose(tile_on_screen(layer, x, y, h, w), one, atol=1e-5)


def visible_grid(window):
    return tile_grid(*window.manifold.layer.visible_range(), window.manifold.tiles)


def test_the_mosaic_centres_each_colour_tile_in_an_even_cell_with_the_top_row_drawn_highest():
    rng = np.random.default_rng(0)
    images = rng.random((9, 3, 4, 5)).astype(np.float32)  # 3 x 3 colour tiles, 4 high, 5 wide
    shown = mosaic(images, 3)
    assert shown.shape == (3 * 6, 3 * 7, 3)  # cells of (4 + 2) x (5 + 2): they divide the image evenly
    upright = shown[::-1]  # array row 0 is drawn at the bottom of a view whose y axis points up
    for i, expected in enumerate(to_display(images)):
        r, c = divmod(i, 3)
        np.testing.assert_array_equal(upright[r * 6 + 1:r * 6 + 5, c * 7 + 1:c * 7 + 6], expected)
    assert np.all(upright[0] == upright[0, 0]) and np.all(upright[:, 6] == upright[0, 0])  # gaps, one shade


def test_the_2d_latent_views_tiles_decode_their_centres_exactly(make_window, qtbot, run2):
    window = make_window()
    assert window.open_run_dir(run2)
    assert window.explorer.view.kind is ViewKind.LATENT
    turn_on(window, qtbot)
    shown, layer = window.manifold.shown, window.manifold.layer
    assert shown.grid == visible_grid(window) and shown.grid.n == 12 and shown.exact
    np.testing.assert_array_equal(shown.latents, shown.centres)  # the inverse of the latent view is the point itself
    assert_tiles_decode_the_view_at_their_centres(window)
    h, w = window.explorer.contents.image_shape[1:]
    for i in (0, 11, 77, 143):  # what the self-test reads is what is on screen
        np.testing.assert_array_equal(layer.displayed_tile(i), tile_on_screen(layer, *shown.centres[i], h, w))
    # Tile (0, 0) is the top-left of the view: the largest y, the smallest x.
    (x0, x1), (y0, y1) = layer.visible_range()
    first = shown.centres[0]
    assert first[0] < (x0 + x1) / 2 < shown.centres[-1][0] and first[1] > (y0 + y1) / 2 > shown.centres[-1][1]
    bounds = layer.image.mapRectToView(layer.image.boundingRect())
    np.testing.assert_allclose([bounds.left(), bounds.right(), bounds.top(), bounds.bottom()], [x0, x1, y0, y1])
    assert layer.image.isVisible() and layer.image.zValue() < window.scatter.points.zValue()
    assert "exact" in layer.note.toPlainText() and layer.note.isVisible()


def test_pca_tiles_lie_on_the_plane_and_decode_its_inverse(make_window, qtbot, run16):
    window = make_window()
    assert window.open_run_dir(run16)
    projection = window.explorer.view.projection
    assert projection.kind is ViewKind.PCA
    turn_on(window, qtbot)
    shown = window.manifold.shown
    assert shown.exact and shown.latents.shape == (144, 16)
    np.testing.assert_allclose(projection.transform(shown.latents), shown.centres, atol=1e-9)
    centred = shown.latents - projection.mean
    off_plane = centred - centred @ projection.components.T @ projection.components
    np.testing.assert_allclose(off_plane, 0, atol=1e-9)  # nothing outside the principal plane
    assert_tiles_decode_the_view_at_their_centres(window)
    images = window.explorer.decode(shown.latents)
    assert np.abs(images[0] - images[-1]).mean() > 0.05  # opposite corners of the view decode differently


def test_a_zoom_redraws_the_tiles_for_the_new_rectangle(make_window, qtbot, run16):
    window = make_window()
    assert window.open_run_dir(run16)
    turn_on(window, qtbot)
    first = window.manifold.shown.grid
    before = window.manifold.updates
    cx, cy = (first.x0 + first.x1) / 2, (first.y0 + first.y1) / 2
    half_w, half_h = (first.x1 - first.x0) / 6, (first.y1 - first.y0) / 6
    window.scatter.plot.getViewBox().setRange(xRange=(cx - half_w, cx + half_w), yRange=(cy - half_h, cy + half_h),
                                              padding=0)
    qtbot.waitUntil(lambda: window.manifold.updates > before, timeout=WAIT_MS)
    shown = window.manifold.shown
    assert shown.grid == visible_grid(window) != first
    assert shown.grid.x1 - shown.grid.x0 < (first.x1 - first.x0) / 2
    assert_tiles_decode_the_view_at_their_centres(window)
    qtbot.wait(300)  # the range has long settled: it is not decoded again for the same rectangle
    assert window.manifold.updates == before + 1


def test_toggling_off_hides_the_tiles_and_the_slider_fades_them(make_window, qtbot, run2):
    window = make_window()
    assert window.open_run_dir(run2)
    layer = window.manifold.layer
    assert not layer.fade.isEnabled() and not layer.image.isVisible()
    turn_on(window, qtbot)
    assert layer.fade.isEnabled()
    layer.fade.setValue(25)
    assert np.isclose(layer.image.opacity(), 0.25)
    layer.fade.setValue(90)
    assert np.isclose(layer.image.opacity(), 0.90)
    qtbot.mouseClick(layer.toggle, Qt.MouseButton.LeftButton, pos=layer.toggle.rect().center())
    assert not layer.toggle.isChecked()
    assert not layer.image.isVisible() and not layer.note.isVisible() and window.manifold.shown is None
    before = window.manifold.updates
    window.scatter.plot.getViewBox().scaleBy((0.5, 0.5))
    qtbot.wait(300)
    assert window.manifold.updates == before  # nothing is decoded while it is off
    turn_on(window, qtbot)
    assert layer.image.isVisible() and np.isclose(layer.image.opacity(), 0.90)


def test_on_a_tsne_view_the_tiles_say_they_are_approximate(make_window, qtbot, run16):
    window = make_window()
    assert window.open_run_dir(run16)
    turn_on(window, qtbot)
    explorer = window.explorer
    pca_points = explorer.view.points
    request = explorer.choose_view(ViewKind.TSNE)  # laid out here from the PCA points: no t-SNE run needed
    layout = pca_points * 10 + np.random.default_rng(0).normal(scale=0.5, size=pca_points.shape)
    before = window.manifold.updates
    assert explorer.tsne_progress(request.generation, layout, 1.0)
    qtbot.waitUntil(lambda: window.manifold.updates > before, timeout=WAIT_MS)
    shown, layer = window.manifold.shown, window.manifold.layer
    assert explorer.view.kind is ViewKind.TSNE and not shown.exact
    note = layer.note.toPlainText()
    assert "approximate" in note and "t-SNE has no inverse" in note
    assert shown.grid == visible_grid(window)
    np.testing.assert_allclose(shown.latents, explorer.view.projection.inverse(shown.centres))
    assert_tiles_decode_the_view_at_their_centres(window)


def test_the_worker_path_delivers_the_tiles_and_drops_stale_ones(make_window, qtbot, run16, monkeypatch):
    window = make_window()
    assert window.open_run_dir(run16)
    presenter = window.manifold
    presenter.background_above_ms = 0.0  # every grid costs more than that: all go to the worker
    gate, taken = threading.Event(), threading.Event()
    compute = tile_decoder.compute_tiles

    def held_back(job, decoder):  # the first job waits until the test has made it stale
        taken.set()
        assert gate.wait(30)
        return compute(job, decoder)

    monkeypatch.setattr(tile_decoder, "compute_tiles", held_back)
    layer = presenter.layer
    try:
        qtbot.mouseClick(layer.toggle, Qt.MouseButton.LeftButton, pos=layer.toggle.rect().center())
        assert taken.wait(30) and presenter.shown is None  # on the worker, not yet shown
        # While it is decoded the user zooms in: that tile grid is the one that must appear.
        window.scatter.plot.getViewBox().scaleBy((0.5, 0.5))
        qtbot.waitUntil(lambda: presenter.worker.busy and presenter._asked is not None
                        and presenter._asked[0] == visible_grid(window), timeout=WAIT_MS)
    finally:
        gate.set()
    qtbot.waitUntil(lambda: presenter.shown is not None, timeout=WAIT_MS)
    assert presenter.dropped >= 1 and presenter.updates == 1  # the first job's tiles never reached the screen
    shown = presenter.shown
    assert shown.background and shown.grid == visible_grid(window)
    assert_tiles_decode_the_view_at_their_centres(window)  # the worker's own decoder: the same decodings

    # A newer snapshot: its tiles come from the worker too, for the same rectangle.
    before = presenter.updates
    window.explorer.apply_snapshot(window.explorer.snapshot)
    qtbot.waitUntil(lambda: presenter.updates > before and not presenter.busy, timeout=WAIT_MS)
    assert presenter.shown.background and presenter.shown.grid == visible_grid(window)

    window.close()
    layer.range_settled.emit()  # a range that settles after the close starts nothing
    qtbot.wait(50)
    assert not [t for t in threading.enumerate() if t.name == "latentlab-manifold-tiles"]  # closed with the window
