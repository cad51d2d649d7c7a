"""Can Qt open a window here? Asked before the first QApplication, with no Qt module imported.

When its platform plugin cannot load, Qt aborts the process (exit 134) and, since 6.5,
blames ``xcb-cursor0`` whatever is really missing. Instead we read the ELF dependencies
of the plugin and of Qt's own libraries, try to load each system library the way the
dynamic loader would, and name the missing ones with the Debian packages that bring them.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from latentlab.core.errors import LatentlabError

# Debian/Ubuntu packages a desktop needs for the xcb platform (README's list; .ci/run installs them).
DESKTOP_PACKAGES = (
    "libxcb-cursor0", "libxkbcommon-x11-0", "libxcb-icccm4", "libxcb-image0", "libxcb-keysyms1",
    "libxcb-randr0", "libxcb-render-util0", "libxcb-shape0", "libxcb-xinerama0", "libxcb-xkb1",
    "libegl1", "libgl1", "libfontconfig1", "libdbus-1-3",
)

# Sonames whose package name the usual rule (libfoo.so.N -> libfooN, libfoo2.so.N -> libfoo2-N) misses.
_PACKAGE_OF = {
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libgobject-2.0.so.0": "libglib2.0-0",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libOpenGL.so.0": "libopengl0",
    "libGLX.so.0": "libglx0",
    "libstdc++.so.6": "libstdc++6",
    "libgcc_s.so.1": "libgcc-s1",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
}


class QtCannotStart(LatentlabError):
    """Qt's platform plugin cannot load here: missing system libraries, or no display."""


@dataclass(frozen=True)
class QtPlatformReport:
    platform: str  # the plugin Qt would use: xcb, wayland, offscreen, ...
    plugin: Path | None  # its file, None when not found
    missing: tuple[str, ...] = ()  # sonames that cannot be loaded
    problem: str | None = None  # one sentence, or None when Qt can start

    @property
    def ok(self) -> bool:
        return self.problem is None


def qt_folder() -> Path | None:
    """PySide6's bundled Qt (``.../PySide6/Qt``), found without importing PySide6."""
    try:
        spec = importlib.util.find_spec("PySide6")
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(location) / "Qt"
        if folder.is_dir():
            return folder
    return None


def candidate_platforms(environ=os.environ) -> list[str]:
    """The platform plugins Qt will try, in order: ``QT_QPA_PLATFORM`` (``a;b`` lists fallbacks), else Qt's default."""
    asked = environ.get("QT_QPA_PLATFORM", "")
    if asked:
        return [part.split(":", 1)[0].strip() for part in asked.split(";") if part.strip()]
    if environ.get("XDG_SESSION_TYPE") == "wayland" and environ.get("WAYLAND_DISPLAY"):
        return ["wayland", "xcb"]
    return ["xcb"]


def plugin_file(platform: str, environ=os.environ) -> Path | None:
    """Where Qt would load ``libq<platform>.so`` from, honouring its plugin-path variables."""
    folders = [Path(p) for p in environ.get("QT_QPA_PLATFORM_PLUGIN_PATH", "").split(os.pathsep) if p]
    folders += [Path(p) / "platforms" for p in environ.get("QT_PLUGIN_PATH", "").split(os.pathsep) if p]
    qt = qt_folder()
    if qt is not None:
        folders.append(qt / "plugins" / "platforms")
    for folder in folders:
        candidate = folder / f"libq{platform}.so"
        if candidate.is_file():
            return candidate
    return None


