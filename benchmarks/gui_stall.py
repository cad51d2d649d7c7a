"""The longest stall of the GUI event loop while a CPU training run and a t-SNE run both go.

Offscreen, CPU: the app trains an MNIST model (latent 20, 10,000 test points in the
scatter) through its QThread; after the first epoch it starts t-SNE of the latents in its
own thread (clicking its button a second after the first epoch is drawn). A 5 ms QTimer probe records the gap between its ticks; a gap much longer than
5 ms is a stall the user would feel. Prints the worst gaps while both run. Goal: <= 33 ms (two frames at 60 Hz).

    python benchmarks/gui_stall.py [--data-dir DIR] [--epochs 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from gui_common import DATA_DIR_HELP, app_and_window, mnist_root, percentile, wait_until


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", help=DATA_DIR_HELP)
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()

    import torch
    from PySide6.QtCore import QTimer

    work = Path(tempfile.mkdtemp(prefix="latentlab-bench-"))
    app, window = app_and_window(work)
    panel = window.panel
    panel.dataset.setCurrentIndex(panel.dataset.findData("mnist"))
    panel.data_dir.setText(str(mnist_root(args.data_dir)))
    panel.latent_dim.setValue(20)
    panel.epochs.setValue(args.epochs)
    panel.device.setCurrentIndex(panel.device.findData("cpu"))

    gaps: list[tuple[float, bool, bool]] = []  # (ms, training, tsne)
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(((now - last[0]) * 1000, window.controller.running, window.projections.tsne_running))
        last[0] = now

    probe = QTimer()
    probe.setInterval(5)
    probe.timeout.connect(tick)
    probe.start()

    started_tsne = [False]

    def on_snapshot(_snap) -> None:
        if not started_tsne[0]:
            started_tsne[0] = True
            # A person clicks "Run t-SNE" once the first epoch's scatter is on screen.
            QTimer.singleShot(1000, window.scatter.tsne_button.click)

    window.controller.snapshot.connect(on_snapshot)
    t0 = time.perf_counter()
    panel.start_button.click()
    wait_until(app, lambda: not window.controller.running, idle_sleep=0.002)
    wait_until(app, lambda: not window.projections.busy, idle_sleep=0.002)
    probe.stop()
    total = time.perf_counter() - t0
    window.close()

    both = [g for g, training, tsne in gaps if training and tsne]
    train_only = [g for g, training, tsne in gaps if training and not tsne]
    everything = [g for g, _, _ in gaps]
    print("GUI event-loop stalls (5 ms timer probe; gap between ticks)")
    print(f"  torch {torch.__version__}, {torch.get_num_threads()} threads; MNIST, latent 20, 10000 points; {total:.0f} s")
    for name, values in (("training + t-SNE", both), ("training only", train_only), ("whole run", everything)):
        if values:
            print(
                f"  {name:17s} ticks {len(values):6d}   p50 {percentile(values, 50):6.1f} ms   "
                f"p99 {percentile(values, 99):6.1f} ms   max {max(values):6.1f} ms   >50 ms: {sum(v > 50 for v in values)}"
            )
    print("  goal: max <= 33 ms while training and t-SNE both run")


if __name__ == "__main__":
    main()
