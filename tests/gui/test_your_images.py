"""Your own images in the app, on real runs: encoded from a file, a drop or a drawing, each put where
its posterior mean lies, scored (-ELBO, importance-sampled NLL) off the GUI thread, and ranked
against the test items' NLLs of the same model; and the test NLL in the losses pane, kept in
run.json and shown again when the run is opened."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from latentlab.gui.explorer import MarkerSource
from latentlab.gui.scores import IW_SAMPLES

CIFAR = Path(__file__).resolve().parents[1] / "data" / "cifar10-jpg" / "test"
SCORE_MS = 120_000  # scoring shares the two cores with whatever else runs


def copy_run(run: Path, tmp_path: Path) -> Path:
    """A private copy: scoring writes run.json, and the session's runs are shared."""
    return Path(shutil.copytree(run, tmp_path / run.name))


def write_png(image: np.ndarray, path: Path) -> Path:
    """A (C, H, W) uint8 item as the PNG file a person would have."""
    Image.fromarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)).save(path)
    return path


def scored(window, n: int, qtbot, with_test: bool = True) -> None:
    """Wait for ``n`` images scored by the model on screen (and the test items, for their percentiles)."""
    def done():
        inputs = window.scores.inputs
        assert len(inputs) == n and all(i.nll is not None for i in inputs)
        if with_test:
            assert window.scores.test_is_current(per_item=True)
    qtbot.waitUntil(done, timeout=SCORE_MS)


def test_an_encoded_test_image_lands_on_its_own_posterior_mean(make_window, qtbot, run16, tmp_path):
    window = make_window()
    assert window.open_run_dir(copy_run(run16, tmp_path))
    snap, view = window.explorer.snapshot, window.explorer.view
    k = 41
    png = write_png(window.explorer.contents.test_images[k], tmp_path / "digit.png")
    assert window.encoding.encode_files([png]) == 1  # read, prepared and scored on the worker
    scored(window, 1, qtbot)
    assert window.input_list.table.rowCount() == 1
    item = window.scores.inputs[0]
    np.testing.assert_allclose(item.mu, snap.latents[k], atol=1e-5)  # prepared exactly as the item was
    np.testing.assert_allclose(item.logvar, snap.logvars[k], atol=1e-4)
    marker = window.explorer.marker
    assert marker.source is MarkerSource.INPUT and marker.item == item.id
    np.testing.assert_allclose([marker.x, marker.y], view.points[k], atol=1e-5)
    np.testing.assert_allclose(window.inputs.stars.points, [view.points[k]], atol=1e-5)
    assert item.nll <= item.neg_elbo + 1.0  # the NLL estimate sits below the -ELBO (up to sampling noise)
    name, nll, elbo, rank = window.input_list.table.item(0, 2).text().split("\n")
    percentile = window.scores.percentile(item)
    assert name == "1. digit.png" and nll == f"NLL {item.nll:.2f} nats" and elbo == f"−ELBO {item.neg_elbo:.2f} nats"
    assert rank == f"percentile {percentile:.1f}" and 0.0 <= percentile <= 100.0
    # Its reconstruction is the decoding of that mean, through the one decoder copy.
    recon = window.input_list.table.item(0, 1).data(Qt.ItemDataRole.DecorationRole)
    assert recon is not None and not recon.isNull()


def test_an_mnist_digit_scores_a_lower_nll_percentile_than_a_cifar_image(make_window, qtbot, mnist_run, tmp_path):
    window = make_window()
    assert window.open_run_dir(copy_run(mnist_run, tmp_path))
    digit = write_png(window.explorer.contents.test_images[3], tmp_path / "seven.png")
    photo = CIFAR / "airplane" / "0000.jpg"
    assert window.encoding.encode_files([digit, photo]) == 2
    scored(window, 2, qtbot)
    mine, theirs = window.scores.inputs
    assert mine.image.shape == theirs.image.shape == (1, 28, 28)  # the photo made grey and 28x28, as MNIST is
    p_digit, p_photo = window.scores.percentile(mine), window.scores.percentile(theirs)
    assert p_digit < p_photo
    assert p_photo > 95.0  # less likely than nearly every test digit: out of distribution
    assert f"percentile {p_photo:.1f}" in window.input_list.table.item(1, 2).text()
    # The marker went to the newest image; a click on the first row takes it back there.
    assert window.explorer.marker.item == theirs.id
    window.input_list.table.cellClicked.emit(0, 2)
    assert window.explorer.marker.item == mine.id
    np.testing.assert_allclose(window.explorer.marker.latent, mine.mu)


