"""Timeline scrubber latency: from a step of the scrubber to that epoch's view drawn.

Offscreen, CPU, an MNIST MLP with a 20-D latent trained headless for ``--epochs`` (every
epoch kept in the timeline), opened in a window: 10,000 test points in the PCA view. The
scrubber steps back and forth through the epochs (``TimelineScrubber.step``, what the
step keys do). For each step the script records the time until the explorer shows the
new epoch's view (its frame read, or found in memory; its PCA refitted and sign-aligned;
decoder, gallery, KL bars, traversals updated), until the scatter's first frame of it is
painted (the points then glide to their new places for 250 ms), and until the event loop
is idle again with every pane drawn. Goal: step to frame drawn, p95 <= 33 ms. Also the
frame's size on disk.

Steps come ``--pace`` ms apart: by default 300, a person pressing "." a few times a second
(Play steps every 500 ms), so each step's glide (250 ms) has ended; ``--pace 20`` is a key
held down, where every step lands on the glide of the one before.

    python benchmarks/gui_scrubber.py [--data-dir DIR] [--epochs 12] [--steps 200] [--pace 300]
"""

from __future__ import annotations

import argparse
import time

from gui_common import DATA_DIR_HELP, percentile, wait_until, window_on_trained_mnist


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", help=DATA_DIR_HELP)
    ap.add_argument("--epochs", type=int, default=12, help="epochs to train first: the length of the timeline")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--pace", type=float, default=300.0, help="milliseconds from one step to the next")
    args = ap.parse_args()

    import torch
    from pyqtgraph.widgets.GraphicsView import GraphicsView

    from latentlab.core.timeline import frame_path

    painted: list[float] = []  # when the scatter's plot last finished painting
    paint = GraphicsView.paintEvent

    def timed_paint(view, event):
        paint(view, event)
        if view is scatter_plot:
            painted.append(time.perf_counter())

    GraphicsView.paintEvent = timed_paint

    app, window = window_on_trained_mnist(args.data_dir, args.epochs)
    explorer, scrubber = window.explorer, window.scrubber
    scatter_plot = window.scatter.plot
    wait_until(app, lambda: explorer.view is not None and explorer.view.latents is explorer.snapshot.latents)
    epochs = scrubber.epochs
    assert len(epochs) == args.epochs, epochs
    frame_bytes = frame_path(window.run_dir, 1).stat().st_size

    shown, first_frame, drawn, from_disk = [], [], [], []
    direction = -1
    for _ in range(args.steps):
        index = scrubber.slider.value()
        if not 0 <= index + direction < len(epochs):
            direction = -direction
        target = epochs[index + direction]
        cached = explorer.timeline.in_memory(target)
        painted.clear()
        t0 = time.perf_counter()
        scrubber.step(direction)
        wait_until(app, lambda: explorer.snapshot.epoch == target and explorer.view.latents is explorer.snapshot.latents,
                   timeout=10)
        shown.append((time.perf_counter() - t0) * 1000)
        app.processEvents()  # the repaint: scatter, decoded image, gallery, traversal grid, KL bars
        drawn.append((time.perf_counter() - t0) * 1000)
        first_frame.append((painted[0] - t0) * 1000 if painted else drawn[-1])
        if not cached:
            from_disk.append(drawn[-1])
        wait_until(app, lambda: time.perf_counter() - t0 >= args.pace / 1000)  # the event loop runs meanwhile
    window.close()

    print("timeline scrubber latency (one step -> that epoch's view)")
    print(f"  torch {torch.__version__}, {torch.get_num_threads()} threads; MNIST MLP, latent 20 (PCA view), "
          f"{len(explorer.snapshot.latents)} points, {len(epochs)} epochs")
    print(f"  frame on disk per epoch: {frame_bytes / 2**20:.2f} MiB")
    print(f"  steps   {len(shown)}, {args.pace:.0f} ms apart ({len(from_disk)} read from disk, the rest held in memory)")
    print(f"  view shown     p50 {percentile(shown, 50):7.2f} ms   p95 {percentile(shown, 95):7.2f} ms")
    print(f"  frame drawn    p50 {percentile(first_frame, 50):7.2f} ms   p95 {percentile(first_frame, 95):7.2f} ms   "
          f"max {max(first_frame):7.2f} ms   (the scatter's first frame of the epoch; goal p95 <= 33 ms)")
    print(f"  all drawn      p50 {percentile(drawn, 50):7.2f} ms   p95 {percentile(drawn, 95):7.2f} ms   "
          f"max {max(drawn):7.2f} ms   (the event loop idle again: every pane, and the glide's first step)")
    if from_disk:
        print(f"  read from disk p50 {percentile(from_disk, 50):7.2f} ms   max {max(from_disk):7.2f} ms")


if __name__ == "__main__":
    main()
