"""The main window's menu bar: File, Training and View, each action with its shortcut.

Every action is also added to the window itself, so its shortcut works wherever the
focus is, menu bar shown or not.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence


def add_action(window, text: str, slot, shortcut=None, menu=None) -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    action.triggered.connect(slot)
    if menu is not None:
        menu.addAction(action)
    window.addAction(action)
    return action


def build_menus(window) -> None:
    """Fill ``window``'s menu bar; keeps the actions others enable on it (save, start, resume)."""
    w, act = window, add_action
    bar = w.menuBar()
    file_menu = bar.addMenu("&File")
    act(w, "&Open run…", w._on_open, QKeySequence.StandardKey.Open, file_menu)
    act(w, "&Follow run…", w.follow.ask_and_follow, None, file_menu)
    w.save_action = act(w, "&Save run as…", w._on_save, QKeySequence.StandardKey.Save, file_menu)
    act(w, "Open run as &B…", lambda: w.compare.ask_and_open(w.files.ask_folder), None, file_menu)
    act(w, "Close B", w.compare.close_b, None, file_menu)
    act(w, "&Encode image…", w.encoding.ask_and_encode, "Ctrl+E", file_menu)
    file_menu.addSeparator()
    export = file_menu.addMenu("&Export")
    for key, dock in w.docks.items():
        if key != "controls":
            act(w, f"{dock.windowTitle()} pane as PNG…", lambda _=False, k=key: w._on_export_png(k), None, export)
    act(w, "Latents as CSV…", lambda: w._ask_and(w.export_latents_csv, "Export latents", ".csv"), None, export)
    act(w, "Loss history as CSV…",
        lambda: w._ask_and(w.export_history_csv, "Export the loss history", ".csv"), None, export)
    file_menu.addSeparator()
    act(w, "&Quit", w.close, QKeySequence.StandardKey.Quit, file_menu)
    run_menu = bar.addMenu("&Training")
    w.start_action = act(w, "&Start / Pause", w._on_space, Qt.Key.Key_Space, run_menu)
    act(w, "S&top", w.controller.stop, "Ctrl+.", run_menu)
    w.resume_action = act(w, "&Resume a run…", w._on_resume, "Ctrl+R", run_menu)
    view_menu = bar.addMenu("&View")
    for dock in w.docks.values():
        view_menu.addAction(dock.toggleViewAction())