def test_dropped_files_are_encoded_and_a_bad_one_is_one_sentence(make_window, qtbot, run2, tmp_path):
    window = make_window()
    window.show()
    assert window.open_run_dir(copy_run(run2, tmp_path))
    good = write_png(window.explorer.contents.test_images[0], tmp_path / "good.png")
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(good)), QUrl.fromLocalFile(str(bad)), QUrl("https://example.org/a.png")])
    where = QPointF(window.width() / 2, window.height() / 2)
    enter = QDragEnterEvent(where.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(where, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, drop)
    qtbot.waitUntil(lambda: window.error_box is not None, timeout=SCORE_MS)  # the files are read on the worker
    text = window.error_box.text()
    assert "notes.png" in text and "Traceback" not in text and text.count(".") <= 3
    assert [i.name for i in window.scores.inputs] == ["good.png"]  # the good one still went in
    scored(window, 1, qtbot)
    # Text alone is nothing to encode: the window does not take it.
    words = QMimeData()
    words.setText("hello")
    enter = QDragEnterEvent(where.toPoint(), Qt.DropAction.CopyAction, words, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    enter.setAccepted(False)
    QApplication.sendEvent(window, enter)
    assert not enter.isAccepted()
    # Clear forgets them all, stars included.
    window.input_list.clear_button.click()
    assert window.scores.inputs == () and window.input_list.table.rowCount() == 0
    assert len(window.inputs.stars.points) == 0
    assert not window.input_list.clear_button.isEnabled()


def test_a_drawn_digit_is_framed_like_the_dataset_and_scored(make_window, qtbot, run2, tmp_path):
    window = make_window()
    assert window.open_run_dir(copy_run(run2, tmp_path))
    assert window.input_list.draw_button.isEnabled()  # digits are grey: drawing is offered
    window.input_list.draw_button.click()
    pad = window.encoding.pad
    assert pad is not None and pad.isVisible()
    side = pad.canvas.width()
    pad.canvas.stroke([(side * 0.5, side * 0.15), (side * 0.5, side * 0.85)])  # a "1"
    pad.encode_button.click()
    assert window.input_list.table.item(0, 2).text() == "1. drawing 1\nscoring…"  # its row at once, scores to follow
    scored(window, 1, qtbot)
    item = window.scores.inputs[0]
    assert item.name == "drawing 1" and item.image.shape == (1, 8, 8)
    assert set(np.unique(item.image)) <= set(np.rint(np.arange(17) * 255 / 16).astype(np.uint8))  # digits' levels
    assert item.image[0, :, 3:5].sum() > item.image[0, :, :2].sum()  # the ink is the upright stroke


def test_encoding_before_there_is_a_model_says_so(make_window, tmp_path):
    window = make_window()
    assert not window.input_list.encode_button.isEnabled()
    png = write_png(np.zeros((1, 8, 8), np.uint8), tmp_path / "x.png")
    assert window.encoding.encode_files([png]) == 0
    assert "no model to encode with" in window.error_box.text()


def test_the_test_nll_is_computed_on_demand_kept_in_run_json_and_shown_on_reopening(make_window, qtbot, run16,
                                                                                  tmp_path):
    run = copy_run(run16, tmp_path)
    window = make_window()
    assert window.open_run_dir(run)
    label, button = window.loss_plot.nll_label, window.loss_plot.nll_button
    assert label.text() == "Test NLL: not computed yet" and button.isEnabled()
    button.click()
    assert window.scores.pending_test and not button.isEnabled()
    qtbot.waitUntil(lambda: window.scores.test_is_current(per_item=True), timeout=SCORE_MS)
    test = window.scores.test
    assert label.text().startswith(f"Test NLL {test.mean:.2f} nats (K={IW_SAMPLES}, epoch 30)")
    assert f"test −ELBO {test.neg_elbo:.2f}" in label.text()
    assert test.mean < test.neg_elbo  # the bound is tighter than the ELBO, on average over 359 items
    kept = json.loads((run / "run.json").read_text())["evaluation"]
    assert kept["nll"] == pytest.approx(test.mean) and kept["iw_samples"] == IW_SAMPLES
    assert kept["step"] == json.loads((run / "run.json").read_text())["step"]

    again = make_window()
    assert again.open_run_dir(run)
    assert not again.scores.pending_test and again.scores.test.per_item is None  # read, not recomputed
    assert again.loss_plot.nll_label.text() == label.text()


def test_a_finished_training_run_gets_its_test_nll(make_window, ui, qtbot):
    window = make_window()
    ui.train(window, epochs=2)
    qtbot.waitUntil(lambda: window.scores.test_is_current(per_item=True), timeout=SCORE_MS)
    qtbot.waitUntil(lambda: "evaluation" in json.loads((window.run_dir / "run.json").read_text()), timeout=10_000)
    assert "epoch 2" in window.loss_plot.nll_label.text()


def test_an_image_is_scored_between_batches_of_a_test_nll_in_flight(make_window, qtbot, mnist_run, tmp_path):
    window = make_window()
    assert window.open_run_dir(copy_run(mnist_run, tmp_path))
    arrived = []
    window.scoring.inputs_scored.connect(lambda *_: arrived.append("image"))
    window.scoring.test_scored.connect(lambda *_: arrived.append("test set"))
    window.loss_plot.nll_button.click()  # 500 test items, K = 100: some seconds of work on one core
    window.encoding.encode_files([write_png(window.explorer.contents.test_images[0], tmp_path / "a.png")])
    qtbot.waitUntil(lambda: len(arrived) == 2, timeout=SCORE_MS)
    assert arrived == ["image", "test set"]  # the image did not wait for the whole test set


def test_a_chosen_k_scores_the_images_and_the_test_set_and_is_kept(make_window, qtbot, run16, tmp_path):
    from PySide6.QtTest import QTest

    run = copy_run(run16, tmp_path)
    window = make_window()
    assert window.open_run_dir(run)
    window.encoding.encode_files([write_png(window.explorer.contents.test_images[5], tmp_path / "five.png")])
    scored(window, 1, qtbot)
    at_100 = window.scores.inputs[0].nll
    spin = window.loss_plot.nll_samples
    spin.selectAll()
    QTest.keyClicks(spin, "1000")  # typed as a person would: one change when it is committed
    QTest.keyClick(spin, Qt.Key.Key_Return)
    assert window.scores.samples == 1000
    scored(window, 1, qtbot)
    item, test = window.scores.inputs[0], window.scores.test
    assert item.samples == test.samples == 1000 and item.nll != at_100
    assert item.nll <= at_100 + 0.5  # more samples: a tighter (lower) estimate, up to noise
    assert "K=1000" in window.loss_plot.nll_label.text()
    assert json.loads((run / "run.json").read_text())["evaluation"]["iw_samples"] == 1000


def test_a_file_with_a_too_long_name_dragged_over_the_window_is_ignored(make_window, tmp_path):
    window = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / ("a" * 300 + ".png")))])
    enter = QDragEnterEvent(QPointF(10, 10).toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    enter.setAccepted(False)
    QApplication.sendEvent(window, enter)  # no OSError out of the event handler
    assert not enter.isAccepted()


def test_many_files_at_once_are_read_and_scored_in_one_job_each(make_window, qtbot, run2, tmp_path):
    window = make_window()
    assert window.open_run_dir(copy_run(run2, tmp_path))
    jobs = []
    window.scoring.inputs_scored.connect(lambda at, k, result: jobs.append(len(result[0])))
    paths = [write_png(window.explorer.contents.test_images[i], tmp_path / f"{i}.png") for i in range(30)]
    assert window.encoding.encode_files(paths) == 30
    scored(window, 30, qtbot)
    assert jobs == [30]  # not 1 + 2 + ... + 30 images scored, one job per file
