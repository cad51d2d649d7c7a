"""Start the desktop app: QApplication, theme, the main window."""

from __future__ import annotations

import codecs
import locale
import os
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


def use_utf8_locale() -> None:
    """Give Qt the UTF-8 locale it needs when the environment names none (LANG unset or C).

    Python itself switches such a locale to C.UTF-8 at start-up (PEP 538), but an embedded
    interpreter, as in the frozen app, does not, and Qt then warns on stderr before
    switching on its own. Doing what Python would keeps file names with accents working.
    """
    if "LC_ALL" in os.environ:
        return  # set on purpose: respect it
    try:
        locale.setlocale(locale.LC_CTYPE, "")  # what Qt will see: the C library's locale
        codeset = locale.nl_langinfo(locale.CODESET)
    except locale.Error:  # the environment names a locale this system lacks
        codeset = ""
    try:
        utf8 = codecs.lookup(codeset).name == "utf-8"
    except LookupError:
        utf8 = False
    if not utf8:
        os.environ["LC_CTYPE"] = "C.UTF-8"
        try:
            locale.setlocale(locale.LC_CTYPE, "C.UTF-8")
        except locale.Error:  # a system without C.UTF-8: Qt picks its own fallback
            pass


def create_app(argv: list[str] | None = None) -> QApplication:
    use_utf8_locale()
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
    collect_garbage_on_this_thread(app)
    return app


def collect_garbage_on_this_thread(app: QApplication) -> None:
    """Python's cycle collector runs on whichever thread happens to allocate; on the training
    thread it would destroy collected Qt widgets off the GUI thread, which deadlocks on the GIL
    inside Qt. pyqtgraph's collector turns the automatic one off and collects on a GUI timer."""
    if getattr(app, "_latentlab_gc", None) is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector

        app._latentlab_gc = GarbageCollector(interval=0.5)


def warm_up_in_background() -> None:
    """Import, off the GUI thread, what the first training run and t-SNE would import.

    An import holds the GIL for long stretches: torchvision's, on the first run's data
    load, froze the GUI for ~150 ms, and torch builds its optimizer machinery on first
    use. Done while the user is still looking at the window, none of it freezes the GUI
    when the first run starts.
    """

    def warm() -> None:
        import openTSNE  # noqa: F401
        import sklearn.decomposition  # noqa: F401 - the PCA view after the first epoch
        import torch
        import torchvision.datasets  # noqa: F401 - the datasets; torchvision imports all its models too

        torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # pulls in torch._dynamo

    threading.Thread(target=warm, name="latentlab-warm-up", daemon=True).start()


def main(checkpoint: str | None = None, follow: str | None = None) -> int:
    app = create_app()
    from .main_window import MainWindow

    window = MainWindow()
    window.show()
    warm_up_in_background()
    if checkpoint:
        window.open_run_dir(checkpoint)
    if follow:
        window.follow.start(follow)
    return app.exec()
