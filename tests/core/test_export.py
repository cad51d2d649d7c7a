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
