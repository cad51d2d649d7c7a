"""Replaying a run with the scrubber: each epoch's own latents, decoder and view."""

from __future__ import annotations

import numpy as np
import torch
from PySide6.QtCore import Qt
from safetensors.numpy import load_file

from latentlab.core.checkpoint import open_run
from latentlab.core.model import build_model
from latentlab.core.projection import PCAProjection, ViewKind
from latentlab.core.timeline import frame_path


def frame(run_dir, epoch: int) -> dict[str, np.ndarray]:
    """An epoch's frame read straight from its file, not through the app."""
    return load_file(str(frame_path(run_dir, epoch)))


def decode_with_frame(run_dir, epoch: int, z: np.ndarray) -> np.ndarray:
    """Decode ``z`` with the decoder weights kept for ``epoch``, in a model built here."""
    run = open_run(run_dir)
    model = build_model(run.config.model, run.image_shape).eval()
    state = model.state_dict()
    for key, value in frame(run_dir, epoch).items():
        if key.startswith("decoder_state/"):
            name = key[len("decoder_state/"):]
            state[name] = torch.from_numpy(value).reshape(state[name].shape)
    model.load_state_dict(state)
    with torch.no_grad():
        return model.decode_mean(torch.as_tensor(z, dtype=torch.float32)).numpy()


def test_replaying_epoch_1_shows_its_latents_and_decodes_with_its_weights(make_window, qtbot, run16):
    window = make_window()
    assert window.open_run_dir(run16)
    scrubber, explorer = window.scrubber, window.explorer
    qtbot.waitUntil(lambda: explorer.view is not None)
    assert scrubber.epochs == list(range(1, 31)) and scrubber.slider.value() == 29 and explorer.following
    scrubber.slider.setFocus()
    qtbot.keyClick(scrubber.slider, Qt.Key.Key_Home)  # the slider's own key: to the first epoch
    qtbot.waitUntil(lambda: explorer.view.latents is explorer.snapshot.latents and explorer.snapshot.epoch == 1)
    np.testing.assert_array_equal(explorer.view.latents, frame(run16, 1)["latents"])
    assert not explorer.following and "Epoch 1/30 (replay)" == scrubber.label.text()
    z = explorer.view.projection.inverse(np.array([[0.3, -0.2]]))
    np.testing.assert_allclose(explorer.decode(z), decode_with_frame(run16, 1, z), atol=1e-6)
    assert not np.allclose(explorer.decode(z), decode_with_frame(run16, 30, z), atol=1e-3)
    marker = explorer.drag(0.1, 0.1)
    np.testing.assert_allclose(window.canvas.image.image, decode_with_frame(run16, 1, marker.latent[None])[0, 0],
                               atol=1e-6)  # the decoder pane shows epoch 1's decoding of the marker
    assert window.gallery.caption.text().startswith("Epoch 1:")

    qtbot.keyClick(scrubber.slider, Qt.Key.Key_Period)  # the step key: one epoch on
    qtbot.waitUntil(lambda: explorer.snapshot.epoch == 2 and explorer.view.latents is explorer.snapshot.latents)
    scrubber.latest_button.click()
    qtbot.waitUntil(lambda: explorer.snapshot.epoch == 30 and explorer.following)
    np.testing.assert_array_equal(explorer.snapshot.latents, open_run(run16).load_snapshot()["latents"])


def test_the_pca_view_keeps_each_axis_pointing_the_same_way_between_epochs(make_window, qtbot, run16):
    window = make_window()
    assert window.open_run_dir(run16)
    explorer = window.explorer
    previous = None
    for epoch in (1, 2, 3, 10, 11):
        window.timeline.show_epoch(epoch)
        qtbot.waitUntil(lambda: explorer.view.latents is explorer.snapshot.latents)
        projection = explorer.view.projection
        assert isinstance(projection, PCAProjection) and explorer.snapshot.epoch == epoch
        if previous is not None:
            assert (np.sum(projection.components * previous.components, axis=1) > 0).all(), epoch
        previous = projection


def test_play_replays_the_run_and_stops_at_the_newest_epoch(make_window, qtbot, run16):
    window = make_window()
    assert window.open_run_dir(run16)
    window.timeline.show_epoch(27)
    shown = []
    window.explorer.subscribe(lambda change: shown.append(window.explorer.snapshot.epoch))
    window.scrubber.play_button.click()
    qtbot.waitUntil(lambda: not window.scrubber.play_button.isChecked(), timeout=10_000)
    assert sorted(set(shown)) == [28, 29, 30] and window.explorer.following


def test_a_damaged_frame_is_a_dialog_and_the_epoch_shown_stays(make_window, qtbot, run16, tmp_path):
    copy = open_run(run16).copy_to(tmp_path / "copy")
    frame_path(copy, 5).unlink()  # a hard link to run16's frame: replace the copy's alone
    frame_path(copy, 5).write_bytes(b"not a frame")
    window = make_window()
    assert window.open_run_dir(copy)
    before = window.explorer.snapshot
    window.scrubber.slider.setValue(4)  # epoch 5
    qtbot.waitUntil(lambda: window.error_box is not None)
    assert "epoch 5" in window.error_box.text() and "damaged" in window.error_box.text()
    assert window.explorer.snapshot is before and window.scrubber.slider.value() == 29


def test_while_training_the_scrubber_follows_the_newest_epoch_unless_moved(make_window, qtbot, ui):
    window = make_window()
    ui.set_run_settings(window, epochs=60, latent_dim=3)
    ui.click(window.panel.start_button)
    explorer, scrubber = window.explorer, window.scrubber
    qtbot.waitUntil(lambda: explorer.snapshot is not None and explorer.snapshot.epoch >= 3, timeout=120_000)
    assert explorer.following and scrubber.slider.value() == scrubber.slider.maximum()
    window.timeline.show_epoch(1)
    seen = len(scrubber.epochs)
    qtbot.waitUntil(lambda: len(scrubber.epochs) >= seen + 2, timeout=120_000)  # newer epochs keep arriving
    assert explorer.snapshot.epoch == 1 and scrubber.slider.value() == 0 and not explorer.following
    scrubber.latest_button.click()
    newest = scrubber.epochs[-1]
    qtbot.waitUntil(lambda: explorer.snapshot.epoch > newest, timeout=120_000)  # following again
    window.controller.stop()
    qtbot.waitUntil(lambda: not window.controller.running, timeout=60_000)


def test_a_layout_view_is_laid_out_again_for_the_epoch_shown_warm_started(make_window, qtbot, run16):
    window = make_window()
    assert window.open_run_dir(run16)
    explorer = window.explorer
    window.scatter.view_box.setCurrentIndex(window.scatter.view_box.findData(ViewKind.TSNE))
    qtbot.waitUntil(lambda: explorer.tsne is None and explorer.view.kind is ViewKind.TSNE, timeout=120_000)
    last = explorer.view
    window.timeline.show_epoch(29)
    request = explorer.tsne
    assert request is not None and request.epoch == 29 and request.init is not None
    np.testing.assert_array_equal(request.init, last.points)  # warm-started from the layout on screen
    qtbot.waitUntil(lambda: explorer.tsne is None and explorer.view.latents is explorer.snapshot.latents,
                    timeout=120_000)
    assert explorer.view.kind is ViewKind.TSNE and explorer.view.projection.epoch == 29
    window.timeline.show_epoch(30)  # laid out before: back at once, no new layout
    assert explorer.tsne is None and explorer.view.kind is ViewKind.TSNE
    np.testing.assert_array_equal(explorer.view.points, last.points)
    assert explorer.view.latents is explorer.snapshot.latents
