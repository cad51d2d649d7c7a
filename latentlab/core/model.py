"""The VAE of Kingma & Welling (arXiv 1312.6114) and Doersch's tutorial (arXiv 1606.05908).

Gaussian encoder q(z|x) = N(mu(x), diag sigma^2(x)), standard normal prior, and a decoder
that returns the parameters of p(x|z): Bernoulli logits, or a Gaussian mean (with one
shared, optionally learned, log sigma). The API follows pytorch/examples' ``vae/main.py``:
``encode -> (mu, logvar)``, ``reparameterize``, ``decode``, ``forward``. Hidden layers
use ReLU, or tanh as Burda et al.'s IWAE models do (``ModelConfig.activation``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .config import CONV_SIDES, ModelConfig
from .errors import ConfigError


class VAE(nn.Module):
    """Shared VAE logic; subclasses provide ``encoder`` (x -> features) and ``decoder`` (z -> output)."""

    def __init__(self, cfg: ModelConfig, image_shape: tuple[int, int, int]):
        super().__init__()
        self.cfg = cfg
        self.image_shape = tuple(image_shape)
        self.latent_dim = cfg.latent_dim
        self.likelihood = cfg.likelihood
        # Gaussian likelihood: one shared log sigma, learned (sigma-VAE) or fixed (a buffer).
        if cfg.likelihood == "gaussian" and cfg.sigma is None:
            self.log_sigma = nn.Parameter(torch.zeros(()))
        else:
            self.register_buffer("log_sigma", torch.tensor(math.log(cfg.sigma or 1.0)))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)  # (B, C, H, W) -> (B, F)
        return self.fc_mu(h), self.fc_logvar(h)  # (B, F) -> (B, D) each

    def reparameterize(
        self, mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None,
        eps: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """z = mu + sigma * eps, eps ~ N(0, I); ``generator`` makes the noise reproducible, or
        ``eps`` is given (a process of a group takes its rows of the whole batch's noise)."""
        if eps is None:
            eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Parameters of p(x|z): logits (Bernoulli) or mean (Gaussian), shaped like images."""
        return self.decoder(z)  # (B, D) -> (B, C, H, W)

    def decode_mean(self, z: torch.Tensor) -> torch.Tensor:
        """The expected image E[x|z] in [0, 1]: what the user sees."""
        out = self.decode(z)
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out.clamp(0.0, 1.0)

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None, eps: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, generator, eps)
        return self.decode(z), mu, logvar

    def decoder_state(self) -> dict[str, torch.Tensor]:
        """The parameters ``decode`` needs, as detached CPU copies: safe to hand to another thread."""
        state = self.state_dict()
        return {k: state[k].detach().to("cpu", copy=True) for k in state if is_decoder_key(k)}

    def encoder_state(self) -> dict[str, torch.Tensor]:
        """The parameters ``encode`` needs (everything ``decoder_state`` leaves out), as detached CPU copies."""
        state = self.state_dict()
        return {k: state[k].detach().to("cpu", copy=True) for k in state if not is_decoder_key(k)}


def is_decoder_key(name: str) -> bool:
    """Whether a state-dict entry belongs to the decoder (with the Gaussian likelihood's sigma)."""
    return name.startswith("decoder.") or name == "log_sigma"


_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}  # no parameters: a run's weights load under either


def activation(cfg: ModelConfig) -> nn.Module:
    """A fresh module of the hidden layers' nonlinearity."""
    return _ACTIVATIONS[cfg.activation]()


class MLPVAE(VAE):
    """Fully connected VAE; with hidden=(400,) and latent 20 it is pytorch/examples' 784-400-20 model."""

    def __init__(self, cfg: ModelConfig, image_shape: tuple[int, int, int]):
        super().__init__(cfg, image_shape)
        n_pixels = math.prod(image_shape)
        widths = [n_pixels, *cfg.hidden]
        layers: list[nn.Module] = [nn.Flatten()]
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), activation(cfg)]  # (B, a) -> (B, b)
        self.encoder = nn.Sequential(*layers)
        self.fc_mu = nn.Linear(widths[-1], cfg.latent_dim)
        self.fc_logvar = nn.Linear(widths[-1], cfg.latent_dim)
        back = [cfg.latent_dim, *reversed(cfg.hidden)]
        layers = []
        for a, b in zip(back[:-1], back[1:]):
            layers += [nn.Linear(a, b), activation(cfg)]
        layers += [nn.Linear(back[-1], n_pixels), nn.Unflatten(1, tuple(image_shape))]  # (B, H) -> (B, C, H, W)
        self.decoder = nn.Sequential(*layers)


