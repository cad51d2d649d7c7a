"""Run settings and the Start / Pause / Stop buttons."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QValidator

from latentlab.core.events import RunState
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLineEdit,
    QPushButton, QSpinBox, QVBoxLayout, QWidget,
)

from latentlab.core.config import (
    CONV_SIDES, DATASET_LABELS, DEVICE_LABELS, IMAGE_SIZES, LIKELIHOOD_LABELS, MAX_BATCH_SIZE, MAX_EPOCHS,
    MAX_LATENT_DIM, MAX_SEED, MODEL_LABELS, DataConfig, ModelConfig, TrainConfig,
)

# The form's initial values and the fallbacks of set_settings: the config's own defaults.
_DATA, _MODEL, _TRAIN = DataConfig(), ModelConfig(), TrainConfig()


class SeedValidator(QValidator):
    """Whole numbers from 0 to MAX_SEED: torch seeds are 64-bit, more than a QSpinBox holds."""

    def validate(self, text: str, pos: int):
        if text == "":
            return QValidator.State.Intermediate, text, pos
        if not (text.isascii() and text.isdigit()) or int(text) > MAX_SEED:
            return QValidator.State.Invalid, text, pos
        return QValidator.State.Acceptable, text, pos


class ControlPanel(QWidget):
    start_requested = Signal()
    pause_requested = Signal()
    stop_requested = Signal()
    open_requested = Signal()
    save_requested = Signal()
    data_dir_chosen = Signal(str)
    dataset_chosen = Signal(str)  # the user picked a dataset (not set_settings): its key

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.dataset = QComboBox()
        for key, text in DATASET_LABELS.items():
            self.dataset.addItem(text, key)
        self.data_dir = QLineEdit()
        self.data_dir.setPlaceholderText("folder (torchvision layout or images)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._on_browse)
        dir_row = QHBoxLayout()
        dir_row.setContentsMargins(0, 0, 0, 0)
        dir_row.addWidget(self.data_dir, 1)
        dir_row.addWidget(browse)
        dir_box = QWidget()
        dir_box.setLayout(dir_row)
        self.image_size = QSpinBox()
        self.image_size.setRange(0, IMAGE_SIZES[1])
        self.image_size.setSpecialValueText("keep")
        low, high = CONV_SIDES
        self.image_size.setToolTip(f"Image folder: resize to this square side (the conv model takes {low} to {high})")
        self.rgb = QCheckBox("RGB (image folder)")

        self.model = QComboBox()
        for key, text in MODEL_LABELS.items():
            self.model.addItem(text, key)
        self.latent_dim = QSpinBox()
        self.latent_dim.setRange(1, MAX_LATENT_DIM)
        self.hidden = QLineEdit()
        self.hidden.setToolTip("Hidden widths, comma separated, e.g. 512,256")
        self.likelihood = QComboBox()
        for key, text in LIKELIHOOD_LABELS.items():
            self.likelihood.addItem(text, key)
        self.beta = QDoubleSpinBox()
        self.beta.setRange(0.0, 100.0)
        self.beta.setDecimals(3)
        self.beta.setSingleStep(0.1)
        self.warmup = QDoubleSpinBox()
        self.warmup.setRange(0.0, MAX_EPOCHS)
        self.warmup.setSuffix(" epochs")
        self.warmup.setToolTip("Ramp beta up from 0 over this many epochs")

        self.epochs = QSpinBox()
        self.epochs.setRange(1, MAX_EPOCHS)
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, MAX_BATCH_SIZE)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(0.00001, 1.0)
        self.lr.setSingleStep(0.0005)
        self.seed = QLineEdit()  # not a QSpinBox: those stop at 2**31 - 1
        self.seed.setValidator(SeedValidator(self.seed))
        self.seed.setToolTip(f"A whole number from 0 to {MAX_SEED}")
        self.device = QComboBox()
        self.set_devices(["auto", "cpu"])

        data_form = QFormLayout()
        data_form.addRow("Dataset", self.dataset)
        data_form.addRow("Folder", dir_box)
        data_form.addRow("Resize", self.image_size)
        data_form.addRow("", self.rgb)
        model_form = QFormLayout()
        model_form.addRow("Model", self.model)
        model_form.addRow("Latent dim", self.latent_dim)
        model_form.addRow("Hidden", self.hidden)
        model_form.addRow("Likelihood", self.likelihood)
        model_form.addRow("Beta", self.beta)
        model_form.addRow("KL warm-up", self.warmup)
        train_form = QFormLayout()
        train_form.addRow("Epochs", self.epochs)
        train_form.addRow("Batch size", self.batch_size)
        train_form.addRow("Learning rate", self.lr)
        train_form.addRow("Seed", self.seed)
        train_form.addRow("Device", self.device)

        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Start training (Space)")
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("Stop")
        self.open_button = QPushButton("Open run…")
        self.save_button = QPushButton("Save run…")
        self.start_button.clicked.connect(self.start_requested)
        self.pause_button.clicked.connect(self.pause_requested)
        self.stop_button.clicked.connect(self.stop_requested)
        self.open_button.clicked.connect(self.open_requested)
        self.save_button.clicked.connect(self.save_requested)
        run_row = QHBoxLayout()
        for b in (self.start_button, self.pause_button, self.stop_button):
            run_row.addWidget(b)
        file_row = QHBoxLayout()
        file_row.addWidget(self.open_button)
        file_row.addWidget(self.save_button)

        layout = QVBoxLayout(self)
        for title, form in (("Data", data_form), ("Model", model_form), ("Training", train_form)):
            box = QGroupBox(title)
            box.setLayout(form)
            layout.addWidget(box)
        layout.addLayout(run_row)
        layout.addLayout(file_row)
        layout.addStretch(1)
        self.dataset.currentIndexChanged.connect(self._on_dataset_changed)
        self.dataset.activated.connect(lambda _: self.dataset_chosen.emit(self.dataset.currentData()))
        self.set_settings({})  # the config's defaults
        self._on_dataset_changed()
        self.set_state(RunState.IDLE)

    def set_devices(self, devices: list[str]) -> None:
        current = self.device.currentData()
        self.device.clear()
        for d in devices:
            self.device.addItem(DEVICE_LABELS[d], d)
        if current in devices:
            self.device.setCurrentIndex(devices.index(current))

    def set_state(self, state: RunState) -> None:
        """Which buttons and settings are live while a run is idle, running, paused or stopping."""
        running = state is not RunState.IDLE
        self.start_button.setEnabled(not running)
        self.pause_button.setEnabled(state in (RunState.RUNNING, RunState.PAUSED))
        self.pause_button.setText("Continue" if state is RunState.PAUSED else "Pause")
        self.stop_button.setEnabled(state in (RunState.RUNNING, RunState.PAUSED))
        self.open_button.setEnabled(not running)
        for box in self.findChildren(QGroupBox):
            box.setEnabled(not running)

    def settings(self) -> dict[str, dict[str, Any]]:
        """The form as the three sections of a run config (values not yet validated)."""
        name = self.dataset.currentData()
        hidden_text = self.hidden.text().replace(" ", "")
        try:
            hidden = [int(h) for h in hidden_text.split(",") if h]
        except ValueError:
            hidden = hidden_text  # the config refuses it with a clear sentence
        seed_text = self.seed.text().strip()
        seed = int(seed_text) if seed_text.isascii() and seed_text.isdigit() else seed_text  # "" is refused likewise
        return {
            "data": {
                "name": name,
                "root": self.data_dir.text().strip() or None if name != "digits" else None,
                "image_size": self.image_size.value() or None,
                "channels": 3 if self.rgb.isChecked() else 1,
            },
            "model": {
                "kind": self.model.currentData(),
                "latent_dim": self.latent_dim.value(),
                "hidden": hidden,
                "likelihood": self.likelihood.currentData(),
            },
            "train": {
                "epochs": self.epochs.value(),
                "batch_size": self.batch_size.value(),
                "lr": self.lr.value(),
                "beta": self.beta.value(),
                "kl_warmup_epochs": self.warmup.value(),
                "seed": seed,
                "device": self.device.currentData(),
            },
        }

    def set_settings(self, s: dict[str, dict[str, Any]]) -> None:
        """Fill the form from a run config's dict (e.g. an opened run's); what it lacks takes the config's default."""
        data, model, train = s.get("data", {}), s.get("model", {}), s.get("train", {})
        self._select(self.dataset, data.get("name", _DATA.name))
        self.data_dir.setText(data.get("root") or "")
        self.image_size.setValue(data.get("image_size") or 0)
        self.rgb.setChecked(data.get("channels", _DATA.channels) == 3)
        self._select(self.model, model.get("kind", _MODEL.kind))
        self.latent_dim.setValue(int(model.get("latent_dim", _MODEL.latent_dim)))
        hidden = model.get("hidden", _MODEL.hidden)
        self.hidden.setText(hidden if isinstance(hidden, str) else ",".join(str(h) for h in hidden))
        self._select(self.likelihood, model.get("likelihood", _MODEL.likelihood))
        self.epochs.setValue(int(train.get("epochs", _TRAIN.epochs)))
        self.batch_size.setValue(int(train.get("batch_size", _TRAIN.batch_size)))
        self.lr.setValue(float(train.get("lr", _TRAIN.lr)))
        self.beta.setValue(float(train.get("beta", _TRAIN.beta)))
        self.warmup.setValue(float(train.get("kl_warmup_epochs", _TRAIN.kl_warmup_epochs)))
        self.seed.setText(str(train.get("seed", _TRAIN.seed)))  # any size: the config checks the range
        self._select(self.device, train.get("device", _TRAIN.device))

    @staticmethod
    def _select(box: QComboBox, key) -> None:
        index = box.findData(key)
        if index >= 0:
            box.setCurrentIndex(index)

    def _on_dataset_changed(self) -> None:
        name = self.dataset.currentData()
        self.data_dir.setEnabled(name != "digits")
        self.image_size.setEnabled(name == "folder")
        self.rgb.setEnabled(name == "folder")

    def _on_browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose the dataset folder", self.data_dir.text())
        if folder:
            self.data_dir.setText(folder)
            self.data_dir_chosen.emit(folder)
