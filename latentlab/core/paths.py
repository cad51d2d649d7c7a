"""Where latentlab keeps its settings, datasets and runs (Qt-free, so the CLI agrees with the app).

The folders follow the XDG base directories, the same ones Qt's ``QSettings`` and
``QStandardPaths.AppLocalDataLocation`` give an app named latentlab by latentlab:
``~/.config/latentlab/`` for settings, ``~/.local/share/latentlab/latentlab/`` for data.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

ORGANISATION = APPLICATION = "latentlab"


def _xdg(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable, "")
    # The spec: a relative path in these variables is invalid and must be ignored.
    return Path(value) if value and os.path.isabs(value) else Path.home() / fallback


def settings_file() -> Path:
    """The app's settings (window layout, last form values, last folders)."""
    return _xdg("XDG_CONFIG_HOME", ".config") / ORGANISATION / f"{APPLICATION}.conf"


def app_data_dir() -> Path:
    return _xdg("XDG_DATA_HOME", ".local/share") / ORGANISATION / APPLICATION


def default_data_dir() -> Path:
    """Where downloaded datasets go unless the user names a folder; ``$LATENTLAB_DATA`` overrides it."""
    override = os.environ.get("LATENTLAB_DATA", "")
    return Path(override).expanduser() if override else app_data_dir() / "data"


def default_runs_dir() -> Path:
    """Where the desktop app puts the runs it starts."""
    return app_data_dir() / "runs"


def new_run_dir(root: Path, dataset: str, *, now: time.struct_time | None = None) -> Path:
    """A run folder under ``root`` that does not exist yet: ``<dataset>-YYYYmmdd-HHMMSS``.

    When that name is taken (two starts within a second), ``-2``, ``-3``, ... is appended.
    The folder is not created; the trainer creates it. ``now`` is the local time to stamp
    (default: the current time).
    """
    root = Path(root)
    base = f"{dataset}-{time.strftime('%Y%m%d-%H%M%S', now or time.localtime())}"
    candidate, suffix = root / base, 1
    while os.path.lexists(candidate):  # lexists: a dangling link still holds the name
        suffix += 1
        candidate = root / f"{base}-{suffix}"
    return candidate
