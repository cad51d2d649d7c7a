"""Saving, reopening and exporting runs, and the settings the app remembers."""

from __future__ import annotations

import csv
import json

import numpy as np
from PySide6.QtCore import QByteArray
from PySide6.QtGui import QImage

from latentlab.core.projection import ViewKind
from latentlab.core.checkpoint import open_run

N_TEST_DIGITS = 359
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _curves(ui, plot):
    return {
        (split, name): ui.curve_data(curve)
        for split, curves in (("train", plot.train_curves), ("test", plot.test_curves))
        for name, curve in curves.items()
    }


def test_a_saved_run_reopens_in_a_new_window_with_the_same_scatter_and_curves(make_window, ui, qtbot, tmp_path):
    first = make_window()
    ui.train(first, epochs=2)
    saved = tmp_path / "saved"
    assert first.save_run_to(saved)
    assert (saved / "run.json").is_file()
    assert first.error_box is None
    # A second save to the same folder is refused, not merged.
    assert first.save_run_to(saved) is False
    assert "already exists" in first.error_box.text()
    qtbot.waitUntil(lambda: len(ui.curve_data(first.loss_plot.test_curves["elbo"])[0]) == 2, timeout=5000)
    first_curves = _curves(ui, first.loss_plot)

    second = make_window(ini=tmp_path / "other.ini", runs_root=tmp_path / "other-runs")
    assert second.open_run_dir(saved)
    assert second.error_box is None
    assert second.windowTitle() == "latentlab — saved"
    assert second.status_epoch.text() == f"Opened saved: epoch 2, step {first.snapshot.step}"
    # The same points, the same view.
    assert second.scatter.layout_points.shape == (N_TEST_DIGITS, 2)
    np.testing.assert_allclose(second.scatter.layout_points, first.scatter.layout_points)
    assert second.explorer.view.kind is first.explorer.view.kind is ViewKind.LATENT
    # The same loss history, point for point.
    qtbot.waitUntil(lambda: len(ui.curve_data(second.loss_plot.test_curves["elbo"])[0]) == 2, timeout=5000)
    second_curves = _curves(ui, second.loss_plot)
    for key, (x, y) in first_curves.items():
        x2, y2 = second_curves[key]
        assert len(x) > 0, key
        np.testing.assert_array_equal(x2, x, err_msg=str(key))
        np.testing.assert_allclose(y2, y, rtol=1e-6, err_msg=str(key))
    # The same model: the decoder gives the same image at the same place.
    x, y = first.scatter.marker_position()
    second.scatter.set_marker(x, y, emit=True)
    qtbot.waitUntil(lambda: second.marker_latent is not None and np.allclose(second.marker_latent, (x, y)), timeout=5000)
    np.testing.assert_allclose(second.canvas.current_image(), first.canvas.current_image(), atol=1e-5)
    # The form shows the run's settings.
    assert second.panel.epochs.value() == 2 and second.panel.hidden.text() == "64"
    assert second.gallery.image.image is not None


def test_a_run_trained_headless_by_the_cli_opens_in_the_app(make_window, qtbot, cli_run):
    run = open_run(cli_run)
    window = make_window()
    assert window.open_run_dir(cli_run)
    assert window.error_box is None
    assert window.scatter.layout_points.shape == (N_TEST_DIGITS, 2)
    np.testing.assert_allclose(window.scatter.layout_points, run.load_snapshot()["latents"])
    assert window.scatter.isEnabled() and window.canvas.isEnabled()
    assert window.canvas.current_image() is not None and window.canvas.current_image().shape == (8, 8)
    assert window.gallery.caption.text().startswith("Epoch 2")
    assert len(window.loss_plot.history()["train"]["step"]) == len(run.history["steps"])
    assert len(window.loss_plot.history()["test"]["step"]) == 2
    assert window.panel.hidden.text() == "64" and window.panel.device.currentData() == "cpu"
    # Saving an opened run copies it.
    assert window.save_run_to(cli_run.parent / "copy")
    assert open_run(cli_run.parent / "copy").step == run.step


