"""Directions and selections: how long the GUI thread spends on a slider step, a box and a lasso.

Offscreen, CPU, an MNIST MLP with a 20-D latent (PCA view) and 10,000 scatter points.
Classes 3 and 8 are clicked into sets A and B through the legend; the script then steps the
direction slider back and forth (each step moves the marker, decodes it, redraws the
traversal grid with its direction row) and times each step until the grid is updated and
until the frame is drawn. It also times a box over about half the points and a lasso of
600 vertices, from the selection's release to its rings drawn, and both sets' rings
following a new view (as every epoch's refit asks of them). Goal: every one of these within a frame, p95 <= 16 ms.

    python benchmarks/gui_directions.py [--data-dir DIR] [--steps 200]
"""

from __future__ import annotations

import argparse
import time

from gui_common import DATA_DIR_HELP, percentile, wait_until, window_on_trained_mnist


def timed(app, action) -> tuple[float, float]:
    """Milliseconds until ``action`` returned, and until the event loop drew what it changed."""
    t0 = time.perf_counter()
    action()
    done = (time.perf_counter() - t0) * 1000
    app.processEvents()
    return done, (time.perf_counter() - t0) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", help=DATA_DIR_HELP)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=1, help="epochs to train the model first (headless)")
    args = ap.parse_args()

    import numpy as np
    import torch


    app, window = window_on_trained_mnist(args.data_dir, args.epochs)
    wait_until(app, lambda: window.explorer.view is not None and window.traversals.shown is not None, timeout=60)
    app.processEvents()
    explorer, tool, slider = window.explorer, window.directions.selection, window.canvas.direction.slider
    for which, c in (("A", 3), ("B", 8)):
        tool.class_clicked.emit(which, c)  # what a click on the legend reports
    assert explorer.direction is not None, "no direction from classes 3 and 8"
    label = explorer.direction.label

    updated, drawn = [], []
    values = np.round(300 * np.sin(np.arange(args.steps) / 15)).astype(int)
    for value in values:
        before = window.traversal.updates
        done, frame = timed(app, lambda: slider.setValue(int(value)))
        if window.traversal.updates > before:  # a step the slider took (equal values do nothing)
            updated.append(done)
            drawn.append(frame)
        time.sleep(0.01)

    points = window.scatter.layout_points
    low, high = np.quantile(points, [0.2, 0.8], axis=0)
    box = [timed(app, lambda: tool.select_box(tuple(low), tuple(high))) for _ in range(10)]
    in_box = len(explorer.selections[tool.target()].indices)
    angle = np.linspace(0, 2 * np.pi, 600, endpoint=False)
    centre, radius = points.mean(axis=0), points.std(axis=0)
    lasso_vertices = centre + radius * np.c_[np.cos(angle), np.sin(angle) * (1 + 0.3 * np.cos(5 * angle))]
    lasso = [timed(app, lambda: tool.select_lasso(lasso_vertices)) for _ in range(10)]
    in_lasso = len(explorer.selections[tool.target()].indices)
    tool.set_target("A")
    tool.select_box(tuple(low), tuple(high))
    sizes = {which: len(s.indices) for which, s in explorer.selections.items()}
    moved = [timed(app, window.directions.update_sets) for _ in range(10)]  # what a new epoch's view costs them
    window.close()

    print("direction slider (a step -> marker, decoding and traversal grid updated)")
    print(f"  torch {torch.__version__}, {torch.get_num_threads()} threads; MNIST MLP, latent 20 (PCA view), "
          f"{len(points)} points; direction {label}")
    print(f"  steps   {len(updated)}")
    print(f"  p50     {percentile(updated, 50):7.2f} ms")
    print(f"  p95     {percentile(updated, 95):7.2f} ms   (goal <= 16 ms)")
    print(f"  max     {max(updated):7.2f} ms")
    print(f"  to the frame drawn: p50 {percentile(drawn, 50):.2f} ms, p95 {percentile(drawn, 95):.2f} ms")
    for name, runs in ((f"box ({in_box} points)", box), (f"lasso of 600 vertices ({in_lasso} points)", lasso),
                       (f"both sets' rings moved to a new view ({sizes['A']} + {sizes['B']} points)", moved)):
        done = [d for d, _ in runs]
        frame = [f for _, f in runs]
        print(f"{name}: handled p50 {percentile(done, 50):.2f} ms, max {max(done):.2f} ms; "
              f"to the frame drawn p50 {percentile(frame, 50):.2f} ms, max {max(frame):.2f} ms")


if __name__ == "__main__":
    main()
