"""The self-test's checks of the instruments: traversal, direction, slerp, manifold, posterior ellipse,
encode image, NLL, scrubber, run B, UMAP, all items.

Each takes the app and a window that shows a trained run on a PCA view, acts on it as the
user would, checks the result against the model's own arithmetic, and returns a line for
``result.json`` (raising on a failure). ``run_self_test`` runs them in order.
"""

from __future__ import annotations

from .self_test import wait_for


def traversal(app, window) -> str:
    import numpy as np

    from latentlab.core.projection import ViewKind

    shown, before = window.traversals.shown, window.traversal.updates
    if shown is None:
        raise RuntimeError("the traversal grid is empty")
    rows, columns = shown.shape
    expected = len(window.explorer.snapshot.kl_per_dim) + (2 if window.explorer.view.kind is ViewKind.PCA else 0)
    if rows != expected:
        raise RuntimeError(f"the grid has {rows} rows for {expected} directions")
    x, y = window.explorer.view.points[1]
    window.scatter.set_marker(float(x), float(y), emit=True)
    wait_for(app, lambda: window.traversal.updates > before, 10, "the grid to follow the marker")
    z = window.explorer.marker.latent
    row = window.traversals.shown.rows[-1]
    held = np.delete(window.traversals.shown.latent(rows - 1, 0), row.dim)
    if not np.allclose(held, np.delete(z, row.dim)):
        raise RuntimeError("a traversal row does not hold the other coordinates at the marker's z")
    target = window.traversals.shown.latent(rows - 1, columns - 1)
    window.traversal.cell_clicked.emit(rows - 1, columns - 1)
    if not np.allclose(window.explorer.marker.latent, target):
        raise RuntimeError("clicking a cell did not move the marker to its latent")
    return f"{rows} rows x {columns} columns, following the marker"


def direction(app, window) -> str:
    import numpy as np

    explorer, tool, slider = window.explorer, window.directions.selection, window.canvas.direction
    points, latents = explorer.view.points, explorer.snapshot.latents.astype(np.float64)
    low, middle, high = np.quantile(points, [0.1, 0.5, 0.9], axis=0)
    try:
        tool.set_target("A")
        a = tool.select_box(tuple(low), tuple(middle))  # what a box dragged over the scatter reports
        tool.set_target("B")
        b = tool.select_box(tuple(middle), tuple(high))
        chosen = explorer.selections
        if not (len(a) and len(b)) or set(chosen) != {"A", "B"}:
            raise RuntimeError("the boxes selected no points")
        if not (np.array_equal(chosen["A"].indices, a) and np.array_equal(chosen["B"].indices, b)):
            raise RuntimeError("the selections are not the points inside the boxes")
        along = explorer.direction
        if along is None or not np.allclose(along.vector, latents[b].mean(axis=0) - latents[a].mean(axis=0)):
            raise RuntimeError("the direction is not mean(B) - mean(A) of the test latents")
        origin = np.array(explorer.marker.latent)
        slider.slider.setValue(150)
        if not np.allclose(explorer.marker.latent - origin, 1.5 * along.unit):
            raise RuntimeError("the slider did not move the marker 1.5 σ along the direction")
        row = window.traversals.shown.rows[0]
        if row.label != f"direction {along.label}" or not np.allclose(row.direction, along.unit):
            raise RuntimeError("the traversal grid has no row along the direction")
    finally:
        explorer.clear_selections()
    return f"A {len(a)} and B {len(b)} items, {along.length:.2f} σ apart; the marker walked 1.5 σ along it"