def elf_needed(path: Path) -> list[str]:
    """The DT_NEEDED entries of a 64-bit little-endian ELF file; [] for anything else."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return []
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return []
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = []
    for i in range(shnum):
        base = shoff + i * shentsize
        if base + 0x40 > len(data):
            return []
        sh_type, = struct.unpack_from("<I", data, base + 4)
        offset, size = struct.unpack_from("<QQ", data, base + 0x18)
        link, = struct.unpack_from("<I", data, base + 0x28)
        sections.append((sh_type, offset, size, link))
    needed = []
    for sh_type, offset, size, link in sections:
        if sh_type != 6 or link >= len(sections):  # SHT_DYNAMIC, whose sh_link is its string table
            continue
        str_offset = sections[link][1]
        for entry in range(offset, offset + size, 16):
            tag, value = struct.unpack_from("<qQ", data, entry)
            if tag == 0:
                break
            if tag == 1:  # DT_NEEDED
                end = data.index(b"\0", str_offset + value)
                needed.append(data[str_offset + value : end].decode("utf-8", "replace"))
    return needed


_LOAD_ERROR = re.compile(r"^([^:\s]+\.so[^:\s]*): (.*)$")


def unloadable_libraries(roots: list[Path]) -> list[str]:
    """Sonames among the system libraries ``roots`` need (through Qt's own) that fail to load."""
    qt_lib = (qt_folder() or Path("/nonexistent")) / "lib"
    missing: list[str] = []
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        for name in elf_needed(stack.pop()):
            if name in seen:
                continue
            seen.add(name)
            bundled = qt_lib / name
            if bundled.is_file():  # Qt's own libraries: follow them to what they need
                stack.append(bundled)
                continue
            try:
                ctypes.CDLL(name, mode=os.RTLD_LAZY | os.RTLD_LOCAL)
            except OSError as exc:
                match = _LOAD_ERROR.match(str(exc))
                # The loader names the library that failed: this one, or one it needs in turn.
                culprit = Path(match.group(1)).name if match else name
                if culprit not in missing:
                    missing.append(culprit)
    return missing


def debian_package(soname: str) -> str:
    """The Debian/Ubuntu package that ships ``soname`` (the usual naming rule, with exceptions)."""
    if soname in _PACKAGE_OF:
        return _PACKAGE_OF[soname]
    match = re.fullmatch(r"(lib.+?)\.so\.(\d+).*", soname)
    if not match:
        return soname
    stem, major = match.group(1).lower(), match.group(2)
    return f"{stem}-{major}" if stem[-1].isdigit() else f"{stem}{major}"


def check_platform(environ=os.environ) -> QtPlatformReport:
    """Whether the platform plugin Qt would choose can load and find its display."""
    reports = [_check_one(p, environ) for p in candidate_platforms(environ)]
    for report in reports:
        if report.ok:
            return report
    return reports[0]


def _check_one(platform: str, environ) -> QtPlatformReport:
    plugin = plugin_file(platform, environ)
    if plugin is None:
        if qt_folder() is None:
            return QtPlatformReport(platform, None, problem="PySide6 is not installed; reinstall latentlab with pip.")
        return QtPlatformReport(
            platform, None,
            problem=f"Qt has no {platform!r} platform plugin; unset QT_QPA_PLATFORM or set it to xcb, wayland or offscreen.",
        )
    qt_lib = (qt_folder() or plugin.parents[2]) / "lib"
    missing = unloadable_libraries([plugin, qt_lib / "libQt6Widgets.so.6"])
    if missing:
        packages = sorted(dict.fromkeys(debian_package(m) for m in missing))
        libs = _join(missing)
        verb = "is" if len(missing) == 1 else "are"
        return QtPlatformReport(
            platform, plugin, tuple(missing),
            problem=(
                f"Qt cannot load its {platform} platform plugin because {libs} {verb} missing; "
                f"install {'it' if len(missing) == 1 else 'them'} with: sudo apt-get install {' '.join(packages)}."
            ),
        )
    if platform == "xcb" and not environ.get("DISPLAY"):
        return QtPlatformReport(
            platform, plugin,
            problem="There is no X display to open the window on (DISPLAY is not set); start latentlab from a "
                    "desktop session, or use latentlab train to work without one.",
        )
    if platform == "wayland" and not environ.get("WAYLAND_DISPLAY"):
        return QtPlatformReport(platform, plugin, problem="There is no Wayland display (WAYLAND_DISPLAY is not set); "
                                "start latentlab from a desktop session.")
    return QtPlatformReport(platform, plugin)


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def require_platform(environ=os.environ) -> None:
    """Raise ``QtCannotStart`` with one sentence when Qt would abort; returns at once otherwise."""
    report = check_platform(environ)
    if not report.ok:
        raise QtCannotStart(report.problem)
