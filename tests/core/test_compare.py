"""``latentlab compare``: two real runs trained with the CLI, their table, their curves' PNG, and refusals."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from latentlab.core import compare
from latentlab.core.checkpoint import open_run

SMALL = ("--hidden", "32", "--device", "cpu", "--quiet")


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    """A: 2 epochs, 2-D latent, NLL recorded; B: 3 epochs of batch 128, 4-D latent, no NLL. Copy before changing."""
    root = tmp_path_factory.mktemp("compare")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # as the ``cli`` fixture runs it, on a shared machine

    def ok(*args):
        proc = subprocess.run([sys.executable, "-m", "latentlab", *map(str, args)], cwd=root, env=env,
                              capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr

    ok("train", "--out", root / "alpha", "--epochs", "2", "--latent-dim", "2", *SMALL)
    ok("train", "--out", root / "beta", "--epochs", "3", "--latent-dim", "4", "--batch-size", "128", *SMALL)
    ok("evaluate", root / "alpha", "--iw-samples", "10", "--device", "cpu")
    return root / "alpha", root / "beta"


def test_the_table_shows_both_runs_final_test_numbers_and_nll(cli, two_runs):
    a, b = two_runs
    out = cli.ok("compare", a, b).stdout
    ra, rb = open_run(a), open_run(b)
    assert ra.evaluation is not None and rb.evaluation is None
    lines = out.splitlines()
    assert "A: alpha" in lines[0] and "B: beta" in lines[0] and "B - A" in lines[0]
    assert f"epoch 2, step {ra.step}" in lines[1] and f"epoch 3, step {rb.step}" in lines[1]
    for label, key in (("test reconstruction", "recon"), ("test KL", "kl"), ("test -ELBO", "total")):
        row = next(line for line in lines if line.startswith(label + " "))
        va, vb = ra.history["epochs"][-1][key], rb.history["epochs"][-1][key]
        assert row.split()[-3:] == [f"{va:.3f}", f"{vb:.3f}", f"{vb - va:+.3f}"]
    nll_row = next(line for line in lines if line.startswith("test NLL"))
    assert f"{ra.evaluation['nll']:.3f} (K=10)" in nll_row and "not computed" in nll_row
    assert any("B (beta)" in line and "latentlab evaluate" in line for line in lines)
    assert not any(line.startswith("A (alpha)") for line in lines)
    # Aligned: each column ends where its header ends (the NLL row has no B - A, B lacking one).
    assert len({len(line) for line in lines[0:1] + lines[2:5]}) == 1
    assert nll_row.endswith("not computed") and lines[0].index("B: beta") + len("B: beta") == len(nll_row)


def test_the_png_overlays_both_runs_curves_with_a_style_each(cli, two_runs, tmp_path):
    a, b = two_runs
    png = tmp_path / "curves.png"
    cli.ok("compare", a, b, "--png", png)
    pixels = np.asarray(Image.open(png).convert("RGB"))
    assert pixels.shape == (compare.SIZE[1], compare.SIZE[0], 3)
    for colour in compare.COLOURS:  # both runs' test curves are drawn
        assert (pixels == colour).all(axis=2).sum() > 200

    ha, hb = open_run(a).history, open_run(b).history
    curves, axis = compare.curves([("alpha", ha), ("beta", hb)])
    assert axis == "epoch"  # both have test rows, so runs of other batch sizes line up by epoch
    by_label = {c.label: c for c in curves}
    assert set(by_label) == {f"{t}: {n} {s} -ELBO" for t, n in (("A", "alpha"), ("B", "beta")) for s in ("train", "test")}
    test_b = by_label["B: beta test -ELBO"]
    assert test_b.ys == tuple(r["total"] for r in hb["epochs"]) and test_b.xs == (1.0, 2.0, 3.0)
    train_a = by_label["A: alpha train -ELBO"]
    assert train_a.ys == tuple(r["recon"] + r["kl"] for r in ha["steps"])
    assert train_a.xs[-1] == pytest.approx(2.0)
    assert not by_label["A: alpha test -ELBO"].dashed and test_b.dashed  # a distinct style per run


def test_a_folder_that_is_no_run_is_one_sentence_and_exit_2(cli, two_runs, tmp_path):
    a, _ = two_runs
    empty = tmp_path / "empty"
    empty.mkdir()
    png = tmp_path / "curves.png"
    assert "not a latentlab run" in cli.user_error("compare", a, empty, "--png", png)
    assert "no run at" in cli.user_error("compare", tmp_path / "nowhere", a)
    assert not png.exists()


def test_a_damaged_run_is_one_sentence_and_exit_2(cli, two_runs, tmp_path):
    a, b = two_runs
    broken = tmp_path / "broken"
    shutil.copytree(b, broken)
    meta = json.loads((broken / "run.json").read_text())
    meta["history"] = {"epochs": [{"epoch": "three"}]}
    (broken / "run.json").write_text(json.dumps(meta))
    assert "damaged" in cli.user_error("compare", a, broken)
    (broken / "run.json").write_text("{not json")
    assert "damaged" in cli.user_error("compare", broken, a)


def test_a_png_path_that_cannot_be_written_is_refused_before_anything_runs(cli, two_runs, tmp_path):
    a, b = two_runs
    assert "must name a .png" in cli.user_error("compare", a, b, "--png", tmp_path / "curves.jpg")
    assert "does not exist" in cli.user_error("compare", a, b, "--png", tmp_path / "no" / "curves.png")


def test_runs_of_the_same_folder_name_are_told_apart_by_their_parents():
    assert compare.run_names(Path("/x/one/run"), Path("/x/two/run")) == ("one/run", "two/run")
    assert compare.run_names(Path("/x/a"), Path("/y/b")) == ("a", "b")


def test_a_run_without_a_test_evaluation_says_so():
    empty = compare.RunSummary("fresh", 0, 5, None, None, None, None, None, None)
    done = compare.RunSummary("done", 3, 30, 10.0, 2.0, 12.0, 3, 11.5, 100)
    text = compare.format_table(done, empty)
    assert "fresh) has no test evaluation yet" in text and "11.500 (K=100)" in text
    assert "—" in text.splitlines()[2]
    assert compare.render_curves([("fresh", {"steps": [], "epochs": []})] * 2)[:8] == b"\x89PNG\r\n\x1a\n"
