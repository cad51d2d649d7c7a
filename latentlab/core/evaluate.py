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
from .losses import LOG_2PI, loss_parts, recon_nll
from .model import VAE


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


@torch.no_grad()
def importance_sampled_nll(
    model: VAE, images: torch.Tensor, *, samples: int = 100, seed: int = 0, max_rows: int = 32768
) -> float:
    """Mean -log p(x) in nats per image, estimated with ``samples`` importance samples each."""
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    items_per_batch = max(1, max_rows // samples)  # keep (items * K) decoder rows bounded in memory
    total = 0.0
    for start in range(0, images.shape[0], items_per_batch):
        x = to_float(images[start : start + items_per_batch].to(device))  # (B, C, H, W)
        mu, logvar = model.encode(x)  # (B, D)
        b = x.shape[0]
        mu_k = mu.unsqueeze(0).expand(samples, -1, -1)  # (K, B, D)
        logvar_k = logvar.unsqueeze(0).expand(samples, -1, -1)
        z = model.reparameterize(mu_k, logvar_k, gen)  # (K, B, D)
        out = model.decode(z.reshape(samples * b, -1))  # (K*B, C, H, W)
        x_k = x.unsqueeze(0).expand(samples, *x.shape).reshape(samples * b, *x.shape[1:])
        log_px_z = -recon_nll(out, x_k, model.likelihood, model.log_sigma).view(samples, b)
        log_pz = _gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z))
        log_qz_x = _gaussian_log_density(z, mu_k, logvar_k)
        log_w = log_px_z + log_pz - log_qz_x  # (K, B)
        log_px = torch.logsumexp(log_w, dim=0) - math.log(samples)
        total += -log_px.sum().item()
    return total / images.shape[0]


def evaluate(model: VAE, images: torch.Tensor, *, iw_samples: int = 100, seed: int = 0) -> Evaluation:
    """ELBO parts and (when ``iw_samples`` > 0) the importance-sampled NLL of ``images``."""
    recon, kl, total = elbo_parts(model, images, seed=seed)
    nll = importance_sampled_nll(model, images, samples=iw_samples, seed=seed) if iw_samples > 0 else None
    return Evaluation(recon, kl, total, nll, iw_samples, int(images.shape[0]))
