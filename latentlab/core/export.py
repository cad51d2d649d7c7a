"""Files a run can be turned into: latents (CSV/NPY), loss history (CSV), reconstruction and sample grids (PNG)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torchvision.utils import make_grid, save_image

from .checkpoint import atomic_write
from .data import to_float
from .model import VAE
from .trainer import probe_indices


@torch.no_grad()
def posterior_means(model: VAE, images: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    """(N, D) float32 posterior means, in the order of ``images``."""
    model.eval()
    device = next(model.parameters()).device
    parts = [model.encode(to_float(images[i : i + batch_size].to(device)))[0].cpu() for i in range(0, len(images), batch_size)]
    return torch.cat(parts).numpy().astype(np.float32)


def write_latents(path: Path, latents: np.ndarray, labels: torch.Tensor | None) -> None:
    """``.npy``: the (N, D) array. ``.csv``: a header, then ``index,label,z0,...`` per test item."""
    if path.suffix.lower() == ".npy":
        buf = io.BytesIO()
        np.save(buf, latents)
        atomic_write(path, buf.getvalue())
        return
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["index", "label", *(f"z{j}" for j in range(latents.shape[1]))])
    label_list = labels.tolist() if labels is not None else [""] * len(latents)
    for i, (row, label) in enumerate(zip(latents, label_list)):
        writer.writerow([i, label, *(f"{v:.7g}" for v in row)])
    atomic_write(path, text.getvalue().encode("utf-8"))


HISTORY_COLUMNS = ("split", "epoch", "step", "recon", "kl", "elbo", "objective", "beta")


def write_history_csv(path: Path, history: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
    """Write a run's loss history (``Checkpoint.history``) as CSV, atomically.

    One row per logged training window (``split`` train), then one per test evaluation
    (``split`` test), all in nats per image. ``elbo`` is the negative ELBO, recon + kl, the
    same quantity for both splits. ``objective`` is what training minimised, recon + beta*kl
    (it differs from ``elbo`` when beta != 1 or during a KL warm-up); ``objective`` and
    ``beta`` are empty on test rows, which are evaluated at beta 1.

    Parameters
    ----------
    path
        The ``.csv`` file to create or replace.
    history
        ``{"steps": [{"step", "epoch", "recon", "kl", "total", "beta"}, ...],
        "epochs": [{"epoch", "step", "recon", "kl", "total"}, ...]}``; a train row's
        ``total`` is the objective, a test row's the negative ELBO.
    """
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(HISTORY_COLUMNS)
    for row in history.get("steps", []):
        recon, kl = float(row["recon"]), float(row["kl"])
        beta = row.get("beta")
        writer.writerow(["train", int(row["epoch"]), int(row["step"]), *(f"{v:.7g}" for v in (recon, kl, recon + kl)),
                         f"{float(row['total']):.7g}", "" if beta is None else f"{float(beta):.7g}"])
    for row in history.get("epochs", []):
        writer.writerow(["test", int(row["epoch"]), int(row["step"]),
                         *(f"{float(row[k]):.7g}" for k in ("recon", "kl", "total")), "", ""])
    atomic_write(path, text.getvalue().encode("utf-8"))


def _write_png(path: Path, grid: torch.Tensor) -> None:
    buf = io.BytesIO()
    save_image(grid, buf, format="png")
    atomic_write(path, buf.getvalue())


@torch.no_grad()
def write_reconstructions(path: Path, model: VAE, images: torch.Tensor, labels: torch.Tensor | None, n: int = 16) -> None:
    """The probe batch (inputs, top row) above its reconstructions (bottom row)."""
    model.eval()
    device = next(model.parameters()).device
    idx = torch.as_tensor(probe_indices(labels, len(images), n))
    x = to_float(images[idx].to(device))
    recon = model.decode_mean(model.encode(x)[0])
    _write_png(path, make_grid(torch.cat([x, recon]).cpu(), nrow=len(idx), padding=2, pad_value=0.5))


@torch.no_grad()
def write_samples(path: Path, model: VAE, n: int = 64, seed: int = 0) -> None:
    """Decodings of ``n`` draws z ~ N(0, I) from the prior."""
    model.eval()
    device = next(model.parameters()).device
    z = torch.randn(n, model.latent_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    _write_png(path, make_grid(model.decode_mean(z).cpu(), nrow=int(np.ceil(np.sqrt(n))), padding=2, pad_value=0.5))
