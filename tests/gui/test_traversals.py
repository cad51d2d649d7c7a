"""The traversal grid on a real run: one row per latent dimension by KL (and two along a PCA
view's axes), following the marker, and a click on a cell moving the marker there."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt

from latentlab.core.traversal import ACTIVE_NATS


def row_change(window, row: int) -> float:
    """How much a row's decodings differ from its middle one: the mean pixel change, largest over the row."""
    shown = window.traversals.shown
    rows, columns = shown.shape
    images = window.explorer.decode(shown.latents).reshape(rows, columns, -1)
    return float(np.abs(images[row] - images[row, columns // 2]).mean(axis=1).max())


def test_rows_by_kl_and_an_unused_dimension_decodes_alike(make_window, run16):
    window = make_window()
    assert window.open_run_dir(run16)
    shown = window.traversals.shown
    kl = window.explorer.snapshot.kl_per_dim
    dims = [r.dim for r in shown.rows if r.dim is not None]
    assert shown.shape == (16 + 2, 11)  # the PCA view adds its two axes on top
    assert [r.label for r in shown.rows[:2]] == ["PCA axis 1", "PCA axis 2"]
    assert dims == sorted(range(16), key=lambda d: -kl[d])  # most informative first
    unused = [i for i, r in enumerate(shown.rows) if r.dim is not None and kl[r.dim] < ACTIVE_NATS]
    assert unused, f"the fixture run should have a collapsed dimension (KL {np.round(kl, 3)})"
    assert all(not shown.rows[i].active for i in unused)
    most, least = 2, len(shown.rows) - 1  # the dimension rows with the largest and the smallest KL
    assert row_change(window, most) > 0.1  # pixels in [0, 1]: a visibly different digit across the row
    # After 30 epochs of digits an unused dimension is not yet wholly ignored: about 0.03 here.
    assert row_change(window, least) < min(0.05, 0.2 * row_change(window, most))
    # The middle column holds the marker's own value on each dimension row.
    z = window.explorer.marker.latent
    for i, row in enumerate(shown.rows[2:], start=2):
        np.testing.assert_allclose(np.delete(shown.latent(i, 0), row.dim), np.delete(z, row.dim))
        assert shown.latent(i, 0)[row.dim] == -3.0 and shown.latent(i, 10)[row.dim] == 3.0


def test_hiding_unused_rows_and_a_wider_sweep(make_window, run16):
    window = make_window()
    assert window.open_run_dir(run16)
    grid = window.traversal
    grid.hide_unused.setChecked(True)
    shown = window.traversals.shown
    assert all(r.active for r in shown.rows) and shown.shape[0] < 18
    grid.span.setValue(5.0)
    assert window.traversals.shown.values[[0, -1]].tolist() == [-5.0, 5.0]


def test_the_grid_follows_a_drag_and_a_click_on_a_cell_moves_the_marker(make_window, ui, qtbot, run16):
    window = make_window()
    assert window.open_run_dir(run16)
    before = window.traversal.updates
    ui.drag_marker(window.scatter, 40, -30)
    assert window.traversal.updates > before
    np.testing.assert_allclose(window.traversals.shown.latent(5, 5) - window.traversals.shown.latent(5, 0),
                               window.traversals.shown.rows[5].direction * 3.0, atol=1e-12)
    z, dim = window.explorer.marker.latent, window.traversals.shown.rows[2].dim
    np.testing.assert_allclose(np.delete(window.traversals.shown.latent(2, 5), dim), np.delete(z, dim))  # held at z

    target = window.traversals.shown.latent(3, 9)
    x, y = window.traversal.cell_centre(3, 9)
    grid_view = window.traversal.plot
    pos = grid_view.mapFromScene(grid_view.getViewBox().mapViewToScene(QPointF(x, y)))
    qtbot.mouseClick(grid_view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    marker = window.explorer.marker
    np.testing.assert_allclose(marker.latent, target)
    assert window.canvas.caption.text().startswith("traversal cell z = [")
    row = window.traversals.shown.rows[3]
    np.testing.assert_allclose(np.delete(window.traversals.shown.latent(3, 5), row.dim), np.delete(target, row.dim))
