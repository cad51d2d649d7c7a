"""Training items per second inside the app against ``latentlab train`` headless.

Both train the same run: MNIST, the 784-400-20 MLP, batch 128, Adam 1e-3, on the CPU,
with a checkpoint every epoch. Headless runs ``latentlab train``'s loop in a fresh process;
the app trains through its QThread with the window on screen (offscreen), every pane
updating. The script reads back the config the app saved and checks that it matches the
headless one field for field. Runs alternate (headless, app, headless, app, ...) so
machine noise falls on both. Each run trains 4 epochs; the figure is epochs 2-4 (180,000
items over the time between the first and the last epoch's end), which leaves out
start-up. Goal: the app keeps >= 90% of the headless rate.

    python benchmarks/gui_throughput.py [--data-dir DIR] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gui_common import DATA_DIR_HELP, app_and_window, mnist_root


EPOCHS = 4


def run_config(root: Path):
    from _common import mlp_784_400_20_config

    return mlp_784_400_20_config(str(root), epochs=EPOCHS, device="cpu")


def headless(root: Path) -> float:
    """``latentlab train``'s loop in a fresh process (its own torch threads, checkpoints on)."""
    out = subprocess.run(
        [sys.executable, __file__, "--headless-child", str(root)], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def _headless_child(root: str) -> None:
    from latentlab.core.events import EpochSnapshot, RunStarted
    from latentlab.core.trainer import train

    marks, n = {}, 0
    with tempfile.TemporaryDirectory() as run_dir:
        for event in train(run_config(Path(root)), run_dir=Path(run_dir) / "run"):  # as `latentlab train`
            if isinstance(event, RunStarted):
                n = event.n_train
            if isinstance(event, EpochSnapshot):
                marks[event.epoch] = time.perf_counter()
    print((EPOCHS - 1) * n / (marks[EPOCHS] - marks[1]))


def config_differences(saved, expected) -> list[str]:
    """Fields where the app's run differs from the headless one (the data folder aside)."""
    a, b = saved.to_dict(), expected.to_dict()
    return [f"{part}.{key}: app {a[part].get(key)!r}, headless {b[part].get(key)!r}"
            for part in b for key in b[part] if a[part].get(key) != b[part].get(key) and key != "root"]


def in_app(app, window, root: Path) -> tuple[float, list[str]]:
    from PySide6.QtCore import QEventLoop

    from latentlab.core.checkpoint import open_run
    from latentlab.core.events import RunState

    expected = run_config(root)
    window.panel.set_settings(expected.to_dict())  # every field of the form, as a user would set them
    marks: dict[int, float] = {}
    info = {}

    def on_epoch(snap) -> None:
        marks.setdefault(snap.epoch, time.perf_counter())

    window.controller.epoch_done.connect(on_epoch)  # every epoch, never coalesced for drawing
    window.controller.run_started.connect(lambda e: info.setdefault("n", e.n_train))
    loop = QEventLoop()  # a real event loop, as app.exec() runs: it sleeps until there is work
    window.controller.state_changed.connect(lambda state: state is RunState.IDLE and loop.quit())
    window.panel.start_button.click()
    loop.exec()
    window.controller.epoch_done.disconnect(on_epoch)
    differences = config_differences(open_run(window.run_dir).config, expected)
    return (EPOCHS - 1) * info["n"] / (marks[EPOCHS] - marks[1]), differences


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--headless-child":
        return _headless_child(sys.argv[2])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", help=DATA_DIR_HELP)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import torch

    from latentlab.core.trainer import default_num_threads

    root = mnist_root(args.data_dir)
    work = Path(tempfile.mkdtemp(prefix="latentlab-bench-"))
    app, window = app_and_window(work)
    rates = {"headless": [], "app": []}
    differences: set[str] = set()
    for _ in range(args.repeats):
        rates["headless"].append(headless(root))
        rate, differ = in_app(app, window, root)
        rates["app"].append(rate)
        differences.update(differ)
    window.close()
    h, a = statistics.median(rates["headless"]), statistics.median(rates["app"])
    print("training throughput, app (QThread) vs headless, MNIST 784-400-20, CPU")
    print(f"  torch {torch.__version__}, {default_num_threads()} threads, {args.repeats} alternating runs of "
          f"{EPOCHS} epochs (rate over epochs 2-{EPOCHS})")
    print("  same run config: " + ("yes" if not differences else "NO: " + "; ".join(sorted(differences))))
    print(f"  headless  {h:9,.0f} items/s   runs: {', '.join(f'{r:,.0f}' for r in rates['headless'])}")
    print(f"  in app    {a:9,.0f} items/s   runs: {', '.join(f'{r:,.0f}' for r in rates['app'])}")
    print(f"  app / headless = {a / h:.0%}   (goal >= 90%)")


if __name__ == "__main__":
    main()
