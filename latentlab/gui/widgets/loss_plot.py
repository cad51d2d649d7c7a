"""Live loss curves (train per step, test per epoch) and the per-dimension KL bar chart.

Train and test curves of one name show one quantity: the negative ELBO (recon + KL) and
its two parts, in nats per image. What training minimised, recon + beta*KL, differs from
the -ELBO when beta != 1 or during a KL warm-up; it then gets a curve of its own.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QSplitter, QVBoxLayout, QWidget,
)

from .images import steady_label

KL_B_COLOUR = "#7fd3ff"
CURVES = {"elbo": "#e8e8e8", "recon": "#4aa3ff", "kl": "#ff9f43"}
CURVE_LABELS = {"elbo": "\u2212ELBO", "recon": "recon", "kl": "KL"}
OBJECTIVE_LABEL = "objective (recon + \u03b2\u00b7KL)"
OBJECTIVE_COLOUR = "#9a9a9a"  # dimmer than the -ELBO it is read against
# At most 5 redraws a second, however fast metrics arrive. Each costs ~3.5 ms of painting on
# the GUI thread, and on two cores every millisecond of it stalls one of the training
# thread's two torch threads: at 30 a second the app trained 15% slower than headless.
REDRAW_MS = 200
COLLAPSE_NATS = 0.01  # mean KL per dimension below this: the dimension carries no information


class LossPlot(QWidget):
    """Buffers incoming metrics and redraws on a timer, so a fast trainer cannot flood the GUI."""

    log_scale_toggled = Signal(bool)
    test_nll_requested = Signal()
    test_nll_samples_changed = Signal(int)  # K, once typed or stepped

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = pg.PlotWidget(background="#1e1e1e")
        self.plot.setLabel("left", "nats per image")
        self.plot.setLabel("bottom", "step")
        self.legend = self.plot.addLegend(offset=(-10, 10))
        self.train_curves = {}
        self.test_curves = {}
        for name, colour in CURVES.items():
            label = CURVE_LABELS[name]
            self.train_curves[name] = self.plot.plot(pen=pg.mkPen(colour, width=1.5), name=f"train {label}")
            self.test_curves[name] = self.plot.plot(
                pen=pg.mkPen(colour, width=1, style=Qt.PenStyle.DashLine), symbol="o", symbolSize=6,
                symbolBrush=colour, symbolPen=None, name=f"test {label}",
            )
        # In the legend only while shown (see _on_redraw): with beta 1 throughout it equals the -ELBO.
        self.objective_curve = self.plot.plot(pen=pg.mkPen(OBJECTIVE_COLOUR, width=1, style=Qt.PenStyle.DotLine))
        self.objective_curve.setVisible(False)
        self._objective_shown = False
        self.legend.setColumnCount(2)

        self.kl_plot = pg.PlotWidget(background="#1e1e1e")
        self.kl_plot.setLabel("left", "KL (nats)")
        self.kl_plot.setLabel("bottom", "latent dimension")
        self.kl_bars = pg.BarGraphItem(x=[], height=[], width=0.8, brush="#ff9f43", pen=None)
        self.kl_plot.addItem(self.kl_bars)
        # A run B's KL beside A's, each dimension's pair of bars side by side (compare_runs.py).
        self.kl_bars_b = pg.BarGraphItem(x=[], height=[], width=0.4, brush=KL_B_COLOUR, pen=None)
        self.kl_plot.addItem(self.kl_bars_b)
        self._kl = np.zeros(0)
        self._kl_b: np.ndarray | None = None
        self.kl_warning = steady_label(QLabel(), lines=2)
        self.kl_warning.setWordWrap(True)
        self.kl_warning.setStyleSheet("color: #ffb020;")

        self.log_box = QCheckBox("Log scale")
        self.log_box.toggled.connect(self._on_log_toggled)

        # The test set's importance-sampled NLL, beside the test -ELBO it bounds from below.
        self.nll_label = steady_label(QLabel())
        self.nll_label.setStyleSheet("color: #dddddd;")
        self.nll_button = QPushButton("Test NLL")
        self.nll_button.setToolTip("Estimate the test set's negative log-likelihood with K importance samples "
                                   "per item (Burda et al.), in the background; it is kept in the run's run.json")
        self.nll_button.clicked.connect(self.test_nll_requested)
        self.nll_samples = QSpinBox()
        self.nll_samples.setRange(1, 5000)
        self.nll_samples.setValue(100)
        self.nll_samples.setPrefix("K = ")
        self.nll_samples.setKeyboardTracking(False)  # one change when the number is typed, not one per digit
        self.nll_samples.setToolTip("Importance samples per item for the test NLL and your images' NLLs: more "
                                    "give a tighter estimate and take proportionally longer")
        self.nll_samples.valueChanged.connect(self.test_nll_samples_changed)
        self.set_test_nll("", enabled=False)

        top = QHBoxLayout()
        top.addWidget(self.log_box)
        top.addWidget(self.nll_label, 1)
        top.addWidget(self.nll_samples)
        top.addWidget(self.nll_button)
        kl_box = QWidget()
        kl_layout = QVBoxLayout(kl_box)
        kl_layout.setContentsMargins(0, 0, 0, 0)
        kl_layout.addWidget(self.kl_plot, 1)
        kl_layout.addWidget(self.kl_warning)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.plot)
        split.addWidget(kl_box)
        split.setSizes([300, 120])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(split, 1)

        self._timer = QTimer(self)  # runs only while there is something new to draw
        self._timer.setSingleShot(True)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self._on_redraw)
        self.clear()

    def set_test_nll(self, text: str, enabled: bool, tooltip: str = "") -> None:
        self.nll_label.setText(text)
        self.nll_label.setToolTip(tooltip)
        self.nll_button.setEnabled(enabled)

    def clear(self) -> None:
        # "objective" holds the elbo where the objective equals it, so the curve has a point per step.
        self._train: dict[str, list[float]] = {"step": [], "elbo": [], "recon": [], "kl": [], "objective": []}
        self._test: dict[str, list[float]] = {"step": [], "elbo": [], "recon": [], "kl": []}
        self._has_objective = False
        self.redraws = 0
        self._schedule()
        self.kl_bars.setOpts(x=[], height=[])
        self.kl_warning.setText("")

    def add_train(self, step: int, recon: float, kl: float, elbo: float, objective: float | None = None) -> None:
        """One logged training window: the -ELBO ``elbo`` = recon + kl and, when it differs, the
        ``objective`` minimised (recon + beta*kl); None means it equals the -ELBO (beta 1)."""
        for key, value in (("step", step), ("recon", recon), ("kl", kl), ("elbo", elbo)):
            self._train[key].append(value)
        self._train["objective"].append(elbo if objective is None else objective)
        self._has_objective |= objective is not None
        self._schedule()

    def add_test(self, step: int, recon: float, kl: float, elbo: float) -> None:
        """One test evaluation: its -ELBO ``elbo`` = recon + kl (test losses are never weighted)."""
        for key, value in (("step", step), ("recon", recon), ("kl", kl), ("elbo", elbo)):
            self._test[key].append(value)
        self._schedule()

    def set_history(self, steps: list[dict], epochs: list[dict]) -> None:
        """Replace the curves with a saved run's history (``Checkpoint.history``'s two lists).

        A step row's ``total`` is the objective minimised; the -ELBO is its recon + kl. Its
        ``beta`` says whether they differ; a row without one differs when its numbers do.
        """
        self.clear()
        for row in steps:
            recon, kl, total = row["recon"], row["kl"], row["total"]
            weighted = row["beta"] != 1 if "beta" in row else not math.isclose(total, recon + kl, rel_tol=1e-6)
            self.add_train(row["step"], recon, kl, recon + kl, total if weighted else None)
        for row in epochs:
            self.add_test(row["step"], row["recon"], row["kl"], row["total"])

    @property
    def shows_objective(self) -> bool:
        """Whether the weighted objective has its own curve (beta != 1 at some logged step)."""
        return self._has_objective

    def history(self) -> dict[str, dict[str, list[float]]]:
        """The curves' data: ``step``, ``recon``, ``kl``, ``elbo`` per split, and the train
        ``objective`` only when it differs from the -ELBO somewhere."""
        train = {k: list(v) for k, v in self._train.items() if k != "objective" or self._has_objective}
        return {"train": train, "test": {k: list(v) for k, v in self._test.items()}}

    def set_kl_per_dim(self, kl: np.ndarray) -> None:
        kl = self._kl = np.asarray(kl, dtype=np.float64)
        self._draw_kl_bars()
        active = int(np.sum(kl >= COLLAPSE_NATS))
        if kl.sum() < COLLAPSE_NATS * max(1, len(kl)):
            self.kl_warning.setText(
                "Posterior collapse: the KL is near zero, so the latent carries almost no information. "
                "Try a KL warm-up, a lower beta, or a weaker decoder."
            )
        elif active < len(kl):
            self.kl_warning.setText(f"{active} of {len(kl)} latent dimensions are active; the grey ones are unused.")
        else:
            self.kl_warning.setText(f"All {len(kl)} latent dimensions are active.")

    def set_kl_per_dim_b(self, kl: np.ndarray | None, name: str = "B") -> None:
        """Run B's KL per dimension beside A's bars (None: no B)."""
        self._kl_b = None if kl is None else np.asarray(kl, dtype=np.float64)
        self.kl_plot.setTitle(None if kl is None else
                              f"<span style='color:#ff9f43'>A</span> beside <span style='color:{KL_B_COLOUR}'>B: {name}</span>")
        self._draw_kl_bars()

    def _draw_kl_bars(self) -> None:
        kl, b = self._kl, self._kl_b
        brushes = [pg.mkBrush("#ff9f43" if v >= COLLAPSE_NATS else "#666666") for v in kl]
        shift, width = (0.2, 0.4) if b is not None else (0.0, 0.8)
        self.kl_bars.setOpts(x=np.arange(len(kl)) - shift, height=kl, brushes=brushes, width=width)
        b = np.zeros(0) if b is None else b
        self.kl_bars_b.setOpts(x=np.arange(len(b)) + shift, height=b, width=width)

    def _on_log_toggled(self, on: bool) -> None:
        self.plot.setLogMode(y=on)
        self._dirty = True  # redraw now: zeros are left out on a log axis and come back on a linear one
        self._on_redraw()
        self.log_scale_toggled.emit(on)

    def _schedule(self) -> None:
        self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    def _on_redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        self.redraws += 1
        self._show_objective(self._has_objective)
        curves = [(self._train, self.train_curves), (self._test, self.test_curves),
                  (self._train, {"objective": self.objective_curve})]
        for source, named in curves:
            x = np.asarray(source["step"], dtype=np.float64)
            for name, curve in named.items():
                y = np.asarray(source[name], dtype=np.float64)
                if self.log_box.isChecked():
                    keep = y > 0  # a KL of exactly zero has no logarithm
                    curve.setData(x[keep], y[keep])
                else:
                    curve.setData(x, y)

    def _show_objective(self, shown: bool) -> None:
        if shown == self._objective_shown:
            return
        self._objective_shown = shown
        self.objective_curve.setVisible(shown)
        if shown:
            self.legend.addItem(self.objective_curve, f"train {OBJECTIVE_LABEL}")
        else:
            self.legend.removeItem(self.objective_curve)
