"""Posterior layer cost: a hovered point's 2σ ellipse, and every point restyled by its mean σ.

Offscreen, CPU, an MNIST MLP with a 20-D latent (PCA view) and its 10,000 test points.
The pointer moves from point to point through the scene's own mouse-move signal (as a
real move does); the script records the time until the ellipse of the hovered item is
drawn (the preview's decode included), and until the event loop has drawn the frame. The
same ellipse through a t-SNE layout (a stand-in: the PCA points as its layout, since the
cost depends only on the number of points and dimensions) is timed apart. Then the point
style is switched (size by σ, colour by σ, plain) and a new snapshot's sigmas are applied,
each restyling the 10,000 points. Goals: hover to ellipse drawn p95 <= 16 ms; a restyle <= 16 ms.

    python benchmarks/gui_posterior.py [--data-dir DIR] [--hovers 200]
"""

from __future__ import annotations

import argparse
import time

from gui_common import DATA_DIR_HELP, percentile, window_on_trained_mnist


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", help=DATA_DIR_HELP)
    ap.add_argument("--hovers", type=int, default=200)
    ap.add_argument("--restyles", type=int, default=10, help="switches of the point style")
    ap.add_argument("--epochs", type=int, default=1, help="epochs to train the model first (headless)")
    args = ap.parse_args()

    import numpy as np
    import torch
    from PySide6.QtCore import QPointF

    from latentlab.core.posterior import ellipse_in_view, sigma_scale
    from latentlab.core.projection import TSNEProjection
    from latentlab.gui.widgets.posterior_layer import PointStyle

    app, window = window_on_trained_mnist(args.data_dir, args.epochs)
    app.processEvents()
    scatter, posteriors = window.scatter, window.posteriors
    view, snap = window.explorer.view, window.explorer.snapshot
    n = len(view.points)
    scene = scatter.plot.scene()
    order = np.random.default_rng(0).permutation(n)

    drawn_ellipse, drawn_frame, hovered = [], [], 0
    for i in order[: args.hovers]:
        target = scatter.plot.getViewBox().mapViewToScene(QPointF(*view.points[i]))
        t0 = time.perf_counter()
        scene.sigMouseMoved.emit(target)
        drawn_ellipse.append((time.perf_counter() - t0) * 1000)
        app.processEvents()  # the repaint of the scatter with its ellipse and the preview
        drawn_frame.append((time.perf_counter() - t0) * 1000)
        hovered += posteriors.shown is not None
        time.sleep(0.01)

    tsne = TSNEProjection(view.points, view.latents)
    tsne_ms = []
    for i in order[: args.hovers]:
        t0 = time.perf_counter()
        ellipse_in_view(tsne, snap.latents[i], snap.logvars[i])
        tsne_ms.append((time.perf_counter() - t0) * 1000)

    layer = posteriors.layer
    styles = [PointStyle.SIZE, PointStyle.COLOUR, PointStyle.PLAIN]
    restyle_ms = {s: [] for s in styles}
    for k in range(args.restyles):
        style = styles[k % len(styles)]
        t0 = time.perf_counter()
        layer.set_style(style)
        restyle_ms[style].append((time.perf_counter() - t0) * 1000)
        app.processEvents()
    layer.set_style(PointStyle.SIZE)
    app.processEvents()
    snapshot_ms = []
    rng = np.random.default_rng(1)
    for _ in range(args.restyles):
        scale = sigma_scale(np.exp(rng.normal(-1.0, 0.3, n)))  # a new snapshot's sigmas
        t0 = time.perf_counter()
        layer.set_sigmas(scale)
        snapshot_ms.append((time.perf_counter() - t0) * 1000)
        app.processEvents()
    window.close()

    print("posterior ellipse (pointer moved onto a point -> its ellipse drawn)")
    print(f"  torch {torch.__version__}, {torch.get_num_threads()} threads; MNIST MLP, latent 20 (PCA view), "
          f"{n} points")
    print(f"  hovers  {len(drawn_ellipse)} ({hovered} with an ellipse)")
    print(f"  p50     {percentile(drawn_ellipse, 50):7.2f} ms")
    print(f"  p95     {percentile(drawn_ellipse, 95):7.2f} ms   (goal <= 16 ms)")
    print(f"  max     {max(drawn_ellipse):7.2f} ms")
    print("hover -> frame drawn")
    print(f"  p50     {percentile(drawn_frame, 50):7.2f} ms")
    print(f"  p95     {percentile(drawn_frame, 95):7.2f} ms")
    print(f"ellipse through a {n}-point t-SNE layout: p50 {percentile(tsne_ms, 50):.2f} ms, "
          f"p95 {percentile(tsne_ms, 95):.2f} ms")
    print(f"restyle all {n} points (goal <= 16 ms; the first of each style also draws its symbols)")
    for style, times in restyle_ms.items():
        if times:
            print(f"  {style.value:7s} median {percentile(times, 50):6.2f} ms, max {max(times):6.2f} ms")
    print(f"  new snapshot's sigmas (size by σ): median {percentile(snapshot_ms, 50):6.2f} ms, "
          f"max {max(snapshot_ms):6.2f} ms")


if __name__ == "__main__":
    main()
