"""``latentlab --self-test`` from source, as CI runs it on the frozen app: every check passes, and each
instrument is checked by name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INSTRUMENTS = ("traversal", "manifold", "encode image", "direction", "slerp", "posterior ellipse", "NLL", "scrubber",
               "run B", "UMAP", "all items")


def test_the_self_test_passes_and_checks_every_instrument_by_name(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "latentlab", "--self-test", str(tmp_path / "out")],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    report = json.loads((tmp_path / "out" / "result.json").read_text())
    failed = [f"{c['name']}: {c['detail']}" for c in report["checks"] if not c["ok"]]
    assert result.returncode == 0 and report["ok"], (failed, result.stderr[-2000:])
    assert result.stderr == ""
    names = [c["name"] for c in report["checks"]]
    assert set(INSTRUMENTS) <= set(names)
    assert len(names) == len(set(names))
    details = {c["name"]: c["detail"] for c in report["checks"]}
    assert "percentile" in details["encode image"] and "kept in run.json" in details["NLL"]
    assert "own latents and decoder" in details["scrubber"] and "gallery row" in details["run B"]
    assert "as density with contours" in details["all items"]
