"""Memory of one training step of the conv VAE, by image size: the figures in the README's table.

For each size it builds the conv model latentlab builds (default settings: ``--hidden 400``,
latent 2, Bernoulli), then runs one training step as the trainer does (forward, loss,
backward, fused Adam step, at ``--batch-size``, default 64) on the CPU under torch's
``MemTracker`` (``torch.distributed._tools.mem_tracker``), which follows every tensor's
storage through the dispatcher. The step measured is the second (Adam makes its moments on
the first). It prints, per size, the stages and the peak of tensor memory during the step,
split into the model's share (weights, gradients and Adam's two moments: 16 bytes a
parameter, whatever the batch) and the batch's (input, activations kept for backward,
their gradients and temporaries), and the batch's share per item.

Also ``--eval``: the peak of one no-grad test-set batch of 1024 (``trainer.EVAL_BATCH``), as
the snapshot after every epoch runs it.

Usage::

    python benchmarks/conv_memory.py [--batch-size 64] [--sides 28,32,64,128] [--eval]
"""

from __future__ import annotations

import argparse

import _common  # noqa: F401  (puts the project root on sys.path)
from _common import print_table

import torch

from latentlab.core.config import ModelConfig
from latentlab.core.losses import loss_parts
from latentlab.core.model import build_model, conv_plan
from latentlab.core.trainer import EVAL_BATCH

MIB = 2**20


def _tracker():
    from torch.distributed._tools.mem_tracker import MemTracker

    return MemTracker()


def _peak_bytes(tracker) -> int:
    peak = tracker.get_tracker_snapshot("peak")
    return sum(v["Total"] for v in peak.values())


def _train_step(model, optimizer, x: torch.Tensor, gen: torch.Generator) -> None:
    """The trainer's step: forward, loss, gradients dropped, backward, update."""
    out, mu, logvar = model(x, gen)
    loss = loss_parts(out, x, mu, logvar, model.likelihood, model.log_sigma).total().mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def train_step_peak(cfg: ModelConfig, shape: tuple[int, int, int], batch: int) -> tuple[int, int]:
    """(peak bytes of one training step, bytes of the model's state alone: weights, grads, Adam)."""
    torch.manual_seed(0)
    model = build_model(cfg, shape)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    x = torch.rand(batch, *shape)
    gen = torch.Generator().manual_seed(0)
    _train_step(model, optimizer, x, gen)  # Adam makes its moments on its first step: measure a later one
    tracker = _tracker()
    tracker.track_external(model, optimizer, x)
    with tracker:
        _train_step(model, optimizer, x, gen)
    n_params = sum(p.numel() for p in model.parameters())
    return _peak_bytes(tracker), 16 * n_params


@torch.no_grad()
def eval_batch_peak(cfg: ModelConfig, shape: tuple[int, int, int]) -> int:
    """Peak bytes of one snapshot batch (encode, sample, decode, loss), over the weights."""
    torch.manual_seed(0)
    model = build_model(cfg, shape).eval()
    x = torch.rand(EVAL_BATCH, *shape)
    gen = torch.Generator().manual_seed(0)
    weights = sum(p.numel() for p in model.parameters()) * 4
    tracker = _tracker()
    tracker.track_external(model, x)
    with tracker:
        mu, logvar = model.encode(x)
        out = model.decode(model.reparameterize(mu, logvar, gen))
        loss_parts(out, x, mu, logvar, model.likelihood, model.log_sigma)
    return _peak_bytes(tracker) - weights


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--sides", default="28,32,64,128", help="square sides, comma separated")
    ap.add_argument("--eval", action="store_true", help=f"also the peak of a no-grad batch of {EVAL_BATCH}")
    args = ap.parse_args()
    torch.set_num_threads(1)  # memory does not depend on threads; leave the other cores alone
    cfg = ModelConfig(kind="conv")
    rows = []
    for side in (int(s) for s in args.sides.split(",")):
        for c in (1, 3):
            shape = (c, side, side)
            plan = conv_plan(cfg, shape)
            peak, state = train_step_peak(cfg, shape, args.batch_size)
            per_batch = peak - state
            row = [
                f"{side}x{side}x{c}",
                " ".join(str(ch) for ch in plan.channels[1:]) + f" -> {plan.sides[-1][0]} px",
                f"{state / 16 / 1e6:.2f} M",
                f"{state / MIB:.0f}",
                f"{per_batch / MIB:.1f}",
                f"{per_batch / args.batch_size / MIB:.2f}",
                f"{peak / MIB:.0f}",
            ]
            if args.eval:
                row.append(f"{eval_batch_peak(cfg, shape) / MIB:.0f}")
            rows.append(row)
    head = ["image", "stages", "parameters", "model MiB", f"batch {args.batch_size} MiB", "per item MiB", "peak MiB"]
    if args.eval:
        head.append(f"eval {EVAL_BATCH} MiB")
    print_table(head, rows)


if __name__ == "__main__":
    main()
