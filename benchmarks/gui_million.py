"""A million latents on the scatter: time to first picture, pan and zoom frame times, hover, selection, memory.

Offscreen, CPU. 1,000,000 synthetic 20-D latents (ten Gaussian clusters of different
spreads, one class each, in a random rotation) go the way the app takes every item's
latents: PCA fitted on all of them, every point placed, the grid index built, the density
layer given the points and its first picture rendered and painted ("time to first
picture", from latents in hand). Then the view is panned and zoomed as a drag would, one
step every 16 ms; each step's frame time is the range change plus the event loop's work
(pictures arriving from the render thread included) plus a synchronous repaint of the plot.
How far behind the picture falls (a step to its own picture on screen) is reported too.
Then hover lookups at random places, a box and a lasso over all points, and the memory
the process grew by.

Goals: pan/zoom frame time p95 <= 33 ms; hover lookup p95 <= 5 ms.

With ``--data-dir``, the app's own path on real data follows: an MNIST MLP (20-D) trained
one epoch headless, opened, *All items* switched on: the dataset loaded, the 60,000
training items encoded, PCA refitted on all 70,000, the first picture painted.

    python benchmarks/gui_million.py [--points 1000000] [--steps 200] [--hovers 500] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from gui_common import DATA_DIR_HELP, app_and_window, percentile, wait_until


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def synthetic_latents(n: int, dim: int, classes: int = 10, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    centres = rng.normal(0, 3, (classes, dim))
    spreads = rng.uniform(0.3, 1.5, classes)
    latents = centres[labels] + rng.normal(0, 1, (n, dim)).astype(np.float32) * spreads[labels, None]
    rotation, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    return (latents @ rotation).astype(np.float32), labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=20)
    ap.add_argument("--steps", type=int, default=200, help="pan and zoom steps timed")
    ap.add_argument("--hovers", type=int, default=500)
    ap.add_argument("--plot", default="", metavar="WxH",
                    help="float the scatter pane at this size (e.g. 1600x1000) instead of its place in the window")
    ap.add_argument("--data-dir", help=DATA_DIR_HELP + "; with it, MNIST's 70,000 items also go the app's whole way")
    args = ap.parse_args()

    import tempfile

    import numpy as np
    from PySide6.QtCore import QPointF

    from latentlab.core.point_index import PointIndex
    from latentlab.core.projection import PCAProjection
    from latentlab.gui.widgets import density_layer

    work = Path(tempfile.mkdtemp(prefix="latentlab-bench-"))
    app, window = app_and_window(work)
    layer, scatter = window.all_items.layer, window.scatter
    scatter.setEnabled(True)
    if args.plot:
        width, height = (int(v) for v in args.plot.lower().split("x"))
        dock = window.docks["scatter"]
        dock.setFloating(True)
        dock.resize(width, height)
    wait_until(app, lambda: window.isVisible(), timeout=30)
    for _ in range(20):
        app.processEvents()

    latents, labels = synthetic_latents(args.points, args.dim)
    base = rss_mib()
    colours = np.array([[0.31, 0.47, 0.65], [0.95, 0.56, 0.17], [0.88, 0.34, 0.35], [0.46, 0.72, 0.70],
                        [0.35, 0.63, 0.31], [0.93, 0.79, 0.28], [0.69, 0.48, 0.63], [1.0, 0.62, 0.65],
                        [0.61, 0.46, 0.37], [0.73, 0.69, 0.67]])

    # -- time to first picture -------------------------------------------------------------------
    t0 = time.perf_counter()
    projection = PCAProjection(latents)  # what the worker does for a PCA view: fit on every item...
    t_pca = time.perf_counter()
    points = projection.transform(latents).astype(np.float32)  # ...place every item...
    t_place = time.perf_counter()
    index = PointIndex(points)  # ...and index them
    t_index = time.perf_counter()
    prepared = density_layer.LayerPoints.of(points, labels, colours, index)  # and colour them, all on the worker
    t_prepared = time.perf_counter()
    layer.set_points(prepared)  # the GUI thread's part
    t_set = time.perf_counter()
    assert layer.wait_rendered(30), "no first picture"
    scatter.plot.viewport().repaint()
    t_first = time.perf_counter()
    grown = rss_mib() - base
    assert layer.image.isVisible(), "the first picture is not a density image"

    # -- pan and zoom at a drag's pace --------------------------------------------------------------
    vb = layer.view_box
    (x0, x1), (y0, y1) = vb.viewRange()
    frames, lags, pending = [], [], {}
    rng = np.random.default_rng(1)
    for step in range(args.steps):
        t = time.perf_counter()
        phase = (step // 25) % 4  # 25 steps each: pan right, zoom in, pan up, zoom out
        if phase == 0:
            vb.translateBy(x=(x1 - x0) * 0.01)
        elif phase == 1:
            vb.scaleBy((0.97, 0.97))
        elif phase == 2:
            vb.translateBy(y=(y1 - y0) * 0.01)
        else:
            vb.scaleBy((1 / 0.97, 1 / 0.97))
        pending[layer._generation] = t
        app.processEvents()
        scatter.plot.viewport().repaint()
        done = time.perf_counter()
        frames.append((done - t) * 1000)
        shown = layer._shown_generation
        for generation in [g for g in pending if g <= shown]:
            if generation == shown:
                lags.append((done - pending[generation]) * 1000)
            del pending[generation]
        time.sleep(max(0.0, 0.016 - (time.perf_counter() - t)))
    assert layer.wait_rendered(30)
    scatter.fit_view()
    assert layer.wait_rendered(30)

    # -- hover, box and lasso -------------------------------------------------------------------------
    (x0, x1), (y0, y1) = vb.viewRange()
    hovers, found = [], 0
    for qx, qy in zip(rng.uniform(x0, x1, args.hovers), rng.uniform(y0, y1, args.hovers)):
        t = time.perf_counter()
        found += layer.item_at(float(qx), float(qy)) >= 0
        hovers.append((time.perf_counter() - t) * 1000)
    scene_hovers = []
    for i in rng.integers(0, len(points), 100):
        target = vb.mapViewToScene(QPointF(float(points[i, 0]), float(points[i, 1])))
        t = time.perf_counter()
        layer._on_mouse_moved(target)  # the layer's whole answer to a pointer move: mapping and lookup
        scene_hovers.append((time.perf_counter() - t) * 1000)
    cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 4, (y1 - y0) / 4
    t = time.perf_counter()
    in_box = index.in_box((cx - w, cy - h), (cx + w, cy + h))
    box_ms = (time.perf_counter() - t) * 1000
    angles = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    lasso = np.c_[cx + w * np.cos(angles), cy + h * np.sin(angles) * (1 + 0.3 * np.sin(5 * angles))]
    t = time.perf_counter()
    in_lasso = index.in_polygon(lasso)
    lasso_ms = (time.perf_counter() - t) * 1000
    mask = np.zeros(len(points), dtype=bool)
    mask[in_box] = True
    t = time.perf_counter()
    layer.show_set("A", mask)
    assert layer.wait_rendered(30)
    tint_ms = (time.perf_counter() - t) * 1000
    window.close()

    mib = lambda a: a.nbytes / 2**20  # noqa: E731
    arrays = mib(latents) + mib(points) + mib(prepared.point_colours) + sum(
        mib(a) for a in (index.order, index.x, index.y, index.starts))
    print(f"a million latents: {len(points):,} synthetic {args.dim}-D latents, 10 classes; "
          f"plot {int(vb.width())}x{int(vb.height())} px; load average {os.getloadavg()[0]:.2f}")
    print("time to first picture (latents in hand -> density painted)")
    print(f"  total          {t_first - t0:7.2f} s")
    print(f"  PCA fit        {t_pca - t0:7.2f} s   place {t_place - t_pca:.2f} s   index {t_index - t_place:.2f} s   "
          f"colours {t_prepared - t_index:.2f} s")
    print(f"  GUI thread     {(t_set - t_prepared) * 1000:7.1f} ms to hand over; render and paint {t_first - t_set:.2f} s")
    print(f"pan and zoom, {len(frames)} steps at 16 ms (marker limit {density_layer.MARKER_LIMIT:,} points on screen)")
    print(f"  frame time p50 {percentile(frames, 50):6.1f} ms   p95 {percentile(frames, 95):6.1f} ms   "
          f"max {max(frames):6.1f} ms   (goal p95 <= 33 ms)")
    if lags:
        print(f"  a step to its own picture: p50 {percentile(lags, 50):.0f} ms, p95 {percentile(lags, 95):.0f} ms "
              f"({len(lags)} of {len(frames)} steps got one; the others were overtaken by the next step)")
    print(f"hover lookup ({args.hovers} at random, {found} found an item within {density_layer.HOVER_PIXELS} px)")
    print(f"  p50 {percentile(hovers, 50):.3f} ms   p95 {percentile(hovers, 95):.3f} ms   max {max(hovers):.3f} ms   "
          f"(goal p95 <= 5 ms); a pointer move's whole handling p95 {percentile(scene_hovers, 95):.3f} ms")
    print(f"selection: box of {len(in_box):,} items {box_ms:.1f} ms, lasso of 400 vertices around {len(in_lasso):,} "
          f"items {lasso_ms:.1f} ms, the box's tint on screen {tint_ms:.0f} ms")
    print(f"memory: the process grew by {grown:.0f} MiB with the points shown; latents, points, colours "
          f"and index arrays {arrays:.0f} MiB")

    if args.plot:
        return
    if args.data_dir or os.environ.get("LATENTLAB_DATA") or (Path(__file__).resolve().parents[2] / "shared").exists():
        mnist_whole_way(args.data_dir)


def mnist_whole_way(data_dir: str | None) -> None:
    """MNIST in the app: All items switched on -> dataset loaded, training items encoded, PCA refitted, painted."""
    from gui_common import window_on_trained_mnist

    try:
        app, window = window_on_trained_mnist(data_dir, epochs=1)
    except SystemExit:
        return  # no MNIST files here: the synthetic figures stand alone
    presenter = window.all_items
    base = rss_mib()
    t0 = time.perf_counter()
    presenter.layer.show_box.setChecked(True)
    wait_until(app, lambda: presenter.shown is not None and presenter.job is None, timeout=600, idle_sleep=0.002)
    assert presenter.layer.wait_rendered(30)
    window.scatter.plot.viewport().repaint()
    total = time.perf_counter() - t0
    shown = presenter.shown
    print(f"MNIST in the app (MLP 784-400-20, CPU): {len(shown.points):,} items, All items on -> first picture "
          f"{total:.2f} s (dataset, encoding {len(shown.train_latents):,} training items, PCA on all, index, paint); "
          f"memory +{rss_mib() - base:.0f} MiB")
    window.close()


if __name__ == "__main__":
    main()
