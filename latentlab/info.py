"""``latentlab --info``: what a bug report needs, in the manner of ``napari --info``."""

from __future__ import annotations

import importlib
import platform
import sys
from importlib import metadata


def _version(dist: str, module: str | None = None) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:  # a frozen app may carry no package metadata
        pass
    try:
        return str(getattr(importlib.import_module(module or dist), "__version__", "unknown"))
    except Exception as exc:  # noqa: BLE001 - a report must list a broken package, not die of it
        return f"not importable ({type(exc).__name__}: {exc})"


def _torch_lines() -> list[str]:
    try:
        import torch
    except Exception as exc:  # noqa: BLE001
        return [f"torch: not importable ({type(exc).__name__}: {exc})"]
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None  # e.g. 92400
    if cudnn is not None:
        cudnn = f"{cudnn // 10000}.{cudnn % 10000 // 100}.{cudnn % 100}"
    lines = [
        f"torch: {torch.__version__} (CUDA {torch.version.cuda or 'none'}, "
        f"cuDNN {cudnn if cudnn is not None else 'none'}, {torch.get_num_threads()} CPU threads)"
    ]
    devices = ["cpu"]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            devices.append(f"cuda:{i} {props.name} ({props.total_memory / 2**30:.0f} GiB)")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    lines.append(f"devices: {', '.join(devices)}")
    return lines


def _qt_lines() -> list[str]:
    from latentlab.gui.qt_check import candidate_platforms, check_platform, debian_package

    try:
        from PySide6 import QtCore

        qt = f"PySide6: {_version('PySide6-Essentials', 'PySide6')} (Qt {QtCore.qVersion()})"
    except Exception as exc:  # noqa: BLE001
        qt = f"PySide6: not importable ({type(exc).__name__}: {exc})"
    report = check_platform()
    lines = [qt, f"Qt platform: {report.platform} (tried in order: {', '.join(candidate_platforms())}; "
                 f"plugin {report.plugin or 'not found'})"]
    if report.missing:
        packages = " ".join(sorted(dict.fromkeys(debian_package(m) for m in report.missing)))
        lines.append(f"missing system libraries: {', '.join(report.missing)} (sudo apt-get install {packages})")
    else:
        lines.append("missing system libraries: none")
    if report.problem and not report.missing:
        lines.append(f"Qt cannot start: {report.problem}")
    return lines


def info_text() -> str:
    from latentlab import __version__
    from latentlab.core import paths

    lines = [
        f"latentlab: {__version__}{' (packaged app)' if getattr(sys, 'frozen', False) else ''}",
        f"platform: {platform.platform()} ({platform.machine()})",
        f"Python: {platform.python_version()} ({sys.executable})",
        *_torch_lines(),
        f"torchvision: {_version('torchvision')}",
        *_qt_lines(),
        f"pyqtgraph: {_version('pyqtgraph')}",
        f"NumPy: {_version('numpy')}",
        f"scikit-learn: {_version('scikit-learn', 'sklearn')}",
        f"openTSNE: {_version('openTSNE')}",
        f"safetensors: {_version('safetensors')}",
        f"Pillow: {_version('pillow', 'PIL')}",
        f"settings: {paths.settings_file()}",
        f"data folder: {paths.default_data_dir()}",
        f"runs folder: {paths.default_runs_dir()}",
    ]
    return "\n".join(lines)
