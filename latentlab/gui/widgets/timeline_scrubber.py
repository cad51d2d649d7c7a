"""The timeline scrubber under the latent scatter: a slider over the run's kept epochs, Play, step keys.

Passive: it shows the epochs it is given and the one on screen, and says which epoch the
user asked for; whoever listens decides what that shows.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QWidget

PLAY_INTERVAL_MS = 500  # one epoch per half second: long enough to see the points travel


class TimelineScrubber(QWidget):
    epoch_chosen = Signal(int)  # an epoch of the timeline, asked for by the slider, Play or a key

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Replay the run epoch by epoch")
        self.play_button.toggled.connect(self._on_play_toggled)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Scrub through the run's epochs (, and . step one; the newest follows the run)")
        self.slider.setPageStep(1)
        self.slider.valueChanged.connect(self._on_slider_moved)
        self.latest_button = QPushButton("Latest")
        self.latest_button.setToolTip("Show the newest epoch, and follow the run as it trains")
        self.latest_button.clicked.connect(lambda: self._choose(len(self._epochs) - 1))
        self.label = QLabel("Epoch –")  # a fixed width: its text changes at every step, the layout must not
        self.label.setFixedWidth(self.label.fontMetrics().horizontalAdvance("Epoch 0000/0000 (replay)") + 8)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        # The buttons and the label first: where the pane is narrower than its rows, only the
        # slider's far end is cut off.
        layout.addWidget(self.play_button)
        layout.addWidget(self.latest_button)
        layout.addWidget(self.label)
        layout.addWidget(self.slider, 1)
        for key, delta in ((",", -1), (".", +1)):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(lambda delta=delta: self.step(delta))
        self._timer = QTimer(self)
        self._timer.setInterval(PLAY_INTERVAL_MS)
        self._timer.timeout.connect(self._on_tick)
        self._epochs: list[int] = []
        self._hold = False  # the epoch shown is still being laid out: Play waits for it
        self.set_epochs([], None, True)

    # -- what the model says --------------------------------------------------------------
    def set_epochs(self, epochs: list[int], shown: int | None, following: bool, hold: bool = False) -> None:
        """The kept epochs (ascending), the one on screen, and whether the newest is followed."""
        self._epochs, self._hold = list(epochs), hold
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(len(self._epochs) - 1, 0))
        if shown in self._epochs:
            self.slider.setValue(self._epochs.index(shown))
        self.slider.blockSignals(False)
        usable = len(self._epochs) > 1
        for widget in (self.slider, self.play_button):
            widget.setEnabled(usable)
        self.latest_button.setEnabled(usable and not following)
        if shown is None or not self._epochs:
            self.label.setText("Epoch –")
        else:
            self.label.setText(f"Epoch {shown}/{self._epochs[-1]}" + ("" if following else " (replay)"))
        if not usable:
            self.play_button.setChecked(False)

    @property
    def epochs(self) -> list[int]:
        return list(self._epochs)

    # -- what the user does -----------------------------------------------------------------
    def step(self, delta: int) -> None:
        """Show the epoch ``delta`` places along the timeline (the step keys)."""
        if self._epochs:
            self._choose(min(max(self.slider.value() + delta, 0), len(self._epochs) - 1))

    def _choose(self, index: int) -> None:
        if not 0 <= index < len(self._epochs):
            return
        if self.slider.value() == index:
            self.epoch_chosen.emit(self._epochs[index])
        else:
            self.slider.setValue(index)  # emits through _on_slider_moved

    def _on_slider_moved(self, index: int) -> None:
        if 0 <= index < len(self._epochs):
            self.epoch_chosen.emit(self._epochs[index])

    def _on_play_toggled(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")
        if playing:
            if self.slider.value() >= len(self._epochs) - 1:
                self._choose(0)  # Play at the end replays from the start
            if self.play_button.isChecked():  # showing the start may have failed, and unchecked it
                self._timer.start()
        else:
            self._timer.stop()

    def _on_tick(self) -> None:
        if not self.play_button.isChecked():
            self._timer.stop()
            return
        if self._hold:
            return
        if self.slider.value() >= len(self._epochs) - 1:
            self.play_button.setChecked(False)
            return
        self.step(+1)
