"""Drag-to-decode latency: from a synthetic mouse move on the scatter to the new image being set.

Offscreen, CPU, an MNIST model with a 20-D latent (PCA view) and 10,000 scatter points.
The marker is pressed, then the mouse moves through Qt's real event path (QTest on the
plot's viewport) at a pointer's pace (60 moves a second by default; pyqtgraph's scene
ignores moves less than 10 ms apart). For each move the script records two times: until the decode canvas
has set the new image (the goal: p95 <= 10 ms), and until the event loop has drawn the
frame (scatter with the moved marker, and the new image).

    python benchmarks/gui_drag_latency.py [--data-dir DIR] [--moves 300]
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
    ap.add_argument("--moves", type=int, default=300)
    ap.add_argument("--rate", type=float, default=60.0, help="pointer moves per second (pyqtgraph drops moves above 100/s)")
    ap.add_argument("--epochs", type=int, default=1, help="epochs to train the model first (headless)")
    args = ap.parse_args()

    import torch
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtTest import QTest

    from latentlab.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from latentlab.core.trainer import train

    work = Path(tempfile.mkdtemp(prefix="latentlab-bench-"))
    run_dir = work / "run"
    cfg = RunConfig(DataConfig("mnist", str(mnist_root(args.data_dir))), ModelConfig(latent_dim=20), TrainConfig(epochs=args.epochs, device="cpu"))
    for _ in train(cfg, run_dir=run_dir):
        pass

    app, window = app_and_window(work)
    assert window.open_run_dir(run_dir), "the run did not open"
    wait_until(app, lambda: window.explorer.view is not None, timeout=60)  # 10,000 x 20: fitted off the GUI thread
    app.processEvents()
    points = len(window.scatter.layout_points)
    plot = window.scatter.plot
    viewport = plot.viewport()
    vb = plot.getViewBox()

    def screen(x: float, y: float) -> QPoint:
        return plot.mapFromScene(vb.mapViewToScene(QPointF(x, y)))

    # Put the marker in the middle of the view, then grab it.
    (x0, x1), (y0, y1) = vb.viewRange()
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    window.scatter.set_marker(cx, cy, emit=True)
    app.processEvents()
    start = screen(cx, cy)
    QTest.mouseMove(viewport, start)  # the pointer arrives over the marker, then presses
    app.processEvents()
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    app.processEvents()

    latencies, frames = [], []
    pos = QPoint(start)
    interval = 1.0 / args.rate
    next_move = time.perf_counter() + interval
    for i in range(args.moves):
        wait_until(app, lambda: time.perf_counter() >= next_move)  # the pointer's own pace
        next_move += interval
        # Wander in a circle of ~60 px so every move lands somewhere new.
        dx = int(60 * __import__("math").cos(i / 15))
        dy = int(60 * __import__("math").sin(i / 15))
        pos = QPoint(start.x() + dx, start.y() + dy)
        before = window.canvas.images_set
        t0 = time.perf_counter()
        QTest.mouseMove(viewport, pos)
        wait_until(app, lambda: window.canvas.images_set > before, timeout=5)
        latencies.append((time.perf_counter() - t0) * 1000)
        app.processEvents()  # the repaint of both panes
        frames.append((time.perf_counter() - t0) * 1000)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)
    window.close()

    print("drag-to-decode latency (synthetic mouse move -> decoded image set)")
    print(f"  torch {torch.__version__}, {torch.get_num_threads()} threads, latent 20-D (PCA view), {points} points")
    print(f"  moves   {len(latencies)} at {args.rate:g} per second")
    print(f"  p50     {percentile(latencies, 50):7.2f} ms")
    print(f"  p95     {percentile(latencies, 95):7.2f} ms   (goal <= 10 ms; a 60 Hz frame is 16.7 ms)")
    print(f"  max     {max(latencies):7.2f} ms")
    print("move -> frame drawn (scatter and decoded image repainted)")
    print(f"  p50     {percentile(frames, 50):7.2f} ms")
    print(f"  p95     {percentile(frames, 95):7.2f} ms")


if __name__ == "__main__":
    main()
