"""Start-up time to a usable window, for the frozen app and the installed package side by side.

Each launch runs on a fresh Xvfb screen with a fresh home folder, as a first launch would.
Two moments are timed from the launch:

- *window*: the main window is mapped (``xdotool search --onlyvisible`` finds it);
- *usable*: the window is drawn in full: all four panes' dark plot areas are on screen, and
  a second screenshot a moment later shows the same picture (the layout has settled).

Launches alternate (frozen, package, frozen, ...) so machine noise falls on both. With
``--cold`` (root only) the kernel's page cache is dropped before each launch, so the
libraries are read from disk as on the first launch after a reboot.

    python benchmarks/startup.py [--app dist/latentlab/latentlab] [--runs 5] [--cold]

Goal: the frozen app is usable within 6 s. Needs Debian's xvfb, xdotool and imagemagick.
"""

from __future__ import annotations

import argparse
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

REPO = Path(__file__).resolve().parents[1]
SCREEN = (1400, 950)


def start_xvfb() -> tuple[subprocess.Popen, str]:
    read_end, write_end = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"],
        pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    number = b""
    while not number.endswith(b"\n"):
        ready, _, _ = select.select([read_end], [], [], 30)
        if not ready:
            raise RuntimeError("Xvfb did not report a display number")
        number += os.read(read_end, 16)
    os.close(read_end)
    return xvfb, f":{int(number)}"


def plot_areas(path: Path) -> int:
    """How many large #1e1e1e areas (the panes' plot backgrounds) the screenshot holds."""
    with Image.open(path) as image:
        shot = np.asarray(image.convert("RGB"))
    labels, n = ndimage.label(np.all(shot == 30, axis=2))
    sizes = ndimage.sum(np.ones_like(labels), labels, range(1, n + 1)) if n else []
    return int(sum(size > 10_000 for size in sizes))


def launch(command: list[str], cold: bool) -> tuple[float, float]:
    """Seconds from launch to the window mapped, and to the window drawn and settled."""
    if cold:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    xvfb, display = start_xvfb()
    with tempfile.TemporaryDirectory(prefix="latentlab-startup-") as tmp:
        home = Path(tmp)
        env = {"PATH": "/usr/bin:/bin", "DISPLAY": display, "HOME": str(home), "XDG_RUNTIME_DIR": str(home),
               "QT_QPA_PLATFORM": "xcb"}
        xenv = {**os.environ, "DISPLAY": display}
        shot = home / "shot.png"
        start = time.perf_counter()
        app = subprocess.Popen(command, cwd=home, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            window = None
            while window is None:
                found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "^latentlab"],
                                       env=xenv, capture_output=True, text=True)
                if found.returncode == 0:
                    window = time.perf_counter() - start
                elif app.poll() is not None or time.perf_counter() - start > 120:
                    raise RuntimeError(f"{command[0]} showed no window (exit {app.poll()})")
                else:
                    time.sleep(0.02)
            previous, usable = None, 0.0
            while True:
                subprocess.run(["import", "-window", "root", str(shot)], env=xenv, check=True, capture_output=True)
                taken = time.perf_counter() - start  # after the capture: errs on the slow side
                picture = shot.read_bytes() if plot_areas(shot) >= 4 else None
                if picture is not None and picture == previous:
                    return window, usable  # drawn in full, and unchanged since
                previous, usable = picture, taken
                if taken > 120:
                    raise RuntimeError(f"{command[0]} never drew its panes")
        finally:
            app.terminate()
            app.wait(30)
            xvfb.terminate()
            xvfb.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app", default=str(REPO / "dist" / "latentlab" / "latentlab"), help="the frozen executable")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cold", action="store_true", help="drop the page cache before each launch (root only)")
    args = parser.parse_args()
    missing = [tool for tool in ("Xvfb", "xdotool", "import") if shutil.which(tool) is None]
    if missing:
        print(f"startup.py: missing {', '.join(missing)}; apt-get install xvfb xdotool imagemagick", file=sys.stderr)
        return 2
    candidates = {"package": [sys.executable, "-m", "latentlab"]}
    if Path(args.app).is_file():
        candidates = {"frozen": [str(Path(args.app).resolve())], **candidates}
    else:
        print(f"(no frozen app at {args.app}: timing the package only)")
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in candidates}
    for run in range(args.runs):
        for name, command in candidates.items():
            times[name].append(launch(command, args.cold))
            print(f"run {run + 1} {name:8s} window {times[name][-1][0]:5.2f} s  usable {times[name][-1][1]:5.2f} s")
    print(f"\n{'cold' if args.cold else 'warm'} page cache, median of {args.runs}:")
    for name, values in times.items():
        window = statistics.median(v[0] for v in values)
        usable = statistics.median(v[1] for v in values)
        print(f"  {name:8s} window {window:5.2f} s  usable {usable:5.2f} s  (best {min(v[1] for v in values):.2f} s)")
    if len(times) == 2:
        ratio = statistics.median(v[1] for v in times["frozen"]) / statistics.median(v[1] for v in times["package"])
        print(f"  frozen / package usable time: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
