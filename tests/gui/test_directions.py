"""Directions and paths on a real run (digits, 16-D latent, PCA view): selecting points with a
box, a lasso or a legend click, walking the marker along the direction they define, its
traversal row, and the A-B strip's linear and spherical paths drawn on the scatter."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from latentlab.core.directions import interpolate
from latentlab.core.regions import points_in_box, points_in_polygon
from latentlab.gui.explorer import MarkerSource

SHIFT, ALT, NONE = Qt.KeyboardModifier.ShiftModifier, Qt.KeyboardModifier.AltModifier, Qt.KeyboardModifier.NoModifier
LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def opened(make_window, run16):
    window = make_window()
    assert window.open_run_dir(run16)
    return window


def mouse_drag(qtbot, scatter, pixels: list[QPoint], modifier=NONE) -> None:
    """Press at the first pixel, move through the others, release at the last, holding ``modifier``."""
    viewport = scatter.plot.viewport()
    QTest.mouseMove(viewport, pixels[0])
    qtbot.wait(20)
    QTest.mousePress(viewport, LEFT, modifier, pixels[0])
    for p in pixels[1:]:
        QTest.mouseMove(viewport, p)
        qtbot.wait(20)
    QTest.mouseRelease(viewport, LEFT, modifier, pixels[-1])
    qtbot.wait(30)


def to_view(scatter, pixel: QPoint) -> tuple[float, float]:
    p = scatter.plot.getViewBox().mapSceneToView(scatter.plot.mapToScene(pixel))
    return p.x(), p.y()


def box_pixels(ui, scatter, low: np.ndarray, high: np.ndarray, steps: int = 6) -> list[QPoint]:
    """A drag from view point ``low`` to ``high``, in viewport pixels."""
    start, end = ui.view_to_viewport(scatter, *low), ui.view_to_viewport(scatter, *high)
    return [start + (end - start) * (i / steps) for i in range(steps + 1)]


def box_select(qtbot, ui, scatter, low_q: float, high_q: float) -> np.ndarray:
    """Shift+drag a box between two quantiles of the shown points; returns the points truly inside it."""
    points = scatter.layout_points
    pixels = box_pixels(ui, scatter, np.quantile(points, low_q, axis=0), np.quantile(points, high_q, axis=0))
    mouse_drag(qtbot, scatter, pixels, SHIFT)
    return points_in_box(points, to_view(scatter, pixels[0]), to_view(scatter, pixels[-1]))


def test_a_shift_drag_selects_the_points_in_its_box_into_a_then_b(opened, ui, qtbot):
    window = opened
    scatter, explorer, tool = window.scatter, window.explorer, window.directions.selection
    marker_before, range_before = explorer.marker, scatter.plot.getViewBox().viewRange()

    inside_a = box_select(qtbot, ui, scatter, 0.2, 0.45)
    assert 5 < len(inside_a) < len(scatter.layout_points) // 2
    np.testing.assert_array_equal(explorer.selections["A"].indices, inside_a)
    assert explorer.marker is marker_before  # the drag neither moved the marker ...
    assert scatter.plot.getViewBox().viewRange() == range_before  # ... nor panned the view
    np.testing.assert_allclose(tool.shown_set("A"), explorer.view.points[inside_a])  # ringed where they are
    assert tool.target() == "B"  # A is made: the next selection makes B

    inside_b = box_select(qtbot, ui, scatter, 0.6, 0.9)
    assert len(inside_b) > 5
    np.testing.assert_array_equal(explorer.selections["B"].indices, inside_b)
    latents = explorer.snapshot.latents.astype(np.float64)
    direction = explorer.direction
    assert direction.label == "A → B"
    np.testing.assert_allclose(direction.vector, latents[inside_b].mean(axis=0) - latents[inside_a].mean(axis=0))
    assert "A → B" in window.canvas.direction.description.text() and window.canvas.direction.slider.isEnabled()
    assert f"{len(inside_a)} items" in tool.summary.text()

    ui.click(tool.clear_button)
    assert explorer.selections == {} and explorer.direction is None
    assert len(tool.shown_set("A")) == 0 and not window.canvas.direction.slider.isEnabled()


def test_an_alt_drag_draws_a_lasso_and_a_plain_drag_still_pans(opened, ui, qtbot):
    window = opened
    scatter, explorer = window.scatter, window.explorer
    points = scatter.layout_points
    centre = points.mean(axis=0)
    spread = points.std(axis=0)
    triangle = [centre + spread * v for v in ([-1.0, -0.8], [1.2, -0.6], [0.1, 1.1], [-1.0, -0.8])]
    pixels = [ui.view_to_viewport(scatter, *v) for v in triangle]
    pixels = [a + (b - a) * (i / 5) for a, b in zip(pixels, pixels[1:]) for i in range(5)] + [pixels[-1]]
    mouse_drag(qtbot, scatter, pixels, ALT)
    vertices = np.array([to_view(scatter, p) for p in pixels[:-1]])  # the last closes the lasso on the first
    expected = points_in_polygon(points, vertices)
    assert len(expected) > 10
    np.testing.assert_array_equal(explorer.selections["A"].indices, expected)

    # Without a modifier a drag on empty space pans, and selects nothing.
    before = scatter.plot.getViewBox().viewRange()
    corner = QPoint(scatter.plot.viewport().width() - 20, 20)
    mouse_drag(qtbot, scatter, [corner, corner + QPoint(-40, 30), corner + QPoint(-80, 60)])
    assert scatter.plot.getViewBox().viewRange() != before
    assert set(explorer.selections) == {"A"}
    scatter.fit_view()

    # With Select on, a plain drag off the marker selects; on the marker it still moves it.
    ui.click(window.directions.selection.select_button)
    inside = box_select(qtbot, ui, scatter, 0.5, 0.8)
    np.testing.assert_array_equal(explorer.selections["B"].indices, inside)
    marker = explorer.marker
    start, end = ui.drag_marker(scatter, 30, -20)
    assert explorer.marker is not marker and explorer.marker.source is MarkerSource.DRAG
    assert (ui.marker_viewport_pos(scatter) - end).manhattanLength() <= 2  # it followed the pointer
    assert set(explorer.selections) == {"A", "B"} and len(explorer.selections["B"].indices) == len(inside)


def test_clicking_a_class_in_the_legend_selects_that_class(opened, qtbot):
    window = opened
    scatter, explorer = window.scatter, window.explorer
    labels, classes = explorer.contents.test_labels, explorer.contents.classes
    marker = explorer.marker
    sample, label = scatter.legend.items[3]
    pos = scatter.plot.mapFromScene(label.sceneBoundingRect().center())
    qtbot.mouseClick(scatter.plot.viewport(), LEFT, pos=pos)
    chosen = explorer.selections["A"]
    assert chosen.name == classes[3]
    np.testing.assert_array_equal(chosen.indices, np.flatnonzero(labels == 3))
    assert explorer.marker is marker  # a click on the legend picks no item under it
    # Only A: the direction leads from the marker to the class's centroid.
    latents = explorer.snapshot.latents.astype(np.float64)
    np.testing.assert_allclose(explorer.direction.vector, latents[labels == 3].mean(axis=0) - marker.latent)
    assert explorer.direction.label == f"marker → {classes[3]}"

    pos = scatter.plot.mapFromScene(scatter.legend.items[8][0].sceneBoundingRect().center())  # the sample this time
    qtbot.mouseClick(scatter.plot.viewport(), LEFT, pos=pos)
    np.testing.assert_array_equal(explorer.selections["B"].indices, np.flatnonzero(labels == 8))
    assert scatter.legend.items[8][0].item.isVisible()  # pyqtgraph's own sample would have hidden itself
    assert explorer.direction.label == f"{classes[3]} → {classes[8]}"


def test_the_slider_walks_the_marker_along_the_direction_and_the_grid_gets_its_row(opened, ui, qtbot):
    window = opened
    explorer, slider = window.explorer, window.canvas.direction
    explorer.select_class("A", 3)
    explorer.select_class("B", 8)
    origin = np.array(explorer.marker.latent)
    unit = explorer.direction.unit
    latents = explorer.snapshot.latents.astype(np.float64)
    labels = explorer.contents.test_labels
    np.testing.assert_allclose(unit * explorer.direction.length,
                               latents[labels == 8].mean(axis=0) - latents[labels == 3].mean(axis=0))

    shown = window.traversals.shown
    assert shown.rows[0].label == "direction 3 → 8" and shown.shape[0] == 16 + 2 + 1
    np.testing.assert_allclose(shown.rows[0].direction, unit)

    for ticks in (150, -220, 0, 300):
        slider.slider.setValue(ticks)
        t = ticks / 100
        marker = explorer.marker
        assert marker.source is MarkerSource.DIRECTION
        np.testing.assert_allclose(marker.latent - origin, t * unit, atol=1e-9)  # along it, by t prior σ
        np.testing.assert_allclose((marker.x, marker.y), explorer.view.projection.transform(marker.latent[None])[0])
        np.testing.assert_allclose(window.scatter.marker_position(), (marker.x, marker.y))
        assert window.canvas.caption.text().startswith(f"{t:+.2f} σ along 3 → 8: z = [")
        np.testing.assert_allclose(window.canvas.current_image(), explorer.decode(marker.latent)[0, 0], atol=1e-6)
    qtbot.keyClick(slider.slider, Qt.Key.Key_PageDown)  # as a person would, from the keyboard
    np.testing.assert_allclose(explorer.marker.latent - origin, 2.5 * unit, atol=1e-9)
    # The grid's direction row sweeps the marker's latent along the unit vector.
    row = window.traversals.shown
    np.testing.assert_allclose(row.latent(0, 10) - row.latent(0, 0), 6.0 * unit, atol=1e-9)

    ui.drag_marker(window.scatter, 25, 15)  # the marker went elsewhere: the walk starts again from there
    assert slider.value() == 0.0
    origin = np.array(explorer.marker.latent)
    slider.slider.setValue(-100)
    np.testing.assert_allclose(explorer.marker.latent - origin, -unit, atol=1e-9)


def set_endpoints(window, ui, a: int, b: int) -> None:
    window.explorer.select_item(a)
    ui.click(window.canvas.a_button)
    window.explorer.select_item(b)
    ui.click(window.canvas.b_button)


def strip_tiles(canvas, steps: int, side: int = 8) -> np.ndarray:
    image = canvas.strip.image
    return np.stack([image[:, k * (side + 1): k * (side + 1) + side] for k in range(steps)])


def test_the_strip_is_linear_or_spherical_and_its_path_is_drawn_on_the_scatter(opened, ui, qtbot):
    window = opened
    explorer, canvas, path = window.explorer, window.canvas, window.directions.path
    labels = explorer.contents.test_labels
    a, b = int(np.flatnonzero(labels == 0)[0]), int(np.flatnonzero(labels == 7)[0])
    explorer.select_item(a)
    ui.click(canvas.a_button)
    assert path.points() is None  # hidden until both ends are set
    explorer.select_item(b)
    ui.click(canvas.b_button)
    ends = explorer.endpoints
    steps = canvas.steps.value()

    middles = {}
    for kind, index in (("linear", 0), ("spherical", 1)):
        canvas.path_box.setCurrentIndex(index)
        assert canvas.path_kind() == kind
        z = window.directions.path_latents
        np.testing.assert_array_equal(z, interpolate(ends["A"], ends["B"], steps, kind))
        tiles = strip_tiles(canvas, steps)
        np.testing.assert_allclose(tiles, explorer.decode(z)[:, 0], atol=1e-6)  # the strip decodes the path
        np.testing.assert_allclose(tiles[0], explorer.decode(ends["A"])[0, 0], atol=1e-6)
        np.testing.assert_allclose(tiles[-1], explorer.decode(ends["B"])[0, 0], atol=1e-6)
        np.testing.assert_allclose(path.points(), explorer.view.projection.transform(z))  # the path drawn
        middles[kind] = (z[steps // 2], tiles[steps // 2])
    assert canvas.strip_caption.text() == f"Spherical interpolation (slerp) from A to B in {steps} steps"
    (z_line, img_line), (z_arc, img_arc) = middles["linear"], middles["spherical"]
    assert np.linalg.norm(z_arc) > np.linalg.norm(z_line) + 0.1  # the arc keeps out where the line cuts in
    assert np.abs(img_arc - img_line).max() > 0.01  # and decodes to something else (float noise: 1e-6)

    ui.type_into(canvas.steps, "5")
    assert len(path.points()) == 5 and strip_tiles(canvas, 5).shape[0] == 5
    np.testing.assert_allclose(path.points(), explorer.view.projection.transform(window.directions.path_latents))


def test_another_run_forgets_the_selections_the_walk_and_the_path(opened, ui, run2):
    window = opened
    window.explorer.select_class("A", 1)
    window.explorer.select_class("B", 2)
    window.canvas.direction.slider.setValue(120)
    set_endpoints(window, ui, 0, 1)
    assert window.directions.path.points() is not None
    assert window.open_run_dir(run2)
    explorer = window.explorer
    assert explorer.selections == {} and explorer.direction is None
    assert len(window.directions.selection.shown_set("A")) == 0 and len(window.directions.selection.shown_set("B")) == 0
    assert window.directions.path.points() is None
    assert not window.canvas.direction.slider.isEnabled() and window.canvas.direction.value() == 0.0
    assert window.traversals.shown.rows[0].label != "direction 1 → 2"
    assert window.directions.selection.target() == "A"
