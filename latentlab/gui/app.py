"""Start the desktop app: QApplication, theme, the main window."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

RESOURCES = Path(__file__).resolve().parents[2] / "resources"  # icon and .desktop file, beside the package


def apply_theme(app: QApplication) -> None:
    """Fusion with a dark palette: plots are dark, so the frame around them is too."""
    app.setStyle("Fusion")
    p = QPalette()
    for role, colour in (
        (QPalette.ColorRole.Window, "#2b2b2b"), (QPalette.ColorRole.WindowText, "#e0e0e0"),
        (QPalette.ColorRole.Base, "#1e1e1e"), (QPalette.ColorRole.AlternateBase, "#2b2b2b"),
        (QPalette.ColorRole.Text, "#e0e0e0"), (QPalette.ColorRole.Button, "#3a3a3a"),
        (QPalette.ColorRole.ButtonText, "#e0e0e0"), (QPalette.ColorRole.Highlight, "#4aa3ff"),
        (QPalette.ColorRole.HighlightedText, "#000000"), (QPalette.ColorRole.ToolTipBase, "#2b2b2b"),
        (QPalette.ColorRole.ToolTipText, "#e0e0e0"), (QPalette.ColorRole.PlaceholderText, "#888888"),
    ):
        p.setColor(role, QColor(colour))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor("#777777"))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor("#777777"))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText, QColor("#777777"))
    app.setPalette(p)


def create_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setOrganizationName("latentlab")
    app.setApplicationName("latentlab")
    icon = RESOURCES / "latentlab.png"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    apply_theme(app)
    return app


def main(checkpoint: str | None = None) -> int:
    app = create_app()
    from .main_window import MainWindow

    window = MainWindow()
    window.show()
    if checkpoint:
        window.open_run_dir(checkpoint)
    return app.exec()
