"""Traversal grid latency: from a marker move to the grid of its traversals redrawn.

Offscreen, CPU, an MNIST MLP with a 20-D latent (PCA view, so 20 dimension rows and the
view's 2 axis rows, 11 columns each: 242 decodes in one batch) and 10,000 scatter
points. The marker moves to a new place in the view through the scatter's own signal
(as a drag does); the script records the time until the traversal grid has its new tiles,
and until the event loop has drawn the frame. Goal: marker move to grid updated, p95 <= 16 ms.

    python benchmarks/gui_traversal.py [--data-dir DIR] [--moves 200]
"""

from __future__ import annotations

import argparse
import math
import time

from gui_common import DATA_DIR_HELP, percentile, wait_until, window_on_trained_mnist


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", help=DATA_DIR_HELP)
    ap.add_argument("--moves", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=1, help="epochs to train the model first (headless)")
    args = ap.parse_args()

    import torch


    app, window = window_on_trained_mnist(args.data_dir, args.epochs)
    wait_until(app, lambda: window.explorer.view is not None and window.traversals.shown is not None, timeout=60)
    app.processEvents()
    rows, columns = window.traversals.shown.shape
    (x0, x1), (y0, y1) = window.scatter.plot.getViewBox().viewRange()
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, min(x1 - x0, y1 - y0) / 4

    updated, drawn = [], []
    for i in range(args.moves):
        before = window.traversal.updates
        t0 = time.perf_counter()
        window.scatter.set_marker(cx + r * math.cos(i / 10), cy + r * math.sin(i / 10), emit=True)
        wait_until(app, lambda: window.traversal.updates > before, timeout=5)
        updated.append((time.perf_counter() - t0) * 1000)
        app.processEvents()  # the repaint of the grid, the scatter and the decoded image
        drawn.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.01)
    window.close()

    print("traversal grid latency (marker move -> grid of its traversals updated)")
    print(f"  torch {torch.__version__}, {torch.get_num_threads()} threads; MNIST MLP, latent 20 (PCA view), "
          f"{rows} rows x {columns} columns")
    print(f"  moves   {len(updated)}")
    print(f"  p50     {percentile(updated, 50):7.2f} ms")
    print(f"  p95     {percentile(updated, 95):7.2f} ms   (goal <= 16 ms)")
    print(f"  max     {max(updated):7.2f} ms")
    print("move -> frame drawn")
    print(f"  p50     {percentile(drawn, 50):7.2f} ms")
    print(f"  p95     {percentile(drawn, 95):7.2f} ms")


if __name__ == "__main__":
    main()
