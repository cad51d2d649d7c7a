"""Before Qt starts: a missing system library is one sentence with the apt-get line, not an abort."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from latentlab.gui import qt_check

REPO = Path(__file__).resolve().parents[2]


def env_with_broken_xcb_library(tmp_path: Path, soname: str = "libxcb-icccm.so.4") -> dict[str, str]:
    """The dynamic loader finds an unusable ``soname`` first, as on a desktop that lacks it."""
    broken = tmp_path / "lib"
    broken.mkdir()
    (broken / soname).write_bytes(b"")  # the loader stops here: "file too short"
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env.update(
        LD_LIBRARY_PATH=str(broken),
        QT_QPA_PLATFORM_PLUGIN_PATH=str(qt_check.qt_folder() / "plugins" / "platforms"),
        QT_QPA_PLATFORM="xcb",
        DISPLAY=":97",  # never reached: the plugin fails first
    )
    return env


def test_the_arranged_condition_really_aborts_a_bare_qt_application(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", "from PySide6.QtWidgets import QApplication; QApplication([])"],
        env=env_with_broken_xcb_library(tmp_path), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode in (-6, 134), proc.returncode  # SIGABRT: what a user used to get
    assert "xcb" in proc.stderr


def test_a_missing_xcb_library_is_one_sentence_naming_it_and_the_package_and_exit_2(tmp_path, one_sentence):
    proc = subprocess.run([sys.executable, "-m", "latentlab"], env=env_with_broken_xcb_library(tmp_path),
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.splitlines()
    message = line.removeprefix("latentlab: error: ")
    one_sentence(message)
    assert "Qt cannot load its xcb platform plugin because libxcb-icccm.so.4" in message
    assert "sudo apt-get install" in message and "libxcb-icccm4" in message.split("install", 1)[1]
    assert "xcb-cursor0" not in message


def test_no_display_is_one_sentence_and_exit_2(one_sentence):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    report = qt_check.check_platform(env)
    if report.missing:
        pytest.fail(f"this machine lacks Qt's xcb libraries ({', '.join(report.missing)}); .ci/run installs them")
    proc = subprocess.run([sys.executable, "-m", "latentlab"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    message = proc.stderr.strip().removeprefix("latentlab: error: ")
    one_sentence(message)
    assert "DISPLAY is not set" in message


def test_the_check_passes_where_qt_can_start_and_imports_no_qt():
    code = (
        "import sys; from latentlab.gui.qt_check import check_platform; "
        "r = check_platform({'QT_QPA_PLATFORM': 'offscreen'}); "
        "print(r.ok, r.plugin.name, any(m.startswith('PySide6.Qt') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.split() == ["True", "libqoffscreen.so", "False"]


def test_plugin_dependencies_are_read_from_the_elf_file():
    needed = qt_check.elf_needed(qt_check.plugin_file("xcb", {}))
    assert "libQt6XcbQpa.so.6" in needed and "libQt6Gui.so.6" in needed
    assert qt_check.elf_needed(REPO / "README.md") == []


@pytest.mark.parametrize(
    ("soname", "package"),
    [("libxcb-icccm.so.4", "libxcb-icccm4"), ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
     ("libxcb-render-util.so.0", "libxcb-render-util0"), ("libdbus-1.so.3", "libdbus-1-3"),
     ("libX11-xcb.so.1", "libx11-xcb1"), ("libglib-2.0.so.0", "libglib2.0-0"), ("libEGL.so.1", "libegl1")],
)
def test_sonames_map_to_their_debian_packages(soname, package):
    assert qt_check.debian_package(soname) == package


@pytest.mark.parametrize(
    ("value", "platforms"),
    [("offscreen", ["offscreen"]), ("wayland;xcb", ["wayland", "xcb"]), ("xcb:nograb", ["xcb"]), ("", ["xcb"])],
)
def test_the_platform_qt_would_choose(value, platforms):
    assert qt_check.candidate_platforms({"QT_QPA_PLATFORM": value}) == platforms


def test_info_names_versions_devices_platform_and_folders(tmp_path):
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "XDG_DATA_HOME": str(tmp_path / "share")}
    env.pop("LATENTLAB_DATA", None)
    proc = subprocess.run([sys.executable, "-m", "latentlab", "--info"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    fields = dict(line.split(": ", 1) for line in proc.stdout.splitlines())
    for key in ("latentlab", "Python", "torch", "devices", "torchvision", "PySide6", "Qt platform",
                "missing system libraries", "pyqtgraph", "NumPy", "scikit-learn", "openTSNE"):
        assert key in fields, key
    assert "CUDA" in fields["torch"] and "cuDNN" in fields["torch"]
    assert fields["devices"].startswith("cpu")
    assert fields["settings"] == str(tmp_path / "cfg" / "latentlab" / "latentlab.conf")
    assert fields["data folder"] == str(tmp_path / "share" / "latentlab" / "latentlab" / "data")
    assert fields["runs folder"] == str(tmp_path / "share" / "latentlab" / "latentlab" / "runs")


def test_info_reports_a_missing_library(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "latentlab", "--info"], env=env_with_broken_xcb_library(tmp_path),
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    assert "missing system libraries: libxcb-icccm.so.4" in proc.stdout and "libxcb-icccm4" in proc.stdout
