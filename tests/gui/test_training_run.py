"""A person opens the app, trains on the built-in digits, and drags the decode marker."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF

from latentlab.core.checkpoint import open_run
from latentlab.core.events import RunState
from latentlab.core.projection import ViewKind

N_TEST_DIGITS = 359  # the digits test split: 20% of 1797 items


def test_window_opens_on_defaults_with_its_panes_and_start_enabled(make_window):
    window = make_window()
    assert window.windowTitle() == "latentlab"
    assert window.panel.dataset.currentData() == "digits"
    assert not window.panel.data_dir.isEnabled()  # digits needs no folder
    assert set(window.docks) == {"controls", "losses", "scatter", "canvas", "gallery", "traversal", "images"}
    for key, dock in window.docks.items():
        assert dock.isVisible(), key
        assert dock.widget().isVisible(), key
        assert dock.widget().width() > 50 and dock.widget().height() > 50, key
    assert window.panel.start_button.isEnabled()
    assert not window.panel.pause_button.isEnabled()
    assert not window.panel.stop_button.isEnabled()
    assert window.panel.pause_button.text() == "Pause"
    assert window.controller.state is RunState.IDLE and not window.controller.running
    # Nothing to look at yet: the views wait for the first epoch.
    assert not window.scatter.isEnabled() and not window.canvas.isEnabled()
    assert window.canvas.current_image() is None
    assert len(window.scatter.layout_points) == 0
    assert window.status_epoch.text() == "idle"


def test_short_training_run_fills_every_pane_and_saves_the_run(make_window, ui, qtbot):
    window = make_window()
    ui.set_run_settings(window, epochs=3)
    statuses: list[str] = []
    window.controller.state_changed.connect(statuses.append)
    ui.click(window.panel.start_button)

    # While it runs the buttons say so and the form is locked.
    assert window.controller.running and window.controller.state is RunState.RUNNING
    assert not window.panel.start_button.isEnabled()
    assert window.panel.pause_button.isEnabled() and window.panel.stop_button.isEnabled()
    assert not window.panel.epochs.isEnabled()
    qtbot.waitUntil(lambda: window.status.progress.value() > 0, timeout=180_000)
    assert "epoch" in window.status_epoch.text() and "step" in window.status_epoch.text()
    assert window.status.device.text() == "device: cpu"

    qtbot.waitUntil(lambda: not window.controller.running, timeout=180_000)
    assert statuses[0] is RunState.RUNNING and statuses[-1] is RunState.IDLE
    assert window.error_box is None

    # Loss curves (redrawn on a timer).
    qtbot.waitUntil(lambda: len(ui.curve_data(window.loss_plot.train_curves["elbo"])[0]) > 0, timeout=5000)
    qtbot.waitUntil(lambda: len(ui.curve_data(window.loss_plot.test_curves["elbo"])[0]) == 3, timeout=5000)
    for name in ("elbo", "recon", "kl"):
        x, y = ui.curve_data(window.loss_plot.train_curves[name])
        assert len(x) >= 3 and np.all(np.isfinite(y)) and np.all(np.diff(x) > 0), name
    steps_per_epoch = int(np.ceil((1797 - N_TEST_DIGITS) / window.panel.batch_size.value()))
    assert ui.curve_data(window.loss_plot.train_curves["elbo"])[0][-1] == 3 * steps_per_epoch
    # Scatter: one point per test item; 2-D latent shown as it is.
    assert window.scatter.layout_points.shape == (N_TEST_DIGITS, 2)
    assert window.explorer.view.kind is ViewKind.LATENT and window.scatter.view() is ViewKind.LATENT
    np.testing.assert_allclose(window.scatter.layout_points, window.snapshot.latents)
    assert len(window.scatter.points.data) == N_TEST_DIGITS
    brushes = window.scatter.points.data["brush"]
    labels = window.explorer.contents.test_labels
    legend_colours = [sample.opts["brush"].color().name() for sample in window.scatter.legend_samples]
    assert [b.color().name() for b in brushes] == [legend_colours[c] for c in labels]
    assert len(window.scatter.legend.items) == 10  # one legend entry per digit, in its points' colour
    assert window.scatter.isEnabled() and window.canvas.isEnabled()
    # Canvas: the marker's decoding, 8x8 digits.
    image = window.canvas.current_image()
    assert image is not None and image.shape == (8, 8)
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert window.canvas.caption.text().startswith("z = [")
    # Gallery: 16 probe inputs above their reconstructions.
    gallery = window.gallery.image.image
    assert gallery is not None and gallery.shape == (2 * 8 + 1, 16 * 9 - 1)
    assert window.gallery.caption.text().startswith("Epoch 3")
    # KL bars: one per latent dimension.
    assert len(window.loss_plot.kl_bars.opts["height"]) == 2
    # The run folder holds a committed checkpoint of the finished run.
    assert window.run_dir is not None and window.run_dir.parent == window.runs_root
    run = open_run(window.run_dir)
    assert run.epoch == 3 and run.epoch_complete
    # The status bar says how it ended.
    assert window.status_epoch.text() == f"Finished at epoch 3, step {3 * steps_per_epoch}"
    assert window.status.progress.value() == 1000
    assert window.panel.start_button.isEnabled() and not window.panel.stop_button.isEnabled()


def test_dragging_the_marker_with_the_mouse_decodes_new_images(make_window, ui, qtbot):
    window = make_window()
    ui.train(window, epochs=2)
    scatter, canvas = window.scatter, window.canvas
    before_image = np.array(canvas.current_image(), copy=True)
    before_count = canvas.images_set
    before_pos = scatter.marker_position()
    moves: list[tuple[float, float]] = []
    scatter.marker_moved.connect(lambda x, y: moves.append((x, y)))

    pressed, released = ui.drag_marker(scatter, dx=70, dy=-45)
    qtbot.waitUntil(lambda: canvas.images_set > before_count, timeout=5000)

    after_pos = scatter.marker_position()
    assert len(moves) >= 2, "the drag should report several positions while moving"
    assert after_pos != before_pos
    # Right of and above where it started (view y grows upwards).
    assert after_pos[0] > before_pos[0] and after_pos[1] > before_pos[1]
    # The marker ended under the pointer: within a few pixels of the release point.
    end = ui.marker_viewport_pos(scatter)
    assert abs(end.x() - released.x()) <= 3 and abs(end.y() - released.y()) <= 3, (pressed, released, end)
    assert not np.array_equal(canvas.current_image(), before_image)
    # Mouse moves are coalesced: no more decodes than reported positions.
    assert canvas.images_set - before_count <= len(moves)
    z = window.marker_latent
    np.testing.assert_allclose(z, after_pos, atol=1e-9)  # 2-D latent: the view is the latent
    assert canvas.caption.text() == f"z = [{z[0]:+.2f}, {z[1]:+.2f}]"
    # The decoded image is the decoder's output at the marker's latent.
    np.testing.assert_allclose(canvas.current_image(), window.explorer.decode(z)[0, 0], atol=1e-6)


def test_moving_the_marker_programmatically_decodes_too(make_window, ui, qtbot, cli_run):
    window = make_window()
    assert window.open_run_dir(cli_run)
    count = window.canvas.images_set
    layout = window.scatter.layout_points
    target = layout[np.argmax(layout[:, 0])]  # the right-most test item
    window.scatter.marker.setPos(QPointF(*target))
    qtbot.waitUntil(lambda: window.canvas.images_set == count + 1, timeout=5000)
    np.testing.assert_allclose(window.marker_latent, target)
    decoded = window.explorer.decode(target)[0, 0]
    np.testing.assert_allclose(window.canvas.current_image(), decoded, atol=1e-6)


def test_every_epoch_keeps_its_test_loss_point_when_the_gui_falls_behind(make_window, ui, qtbot):
    """Snapshots are coalesced for drawing, but each epoch's test loss is data and must reach the curve."""
    from latentlab.core.trainer import train as real_train
    from latentlab.gui.controllers.training import TrainingController

    def bursty(config, **kwargs):
        events = list(real_train(config, **kwargs))  # as if training outran the GUI: all events at once
        yield from events

    window = make_window(controller=TrainingController(train_fn=bursty))
    drawn: list[int] = []
    window.controller.snapshot.connect(lambda snap: drawn.append(snap.epoch))
    ui.train(window, epochs=3)
    saved = open_run(window.run_dir).history["epochs"]
    assert [e["epoch"] for e in saved] == [1, 2, 3]
    test = window.loss_plot.history()["test"]
    assert test["step"] == [e["step"] for e in saved]
    np.testing.assert_allclose(test["elbo"], [e["total"] for e in saved])  # a test row's total is the -ELBO
    assert drawn[-1] == 3 and window.snapshot.epoch == 3  # the newest is what is shown


def test_a_second_run_trains_on_as_many_threads_as_the_first(make_window, ui, qtbot):
    """The decoder sets one torch thread on the GUI thread; that must not leak into later runs."""
    import torch

    from latentlab.core.trainer import default_num_threads, train as real_train
    from latentlab.gui.controllers.training import TrainingController

    seen: list[int] = []

    def counting(config, **kwargs):
        seen.append(torch.get_num_threads())  # on the worker thread, as the run begins
        yield from real_train(config, **kwargs)

    try:
        window = make_window(controller=TrainingController(train_fn=counting))
        ui.train(window, epochs=1)
        assert window.explorer.decoder is not None  # the GUI thread's decoder now exists
        ui.train(window, epochs=1)
        assert seen == [default_num_threads(), default_num_threads()]
    finally:
        torch.set_num_threads(default_num_threads())  # the decoder's setting, undone for later tests