def test_exports_write_a_png_per_pane_and_csv_files(make_window, qtbot, tmp_path, cli_run):
    window = make_window()
    assert window.open_run_dir(cli_run)
    for key in ("losses", "scatter", "canvas", "gallery"):
        path = tmp_path / f"{key}.png"
        assert window.export_pane_png(key, path), key
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC), key
        image = QImage()
        assert image.loadFromData(QByteArray(data), "PNG"), key
        widget = window.docks[key].widget()
        assert image.width() >= widget.width() and image.height() >= widget.height() > 50, key
        # Not a blank picture: a pane shows more than one colour.
        pixels = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
        assert len(pixels) > 2, key

    latents = tmp_path / "latents.csv"
    assert window.export_latents_csv(latents)
    rows = list(csv.reader(latents.read_text().splitlines()))
    assert rows[0] == ["index", "label", "z0", "z1"]
    assert len(rows) == 1 + N_TEST_DIGITS
    values = np.array([[float(v) for v in row[2:]] for row in rows[1:]])
    np.testing.assert_allclose(values, window.snapshot.latents, rtol=1e-6, atol=1e-6)
    assert [int(r[1]) for r in rows[1:]] == window.explorer.contents.test_labels.tolist()

    history = tmp_path / "history.csv"
    assert window.export_history_csv(history)
    rows = list(csv.reader(history.read_text().splitlines()))
    assert rows[0] == ["split", "epoch", "step", "recon", "kl", "elbo", "objective", "beta"]
    splits = [r[0] for r in rows[1:]]
    run = open_run(cli_run)
    assert splits.count("train") == len(run.history["steps"]) and splits.count("test") == 2
    train_objective = [float(r[6]) for r in rows[1:] if r[0] == "train"]
    np.testing.assert_allclose(train_objective, [h["total"] for h in run.history["steps"]], rtol=1e-5)
    assert window.error_box is None

    # An unwritable place gets a dialog, not a traceback.
    assert window.export_history_csv(tmp_path / "missing-folder" / "h.csv") is False
    assert "Could not write" in window.error_box.text()


def test_settings_and_window_state_are_remembered_between_windows(make_window, ui, qtbot, tmp_path):
    ini = tmp_path / "shared.ini"
    first = make_window(ini=ini)
    ui.type_into(first.panel.epochs, "7")
    ui.type_into(first.panel.latent_dim, "3")
    ui.type_into(first.panel.hidden, "32,16")
    first.panel.likelihood.setCurrentIndex(first.panel.likelihood.findData("gaussian"))
    first.docks["gallery"].toggleViewAction().trigger()  # View menu: the person hides a pane
    first.resize(first.minimumSizeHint().width(), 700)
    qtbot.wait(50)
    size = first.size()
    assert first.close()

    saved = json.loads(first.settings.value("run/settings"))
    assert saved["train"]["epochs"] == 7 and saved["model"]["hidden"] == [32, 16]

    second = make_window(ini=ini)
    panel = second.panel
    assert panel.epochs.value() == 7
    assert panel.latent_dim.value() == 3
    assert panel.hidden.text() == "32,16"
    assert panel.likelihood.currentData() == "gaussian"
    assert panel.dataset.currentData() == "digits"
    assert not second.docks["gallery"].isVisible()
    assert second.docks["scatter"].isVisible()
    assert first.settings.contains("window/geometry") and first.settings.contains("window/state")
    # The offscreen screen is only 800 px wide, narrower than the window can be, so the restored
    # width is clamped to the screen; the height fits and comes back as it was.
    assert second.height() == size.height()

    # A fresh ini starts from the defaults.
    from latentlab.core.config import RunConfig

    third = make_window(ini=tmp_path / "fresh.ini")
    assert RunConfig.from_dict(third.panel.settings()) == RunConfig()
    assert third.docks["gallery"].isVisible()


def test_garbage_in_the_settings_file_is_ignored(make_window, tmp_path):
    from latentlab.core.config import RunConfig

    ini = tmp_path / "garbage.ini"
    first = make_window(ini=ini)
    first.settings.setValue("run/settings", "{not json")
    first.settings.setValue("window/state", "nonsense")
    first.settings.sync()
    second = make_window(ini=ini)
    assert second.panel.epochs.value() == RunConfig().train.epochs
    assert second.docks["scatter"].isVisible()