class ConvVAE(VAE):
    """Stride-2 convolutions down, as many as the image size asks (``conv_plan``), and transposed ones up.

    28x28 and 32x32 get two stages (32, 64 channels), as latentlab's conv model always had;
    64x64 three (up to 128 channels), 128x128 four (up to 256).
    """

    def __init__(self, cfg: ModelConfig, image_shape: tuple[int, int, int]):
        super().__init__(cfg, image_shape)
        plan = conv_plan(cfg, image_shape)
        width = cfg.hidden[0]
        depth = plan.channels[-1]
        fh, fw = plan.sides[-1]
        # The module order is the two-stage model's at every depth: saved runs' weight names stay valid.
        self.encoder = nn.Sequential(
            *_encoder_stages(plan, cfg),  # (B, C, H, W) -> (B, depth, fh, fw)
            nn.Flatten(),
            nn.Linear(depth * fh * fw, width), activation(cfg),  # -> (B, width)
        )
        self.fc_mu = nn.Linear(width, cfg.latent_dim)
        self.fc_logvar = nn.Linear(width, cfg.latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(cfg.latent_dim, width), activation(cfg),
            nn.Linear(width, depth * fh * fw), activation(cfg),
            nn.Unflatten(1, (depth, fh, fw)),
            *_decoder_stages(plan, cfg),  # -> (B, C, H, W)
        )


@dataclass(frozen=True)
class ConvPlan:
    """The conv model's stages for one image size.

    ``channels[0]`` is the image's; each stride-2 stage i maps ``channels[i]`` at ``sides[i]``
    to ``channels[i + 1]`` at ``sides[i + 1]``, each side halved and rounded down.
    """

    channels: tuple[int, ...]
    sides: tuple[tuple[int, int], ...]

    @property
    def stages(self) -> int:
        return len(self.channels) - 1


_FIRST_CHANNELS = 32  # the first stage's; each further stage doubles it ...
_MAX_CHANNELS = 256  # ... up to this
_MAX_FEATURE_SIDE = 8  # downsample until the last feature map is at most this many pixels a side


def conv_depth(side: int) -> int:
    """Stride-2 stages for a square side: the fewest leaving at most 8 px (28 and 32: 2, 64: 3, 128: 4)."""
    stages = 1
    while side >> stages > _MAX_FEATURE_SIDE:  # a k4/s2/p1 conv halves a side, rounding down
        stages += 1
    return stages


def conv_plan(cfg: ModelConfig, image_shape: tuple[int, int, int]) -> ConvPlan:
    """The stages of ``cfg``'s conv model on ``image_shape``; ``ConfigError`` for a size it does not take."""
    c, h, w = image_shape
    low, high = CONV_SIDES
    if cfg.conv_layout == "by-size" and h == w and low <= h <= high:
        stages = conv_depth(h)
    else:
        # Saved runs of the two-stage model, and the images the depth rule is not for (the 8x8
        # digits, non-square folders), keep the two stages: what the conv model always did.
        _check_conv_sides(h, w, two_stage=cfg.conv_layout == "two-stage")
        stages = 2
    channels = (c, *(min(_FIRST_CHANNELS << i, _MAX_CHANNELS) for i in range(stages)))
    sides = tuple((h >> i, w >> i) for i in range(stages + 1))
    return ConvPlan(channels, sides)


def _encoder_stages(plan: ConvPlan, cfg: ModelConfig) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for c_in, c_out in zip(plan.channels[:-1], plan.channels[1:]):
        layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), activation(cfg)]  # halves each side
    return layers


def _decoder_stages(plan: ConvPlan, cfg: ModelConfig) -> list[nn.Module]:
    """The encoder's stages mirrored; an odd side gets its lost row or column back as output padding."""
    layers: list[nn.Module] = []
    for i in reversed(range(plan.stages)):
        h, w = plan.sides[i]  # the side this stage restores: 2 * half, plus 1 where it was odd
        pad = (h % 2, w % 2)
        layers += [nn.ConvTranspose2d(plan.channels[i + 1], plan.channels[i], 4, 2, 1, output_padding=pad), activation(cfg)]
    return layers[:-1]  # the last stage gives the likelihood's parameters: no nonlinearity


def conv_feature_floats(plan: ConvPlan) -> int:
    """Floats in one item's feature maps after each stage (the decoder holds the same, mirrored)."""
    return sum(c * h * w for c, (h, w) in zip(plan.channels[1:], plan.sides[1:]))


def _check_conv_sides(h: int, w: int, two_stage: bool) -> None:
    """Two stages need sides divisible by 4 (at least 8); beyond that, only square 28..128 px."""
    if h % 4 == 0 and w % 4 == 0 and h >= 8 and w >= 8:
        return
    low, high = CONV_SIDES
    takes = "" if two_stage else f"square images with sides from {low} to {high} pixels, or "
    raise ConfigError(
        f"The conv model takes {takes}sides divisible by 4 and at least 8 (such as 8, 28 or 32), not {h}x{w}; "
        f"use --model mlp, or resize an image folder's images with --image-size."
    )


