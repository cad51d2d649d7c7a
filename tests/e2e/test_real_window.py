"""The real app in a real X window (Xvfb), driven with xdotool like a person would.

A run is trained headless by the CLI, then ``python -m latentlab --checkpoint RUN`` opens it
on a virtual screen. With ``LATENTLAB_APP`` naming a frozen build's executable
(``dist/latentlab/latentlab``), both steps run that executable instead, from another
working directory and with no Python environment, as a user of the packaged app would. The test finds the white crosshair marker in a screenshot, drags it
with real X mouse events, and checks that the Decoder pane's picture changed (and the
Reconstructions pane did not). Needs Debian's ``xvfb``, ``xdotool`` and ``imagemagick``
(for ``import``); without them the test is skipped, saying what to install.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SCREEN = (1400, 950)
TOOLS = {"Xvfb": "xvfb", "xdotool": "xdotool", "import": "imagemagick"}
FROZEN_APP = os.environ.get("LATENTLAB_APP")


def _latentlab(*args: str) -> list[str]:
    """The command line that runs ``latentlab ARGS``: the frozen build when one is named."""
    if FROZEN_APP:
        return [str(Path(FROZEN_APP).resolve()), *args]
    return [sys.executable, "-m", "latentlab", *args]


def _app_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The frozen app gets a scrubbed environment; the package keeps this interpreter's."""
    if FROZEN_APP:
        env = {"PATH": "/usr/bin:/bin"}
    else:
        env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "QT_QPA_PLATFORM")}
    env.update(extra)
    return env


def _missing_tools() -> list[str]:
    return [f"{tool} (apt-get install {package})" for tool, package in TOOLS.items() if shutil.which(tool) is None]


