"""Start the desktop app: QApplication, theme, the main window."""

from __future__ import annotations

import sys
import threading
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
    # The GUI thread shares the GIL with the training and t-SNE threads. Each time it asks
    # for it back, a busy worker may keep it for a whole switch interval; at Python's
    # default 5 ms, a repaint made of many such hand-overs could stall past 50 ms.
    sys.setswitchinterval(0.001)
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setOrganizationName("latentlab")
    app.setApplicationName("latentlab")
    icon = RESOURCES / "latentlab.png"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    apply_theme(app)
    return app


def warm_up_in_background() -> None:
    """Import, off the GUI thread, what the first training run and t-SNE would import.

    An import holds the GIL for long stretches (torch builds its optimizer machinery on
    first use, about a second); done while the user is still looking at the window, it
    no longer freezes the GUI in the middle of the first run.
    """

    def warm() -> None:
        import openTSNE  # noqa: F401
        import torch

        torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # pulls in torch._dynamo

    threading.Thread(target=warm, name="latentlab-warm-up", daemon=True).start()


def main(checkpoint: str | None = None) -> int:
    app = create_app()
    from .main_window import MainWindow

    window = MainWindow()
    window.show()
    warm_up_in_background()
    if checkpoint:
        window.open_run_dir(checkpoint)
    return app.exec()