def _linear(a: int, b: int) -> int:
    return a * b + b  # weight and bias


def _conv4(c_in: int, c_out: int) -> int:
    return c_in * c_out * 4 * 4 + c_out  # a 4x4 kernel, plain or transposed, and its bias


def parameter_count(cfg: ModelConfig, image_shape: tuple[int, int, int]) -> int:
    """The number of trainable parameters ``build_model(cfg, image_shape)`` would hold, without building it.

    Counted from the layer shapes in ``MLPVAE`` and ``ConvVAE``; keep the two in step.
    """
    c, h, w = image_shape
    d = cfg.latent_dim
    if cfg.kind == "mlp":
        widths = [c * h * w, *cfg.hidden]
        pairs = list(zip(widths[:-1], widths[1:]))  # encoder
        pairs += [(widths[-1], d)] * 2  # fc_mu, fc_logvar
        back = [d, *reversed(cfg.hidden), c * h * w]
        pairs += list(zip(back[:-1], back[1:]))  # decoder
        n = sum(_linear(a, b) for a, b in pairs)
    else:
        plan = conv_plan(cfg, image_shape)
        fh, fw = plan.sides[-1]
        flat, width = plan.channels[-1] * fh * fw, cfg.hidden[0]
        pairs = list(zip(plan.channels[:-1], plan.channels[1:]))
        n = (
            sum(_conv4(a, b) for a, b in pairs) + _linear(flat, width)  # encoder
            + 2 * _linear(width, d)  # fc_mu, fc_logvar
            + _linear(d, width) + _linear(width, flat) + sum(_conv4(b, a) for a, b in pairs)  # decoder, mirrored
        )
    return n + (cfg.likelihood == "gaussian" and cfg.sigma is None)  # the learned log sigma


# 2**28 float32 weights are 1 GiB; training holds four copies (weights, gradients and Adam's two
# moments), and activations on top, so anything larger would not train on an ordinary machine.
MAX_PARAMETERS = 2**28


def _count_words(n: float) -> str:
    for size, word in ((1e9, "billion"), (1e6, "million"), (1e3, "thousand")):
        if n >= size:
            return f"{n / size:.1f} {word}" if n < 10 * size else f"{n / size:.0f} {word}"
    return f"{n:.0f}"


def _gib(n_bytes: float) -> str:
    gib = n_bytes / 2**30
    return f"{gib:.1f} GiB" if gib < 10 else f"{gib:.0f} GiB"


def check_model_size(cfg: ModelConfig, image_shape: tuple[int, int, int]) -> int:
    """Raise ``ConfigError`` if the model would exceed ``MAX_PARAMETERS``; return its parameter count."""
    n = parameter_count(cfg, image_shape)
    if n > MAX_PARAMETERS:
        raise ConfigError(
            f"A model of {_count_words(n)} parameters ({_gib(4 * n)} of weights) is over latentlab's limit of "
            f"{_count_words(MAX_PARAMETERS)} ({_gib(4 * MAX_PARAMETERS)}); choose smaller --hidden widths, "
            f"a smaller latent dimension or smaller images."
        )
    return n


def build_model(cfg: ModelConfig, image_shape: tuple[int, int, int]) -> VAE:
    """The VAE ``cfg`` describes for images of ``image_shape`` (C, H, W).

    Raises ``ConfigError`` before allocating anything when the model would be too large to
    train (every caller, from training to opening a stranger's run, builds through here).
    """
    check_model_size(cfg, tuple(image_shape))
    return (MLPVAE if cfg.kind == "mlp" else ConvVAE)(cfg, tuple(image_shape))


def build_decoder(cfg: ModelConfig, image_shape: tuple[int, int, int], state: dict[str, torch.Tensor]) -> VAE:
    """A model in eval mode whose decoder holds ``state`` (from ``VAE.decoder_state``).

    Built on the meta device and then handed ``state``'s tensors, so it computes no random
    initial weights (and the encoder, which decoding never uses, holds no memory).
    """
    with torch.device("meta"):
        model = build_model(cfg, image_shape)
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    if unexpected or any(is_decoder_key(k) for k in missing):
        raise ValueError(f"decoder state does not fit the model: missing {missing}, unexpected {unexpected}")
    return model.eval()


def build_from_state(cfg: ModelConfig, image_shape: tuple[int, int, int], state: dict[str, torch.Tensor]) -> VAE:
    """A whole model in eval mode holding ``state`` (decoder and encoder), built without random weights."""
    with torch.device("meta"):
        model = build_model(cfg, image_shape)
    model.load_state_dict(state, strict=True, assign=True)  # a missing or foreign key is a bug: raise
    return model.eval()
