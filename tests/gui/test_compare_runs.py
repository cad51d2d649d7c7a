"""File → Open run as B…: B's curves over A's losses, B's decoding of A's marker, and Close B."""

from __future__ import annotations

import shutil

import numpy as np
import torch

from latentlab.core.checkpoint import open_run


def legend_labels(window) -> list[str]:
    return [label.text for _, label in window.loss_plot.legend.items]


def test_b_overlays_its_curves_and_refuses_to_decode_another_latent_size(make_window, qtbot, ui, run16, run2):
    window = make_window()
    assert window.open_run_dir(run16)
    assert window.compare.open_b(run2)
    history = open_run(run2).history
    x, y = ui.curve_data(window.compare.overlay.train)
    assert np.array_equal(x, [r["step"] for r in history["steps"]])
    assert np.allclose(y, [r["recon"] + r["kl"] for r in history["steps"]])
    x, y = ui.curve_data(window.compare.overlay.test)
    assert np.array_equal(x, [r["step"] for r in history["epochs"]])
    assert np.allclose(y, [r["total"] for r in history["epochs"]])
    assert f"B: {run2.name} test \u2212ELBO" in legend_labels(window)
    assert window.compare.overlay.test in window.loss_plot.plot.getPlotItem().items
    canvas = window.canvas
    assert canvas.b_box.isVisibleTo(canvas)
    assert canvas.b_caption.text() == "B's latent has 2 dimensions, A's 16: it cannot decode A's marker."
    assert canvas.b_image.image is None

    window.compare.close_b()
    assert not any(text.startswith("B: ") for text in legend_labels(window))
    assert window.compare.overlay.test not in window.loss_plot.plot.getPlotItem().items
    assert not canvas.b_box.isVisibleTo(canvas)


def test_b_of_the_same_latent_size_decodes_the_marker_through_its_own_weights(make_window, qtbot, run16, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run16, copy)
    window = make_window()
    assert window.open_run_dir(run16)
    assert window.compare.open_b(copy)
    model = open_run(copy).load_model("cpu")
    rng = np.random.default_rng(5)
    for _ in range(2):  # the B image follows the marker
        window.explorer.sample_prior(rng)
        z = window.marker_latent
        assert z is not None
        with torch.no_grad():
            expected = model.decode_mean(torch.tensor(z[None], dtype=torch.float32)).numpy()[0, 0]
        shown = window.canvas.b_image.image
        assert shown is not None and np.allclose(shown, expected, atol=1e-5)
        assert window.canvas.b_caption.text() == "B"


def test_a_folder_that_is_no_run_is_a_dialog_and_keeps_b_as_it_was(make_window, qtbot, run16, run2, tmp_path):
    window = make_window()
    assert window.open_run_dir(run16)
    assert window.compare.open_b(run2)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not window.compare.open_b(empty)
    assert "not a latentlab run" in window.error_box.text()
    assert window.compare.b is not None and window.compare.b.name == run2.name
    assert f"B: {run2.name} train \u2212ELBO" in legend_labels(window)


def test_the_file_menu_offers_b_and_run_b_is_qt_free(make_window):
    import json
    import subprocess
    import sys

    window = make_window()
    texts = [a.text() for a in window.menuBar().actions()[0].menu().actions()]
    assert "Open run as &B…" in texts and "Close B" in texts
    code = "import json, sys, latentlab.gui.run_b; print(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not [m for m in json.loads(proc.stdout) if m.split(".")[0] in ("PySide6", "pyqtgraph", "shiboken6")]


def test_b_reconstructs_the_items_of_as_gallery_under_as_own_and_shows_its_kl_beside(make_window, qtbot, run16, run2):
    window = make_window()
    assert window.open_run_dir(run16)
    assert window.gallery.rows == 2
    assert window.compare.open_b(run2)
    b_run = open_run(run2)
    model, snap = b_run.load_model("cpu"), window.explorer.snapshot
    for worst in (False, True):  # the gallery's own toggle: B follows it
        window.gallery.worst_box.setChecked(worst)
        indices = snap.worst_indices if worst else snap.probe_indices
        with torch.no_grad():
            x = torch.from_numpy(np.array(window.explorer.contents.test_images[indices])).float() / 255
            expected = model.decode_mean(model.encode(x)[0]).numpy()
        assert window.gallery.rows == 3 and f"B ({run2.name}) below" in window.gallery.caption.text()
        c, h, w = expected.shape[1:]
        shown = window.gallery.image.image  # rows of tiles: inputs, A's reconstructions, B's
        assert shown.shape[0] == 3 * h + 2  # tiles are one pixel apart
        np.testing.assert_allclose(shown[2 * (h + 1):, :w], expected[0, 0], atol=1e-5)
    _, heights = window.loss_plot.kl_bars_b.opts["x"], window.loss_plot.kl_bars_b.opts["height"]
    np.testing.assert_allclose(heights, b_run.load_snapshot()["kl_per_dim"])
    assert len(window.loss_plot.kl_bars.opts["height"]) == 16 and len(heights) == 2
    window.compare.close_b()
    assert window.gallery.rows == 2 and len(window.loss_plot.kl_bars_b.opts["height"]) == 0


def test_b_of_other_images_says_why_it_has_no_gallery_row(make_window, qtbot, run16, mnist_run):
    window = make_window()
    assert window.open_run_dir(run16)
    assert window.compare.open_b(mnist_run)
    assert window.gallery.rows == 2
    assert "B was trained on 28x28 images with 1 channel(s), so it cannot reconstruct A's." in window.gallery.caption.text()
