"""Wall time of the UMAP view (``latentlab.core.umap_view``) on 10,000 synthetic 20-D latents.

Needs no dataset: ten Gaussian clusters in 20-D stand in for a VAE's test-set latents. In one
fresh process it times:

- ``import umap``;
- the first ``umap_layout`` (numba compiles: the graph, the SGD, the warm-up of the view's
  inverse and transform): to the first progress record and to the final one;
- a second, identical run (compiled) and a warm start from the first run's layout;
- the final view's ``inverse`` of 1 point and of a 12 x 12 grid (144), the median of many
  calls, and ``transform`` of one new latent;
- with ``--compare``, umap's own ``UMAP(random_state=0).fit_transform`` of the same data, the
  layout without progress or cancel.

    python benchmarks/umap_speed.py [--points 10000] [--dim 20] [--compare]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from latentlab.core.umap_view import _import_umap, umap_layout  # noqa: E402


def latents(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(10, dim)) * 4
    return centres[rng.integers(0, 10, n)] + rng.normal(size=(n, dim))


def timed_run(z: np.ndarray, **kwargs):
    """The final record, and the seconds to the first record, to the one before the last and to the last."""
    start = time.perf_counter()
    times = []
    for record in umap_layout(z, **kwargs):
        times.append(time.perf_counter() - start)
    return record, times[0], times[-2], times[-1], len(times)


def median_ms(fn, calls: int) -> float:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10000)
    parser.add_argument("--dim", type=int, default=20)
    parser.add_argument("--compare", action="store_true", help="also time umap's own fit_transform")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {args.points} x {args.dim}-D")
    z = latents(args.points, args.dim)

    start = time.perf_counter()
    _import_umap()
    print(f"import umap: {time.perf_counter() - start:.1f} s")

    # The last record waits for the last chunk and the warm-up of the view's inverse and transform.
    final, first, before_last, total, records = timed_run(z)
    print(f"first run (compiles): first record {first:.1f} s, the one before the last {before_last:.1f} s, "
          f"final {total:.1f} s; {records} records, {final.total_iterations} epochs")
    _, first, before_last, total, _ = timed_run(z)
    print(f"second run (compiled): first record {first:.1f} s, the one before the last {before_last:.1f} s, "
          f"final {total:.1f} s")
    warm, first, before_last, total, _ = timed_run(z, init=final.layout)
    print(f"warm start from the first layout: first record {first:.1f} s, final {total:.1f} s, "
          f"{warm.total_iterations} epochs")

    view = final.projection
    rng = np.random.default_rng(1)
    lo, hi = view.layout.min(0), view.layout.max(0)
    one = view.layout[rng.integers(0, len(view.layout), 1)] + 0.1
    grid = np.stack(np.meshgrid(np.linspace(lo[0], hi[0], 12), np.linspace(lo[1], hi[1], 12)), -1).reshape(-1, 2)
    print(f"inverse, 1 point: {median_ms(lambda: view.inverse(one), 200):.2f} ms (median of 200)")
    print(f"inverse, 12 x 12 grid: {median_ms(lambda: view.inverse(grid), 20):.1f} ms (median of 20)")
    new = latents(1, args.dim, seed=9)
    print(f"transform, 1 new latent: {median_ms(lambda: view.transform(new), 20):.1f} ms (median of 20)")

    if args.compare:
        import umap

        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            umap.UMAP(random_state=0).fit_transform(z)
        print(f"umap's fit_transform (compiled): {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