def slerp(app, window) -> str:
    import numpy as np

    from latentlab.core.directions import interpolate

    from .widgets.images import tile, to_display

    explorer, canvas = window.explorer, window.canvas
    latents = explorer.view.latents.astype(np.float64)
    norms = np.linalg.norm(latents, axis=1)
    first = int(np.argmax(norms))
    cosines = latents @ latents[first] / (norms * norms[first] + 1e-12)
    wide = int(np.argmin(np.where(cosines > -0.95, cosines, np.inf)))  # a wide angle, but not opposite
    for item, button in ((first, canvas.a_button), (wide, canvas.b_button)):
        explorer.select_item(item)
        button.click()
    canvas.path_box.setCurrentIndex(canvas.path_box.findData("spherical"))
    try:
        a, b, steps = explorer.endpoints["A"], explorer.endpoints["B"], canvas.steps.value()
        arc, line = window.directions.path_latents, interpolate(a, b, steps, "linear")
        if arc is None or not np.array_equal(arc, interpolate(a, b, steps, "spherical")):
            raise RuntimeError("the strip's path is not the spherical interpolation from A to B")
        if not (np.array_equal(arc[0], line[0]) and np.array_equal(arc[-1], line[-1])):
            raise RuntimeError("slerp and lerp do not agree at their endpoints")
        if np.allclose(arc[steps // 2], line[steps // 2]):
            raise RuntimeError("the spherical path is the straight one")
        decoded = tile(to_display(explorer.decode(arc)), columns=steps)
        if not np.allclose(canvas.strip.image, decoded, atol=1e-5):
            raise RuntimeError("the strip does not show the decodings along the path")
        drawn = window.directions.path.points()
        if drawn is None or not np.allclose(drawn, explorer.view.projection.transform(arc)):
            raise RuntimeError("the path drawn on the scatter is not the view's transform of the strip")
    finally:
        canvas.path_box.setCurrentIndex(canvas.path_box.findData("linear"))
    norms = np.linalg.norm(arc[steps // 2]), np.linalg.norm(line[steps // 2])
    return f"{steps} steps; |z| mid-path {norms[0]:.2f} (slerp) vs {norms[1]:.2f} (lerp)"


def manifold(app, window) -> str:
    import numpy as np

    from .widgets.images import to_display

    presenter, layer, explorer = window.manifold, window.manifold.layer, window.explorer
    before = presenter.updates
    layer.toggle.setChecked(True)
    try:
        wait_for(app, lambda: presenter.updates > before, 30, "the manifold's tiles")
        shown, view = presenter.shown, explorer.view
        grid, n = shown.grid, shown.grid.n
        if not layer.image.isVisible() or layer.grid is not grid:
            raise RuntimeError("the manifold's tiles are not on screen")
        if ((grid.x0, grid.x1), (grid.y0, grid.y1)) != layer.visible_range():
            raise RuntimeError("the tiles do not cover the visible part of the view")
        if not len(shown.images) == len(shown.centres) == n * n:
            raise RuntimeError(f"{len(shown.images)} tiles shown for a {n}x{n} grid")
        for index in (0, n * n // 2 + n // 3, n * n - 1):
            expected = to_display(explorer.decode(view.projection.inverse(shown.centres[index][None])))[0]
            if not np.allclose(layer.displayed_tile(index), expected, atol=1e-5):
                raise RuntimeError(f"tile {index} does not show the decoding of the view's inverse at its centre")
    finally:
        layer.toggle.setChecked(False)
    return f"{n}x{n} tiles, {'exact' if shown.exact else 'approximate'} on the {view.kind.value} view"


def posterior_ellipse(app, window) -> str:
    import numpy as np
    from PySide6.QtCore import QPointF

    from latentlab.core.projection import ViewKind

    explorer, scatter, posteriors = window.explorer, window.scatter, window.posteriors
    view, snap = explorer.view, explorer.snapshot
    if view.kind is not ViewKind.PCA:
        raise RuntimeError(f"the scatter shows the {view.kind.value} view, not PCA")
    far = int(np.argmax(np.linalg.norm(view.points - np.array(scatter.marker_position()), axis=1)))
    # The pointer over that point, as the scene reports a mouse move to the scatter.
    scatter.plot.scene().sigMouseMoved.emit(scatter.plot.getViewBox().mapViewToScene(QPointF(*view.points[far])))
    item = posteriors.hovered
    if item < 0 or posteriors.shown_item != item or not posteriors.layer.ellipse_shown():
        raise RuntimeError("hovering a point drew no posterior ellipse")

    def check(item: int) -> None:  # the outline drawn is the 2σ contour of W diag(σ²) Wᵀ about the point
        x, y = posteriors.layer.curve.getData()
        w = view.projection.components
        d = np.column_stack([x, y]) - view.points[item]
        form = np.einsum("ni,ij,nj->n", d, np.linalg.inv(w @ np.diag(np.exp(snap.logvars[item])) @ w.T), d)
        if not np.allclose(form, 4.0, rtol=1e-4):
            raise RuntimeError(f"item {item}'s ellipse is not its posterior's 2σ contour in the view")

    check(item)
    other = int(np.argmin(np.linalg.norm(view.points - view.points.mean(axis=0), axis=1)))
    scatter.point_clicked.emit(other)  # a click selects it; with no point hovered, its ellipse stays
    scatter.point_hovered.emit(-1)
    if posteriors.shown_item != other:
        raise RuntimeError("the selected point's ellipse is not shown once the pointer leaves")
    check(other)
    return f"items {item} (hovered) and {other} (selected): their 2σ posteriors in the PCA view"


def encode_image(app, window) -> str:
    import tempfile
    from pathlib import Path

    import numpy as np
    from PIL import Image

    from .explorer import MarkerSource

    explorer, scores = window.explorer, window.scores
    k = len(explorer.snapshot.latents) // 3
    scores.clear()
    side = window.encoding.spec().width
    ink = np.zeros((4 * side, 4 * side))
    ink[side // 2 : -side // 2, 2 * side - 2 : 2 * side + 2] = 1.0  # an upright stroke: a drawn "1"
    with tempfile.TemporaryDirectory() as folder:  # kept until scored: the worker reads the file later
        path = Path(folder) / "item.png"
        Image.fromarray(explorer.contents.test_images[k][0]).save(path)  # a test item, as a file a user has
        if window.encoding.encode_files([path]) != 1:
            raise RuntimeError("the image file was not taken")
        if not window.encoding.encode_drawing(ink):
            raise RuntimeError("the drawing was not taken")
        wait_for(app, lambda: len(scores.inputs) == 2 and all(i.nll is not None for i in scores.inputs)
                 and scores.test_is_current(per_item=True), 120, "the images and the test items to be scored")
    item, drawing = sorted(scores.inputs, key=lambda i: i.name != "item.png")  # the file is read on the worker
    if not np.allclose(item.mu, explorer.snapshot.latents[k], atol=1e-5):
        raise RuntimeError("the encoded test image is not at its own posterior mean")
    marker = explorer.marker
    newest = max(scores.inputs, key=lambda i: i.id)
    if marker.source is not MarkerSource.INPUT or not np.allclose(marker.latent, newest.mu):
        raise RuntimeError("the marker is not on the newest image's posterior mean")
    stars = explorer.view.projection.transform(np.stack([i.mu for i in scores.inputs]))
    if not np.allclose(window.inputs.stars.points, stars):
        raise RuntimeError("the stars are not where the view puts the images' means")
    percentiles = [scores.percentile(i) for i in (item, drawing)]
    if any(p is None or not 0 <= p <= 100 for p in percentiles):
        raise RuntimeError("an image has no percentile among the test items")
    scores.clear()
    return (f"test item {k}: NLL {item.nll:.1f} nats, percentile {percentiles[0]:.0f}; "
            f"a drawn 1: NLL {drawing.nll:.1f}, percentile {percentiles[1]:.0f}")


def nll(app, window) -> str:
    import json
    import math

    scores, button = window.scores, window.loss_plot.nll_button
    button.click()
    if not scores.pending_test:
        raise RuntimeError("the Test NLL button started nothing")
    wait_for(app, lambda: not scores.pending_test, 120, "the test NLL")
    test = scores.test
    if not scores.test_is_current(per_item=True) or not math.isfinite(test.mean):
        raise RuntimeError("no test NLL for the model on screen")
    if f"{test.mean:.2f}" not in window.loss_plot.nll_label.text():
        raise RuntimeError("the losses pane does not show the test NLL")
    kept = json.loads((window.run_dir / "run.json").read_text()).get("evaluation") or {}
    if not math.isclose(kept.get("nll", math.nan), test.mean, rel_tol=1e-9):
        raise RuntimeError("the test NLL is not kept in run.json")
    return f"{test.mean:.2f} nats (K={test.samples}) against a test -ELBO of {test.neg_elbo:.2f}, kept in run.json"


def scrubber(app, window) -> str:
    """Replay the first epoch: its own latents on screen and its own decoder behind the marker."""
    import numpy as np

    from latentlab.core.timeline import read_frame

    from .decoder import LatentDecoder

    explorer, scrubber_ = window.explorer, window.scrubber
    epochs = scrubber_.epochs
    if len(epochs) < 2:
        raise RuntimeError(f"the timeline holds {len(epochs)} epoch(s), not two or more")
    scrubber_.slider.setValue(0)
    wait_for(app, lambda: explorer.snapshot.epoch == epochs[0] and explorer.view.latents is explorer.snapshot.latents,
             30, "the first epoch's view")
    kept = read_frame(window.run_dir, epochs[0], like=explorer.timeline.latest)
    if not np.array_equal(explorer.view.latents, kept.latents):
        raise RuntimeError("the replayed view does not show the first epoch's latents")
    z = explorer.view.projection.inverse(explorer.view.points[:3])
    own = LatentDecoder(explorer.contents.config["model"], explorer.contents.image_shape, kept.decoder_state)
    if not np.allclose(explorer.decode(z), own.decode(z), atol=1e-6):
        raise RuntimeError("the replayed epoch is not decoded with its own weights")
    scrubber_.latest_button.click()
    wait_for(app, lambda: explorer.following and explorer.view.latents is explorer.snapshot.latents, 30,
             "the newest epoch again")
    return f"replayed epoch {epochs[0]} of {epochs[-1]} with its own latents and decoder, then followed the newest"


def run_b(app, window) -> str:
    """Open the run as its own B: B's curves, gallery row and decoding must equal A's."""
    import numpy as np

    compare, explorer = window.compare, window.explorer
    if not compare.open_b(window.run_dir):
        raise RuntimeError("the run could not be opened as B")
    try:
        explorer.sample_prior(np.random.default_rng(3))
        app.processEvents()
        a_image, b_image = window.canvas.current_image(), window.canvas.b_image.image
        if b_image is None or a_image is None or not np.allclose(np.squeeze(a_image), np.squeeze(b_image), atol=1e-5):
            raise RuntimeError("B, the same run, does not decode the marker as A does")
        if window.gallery.rows != 3:
            raise RuntimeError("B's reconstructions are not in the gallery")
        if not any(label.text.startswith("B: ") for _, label in window.loss_plot.legend.items):
            raise RuntimeError("B's curves are not in the losses pane's legend")
    finally:
        compare.close_b()
    return "B's curves, gallery row, KL bars and decoding shown, then closed"


def umap_view(app, window) -> str:
    """Lay out a UMAP view (where latentlab[umap] is installed) and decode through its inverse."""
    import numpy as np

    from latentlab.core.projection import ViewKind

    from .widgets.latent_scatter import VIEWS

    if ViewKind.UMAP not in VIEWS:
        return "umap-learn is not installed (pip install 'latentlab[umap]'), so the view is not offered"
    explorer, scatter = window.explorer, window.scatter
    scatter.set_view(ViewKind.UMAP, emit=True)
    wait_for(app, lambda: explorer.tsne is None and explorer.view.kind is ViewKind.UMAP, 600, "the UMAP layout")
    view = explorer.view
    x, y = view.points[:2].mean(axis=0)
    scatter.set_marker(float(x), float(y), emit=True)
    app.processEvents()
    if not np.allclose(explorer.marker.latent, view.projection.inverse(np.array([[x, y]]))[0]):
        raise RuntimeError("the marker does not decode the UMAP view's inverse")
    if "approximate" not in view.projection.describe():
        raise RuntimeError("the UMAP view does not say its inverse is approximate")
    scatter.set_view(ViewKind.PCA, emit=True)
    wait_for(app, lambda: explorer.view.kind is ViewKind.PCA, 30, "the PCA view")
    return f"{len(view.points)} points laid out; decoded through UMAP's inverse"


def all_items(app, window) -> str:
    """Show every digit (training and test), as density with contours, and pick a training item."""
    import numpy as np

    from . import explorer as model
    from .widgets import density_layer

    presenter, explorer = window.all_items, window.explorer
    layer = presenter.layer
    limit = density_layer.MARKER_LIMIT
    density_layer.MARKER_LIMIT = 100  # the 1,797 digits drawn as density, as a million items would be
    try:
        layer.contour_box.setChecked(True)
        layer.show_box.setChecked(True)
        wait_for(app, lambda: presenter.shown is not None and presenter.job is None, 120, "every item placed")
        if not layer.wait_rendered(30):
            raise RuntimeError("the density picture was not drawn")
        shown = presenter.shown
        if explorer.view.projection is not shown.projection or not np.allclose(
                shown.points[: shown.n_test], explorer.view.points, atol=1e-4):
            raise RuntimeError("the test items are not where the view on screen puts them")
        if not layer.image.isVisible() or not any(curve.isVisible() for curve in layer.contour_lines):
            raise RuntimeError("no density image or no contours")
        i = shown.n_test  # the first training item
        x, y = shown.points[i]
        if layer.item_at(float(x), float(y)) < 0:
            raise RuntimeError("a training item is not found under the pointer")
        presenter._on_clicked(i)
        marker = explorer.marker
        if marker.source is not model.MarkerSource.TRAIN_ITEM or not np.allclose(marker.latent,
                                                                                  shown.train_latents[0]):
            raise RuntimeError("clicking a training item did not decode its latent")
    finally:
        density_layer.MARKER_LIMIT = limit
        layer.show_box.setChecked(False)
        layer.contour_box.setChecked(False)
    return f"{len(shown.points)} items ({shown.n_test} test) as density with contours; a training item decoded"
