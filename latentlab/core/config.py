"""Settings for a run: what data, what model, how to train.

Frozen dataclasses, validated on construction, so a bad value fails early with a sentence
the user can act on. ``RunConfig.to_dict``/``from_dict`` round-trip through JSON; a
checkpoint carries the dict, which is all that is needed to rebuild the model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .errors import ConfigError

# Every choice with the words the app shows for it; the CLI's choices and the app's menus read these.
DATASET_LABELS = {
    "digits": "Digits 8x8 (built in)",
    "mnist": "MNIST",
    "fashion-mnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
    "folder": "Image folder",
}
MODEL_LABELS = {"mlp": "MLP", "conv": "Convolutional"}
LIKELIHOOD_LABELS = {"bernoulli": "Bernoulli (BCE)", "gaussian": "Gaussian (learned sigma)"}
DEVICE_LABELS = {"auto": "Auto", "cpu": "CPU", "cuda": "CUDA (GPU)", "mps": "Apple MPS"}
BINARIZE_LABELS = {"dynamic": "Dynamic (a fresh sample every batch)", "static": "Static (sampled once)"}
ACTIVATION_LABELS = {"relu": "ReLU", "tanh": "tanh"}
LR_SCHEDULE_LABELS = {"constant": "Constant", "iwae": "IWAE (lr x 10^(-i/7) for 3^i epochs)"}
DATASETS = tuple(DATASET_LABELS)
MODELS = tuple(MODEL_LABELS)
LIKELIHOODS = tuple(LIKELIHOOD_LABELS)
DEVICES = tuple(DEVICE_LABELS)
BINARIZATIONS = tuple(BINARIZE_LABELS)
ACTIVATIONS = tuple(ACTIVATION_LABELS)
LR_SCHEDULES = tuple(LR_SCHEDULE_LABELS)


# Bounds of the settings; each refusal names its range. The CLI's option types read them too.
MAX_SEED = 2**63 - 1  # torch seeds are 64-bit; a negative seed silently aliases a huge one
MAX_EPOCHS = 100_000
MAX_TIMELINE_FRAMES = 200  # frames a run keeps by default (4 MiB each for an MNIST MLP)
MAX_BATCH_SIZE = 1 << 20
MAX_LATENT_DIM = 4096
MAX_HIDDEN_WIDTH = 65536
IMAGE_SIZES = (4, 512)
CONV_SIDES = (28, 128)  # the conv model's square sides; its depth follows the side (model.conv_depth)
# The conv model's layouts: "by-size" chooses its depth from the image size; "two-stage" is the
# model runs saved before that rule had (two stages, any sides divisible by 4), kept so they load.
CONV_LAYOUTS = ("by-size", "two-stage")
MAX_LOG_EVERY = 1_000_000
MAX_PROBE_SIZE = 256  # the gallery draws every probe item each epoch
IWAE_STAGES = 8  # Burda et al. train stages i = 0..7, 3^i epochs each (3280 in all)


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _whole(value: Any, low: int, high: int, what: str) -> None:
    """Refuse ``value`` unless it is an int (not a bool) in [low, high], naming the range."""
    ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    _require(ok, f"{what} must be a whole number between {low} and {high}, not {value!r}.")


@dataclass(frozen=True)
class DataConfig:
    name: str = "digits"  # one of DATASETS; digits ships inside scikit-learn, no files needed
    root: str | None = None  # torchvision layout for mnist/fashion-mnist/cifar10; the folder for "folder"
    image_size: int | None = None  # "folder" only: resize to a square of this side (None: keep, if all agree)
    channels: int = 1  # "folder" only: 1 for grey, 3 for RGB
    test_fraction: float = 0.2  # where the data has no official split: share held out for testing
    split_seed: int = 0  # the held-out split and a static or test binarization are fixed by this seed, not the training seed
    binarize: str | None = None  # grey data only: "dynamic" resamples every batch, "static" once; None keeps the grey levels

    @property
    def rgb(self) -> bool:
        """Whether the items are colour: CIFAR-10 always, an image folder when asked."""
        return self.name == "cifar10" or (self.name == "folder" and self.channels == 3)

    def __post_init__(self) -> None:
        _require(self.name in DATASETS, f"Unknown dataset {self.name!r}; choose one of {', '.join(DATASETS)}.")
        _require(
            self.name == "digits" or bool(self.root),
            f"The {self.name} dataset needs a folder: pass --data-dir.",
        )
        _require(self.channels in (1, 3), f"Channels must be 1 (grey) or 3 (RGB), not {self.channels}.")
        if self.image_size is not None:
            _whole(self.image_size, *IMAGE_SIZES, "The image size (pixels per side)")
        _require(
            0.0 < self.test_fraction < 1.0,
            f"The test fraction must lie strictly between 0 and 1, not {self.test_fraction}.",
        )
        _whole(self.split_seed, 0, MAX_SEED, "The split seed")
        _require(
            self.binarize is None or self.binarize in BINARIZATIONS,
            f"Unknown binarization {self.binarize!r}; choose dynamic or static.",
        )
        _require(
            self.binarize is None or not self.rgb,
            f"Binarizing needs grey images, and these {self.name} images are RGB; drop --binarize or use grey data.",
        )


@dataclass(frozen=True)
class ModelConfig:
    kind: str = "mlp"  # "mlp" for any size; "conv": depth by size for squares of CONV_SIDES, else two stages (sides divisible by 4)
    latent_dim: int = 2  # 2 shows the latent itself; higher dims are shown through PCA or t-SNE
    hidden: tuple[int, ...] = (400,)  # MLP hidden widths, encoder order; the decoder mirrors them
    likelihood: str = "bernoulli"  # bernoulli: BCE on logits, for data in [0, 1]; gaussian: squared error
    sigma: float | None = None  # gaussian only: fixed observation std; None learns one shared sigma
    activation: str = "relu"  # between hidden layers; tanh is Burda et al.'s (IWAE) choice
    conv_layout: str = "by-size"  # one of CONV_LAYOUTS; no option sets it: conv runs saved without it read "two-stage"

    def __post_init__(self) -> None:
        hidden = self.hidden.split(",") if isinstance(self.hidden, str) else self.hidden
        try:
            object.__setattr__(self, "hidden", tuple(int(h) for h in hidden))
        except (TypeError, ValueError):
            raise ConfigError(f"Hidden widths must be whole numbers such as 400 or 512,256, not {self.hidden!r}.") from None
        _require(self.kind in MODELS, f"Unknown model {self.kind!r}; choose mlp or conv.")
        _whole(self.latent_dim, 1, MAX_LATENT_DIM, "The latent dimension")
        _require(len(self.hidden) >= 1, "Give at least one hidden layer width, such as --hidden 400.")
        _require(
            all(1 <= h <= MAX_HIDDEN_WIDTH for h in self.hidden),
            f"Hidden widths must be whole numbers between 1 and {MAX_HIDDEN_WIDTH}, not {list(self.hidden)}.",
        )
        _require(
            self.likelihood in LIKELIHOODS,
            f"Unknown likelihood {self.likelihood!r}; choose bernoulli or gaussian.",
        )
        _require(
            self.sigma is None or (math.isfinite(self.sigma) and self.sigma > 0),
            f"The Gaussian sigma must be a positive number, not {self.sigma}.",
        )
        _require(
            self.activation in ACTIVATIONS,
            f"Unknown activation {self.activation!r}; choose {' or '.join(ACTIVATIONS)}.",
        )
        _require(
            self.conv_layout in CONV_LAYOUTS,
            f"Unknown conv layout {self.conv_layout!r}; it is one of {' or '.join(CONV_LAYOUTS)}.",
        )


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 50  # total epochs of the run; resuming trains up to this many
    batch_size: int = 64  # digits (1438 items) gets 23 steps an epoch; MNIST 938
    lr: float = 1e-3  # Adam, as in Kingma & Welling and pytorch/examples
    beta: float = 1.0  # weight of the KL term; 1 is the true ELBO, >1 a beta-VAE
    kl_warmup_epochs: float = 0.0  # ramp beta linearly from 0 over this many epochs (fights posterior collapse)
    seed: int = 1  # fixes initial weights, batch order and the reparameterisation noise
    device: str = "auto"  # auto picks cuda, then mps, then cpu
    log_every: int = 20  # steps between metric events; the only GPU sync in the hot loop
    probe_size: int = 16  # test items shown with their reconstructions in every snapshot
    checkpoint_every: int = 1  # epochs between checkpoints (a stop always saves one)
    # Epochs between the timeline's frames, for replaying the run (0: none); the last is always
    # kept. None: every epoch of a run of up to MAX_TIMELINE_FRAMES epochs, fewer beyond, so a
    # 3,280-epoch schedule keeps ~200 frames, not 13 GB of them (``timeline_stride``).
    timeline_every: int | None = None
    lr_schedule: str = "constant"  # "iwae": Burda et al.'s lr * 10^(-i/7) for the 3^i epochs of stage i
    adam_eps: float = 1e-8  # Adam's epsilon; torch's default, Burda et al. use 1e-4

    def __post_init__(self) -> None:
        _whole(self.epochs, 1, MAX_EPOCHS, "Epochs")
        _whole(self.batch_size, 1, MAX_BATCH_SIZE, "The batch size")
        _require(
            math.isfinite(self.lr) and 0 < self.lr <= 10,
            f"The learning rate must be a positive number no larger than 10, not {self.lr}.",
        )
        _require(math.isfinite(self.beta) and self.beta >= 0, f"Beta must be zero or positive, not {self.beta}.")
        _require(
            math.isfinite(self.kl_warmup_epochs) and 0 <= self.kl_warmup_epochs <= MAX_EPOCHS,
            f"The KL warm-up must be a number of epochs between 0 and {MAX_EPOCHS}, not {self.kl_warmup_epochs}.",
        )
        _whole(self.seed, 0, MAX_SEED, "The seed")
        _require(self.device in DEVICES, f"Unknown device {self.device!r}; choose auto, cpu, cuda or mps.")
        _whole(self.log_every, 1, MAX_LOG_EVERY, "log_every")
        _whole(self.probe_size, 1, MAX_PROBE_SIZE, "The probe batch size")
        _whole(self.checkpoint_every, 1, MAX_EPOCHS, "checkpoint_every")
        if self.timeline_every is not None:
            _whole(self.timeline_every, 0, MAX_EPOCHS, "timeline_every")
        _require(
            self.lr_schedule in LR_SCHEDULES,
            f"Unknown learning-rate schedule {self.lr_schedule!r}; choose {' or '.join(LR_SCHEDULES)}.",
        )
        _require(
            isinstance(self.adam_eps, (int, float)) and not isinstance(self.adam_eps, bool)
            and math.isfinite(self.adam_eps) and 0 < self.adam_eps <= 1,
            f"Adam's epsilon must be a positive number no larger than 1, not {self.adam_eps!r}.",
        )

    @property
    def timeline_stride(self) -> int:
        """The epochs between kept timeline frames (0: none), ``timeline_every`` or its default."""
        return timeline_stride(self.timeline_every, self.epochs)

    def lr_at(self, epoch: int) -> float:
        """The learning rate of epoch ``epoch`` (0-based) under the schedule."""
        if self.lr_schedule == "constant":
            return self.lr
        return self.lr * 10.0 ** (-iwae_stage(epoch) / 7.0)


def timeline_stride(every: int | None, epochs: int) -> int:
    """``timeline_every`` as given, or by default 1 up to MAX_TIMELINE_FRAMES epochs and thinned beyond."""
    return every if every is not None else max(1, math.ceil(epochs / MAX_TIMELINE_FRAMES))


def iwae_stage(epoch: int) -> int:
    """Burda et al.'s stage i of a 0-based epoch: stage i spans 3^i epochs; past the last, the last."""
    stage, end = 0, 1
    while epoch >= end and stage < IWAE_STAGES - 1:
        stage += 1
        end += 3**stage
    return stage


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["model"]["hidden"] = list(self.model.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """Rebuild from ``to_dict`` output; unknown keys are an error, missing ones take defaults."""
        if not isinstance(d, dict):
            raise ConfigError("The run's settings are not a JSON object.")
        parts = {}
        for name, kind in (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig)):
            section = d.get(name, {})
            if not isinstance(section, dict):
                raise ConfigError(f"The run's {name!r} settings are not a JSON object.")
            known = {f.name for f in fields(kind)}
            unknown = sorted(set(section) - known)
            if unknown:
                raise ConfigError(f"Unknown {name} setting(s): {', '.join(unknown)}.")
            try:
                parts[name] = kind(**section)
            except TypeError as exc:  # a value of the wrong type, e.g. a string for epochs
                raise ConfigError(f"The run's {name} settings are malformed: {exc}.") from None
        return cls(**parts)

    @classmethod
    def from_saved(cls, d: dict[str, Any]) -> RunConfig:
        """``from_dict`` for a saved run's settings, read as the latentlab that saved them meant them.

        A conv run saved before ``conv_layout`` existed is the two-stage model, whatever its size.
        """
        model = d.get("model") if isinstance(d, dict) else None
        if isinstance(model, dict) and model.get("kind") == "conv" and "conv_layout" not in model:
            d = {**d, "model": {**model, "conv_layout": "two-stage"}}
        return cls.from_dict(d)

    def with_changes(self, **sections: dict[str, Any]) -> RunConfig:
        """Copy with some fields of some sections replaced: ``cfg.with_changes(train={"epochs": 4})``."""
        return replace(self, **{name: replace(getattr(self, name), **values) for name, values in sections.items()})
