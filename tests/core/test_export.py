"""Exports: latents as CSV/NPY in test-set order, reconstruction and sample grids as PNG; via the CLI too."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PIL import Image

from latentlab.core.checkpoint import open_run
from latentlab.core.data import to_float
from latentlab.core.export import posterior_means, write_latents, write_reconstructions, write_samples


@pytest.fixture(scope="module")
def run(trained_run):
    run = open_run(trained_run)
    images, labels = run.load_testset()
    return run, run.load_model(), images, labels


def encoded(model, images) -> np.ndarray:
    with torch.no_grad():
        return model.encode(to_float(images))[0].numpy()


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def test_posterior_means_follow_the_test_set_order(run):
    _, model, images, _ = run
    means = posterior_means(model, images, batch_size=100)  # several batches
    assert means.dtype == np.float32 and means.shape == (images.shape[0], 2)
    assert np.allclose(means, encoded(model, images), atol=1e-6)


def test_latents_csv_has_a_header_and_one_row_per_test_item(run, tmp_path):
    _, model, images, labels = run
    path = tmp_path / "latents.csv"
    write_latents(path, posterior_means(model, images), labels)
    header, rows = read_csv(path)
    assert header == ["index", "label", "z0", "z1"]
    assert len(rows) == images.shape[0]
    assert [int(r[0]) for r in rows] == list(range(images.shape[0]))
    assert [int(r[1]) for r in rows] == labels.tolist()
    values = np.array([[float(v) for v in r[2:]] for r in rows])
    assert np.allclose(values, encoded(model, images), rtol=1e-6, atol=1e-6)


def test_latents_csv_without_labels_leaves_the_label_empty(tmp_path):
    path = tmp_path / "z.csv"
    write_latents(path, np.array([[0.5, -1.0, 2.0]], dtype=np.float32), None)
    header, rows = read_csv(path)
    assert header == ["index", "label", "z0", "z1", "z2"] and rows == [["0", "", "0.5", "-1", "2"]]


def test_latents_npy_is_the_exact_array(run, tmp_path):
    _, model, images, labels = run
    means = posterior_means(model, images)
    path = tmp_path / "latents.npy"
    write_latents(path, means, labels)
    loaded = np.load(path, allow_pickle=False)
    assert loaded.dtype == np.float32 and np.array_equal(loaded, means)


def test_reconstructions_png_shows_probe_inputs_above_their_reconstructions(run, tmp_path):
    _, model, images, labels = run
    path = tmp_path / "recon.png"
    write_reconstructions(path, model, images, labels, n=10)
    with Image.open(path) as img:
        img.verify()
    with Image.open(path) as img:
        # make_grid: 2 rows of 10 tiles of 8x8 with 2 px padding around each.
        assert img.size == (10 * (8 + 2) + 2, 2 * (8 + 2) + 2)


def test_samples_png_is_a_grid_of_prior_decodings_fixed_by_seed(run, tmp_path):
    _, model, _, _ = run
    a, b, c = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    write_samples(a, model, n=64, seed=1)
    write_samples(b, model, n=64, seed=1)
    write_samples(c, model, n=64, seed=2)
    with Image.open(a) as img:
        assert img.format == "PNG" and img.size == (8 * 10 + 2, 8 * 10 + 2)
        pixels_a = np.asarray(img.convert("L"))
    with Image.open(b) as img:
        assert np.array_equal(np.asarray(img.convert("L")), pixels_a)
    with Image.open(c) as img:
        assert not np.array_equal(np.asarray(img.convert("L")), pixels_a)
    assert pixels_a.std() > 0


# ---------------------------------------------------------------------------- through the CLI


def test_cli_export_writes_csv_reconstructions_and_samples(trained_run, tmp_path, cli, run):
    _, model, images, labels = run
    out = tmp_path / "out"
    out.mkdir()
    proc = cli.ok("export", trained_run, "--latents", out / "z.csv", "--reconstructions", out / "r.png",
                  "--samples", out / "s.png")
    assert proc.stdout == ""
    header, rows = read_csv(out / "z.csv")
    assert header == ["index", "label", "z0", "z1"] and len(rows) == images.shape[0]
    assert [int(r[1]) for r in rows] == labels.tolist()
    values = np.array([[float(v) for v in r[2:]] for r in rows])
    assert np.allclose(values, encoded(model, images), rtol=1e-6, atol=1e-6)
    for name in ("r.png", "s.png"):
        with Image.open(out / name) as img:
            img.verify()
            assert img.format == "PNG"


def test_cli_export_writes_npy_latents(trained_run, tmp_path, cli, run):
    _, model, images, _ = run
    cli.ok("export", trained_run, "--latents", tmp_path / "z.npy")
    loaded = np.load(tmp_path / "z.npy", allow_pickle=False)
    assert loaded.shape == (images.shape[0], 2)
    assert np.allclose(loaded, encoded(model, images), atol=1e-6)


def test_cli_export_with_a_bad_extension_is_a_user_error(trained_run, tmp_path, cli, one_sentence):
    message = cli.user_error("export", trained_run, "--latents", "z.txt", "--samples", "s.png")
    one_sentence(message)
    assert "z.txt" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written, not even the valid target


@pytest.mark.parametrize(
    "args",
    [["--reconstructions", "r.jpg"], ["--samples", "s"], ["--latents", "z.CSV.gz"], ["--samples", "no/such/dir/s.png"]],
    ids=["recon-jpg", "samples-no-extension", "latents-gz", "missing-folder"],
)
def test_export_main_with_a_bad_target_is_a_user_error(trained_run, tmp_path, monkeypatch, capsys, args, one_sentence):
    from latentlab.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["export", str(trained_run), *args]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("latentlab: error: ")
    one_sentence(err.strip()[len("latentlab: error: ") :])
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------- loss history as CSV

HISTORY_HEADER = ["split", "epoch", "step", "recon", "kl", "elbo", "objective", "beta"]


def beta_run(tmp_path, beta: float = 2.0, warmup: float = 0.0):
    """A one-epoch digits run trained with KL weight ``beta`` (and warm-up), saved in tmp_path/run."""
    from latentlab.core.config import ModelConfig, RunConfig, TrainConfig
    from latentlab.core.trainer import train

    cfg = RunConfig(model=ModelConfig(hidden=(16,)),
                    train=TrainConfig(epochs=2, batch_size=128, beta=beta, kl_warmup_epochs=warmup, log_every=4))
    list(train(cfg, run_dir=tmp_path / "run"))
    return tmp_path / "run"


def test_history_csv_gives_train_and_test_the_same_elbo_and_the_objective_apart(tmp_path):
    from latentlab.core.export import write_history_csv

    history = {
        "steps": [{"step": 5, "epoch": 1, "recon": 30.0, "kl": 2.0, "total": 34.0, "beta": 2.0},
                  {"step": 10, "epoch": 1, "recon": 28.5, "kl": 2.25, "total": 33.0, "beta": 2.0}],
        "epochs": [{"epoch": 1, "step": 10, "recon": 29.0, "kl": 2.5, "total": 31.5}],
    }
    path = tmp_path / "history.csv"
    write_history_csv(path, history)
    header, rows = read_csv(path)
    assert header == HISTORY_HEADER
    assert rows == [
        ["train", "1", "5", "30", "2", "32", "34", "2"],  # elbo = recon + kl; objective = recon + beta * kl
        ["train", "1", "10", "28.5", "2.25", "30.75", "33", "2"],
        ["test", "1", "10", "29", "2.5", "31.5", "", ""],  # a test row's total is already the -ELBO
    ]


def test_history_csv_of_a_warmed_up_run_has_a_row_per_logged_step_and_epoch(tmp_path):
    from latentlab.core.export import write_history_csv

    run = open_run(beta_run(tmp_path, beta=1.0, warmup=1.0))
    path = tmp_path / "history.csv"
    write_history_csv(path, run.history)
    header, rows = read_csv(path)
    train_rows = [r for r in rows if r[0] == "train"]
    test_rows = [r for r in rows if r[0] == "test"]
    assert header == HISTORY_HEADER and rows == train_rows + test_rows
    assert [int(r[2]) for r in train_rows] == [h["step"] for h in run.history["steps"]]
    assert [(int(r[1]), int(r[2])) for r in test_rows] == [(1, 12), (2, 24)]
    values = np.array([[float(v) for v in r[3:]] for r in train_rows])
    recon, kl, elbo, objective, beta = values.T
    np.testing.assert_allclose(elbo, recon + kl, rtol=1e-6)
    np.testing.assert_allclose(objective, [h["total"] for h in run.history["steps"]], rtol=1e-6)
    assert beta[0] < 1.0 and beta[-1] == 1.0  # the warm-up ramps beta (the logged beta is the window's last)
    assert np.all(objective[beta < 1] < elbo[beta < 1])
    np.testing.assert_allclose([float(r[5]) for r in test_rows], [e["total"] for e in run.history["epochs"]], rtol=1e-6)


def test_history_csv_replaces_a_file_atomically_and_a_failed_write_keeps_the_old_one(tmp_path, monkeypatch):
    import os

    from latentlab.core.export import write_history_csv

    path = tmp_path / "history.csv"
    path.write_text("old\n")
    history = {"steps": [{"step": 1, "epoch": 1, "recon": 1.0, "kl": 1.0, "total": 2.0, "beta": 1.0}], "epochs": []}

    def refuse(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError):
        write_history_csv(path, history)
    assert path.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["history.csv"]
    monkeypatch.undo()
    write_history_csv(path, history)
    assert read_csv(path)[1] == [["train", "1", "1", "1", "1", "2", "2", "1"]]


def test_cli_export_history_writes_the_elbo_and_the_objective_of_a_beta_run(tmp_path, cli):
    run_dir = beta_run(tmp_path, beta=2.0)
    history = open_run(run_dir).history
    proc = cli.ok("export", run_dir, "--history", tmp_path / "h.csv")
    assert proc.stdout == "" and proc.stderr == ""
    header, rows = read_csv(tmp_path / "h.csv")
    assert header == HISTORY_HEADER
    assert len(rows) == len(history["steps"]) + len(history["epochs"])
    for row, saved in zip(rows, history["steps"]):
        recon, kl, elbo, objective, beta = (float(v) for v in row[3:])
        assert row[0] == "train" and int(row[2]) == saved["step"] and beta == 2.0
        assert elbo == pytest.approx(saved["recon"] + saved["kl"], rel=1e-6)
        assert objective == pytest.approx(saved["total"], rel=1e-6) and objective > elbo


@pytest.mark.parametrize(
    "target", ["h.txt", "no/such/dir/h.csv", "a-folder.csv"], ids=["not-csv", "missing-folder", "a-folder"]
)
def test_cli_export_history_to_a_bad_target_is_one_sentence_and_writes_nothing(trained_run, tmp_path, cli, target,
                                                                               one_sentence):
    (tmp_path / "a-folder.csv").mkdir()  # the system refuses to replace a folder by a file
    message = cli.user_error("export", trained_run, "--history", tmp_path / target)
    one_sentence(message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-folder.csv"]
    assert list((tmp_path / "a-folder.csv").iterdir()) == []
