"""Manifold redraw after a zoom: from the zoomed range settling to its tiles shown, and the GUI's stalls.

Offscreen, CPU, an MNIST MLP with a 20-D latent and 10,000 scatter points, the scatter's
*Manifold* box ticked (12 x 12 tiles). The view zooms in and out around its centre, as the
mouse wheel does (``ViewBox.scaleBy``), one step every ``--pause`` seconds; each step is a new
rectangle to tile. For each the script records the time from the range settling (the
layer's debounce firing) to the new tiles being shown, from the zoom itself to the tiles
shown, and to the frame drawn. A 5 ms QTimer probe records the gaps between its ticks
meanwhile: a gap much longer than 5 ms is a stall the user would feel. Two views: PCA (an
exact inverse, decoded on the GUI thread), then a 2-D layout of the same 10,000 points as a
finished t-SNE would give one (made from the PCA points here, not by running t-SNE: its
inverse searches the 10,000 neighbours all the same), whose tiles the worker thread decodes.
Goal: no gap over 33 ms (two frames at 60 Hz).

    python benchmarks/gui_manifold.py [--data-dir DIR] [--zooms 40]
"""

from __future__ import annotations

import argparse
import time

from gui_common import DATA_DIR_HELP, percentile, wait_until, window_on_trained_mnist


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", help=DATA_DIR_HELP)
    ap.add_argument("--zooms", type=int, default=40, help="zoom steps on each view")
    ap.add_argument("--pause", type=float, default=0.25, help="seconds from one zoom step to the next")
    ap.add_argument("--epochs", type=int, default=1, help="epochs to train the model first (headless)")
    args = ap.parse_args()

    import numpy as np
    import torch
    from PySide6.QtCore import QPointF, QTimer

    from latentlab.core.projection import ViewKind

    app, window = window_on_trained_mnist(args.data_dir, args.epochs)
    presenter, layer, explorer = window.manifold, window.manifold.layer, window.explorer
    view_box = window.scatter.plot.getViewBox()

    # Time the settling: the presenter's own slot, called from a wrapper that notes when.
    settled_at = [0.0]

    def on_settled() -> None:
        settled_at[0] = time.perf_counter()
        presenter.update()

    layer.range_settled.disconnect(presenter.update)
    layer.range_settled.connect(on_settled)

    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append((now - last[0]) * 1000)
        last[0] = now

    probe = QTimer()
    probe.setInterval(5)
    probe.timeout.connect(tick)

    def zoom_round(name: str) -> dict:
        before = presenter.updates
        if not layer.enabled:
            layer.toggle.setChecked(True)
        wait_until(app, lambda: presenter.updates > before, timeout=60)
        (x0, x1), (y0, y1) = layer.visible_range()
        centre = QPointF((x0 + x1) / 2, (y0 + y1) / 2)
        redraw, zoom_to_shown, zoom_to_drawn, background = [], [], [], 0
        gaps.clear()
        last[0] = time.perf_counter()
        probe.start()
        for i in range(args.zooms):
            factor = 0.8 if (i // 5) % 2 == 0 else 1.25  # five steps in, five out, and again
            before = presenter.updates
            t0 = time.perf_counter()
            view_box.scaleBy((factor, factor), center=centre)
            # Sleeping between passes, as an idle event loop does: the worker needs the GIL.
            wait_until(app, lambda: presenter.updates > before, timeout=30, idle_sleep=0.001)
            shown = time.perf_counter()
            app.processEvents()  # the repaint of the scatter with its new tiles
            drawn = time.perf_counter()
            redraw.append((shown - settled_at[0]) * 1000)
            zoom_to_shown.append((shown - t0) * 1000)
            zoom_to_drawn.append((drawn - t0) * 1000)
            background += presenter.shown.background
            wait_until(app, lambda: time.perf_counter() - t0 >= args.pause, idle_sleep=0.001)
        probe.stop()
        return {"name": name, "redraw": redraw, "zoom": zoom_to_shown, "drawn": zoom_to_drawn,
                "background": background, "gaps": list(gaps)}

    rounds = [zoom_round("PCA (exact)")]
    # The same points laid out in 2-D as a t-SNE would be: an approximate view with 10,000 neighbours to search.
    points = explorer.view.points
    request = explorer.choose_view(ViewKind.TSNE)
    layout = points * 10 + np.random.default_rng(0).normal(scale=0.5, size=points.shape)
    explorer.tsne_progress(request.generation, layout, 1.0)
    wait_until(app, lambda: explorer.view.kind is ViewKind.TSNE and not presenter.busy, timeout=60)
    rounds.append(zoom_round("t-SNE layout (approximate)"))
    window.close()

    print("manifold redraw after a zoom (12 x 12 tiles; 5 ms timer probe for stalls)")
    print(f"  torch {torch.__version__}, {torch.get_num_threads()} threads; MNIST MLP, latent 20, "
          f"{len(points)} points; {args.zooms} zoom steps per view, {args.pause:.2f} s apart")
    for r in rounds:
        print(f"  {r['name']}: {r['background']} of {len(r['redraw'])} redraws decoded on the worker thread")
        for label, values in (("settled -> tiles shown", r["redraw"]), ("zoom -> tiles shown", r["zoom"]),
                              ("zoom -> frame drawn", r["drawn"])):
            print(f"    {label:24s} p50 {percentile(values, 50):7.1f} ms   p95 {percentile(values, 95):7.1f} ms   "
                  f"max {max(values):7.1f} ms")
        g = r["gaps"]
        print(f"    {'event-loop gaps':24s} p50 {percentile(g, 50):7.1f} ms   p99 {percentile(g, 99):7.1f} ms   "
              f"max {max(g):7.1f} ms   ({len(g)} ticks, >33 ms: {sum(v > 33 for v in g)})")
    print("  goal: no event-loop gap over 33 ms")


if __name__ == "__main__":
    main()
