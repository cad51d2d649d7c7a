"""The negative ELBO in parts, in nats per image.

-ELBO(x) = E_q[-log p(x|z)] + KL(q(z|x) || p(z))      (Kingma & Welling, eq. 3)

with the expectation estimated by one sample of z, and the KL of a diagonal Gaussian from
the standard normal in closed form (Kingma & Welling, Appendix B):

    KL = -1/2 * sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2.0 * math.pi)


def recon_nll(out: torch.Tensor, x: torch.Tensor, likelihood: str, log_sigma: torch.Tensor | None = None) -> torch.Tensor:
    """-log p(x|z) per image, shape (B,), summed over pixels.

    Bernoulli: binary cross-entropy on logits (stable for any logit).
    Gaussian: 1/2 ((x - mean) / sigma)^2 + log sigma + 1/2 log 2 pi per pixel.
    """
    if likelihood == "bernoulli":
        per_pixel = F.binary_cross_entropy_with_logits(out, x, reduction="none")
    else:
        log_sigma = out.new_zeros(()) if log_sigma is None else log_sigma
        per_pixel = 0.5 * ((x - out) * torch.exp(-log_sigma)) ** 2 + log_sigma + 0.5 * LOG_2PI
    return per_pixel.flatten(1).sum(1)


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) for each item and latent dimension, shape (B, D)."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())


@dataclass(frozen=True)
class LossParts:
    """Per-image loss parts, each shape (B,), plus the KL of each latent dimension (B, D)."""

    recon: torch.Tensor
    kl: torch.Tensor
    kl_dims: torch.Tensor

    def total(self, beta: float = 1.0) -> torch.Tensor:
        """recon + beta * KL per image; with beta = 1 this is the negative ELBO."""
        return self.recon + beta * self.kl


def loss_parts(
    out: torch.Tensor,
    x: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    likelihood: str,
    log_sigma: torch.Tensor | None = None,
) -> LossParts:
    kl_dims = kl_per_dim(mu, logvar)
    return LossParts(recon_nll(out, x, likelihood, log_sigma), kl_dims.sum(1), kl_dims)
