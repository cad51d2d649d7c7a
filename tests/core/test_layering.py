"""Arrows point down: the engine and the CLI never pull in Qt or pyqtgraph."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import latentlab

CORE = Path(latentlab.__file__).parent / "core"


def imported_modules(code: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def test_core_and_cli_import_without_qt_or_pyqtgraph():
    modules = imported_modules(
        "import latentlab.core.trainer, latentlab.core.projection, latentlab.core.checkpoint, "
        "latentlab.core.evaluate, latentlab.core.export, latentlab.cli"
    )
    assert "latentlab.core.trainer" in modules and "torch" in modules  # the imports really happened
    assert "PySide6" not in modules and "pyqtgraph" not in modules
    assert not [m for m in modules if m.split(".")[0] in ("PySide6", "pyqtgraph", "shiboken6")]
    assert not [m for m in modules if m.startswith("latentlab.gui")]


def test_cli_module_defers_heavy_imports_until_a_command_runs():
    modules = imported_modules("import latentlab.cli; latentlab.cli.build_parser()")
    assert "torch" not in modules and "PySide6" not in modules


def test_no_core_source_file_names_qt_or_the_gui():
    for path in sorted(CORE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [("." * node.level) + (node.module or "")]
            else:
                continue
            for name in names:
                top = name.lstrip(".").split(".")[0]
                assert top not in ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "shiboken6"), f"{path.name} imports {name}"
                assert not name.startswith(("latentlab.gui", "..gui")), f"{path.name} imports {name}"


def test_the_main_window_opens_without_scikit_learn_which_loads_in_the_background():
    # scikit-learn and SciPy take about a second to import: on the path to the first window
    # they would delay every launch; the app's warm-up thread imports them instead.
    modules = imported_modules("import latentlab.gui.main_window")
    assert "latentlab.gui.main_window" in modules
    assert not [m for m in modules if m.split(".")[0] in ("sklearn", "scipy", "openTSNE")]


def test_gui_widgets_import_without_torch():
    # The widgets are passive views; the control panel reads its choices and defaults from
    # latentlab.core.config, which must stay free of torch for that.
    widgets = sorted(p.stem for p in (CORE.parent / "gui" / "widgets").glob("*.py") if p.stem != "__init__")
    assert "control_panel" in widgets and "loss_plot" in widgets
    modules = imported_modules("; ".join(f"import latentlab.gui.widgets.{name}" for name in widgets))
    assert "latentlab.gui.widgets.control_panel" in modules and "latentlab.core.config" in modules
    assert not [m for m in modules if m.split(".")[0] == "torch"]