def _stop(proc: subprocess.Popen | None, timeout: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


@pytest.fixture
def display(tmp_path):
    """A fresh Xvfb screen; yields its DISPLAY string. Xvfb picks a free number itself."""
    missing = _missing_tools()
    if missing:
        pytest.skip("the real-window test needs " + ", ".join(missing))
    read_end, write_end = os.pipe()
    xvfb_log = tmp_path / "xvfb.log"
    with xvfb_log.open("wb") as log:
        xvfb = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_end), "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"],
            pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=log,
        )
    os.close(write_end)
    try:
        number = b""
        deadline = time.monotonic() + 30
        while not number.endswith(b"\n"):
            ready, _, _ = select.select([read_end], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(read_end, 16) if ready else b""
            if not chunk:
                pytest.fail(f"Xvfb did not report a display number: {xvfb_log.read_text(errors='replace')[-500:]}")
            number += chunk
        yield f":{int(number)}"
    finally:
        os.close(read_end)
        _stop(xvfb)


@pytest.fixture
def trained_run(tmp_path) -> Path:
    run = tmp_path / "run"
    result = subprocess.run(
        _latentlab("train", "--out", str(run), "--epochs", "5", "--hidden", "64", "--device", "cpu", "--quiet"),
        cwd=tmp_path if FROZEN_APP else REPO, env=_app_env(tmp_path), capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return run


@pytest.fixture
def app(display, trained_run, tmp_path):
    """``latentlab --checkpoint RUN`` on the Xvfb screen, with a fresh home and settings."""
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    (home / ".local" / "share").mkdir(parents=True)
    env = _app_env(
        tmp_path, DISPLAY=display, QT_QPA_PLATFORM="xcb", HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"), XDG_RUNTIME_DIR=str(tmp_path),
    )
    log = (tmp_path / "app.log").open("wb")
    proc = subprocess.Popen(
        _latentlab("--checkpoint", str(trained_run)),
        cwd=tmp_path if FROZEN_APP else REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    proc.log_path = tmp_path / "app.log"
    proc.display = display
    try:
        yield proc
    finally:
        _stop(proc)
        log.close()


def _log(proc) -> str:
    return proc.log_path.read_text(errors="replace")[-3000:]


def _xdotool(display: str, *args: str, timeout: float = 30) -> str:
    result = subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": display},
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"xdotool {' '.join(args)} failed: {result.stderr}"
    return result.stdout.strip()


def _screenshot(display: str, path: Path) -> np.ndarray:
    from PIL import Image

    subprocess.run(["import", "-window", "root", str(path)], env={**os.environ, "DISPLAY": display},
                   check=True, capture_output=True, timeout=30)
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(np.int16)


def _find_marker(shot: np.ndarray, region: tuple[int, int, int, int] | None = None) -> tuple[float, float] | None:
    """Centre of the white crosshair: where a long white row run crosses a long white column run."""
    from scipy import ndimage

    white = np.all(shot >= 250, axis=2).astype(np.float32)
    if region is not None:
        x0, y0, x1, y1 = region
        mask = np.zeros_like(white)
        mask[y0:y1, x0:x1] = 1
        white *= mask
    k = np.ones(25, dtype=np.float32)
    score = np.minimum(ndimage.convolve1d(white, k, axis=1, mode="constant"),
                       ndimage.convolve1d(white, k, axis=0, mode="constant")) * white
    best = score.max()
    if best < 18:  # the crosshair's arms are ~30 px of 2-px lines; nothing else on screen is
        return None
    ys, xs = np.nonzero(score >= best - 1)
    return float(xs.mean()), float(ys.mean())


def _plot_areas(shot: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Bounding boxes (x0, y0, x1, y1) of the large #1e1e1e areas: the plots' backgrounds."""
    from scipy import ndimage

    dark = np.all(shot == 30, axis=2)
    labels, n = ndimage.label(dark)
    sizes = ndimage.sum(dark, labels, range(1, n + 1))
    boxes = []
    for size, sl in zip(sizes, ndimage.find_objects(labels)):
        if size > 10_000:
            boxes.append((sl[1].start, sl[0].start, sl[1].stop, sl[0].stop))
    return boxes


def _contains(box, x, y) -> bool:
    return box[0] <= x < box[2] and box[1] <= y < box[3]


def _crop(shot, box) -> np.ndarray:
    return shot[box[1]:box[3], box[0]:box[2]]


def test_dragging_the_marker_in_the_real_window_changes_the_decoded_image(app, tmp_path):
    display = app.display
    try:
        window = _xdotool(display, "search", "--sync", "--onlyvisible", "--name", "^latentlab", timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail(f"no latentlab window appeared on {display}; the app said:\n{_log(app)}")
    window = window.split()[0]
    deadline = time.monotonic() + 120
    while "— run" not in _xdotool(display, "getwindowname", window):  # the checkpoint is open
        assert app.poll() is None, f"the app exited with {app.returncode}:\n{_log(app)}"
        assert time.monotonic() < deadline, f"the run never opened; the app said:\n{_log(app)}"
        time.sleep(0.5)

    # Wait until the scatter (with its marker) and the decoder are drawn.
    deadline = time.monotonic() + 60
    while True:
        before = _screenshot(display, tmp_path / "before.png")
        marker = _find_marker(before)
        if marker is not None:
            break
        assert time.monotonic() < deadline, f"no marker found on screen (see {tmp_path / 'before.png'})"
        time.sleep(0.5)
    areas = _plot_areas(before)
    scatter = next((b for b in areas if _contains(b, *marker)), None)
    assert scatter is not None, f"the marker at {marker} is not inside a plot: {areas}"
    # Below the top row of panes: Decoder (left), Reconstructions, Traversals (right); the
    # Decoder's interpolation strip sits under its image view, so take the upper of the left-most two.
    # (Right of the left column: the "Your images" table there under the controls is dark too.)
    top_row_left = min(b[0] for b in areas if b[1] < scatter[3] and b[3] > scatter[1])
    lower = sorted((b for b in areas if b[1] > scatter[3] and b[0] >= top_row_left - 40), key=lambda b: (b[0], b[1]))
    # The bottom row's panes start at about one height; the losses pane's KL bars, lower than the
    # scatter's plot (which shares its pane with the timeline scrubber), start well above them.
    row_top = max((b[1] for b in lower), key=lambda top: sum(abs(o[1] - top) <= 40 for o in lower), default=0)
    lower = [b for b in lower if abs(b[1] - row_top) <= 40]
    assert len(lower) >= 3, f"cannot find the Decoder, Reconstructions and Traversals panes: {areas}"
    decoder = lower[0]
    traversal = max(lower, key=lambda b: b[0])
    gallery = max((b for b in lower if b[2] <= traversal[0]), key=lambda b: b[0])
    assert decoder[2] <= gallery[0] < traversal[0], (decoder, gallery, traversal, scatter)

    # Drag the marker ~100 px towards the middle of the scatter, in steps, with the real mouse.
    mx, my = marker
    cx, cy = (scatter[0] + scatter[2]) / 2, (scatter[1] + scatter[3]) / 2
    dx = -80 if mx > cx else 80
    dy = 60 if my < cy else -60
    steps = 10
    _xdotool(display, "mousemove", str(round(mx)), str(round(my)))
    time.sleep(0.3)
    _xdotool(display, "mousedown", "1")
    time.sleep(0.2)
    for i in range(1, steps + 1):
        _xdotool(display, "mousemove", str(round(mx + dx * i / steps)), str(round(my + dy * i / steps)))
        time.sleep(0.05)
    time.sleep(0.2)
    _xdotool(display, "mouseup", "1")
    # Move the pointer away, as a person lets go and looks: first across the window (so the
    # scene sees the pointer leave the marker, which wears its hover colours, not white, while
    # under the pointer), then off it.
    for x, y in ((mx + dx * 1.5, my + dy * 1.5), (150, SCREEN[1] - 150), (5, SCREEN[1] - 5)):
        _xdotool(display, "mousemove", str(round(x)), str(round(y)))
        time.sleep(0.1)

    # A loaded machine may still be working through the drag's events: wait for the picture
    # to settle with the Decoder changed and the white marker at the drop point.
    deadline = time.monotonic() + 30
    while True:
        after = _screenshot(display, tmp_path / "after.png")
        changed = np.any(_crop(after, decoder) != _crop(before, decoder), axis=2).mean() > 0.01
        moved = _find_marker(after, scatter)
        if changed and moved is not None and abs(moved[0] - (mx + dx)) <= 6 and abs(moved[1] - (my + dy)) <= 6:
            break
        assert app.poll() is None, f"the app exited with {app.returncode}:\n{_log(app)}"
        assert time.monotonic() < deadline, (
            f"after the drag the Decoder changed: {changed}, marker at {moved} (from {marker}, "
            f"by {(dx, dy)}); see {tmp_path}/before.png, after.png")
        time.sleep(0.5)

    assert np.array_equal(_crop(after, gallery), _crop(before, gallery)), "the drag should not touch the gallery"
    assert np.any(_crop(after, traversal) != _crop(before, traversal)), "the traversal grid should follow the marker"
    assert app.poll() is None, f"the app died:\n{_log(app)}"

    # Quit with the keyboard, as a person would: the app ends on its own, cleanly.
    _xdotool(display, "windowfocus", "--sync", window)
    _xdotool(display, "key", "ctrl+q")
    try:
        code = app.wait(30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"Ctrl+Q did not quit the app:\n{_log(app)}")
    assert code == 0, f"the app exited with {code}:\n{_log(app)}"
