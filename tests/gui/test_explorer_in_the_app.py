"""The explorer model inside the app: views fitted off the GUI thread, a new run resets what is
shown, a drag mid-t-SNE decodes through the shown layout, runs resume from the app."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from dataclasses import replace

import numpy as np

from latentlab.core.checkpoint import open_run
from latentlab.core.projection import ViewKind
from latentlab.gui.controllers.projections import INLINE_FIT_FLOPS
from latentlab.gui.explorer import FitRequest

TRAIN_TIMEOUT_MS = 180_000


def test_a_large_pca_fit_runs_off_the_gui_thread(make_window, qtbot, cli_run, monkeypatch):
    window = make_window()
    assert window.open_run_dir(cli_run)
    explorer = window.explorer
    contents = explorer.contents
    latents = np.random.default_rng(0).standard_normal((len(contents.test_labels), 512))
    assert latents.shape[0] * latents.shape[1] ** 2 > INLINE_FIT_FLOPS
    fitted_on = []  # the threads that delivered a fit from the fit thread (an inline fit delivers none)
    fits = window.projections._fits
    deliver = fits._deliver
    monkeypatch.setattr(fits, "_deliver", lambda r, result: fitted_on.append(threading.current_thread()) or deliver(r, result))
    model = {**contents.config["model"], "latent_dim": 512}
    explorer.load(replace(contents, config={**contents.config, "model": model}))  # a 512-D run, shown anew
    explorer._fit_generation += 1
    request = FitRequest(explorer._fit_generation, ViewKind.PCA, latents, None)
    window.projections.fit(request)
    qtbot.waitUntil(lambda: explorer.view is not None and explorer.view.latents is latents, timeout=60_000)
    assert explorer.view.kind is ViewKind.PCA and explorer.view.points.shape == (len(latents), 2)
    assert fitted_on and threading.main_thread() not in fitted_on  # handed over, not computed on the GUI thread


def test_a_new_start_replaces_the_last_runs_title_and_view(make_window, ui, qtbot, cli_run):
    window = make_window()
    assert window.open_run_dir(cli_run)
    assert window.windowTitle() == f"latentlab — {cli_run.name}"
    ui.train(window, epochs=1, latent_dim=3)
    assert window.windowTitle() == f"latentlab — {window.run_dir.name}" != f"latentlab — {cli_run.name}"
    assert window.explorer.view.latents.shape[1] == 3 and window.explorer.contents.run_dir == window.run_dir


def test_dragging_mid_tsne_decodes_through_the_shown_layout(make_window, ui, qtbot):
    window = make_window()
    ui.train(window, epochs=1, latent_dim=16)
    explorer = window.explorer
    ui.click(window.scatter.tsne_button)
    qtbot.waitUntil(lambda: explorer.tsne is not None and explorer.view.kind is ViewKind.TSNE, timeout=120_000)
    count = window.canvas.images_set
    ui.drag_marker(window.scatter, dx=40, dy=-30)
    qtbot.waitUntil(lambda: window.canvas.images_set > count, timeout=5000)
    view = explorer.view
    x, y = window.scatter.marker_position()
    np.testing.assert_allclose(window.marker_latent, view.projection.inverse(np.array([[x, y]]))[0])
    assert np.abs(window.marker_latent).max() <= np.abs(view.latents).max() + 1e-6  # among the test latents
    assert "approximate" in window.canvas.caption.text()
    window.projections.cancel_tsne()


def test_the_app_resumes_a_saved_run_and_keeps_its_history(make_window, ui, qtbot, cli_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(cli_run, run)
    window = make_window()
    ui.type_into(window.panel.epochs, "3")
    assert window.resume_run(run)
    qtbot.waitUntil(lambda: not window.controller.running, timeout=TRAIN_TIMEOUT_MS)
    assert window.error_box is None, window.error_box.text()
    saved = open_run(run)
    assert saved.epoch == 3 and [e["epoch"] for e in saved.history["epochs"]] == [1, 2, 3]
    assert [e["epoch"] for e in window.explorer.history["epochs"]] == [1, 2, 3]
    assert window.resume_run(run) is False  # all 3 epochs trained and Epochs still 3: one sentence says so
    assert "set Epochs above 3" in window.error_box.text()


def test_resuming_a_run_another_process_trains_is_a_dialog_naming_it(make_window, qtbot, tmp_path):
    run = tmp_path / "run"
    other = subprocess.Popen([sys.executable, "-m", "latentlab", "train", "--out", str(run), "--epochs", "5000",
                              "--hidden", "32", "--device", "cpu", "--quiet"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        qtbot.waitUntil(lambda: (run / "run.json").is_file(), timeout=120_000)
        window = make_window()
        ui_epochs = window.panel.epochs
        ui_epochs.setValue(6000)
        assert window.resume_run(run)  # the lock is the trainer's: the worker reports it
        qtbot.waitUntil(lambda: window.error_box is not None and window.error_box.isVisible(), timeout=60_000)
        assert f"being trained by process {other.pid}" in window.error_box.text()
        assert not window.controller.running
    finally:
        other.terminate()
        other.wait(120)
