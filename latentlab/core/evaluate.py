"""Test-set evaluation: the negative ELBO in parts, and an importance-sampled log-likelihood.

The importance-weighted estimate (Burda, Grosse & Salakhutdinov, arXiv 1509.00519, eq. 8)

    log p(x) ~= log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x),   z_k ~ q(z|x)

is a lower bound on log p(x) that tightens as K grows; K = 1 is the ELBO. So the NLL it
gives lies below the negative ELBO and approaches the true NLL from above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .data import to_float
from .errors import ConfigError
from .losses import LOG_2PI, loss_parts, recon_nll
from .model import VAE, conv_feature_floats, conv_plan


@dataclass(frozen=True)
class Evaluation:
    recon: float  # nats per image, one sample of z
    kl: float
    total: float  # negative ELBO
    nll: float | None  # importance-sampled -log p(x), None when not asked for
    iw_samples: int
    n_items: int

    def to_dict(self) -> dict[str, float | int | None]:
        return dict(vars(self))


def _gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag exp(logvar)) summed over the last dimension."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar)).sum(-1)


@torch.no_grad()
def elbo_parts(model: VAE, images: torch.Tensor, *, seed: int = 0, batch_size: int = 1024) -> tuple[float, float, float]:
    """Mean (recon, kl, recon + kl) over ``images`` (uint8), one sample of z each."""
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    recon = kl = 0.0
    for start in range(0, images.shape[0], batch_size):
        x = to_float(images[start : start + batch_size].to(device))
        out, mu, logvar = model(x, gen)
        parts = loss_parts(out, x, mu, logvar, model.likelihood, model.log_sigma)
        recon += parts.recon.sum().item()
        kl += parts.kl.sum().item()
    n = images.shape[0]
    return recon / n, kl / n, (recon + kl) / n


# Importance samples per item: 1e5 already takes hours on a full test set; beyond is a typo.
MAX_IW_SAMPLES = 100_000
# Floats held per chunk of decoder rows, whatever the image size and K: about 256 MB of float32
# on an accelerator, which wants wide batches; 16 MB on the CPU, where chunks that stay in its
# caches score 2-3x faster (K = 5000 on the IWAE MLP: 37 ms an item on one core, not 100 ms).
_CHUNK_FLOATS = 1 << 26
_CPU_CHUNK_FLOATS = 1 << 22


def _rows_per_chunk(model: VAE) -> int:
    """Decoder rows per chunk: the widest tensors a row makes are the image (input, output and the
    loss's temporaries) and, for the conv decoder, its feature maps; hidden widths add a little."""
    c, h, w = model.image_shape
    per_row = 4 * c * h * w + 2 * sum(model.cfg.hidden) + 4 * model.latent_dim
    if model.cfg.kind == "conv":  # each stage's map, before and after its nonlinearity
        per_row += 2 * conv_feature_floats(conv_plan(model.cfg, model.image_shape))
    on_cpu = next(model.parameters()).device.type == "cpu"
    return max(1, min(32768, (_CPU_CHUNK_FLOATS if on_cpu else _CHUNK_FLOATS) // per_row))


@torch.no_grad()
def importance_sampled_nll(
    model: VAE, images: torch.Tensor, *, samples: int = 100, seed: int = 0, max_rows: int | None = None
) -> float:
    """Mean -log p(x) in nats per image, estimated with ``samples`` importance samples each."""
    return float(item_scores(model, images, samples=samples, seed=seed, max_rows=max_rows).nll.mean())


@dataclass(frozen=True)
class ItemScores:
    """Per item: the posterior, the -ELBO and the importance-sampled NLL, all from the same K samples."""

    mu: torch.Tensor  # (N, D)
    logvar: torch.Tensor  # (N, D)
    neg_elbo: torch.Tensor  # (N,) mean over the K samples of -log p(x|z), plus the KL in closed form
    nll: torch.Tensor  # (N,) -log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x)


@torch.no_grad()
def item_scores(
    model: VAE, images: torch.Tensor, *, samples: int = 100, seed: int = 0, max_rows: int | None = None,
    progress=None,
) -> ItemScores:
    """Score each of ``images`` (uint8) with ``samples`` importance samples; results on the CPU.

    At most ``max_rows`` decoder rows are in memory at once (by default, as many as fit a fixed
    budget for this model): items are batched when K is small, and K itself is chunked when it
    is larger than that, with the log-sum-exp accumulated over the chunks. ``progress(done, n)``
    is called after each batch of items; it may raise to stop early.
    """
    _check_iw_samples(samples, low=1)
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    max_rows = max_rows or _rows_per_chunk(model)
    items_per_batch = max(1, max_rows // samples)
    k_per_chunk = min(samples, max_rows)
    n = images.shape[0]
    parts: list[tuple[torch.Tensor, ...]] = []
    for start in range(0, n, items_per_batch):
        x = to_float(images[start : start + items_per_batch].to(device))  # (B, C, H, W)
        mu, logvar = model.encode(x)  # (B, D)
        b = x.shape[0]
        log_sum = None  # (B,) log sum_k w_k over the chunks so far
        recon_sum = torch.zeros(b, device=device)
        for k0 in range(0, samples, k_per_chunk):
            k = min(k_per_chunk, samples - k0)
            # Item-major (B, K, D), as elbo_parts' (B, D) is: K = 1 draws the same z from the same seed.
            mu_k = mu.unsqueeze(1).expand(-1, k, -1)  # (B, K, D)
            logvar_k = logvar.unsqueeze(1).expand(-1, k, -1)
            z = model.reparameterize(mu_k, logvar_k, gen)  # (B, K, D)
            out = model.decode(z.reshape(b * k, -1))  # (B*K, C, H, W)
            x_k = x.unsqueeze(1).expand(-1, k, *x.shape[1:]).reshape(b * k, *x.shape[1:])
            log_px_z = -recon_nll(out, x_k, model.likelihood, model.log_sigma).view(b, k)
            log_pz = _gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z))
            log_qz_x = _gaussian_log_density(z, mu_k, logvar_k)
            chunk = torch.logsumexp(log_px_z + log_pz - log_qz_x, dim=1)  # (B,)
            log_sum = chunk if log_sum is None else torch.logaddexp(log_sum, chunk)
            recon_sum -= log_px_z.sum(dim=1)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)
        nll = -(log_sum - math.log(samples))
        parts.append(tuple(t.cpu() for t in (mu, logvar, recon_sum / samples + kl, nll)))
        if progress is not None:
            progress(min(start + b, n), n)
    mu, logvar, neg_elbo, nll = (torch.cat([p[i] for p in parts]) for i in range(4))
    return ItemScores(mu, logvar, neg_elbo, nll)


def _check_iw_samples(samples, *, low: int) -> None:
    ok = isinstance(samples, int) and not isinstance(samples, bool) and low <= samples <= MAX_IW_SAMPLES
    if not ok:
        skip = " (0 skips the estimate)" if low == 0 else ""
        raise ConfigError(
            f"The number of importance samples must be a whole number between {low} and {MAX_IW_SAMPLES}{skip}, "
            f"not {samples!r}."
        )


def evaluate(model: VAE, images: torch.Tensor, *, iw_samples: int = 100, seed: int = 0) -> Evaluation:
    """ELBO parts and (when ``iw_samples`` > 0) the importance-sampled NLL of ``images``."""
    _check_iw_samples(iw_samples, low=0)  # before the ELBO pass, so a typo costs nothing
    recon, kl, total = elbo_parts(model, images, seed=seed)
    nll = importance_sampled_nll(model, images, samples=iw_samples, seed=seed) if iw_samples > 0 else None
    return Evaluation(recon, kl, total, nll, iw_samples, int(images.shape[0]))
