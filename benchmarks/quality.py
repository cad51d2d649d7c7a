"""Model quality: test negative ELBO and importance-sampled NLL after 10 epochs on MNIST.

The 784-400-20 MLP VAE of pytorch/examples' vae/main.py (Bernoulli decoder, BCE + KL,
Adam lr 1e-3, batch 128, seed 1), trained by latentlab's trainer. Printed:

- per epoch: train-step seconds, snapshot seconds, test loss (BCE + KL per image, one
  sample of z, the 10000 MNIST test images: ``EpochSnapshot.test_total``);
- after the last epoch: the test loss again through ``evaluate.elbo_parts`` (from the
  saved checkpoint), and the importance-sampled NLL of ``evaluate.importance_sampled_nll``
  with K samples (Burda et al. 2015), which must lie below the negative ELBO.

Bar: test loss <= 105.6 (pytorch/examples reaches 105.55 with seed 1) and NLL < -ELBO.

Usage::

    python benchmarks/quality.py [--data-dir DIR] [--iw-samples 1000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (puts the project root on sys.path)
from _common import DATA_DIR_HELP, MnistCopy, environment_lines, mlp_784_400_20_config, print_rows, print_table

import torch

LOSS_BAR = 105.6  # pytorch/examples vae/main.py, seed 1, 10 epochs: 105.55


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", help=DATA_DIR_HELP)
    p.add_argument("--iw-samples", type=int, default=1000, help="importance samples K per test image (default 1000)")
    p.add_argument("--epochs", type=int, default=10, help="training epochs (default 10, as the bar assumes)")
    p.add_argument("--seed", type=int, default=1, help="training seed (default 1, as the bar assumes)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = p.parse_args()
    if args.iw_samples < 1 or args.epochs < 1:
        p.error("--iw-samples and --epochs must be at least 1")

    from latentlab.core.checkpoint import open_run
    from latentlab.core.data import load_dataset
    from latentlab.core.evaluate import elbo_parts, importance_sampled_nll
    from latentlab.core.events import CheckpointSaved, EpochSnapshot, RunFinished, RunStarted, StepMetrics
    from latentlab.core.trainer import resolve_device, train

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)

    with MnistCopy(args.data_dir) as mnist, tempfile.TemporaryDirectory(prefix="latentlab-quality-") as tmp:
        print("quality: latentlab trainer, 784-400-20 MLP VAE on MNIST")
        print_rows(
            [*environment_lines(device),
             ("settings", f"{args.epochs} epochs, batch 128, Adam lr 1e-3 (fused), Bernoulli/BCE + KL, "
                          f"seed {args.seed}"),
             ("test loss", "BCE + KL per image, one sample of z, 10000 MNIST test images"),
             ("data source", str(mnist.source))]
        )
        print(flush=True)

        cfg = mlp_784_400_20_config(
            mnist.root, epochs=args.epochs, device=device.type, seed=args.seed, checkpoint_every=args.epochs
        )
        data = load_dataset(cfg.data)
        run_dir = Path(tmp) / "run"  # only the last epoch is saved: the model is needed for the NLL
        run = train(cfg, data, run_dir=run_dir)
        started = next(run)
        assert isinstance(started, RunStarted)
        steps_per_epoch = started.steps_per_epoch

        rows, snaps = [], []
        train_s_total = 0.0
        t_epoch = time.perf_counter()
        t_steps_end = None
        last_metrics = None
        for event in run:
            if isinstance(event, StepMetrics):
                last_metrics = event
                if event.step % steps_per_epoch == 0:
                    t_steps_end = time.perf_counter()
            elif isinstance(event, EpochSnapshot):
                now = time.perf_counter()
                train_s = t_steps_end - t_epoch
                train_s_total += train_s
                snaps.append(event)
                rows.append([
                    str(event.epoch), f"{train_s:.2f}", f"{now - t_steps_end:.2f}", f"{last_metrics.total:.2f}",
                    f"{event.test_recon:.2f}", f"{event.test_kl:.2f}", f"{event.test_total:.2f}",
                ])
                print(f"  epoch {event.epoch:2d}: {train_s:6.2f} s, test loss {event.test_total:.2f}", flush=True)
                t_epoch = time.perf_counter()
            elif isinstance(event, CheckpointSaved):
                t_epoch = time.perf_counter()  # saving is not training time
            elif isinstance(event, RunFinished):
                break

        print()
        print("per epoch (train s: train steps only; snapshot s: the end-of-epoch test pass and copies)")
        print_table(
            ["epoch", "train s", "snapshot s", "train loss*", "test BCE", "test KL", "test loss"], rows
        )
        print("  * mean over the epoch's last log window of 20 steps")
        print(f"  total train-step time {train_s_total:.1f} s")
        print()

        model = open_run(run_dir).load_model(device)
        test_images = data.test_images
        final = snaps[-1]
        t0 = time.perf_counter()
        recon0, kl0, total0 = elbo_parts(model, test_images)  # its default seed 0
        recon1, kl1, total1 = elbo_parts(model, test_images, seed=args.seed)  # the snapshot's noise
        elbo_s = time.perf_counter() - t0
        nll_k1 = importance_sampled_nll(model, test_images, samples=1)
        t0 = time.perf_counter()
        nll = importance_sampled_nll(model, test_images, samples=args.iw_samples)
        nll_s = time.perf_counter() - t0

    print(f"after epoch {final.epoch}, the 10000 test images, nats per image")
    print_rows([
        ("test loss (EpochSnapshot.test_total)", f"{final.test_total:.2f}  (BCE {final.test_recon:.2f} + KL {final.test_kl:.2f})"),
        ("test loss (elbo_parts, seed 0)", f"{total0:.2f}  (BCE {recon0:.2f} + KL {kl0:.2f})"),
        (f"test loss (elbo_parts, seed {args.seed})", f"{total1:.2f}  (should equal the snapshot's; "
                                                   f"{elbo_s:.1f} s for both)"),
        ("IS NLL, K = 1 (should be ~ -ELBO)", f"{nll_k1:.2f}"),
        (f"IS NLL, K = {args.iw_samples}", f"{nll:.2f}  ({nll_s:.1f} s)"),
        ("-ELBO - NLL", f"{final.test_total - nll:.2f}"),
    ], indent="  ")
    print()
    loss_ok = final.test_total <= LOSS_BAR
    nll_ok = nll < final.test_total
    print(f"bar: test loss <= {LOSS_BAR}: {final.test_total:.2f} -> {'PASS' if loss_ok else 'FAIL'}")
    print(f"bar: NLL (K = {args.iw_samples}) < -ELBO: {nll:.2f} < {final.test_total:.2f} -> "
          f"{'PASS' if nll_ok else 'FAIL'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
