"""Make docs/screenshot.png: the real window on an X server (Xvfb), showing a trained MNIST run.

The window is the app's own, on the xcb platform, set up as a user would leave it: all
70,000 items drawn as density with contours over the manifold, the marker on a test digit
with its traversal grid, an
A-B slerp strip, and two of "your images" (a test digit and a CIFAR-10 photo) scored. The
picture is the X screen itself (ImageMagick's ``import``), not a widget's rendering.

    python -m latentlab train --dataset mnist --data-dir ROOT --out RUN --epochs 12 --latent-dim 20 --seed 1
    python docs/make_screenshot.py RUN [--image photo.jpg] [--out docs/screenshot.png]

Needs xvfb and imagemagick (as CI installs them).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZE = (1680, 1050)
REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a trained run folder (MNIST, a 20-D latent reads best)")
    ap.add_argument("--image", type=Path, default=REPO / "tests" / "data" / "cifar10-jpg" / "test" / "ship" / "0003.jpg",
                    help="an image unlike the run's data, to encode beside a test digit")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "screenshot.png")
    args = ap.parse_args()

    display = ":97"
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", f"{SIZE[0]}x{SIZE[1]}x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        os.environ.update(DISPLAY=display, QT_QPA_PLATFORM="xcb")
        shoot(args.run, args.image, args.out, display)
    finally:
        xvfb.terminate()
        xvfb.wait(10)


def shoot(run: Path, image: Path, out: Path, display: str) -> None:
    import numpy as np
    from PIL import Image
    from PySide6.QtCore import QSettings

    from latentlab.gui.app import create_app
    from latentlab.gui.main_window import MainWindow

    app = create_app([])
    work = Path(tempfile.mkdtemp(prefix="latentlab-shot-"))
    window = MainWindow(settings=QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat),
                        runs_root=work / "runs")
    window.setGeometry(0, 0, *SIZE)
    window.show()

    def settle(seconds: float, until=lambda: True) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end or not until():
            app.processEvents()
            time.sleep(0.01)
            if time.monotonic() > end + 120:
                raise TimeoutError("the window did not get there")

    if not window.open_run_dir(run):
        sys.exit(f"could not open {run}")
    settle(1.0, lambda: window.explorer.view is not None)
    explorer, canvas = window.explorer, window.canvas
    labels = explorer.contents.test_labels
    points = explorer.view.points
    # A-B strip between a 1 and a 7, along the arc.
    for c, button in ((1, canvas.a_button), (7, canvas.b_button)):
        members = np.flatnonzero(labels == c)
        centre = points[members].mean(axis=0)
        explorer.select_item(int(members[np.argmin(np.linalg.norm(points[members] - centre, axis=1))]))
        button.click()
    canvas.path_box.setCurrentIndex(canvas.path_box.findData("spherical"))
    window.manifold.layer.toggle.setChecked(True)
    digit = work / "digit.png"
    Image.fromarray(explorer.contents.test_images[int(np.flatnonzero(labels == 3)[5])][0]).save(digit)
    window.encoding.encode_files([digit, image])
    settle(2.0, lambda: window.scores.test_is_current(per_item=True) and all(i.nll is not None for i in window.scores.inputs))
    # Every item of MNIST, training and test, as density with contours (PCA refitted on all 70,000).
    every = window.all_items
    every.layer.contour_box.setChecked(True)
    every.layer.show_box.setChecked(True)
    settle(2.0, lambda: every.shown is not None and every.job is None and every.layer.wait_rendered(0.1))
    points = explorer.view.points
    # The marker on a 4, with its traversal grid: the instrument the screenshot is for.
    four = np.flatnonzero(labels == 4)
    explorer.select_item(int(four[np.argmin(np.linalg.norm(points[four] - points[four].mean(axis=0), axis=1))]))
    settle(2.0)
    out.parent.mkdir(parents=True, exist_ok=True)
    raw = work / "screen.png"
    subprocess.run(["import", "-window", "root", str(raw)], env={**os.environ, "DISPLAY": display}, check=True,
                   timeout=30)
    with Image.open(raw) as shot:  # 256 colours: a third of the bytes, and the dark theme loses nothing
        shot.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    window.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
