"""The UMAP view in the app (the optional extra, installed for the tests): laid out on a worker with
progress, decoded through umap's inverse, laid out again warm-started for a replayed epoch."""

from __future__ import annotations

import numpy as np

from latentlab.core.projection import ViewKind
from latentlab.core.umap_view import UMAPProjection
from latentlab.gui.widgets.latent_scatter import VIEWS

UMAP_TIMEOUT_MS = 300_000  # numba compiles umap's kernels on first use: tens of seconds on 2 cores


def test_umap_is_offered_laid_out_in_the_background_and_decoded_through_its_inverse(make_window, qtbot, ui, run16):
    assert ViewKind.UMAP in VIEWS
    window = make_window()
    assert window.open_run_dir(run16)
    explorer, scatter = window.explorer, window.scatter
    scatter.view_box.setCurrentIndex(scatter.view_box.findData(ViewKind.UMAP))
    qtbot.waitUntil(lambda: explorer.tsne is not None and scatter.tsne_button.text() == "Cancel UMAP")
    qtbot.waitUntil(lambda: explorer.tsne is None and explorer.view.kind is ViewKind.UMAP, timeout=UMAP_TIMEOUT_MS)
    view = explorer.view
    assert isinstance(view.projection, UMAPProjection) and scatter.tsne_button.text() == "Run UMAP"
    assert "approximate" in scatter.note.text() and "UMAP" in scatter.note.text()
    ui.drag_marker(scatter, dx=30, dy=-20)
    marker = explorer.marker
    np.testing.assert_allclose(marker.latent, view.projection.inverse(np.array([[marker.x, marker.y]]))[0])
    assert "UMAP's inverse_transform" in window.canvas.caption.text()

    last = explorer.view
    window.timeline.show_epoch(29)  # another epoch: laid out again, from the layout on screen
    request = explorer.tsne
    assert request is not None and request.kind is ViewKind.UMAP and request.epoch == 29
    np.testing.assert_array_equal(request.init, last.points)
    qtbot.waitUntil(lambda: explorer.tsne is None and explorer.view.latents is explorer.snapshot.latents,
                    timeout=UMAP_TIMEOUT_MS)
    assert explorer.view.kind is ViewKind.UMAP and explorer.view.projection.epoch == 29
