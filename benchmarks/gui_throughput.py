"""Training items per second inside the app against ``latentlab train`` headless.

Both train the same MNIST model (784-400-20 MLP, batch 128) on the CPU and save a checkpoint
every epoch; headless runs ``latentlab train``'s loop in a fresh process, the app trains
through its QThread with the window on screen (offscreen). Runs alternate (headless, app,
headless, app, ...) so machine noise hits both. Each run trains two epochs;
the figure is the second epoch (60,000 items over the time between the two epoch
snapshots), which leaves out start-up. Goal: the app keeps >= 70% of the headless rate.

    python benchmarks/gui_throughput.py [--data-dir DIR] [--repeats 2]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gui_common import app_and_window, mnist_root


def headless(root: Path) -> float:
    """``latentlab train``'s loop in a fresh process (its own torch threads, checkpoints on)."""
    out = subprocess.run(
        [sys.executable, __file__, "--headless-child", str(root)], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def _headless_child(root: str) -> None:
    from _common import mlp_784_400_20_config
    from latentlab.core.events import EpochSnapshot, RunStarted
    from latentlab.core.trainer import train

    cfg = mlp_784_400_20_config(root, epochs=2, device="cpu")
    marks, n = {}, 0
    with tempfile.TemporaryDirectory() as run_dir:
        for event in train(cfg, run_dir=Path(run_dir) / "run"):  # as `latentlab train` does: checkpoints on
            if isinstance(event, RunStarted):
                n = event.n_train
            if isinstance(event, EpochSnapshot):
                marks[event.epoch] = time.perf_counter()
    print(n / (marks[2] - marks[1]))


def in_app(app, window, root: Path) -> float:
    panel = window.panel
    panel.dataset.setCurrentIndex(panel.dataset.findData("mnist"))
    panel.data_dir.setText(str(root))
    panel.latent_dim.setValue(20)
    panel.hidden.setText("400")
    panel.epochs.setValue(2)
    panel.device.setCurrentIndex(panel.device.findData("cpu"))
    marks: dict[int, float] = {}
    info = {}

    def on_snapshot(snap) -> None:
        marks.setdefault(snap.epoch, time.perf_counter())

    window.controller.snapshot.connect(on_snapshot)
    window.controller.run_started.connect(lambda e: info.setdefault("n", e.n_train))
    from PySide6.QtCore import QEventLoop

    loop = QEventLoop()  # a real event loop, as app.exec() runs: it sleeps until there is work
    window.controller.state_changed.connect(lambda state: state == "idle" and loop.quit())
    panel.start_button.click()
    loop.exec()
    window.controller.snapshot.disconnect(on_snapshot)
    return info["n"] / (marks[2] - marks[1])


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--headless-child":
        return _headless_child(sys.argv[2])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    import torch

    root = mnist_root(args.data_dir)
    work = Path(tempfile.mkdtemp(prefix="latentlab-bench-"))
    app, window = app_and_window(work)
    rates = {"headless": [], "app": []}
    for _ in range(args.repeats):
        rates["headless"].append(headless(root))
        rates["app"].append(in_app(app, window, root))
    window.close()
    h, a = statistics.median(rates["headless"]), statistics.median(rates["app"])
    print("training throughput, app (QThread) vs headless, MNIST 784-400-20, CPU")
    print(f"  torch {torch.__version__}, {torch.get_num_threads()} threads, {args.repeats} alternating runs")
    print(f"  headless  {h:9,.0f} items/s   runs: {', '.join(f'{r:,.0f}' for r in rates['headless'])}")
    print(f"  in app    {a:9,.0f} items/s   runs: {', '.join(f'{r:,.0f}' for r in rates['app'])}")
    print(f"  app / headless = {a / h:.0%}   (goal >= 70%)")


if __name__ == "__main__":
    main()
