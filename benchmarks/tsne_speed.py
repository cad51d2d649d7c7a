"""t-SNE of 10,000 MNIST latents: openTSNE's defaults against latentlab's ``tsne_layout``, cold and warm.

Trains the 784-400-20 MLP VAE (pytorch/examples' settings, latentlab's trainer, no run folder)
for ``--epochs`` epochs on the CPU and takes the posterior means of the 10,000 test images
after the last two epochs. Then, in one process, side by side:

- ``defaults``: ``openTSNE.TSNE().fit(x)`` (Annoy neighbours, 250 + 500 iterations, FFT
  gradients, PCA start, one thread), which shows nothing until it ends;
- ``cold``: ``tsne_layout(x, chunk=5, n_jobs=J)`` from scratch, for each J of ``--jobs``;
- ``warm``: ``tsne_layout(x, init=previous, chunk=5, n_jobs=J)``, where ``previous`` is the
  cold layout of the previous epoch's latents of the same points (made first, not timed):
  what the app does after each epoch.

For each: the wall time (from the call to the last layout), defaults' time / its time, the
time to the first layout shown (the first ``LayoutProgress``), the KL divergence and the
trustworthiness. The KL divergence of every layout is computed the same way, exactly, on the
same affinities: openTSNE's ``PerplexityBasedNN(x, perplexity=30, method="exact")``; Q is
normalised over all N^2 pairs (in numpy, in blocks). Trustworthiness is
``latentlab.core.trust.view_trust`` (k = 10, a fixed-seed sample of 5,000 points).
``--repeats`` runs of each of ours are timed; the median is in the table, every run is listed.

Goals (the issue): cold within 10 s on 2 cores, a tenth of the defaults' time, trust within
0.01 of the defaults' and KL not markedly worse; warm within 3 s.

    python benchmarks/tsne_speed.py [--data-dir DIR] [--epochs 4] [--jobs 1,2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import _common  # noqa: F401  (puts the project root on sys.path)
from _common import DATA_DIR_HELP, MnistCopy, mlp_784_400_20_config, print_table


def mnist_latents(data_dir: str | None, epochs: int):
    """Posterior means of the 10,000 test images after epochs ``epochs - 1`` and ``epochs``."""
    import numpy as np

    from latentlab.core.events import EpochSnapshot
    from latentlab.core.trainer import train

    latents = {}
    with MnistCopy(data_dir) as mnist:
        cfg = mlp_784_400_20_config(mnist.root, epochs=epochs, device="cpu")
        for event in train(cfg, run_dir=None):
            if isinstance(event, EpochSnapshot):
                latents[event.epoch] = np.asarray(event.latents, dtype=np.float64)
                print(f"  epoch {event.epoch}: test loss {event.test_total:.2f}", flush=True)
    return latents[epochs - 1], latents[epochs]


def exact_kl(P, y, block: int = 1000) -> float:
    """KL(P || Q) of layout ``y`` for the sparse joint affinities ``P``, with Q normalised exactly."""
    import numpy as np

    y = np.asarray(y, dtype=np.float64)
    sq = (y**2).sum(1)
    z = 0.0
    for s in range(0, len(y), block):
        d2 = sq[s : s + block, None] - 2.0 * y[s : s + block] @ y.T + sq[None]
        z += (1.0 / (1.0 + np.maximum(d2, 0.0))).sum() - min(block, len(y) - s)  # less the diagonal's 1s
    coo = P.tocoo()
    p = coo.data / coo.data.sum()
    q = 1.0 / (1.0 + ((y[coo.row] - y[coo.col]) ** 2).sum(1)) / z
    return float(np.sum(p * np.log(p / q)))


def time_layout(latents, **kwargs):
    """(seconds to the last layout, seconds to the first, the last layout) of one ``tsne_layout`` run."""
    from latentlab.core.projection import tsne_layout

    t0 = time.perf_counter()
    first = None
    for progress in tsne_layout(latents, chunk=5, **kwargs):
        if first is None:
            first = time.perf_counter() - t0
    return time.perf_counter() - t0, first, progress.layout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", help=DATA_DIR_HELP)
    ap.add_argument("--epochs", type=int, default=4, help="epochs to train; the warm start goes from epoch N-1 to N")
    ap.add_argument("--jobs", default="1,2", help="thread counts for our runs (the defaults use one)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each of ours")
    args = ap.parse_args()
    jobs = [int(j) for j in args.jobs.split(",")]

    import numpy as np
    import openTSNE
    from openTSNE import affinity

    from latentlab.core.trust import view_trust

    load = os.getloadavg()
    print(f"t-SNE speed: openTSNE {openTSNE.__version__}, {os.cpu_count()} cores, load average {load[0]:.2f} "
          f"{load[1]:.2f} {load[2]:.2f} at start")
    print(f"training the MNIST MLP (784-400-20) for {args.epochs} epochs:")
    previous, x = mnist_latents(args.data_dir, args.epochs)
    print(f"latents: {x.shape[0]} x {x.shape[1]} (epoch {args.epochs}; the warm start's init from epoch {args.epochs - 1})")

    P = affinity.PerplexityBasedNN(x, perplexity=30, method="exact", n_jobs=2).P  # the yardstick for every KL

    def quality(layout) -> tuple[float, float]:
        return exact_kl(P, layout), view_trust(x, layout).trustworthiness

    rows, runs = [], []
    t0 = time.perf_counter()
    defaults = openTSNE.TSNE().fit(x)
    base = time.perf_counter() - t0
    kl, trust = quality(np.asarray(defaults))
    rows.append(["openTSNE defaults (1 thread)", f"{base:.2f}", "1.0x", f"{base:.2f} (at the end)",
                 f"{kl:.4f}", f"{trust:.4f}"])
    print(f"  (openTSNE's own KL estimate for its layout: {defaults.kl_divergence:.4f})")

    for n_jobs in jobs:
        init = time_layout(previous, n_jobs=n_jobs)[2]  # the previous epoch's layout, as the app has it
        for name, kwargs in (("cold", {}), ("warm", {"init": init})):
            timed = [time_layout(x, n_jobs=n_jobs, **kwargs) for _ in range(args.repeats)]
            total = statistics.median(t[0] for t in timed)
            first = statistics.median(t[1] for t in timed)
            kl, trust = quality(timed[-1][2])
            rows.append([f"tsne_layout {name} (n_jobs={n_jobs})", f"{total:.2f}", f"{base / total:.1f}x",
                         f"{first:.2f}", f"{kl:.4f}", f"{trust:.4f}"])
            runs.append(f"{name} n_jobs={n_jobs}: " + ", ".join(f"{t[0]:.2f}" for t in timed) + " s")

    print()
    print_table(["run", "wall s", "speed-up", "first layout s", "KL", "trust (k=10)"], rows)
    print("every timed run of ours: " + "; ".join(runs))
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end (above 2 on 2 cores: noisy)")
    print("goals: cold <= 10 s and <= a tenth of the defaults' time, trust within 0.01 of theirs, "
          "KL not markedly worse; warm <= 3 s")


if __name__ == "__main__":
    main()
