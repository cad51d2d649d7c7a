"""Model quality on MNIST: test negative ELBO and importance-sampled NLL, in two recipes.

``--recipe examples`` (the default):
the 784-400-20 MLP VAE of pytorch/examples' vae/main.py (Bernoulli decoder,
BCE + KL, Adam lr 1e-3, batch 128, seed 1, 10 epochs), trained by latentlab's trainer. Printed:

- per epoch: train-step seconds, snapshot seconds, test loss (BCE + KL per image, one
  sample of z, the 10000 MNIST test images: ``EpochSnapshot.test_total``);
- after the last epoch: the test loss again through ``evaluate.elbo_parts`` (from the
  saved checkpoint), and the importance-sampled NLL of ``evaluate.importance_sampled_nll``
  with K samples (Burda et al. 2015), which must lie below the negative ELBO.

Bar: test loss <= 105.6 (pytorch/examples reaches 105.55 with seed 1) and NLL < -ELBO.

``--recipe iwae``: the one-stochastic-layer VAE (k = 1) of Burda et al.'s IWAE paper (arXiv
1509.00519): 784-200-200-50 tanh MLPs, Bernoulli likelihood, dynamically binarized MNIST
(a fresh Bernoulli sample of every training batch), batch 20, Adam (betas 0.9/0.999, eps
1e-4) at 1e-3 x 10^(-i/7) for the 3^i epochs of stage i, for ``--epochs`` epochs (the paper
trains 3280). The test set is binarized once with a fixed seed, and every test figure is of
that binarized set. Printed: per epoch the train-step seconds, the learning rate and the
test -ELBO (all test items); after each epoch of ``--eval-at`` the NLL with K =
``--iw-samples`` (default 5000) on the first ``--curve-items`` test items; after the last
epoch the NLL with K samples on ``--test-items`` (default all 10000), beside the paper's
86.76 nats (Table 1, VAE, k = 1, one stochastic layer, 50 latent dimensions).

Usage::

    python benchmarks/quality.py [--data-dir DIR] [--iw-samples 1000]
    OMP_WAIT_POLICY=PASSIVE python benchmarks/quality.py --recipe iwae --epochs 40 [--eval-at 1,4,13]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (puts the project root on sys.path)
from _common import (
    DATA_DIR_HELP, IWAE_PAPER_NLL, MnistCopy, environment_lines, iwae_config, mlp_784_400_20_config, print_rows,
    print_table,
)

import numpy as np
import torch

LOSS_BAR = 105.6  # pytorch/examples vae/main.py, seed 1, 10 epochs: 105.55


# The iwae recipe's defaults: 40 epochs are the schedule's stages 0-3 (1 + 3 + 9 + 27), which with
# the K = 5000 estimates (all 10000 test items at the end) took 12 minutes on one core of a 2-core CPU.
IWAE_EPOCHS = 40
IWAE_EVAL_AT = "1,4,13"  # the ends of stages 0, 1 and 2
DEFAULTS = {"examples": {"iw_samples": 1000, "epochs": 10}, "iwae": {"iw_samples": 5000, "epochs": IWAE_EPOCHS}}


def _epochs_list(text: str) -> list[int]:
    try:
        epochs = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of epochs such as 1,3,9") from None
    if any(e < 1 for e in epochs):
        raise argparse.ArgumentTypeError(f"{text} must list epochs of 1 or more")
    return epochs


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recipe", choices=sorted(DEFAULTS), default="examples",
                   help="examples: pytorch/examples' 784-400-20 VAE (default); iwae: the IWAE paper's VAE (k = 1)")
    p.add_argument("--data-dir", help=DATA_DIR_HELP)
    p.add_argument("--iw-samples", type=int, default=None,
                   help="importance samples K per test image (default 1000; iwae: 5000)")
    p.add_argument("--epochs", type=int, default=None,
                   help=f"training epochs (default 10, as the bar assumes; iwae: {IWAE_EPOCHS})")
    p.add_argument("--seed", type=int, default=1, help="training seed (default 1, as the bar assumes)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.add_argument("--eval-at", type=_epochs_list, default=None, metavar="E[,E...]",
                   help=f"iwae: epochs after which to estimate the NLL on --curve-items items (default {IWAE_EVAL_AT})")
    p.add_argument("--curve-items", type=int, default=1000,
                   help="iwae: test items of the --eval-at estimates, the first ones (default 1000)")
    p.add_argument("--test-items", type=int, default=None,
                   help="iwae: test items of the final estimate, the first ones (default all 10000)")
    args = p.parse_args()
    for name, value in DEFAULTS[args.recipe].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.iw_samples < 1 or args.epochs < 1:
        p.error("--iw-samples and --epochs must be at least 1")
    if args.curve_items < 1 or (args.test_items is not None and args.test_items < 1):
        p.error("--curve-items and --test-items must be at least 1")
    if args.recipe == "examples" and (args.eval_at is not None or args.test_items is not None):
        p.error("--eval-at and --test-items belong to --recipe iwae")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    return run_iwae(args) if args.recipe == "iwae" else run_examples(args)


def run_examples(args) -> int:
    """pytorch/examples' VAE for 10 epochs, with its bar."""
    from latentlab.core.checkpoint import open_run
    from latentlab.core.data import load_dataset
    from latentlab.core.evaluate import elbo_parts, importance_sampled_nll
    from latentlab.core.events import CheckpointSaved, EpochSnapshot, RunFinished, RunStarted, StepMetrics
    from latentlab.core.trainer import resolve_device, train

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


def _model_of(snap, cfg, image_shape, device):
    """The model a snapshot holds (its frozen encoder and decoder arrays), on ``device``."""
    from latentlab.core.model import build_from_state

    state = {k: torch.from_numpy(np.array(v)) for k, v in {**snap.encoder_state, **snap.decoder_state}.items()}
    return build_from_state(cfg.model, image_shape, state).to(device)


def _timed_nll(model, images, samples: int) -> tuple[float, float]:
    """(mean NLL, seconds) of ``images`` with ``samples`` importance samples each."""
    from latentlab.core.evaluate import importance_sampled_nll

    t0 = time.perf_counter()
    nll = importance_sampled_nll(model, images, samples=samples)
    return nll, time.perf_counter() - t0


def run_iwae(args) -> int:
    """The IWAE paper's one-stochastic-layer VAE on dynamically binarized MNIST: NLL against epochs."""
    from latentlab.core.data import load_dataset
    from latentlab.core.events import EpochSnapshot, RunFinished, RunStarted, StepMetrics
    from latentlab.core.trainer import resolve_device, train

    device = resolve_device(args.device)
    eval_at = set(args.eval_at if args.eval_at is not None else _epochs_list(IWAE_EVAL_AT))
    k = args.iw_samples
    with MnistCopy(args.data_dir) as mnist:
        cfg = iwae_config(mnist.root, epochs=args.epochs, device=device.type, seed=args.seed)
        data = load_dataset(cfg.data)  # the test set binarized once, with the data config's fixed seed
    n_test = min(args.test_items or data.n_test, data.n_test)
    n_curve = min(args.curve_items, data.n_test)
    print("quality: latentlab trainer, the IWAE paper's one-stochastic-layer VAE (k = 1) on binarized MNIST")
    print_rows(
        [*environment_lines(device),
         ("settings", f"{args.epochs} epochs, batch 20, 784-200-200-50 tanh MLPs, Bernoulli, dynamic binarization, "
                      f"Adam eps 1e-4 at 1e-3 x 10^(-i/7) for the 3^i epochs of stage i, seed {args.seed}"),
         ("test set", f"the {data.n_test} MNIST test images, binarized once with a fixed seed"),
         ("NLL", f"K = {k} importance samples; after epochs {sorted(e for e in eval_at if e <= args.epochs)} on the "
                 f"first {n_curve} test items, after the last on {n_test}"),
         ("data source", str(mnist.source))]
    )
    print(flush=True)

    run = train(cfg, data)
    started = next(run)
    assert isinstance(started, RunStarted)
    steps_per_epoch = started.steps_per_epoch
    rows, last = [], None
    train_s_total, eval_s_total = 0.0, 0.0
    t_epoch = t_steps_end = time.perf_counter()
    for event in run:
        if isinstance(event, StepMetrics) and event.step % steps_per_epoch == 0:
            t_steps_end = time.perf_counter()
        elif isinstance(event, EpochSnapshot):
            last = event
            train_s = t_steps_end - t_epoch
            train_s_total += train_s
            lr = cfg.train.lr_at(event.epoch - 1)
            nll_cell = ""
            if event.epoch in eval_at or event.epoch == args.epochs:
                model = _model_of(event, cfg, data.image_shape, device)
                nll, nll_s = _timed_nll(model, data.test_images[:n_curve], k)
                eval_s_total += nll_s
                nll_cell = f"{nll:.2f}"
            rows.append([str(event.epoch), f"{train_s:.1f}", f"{lr:.2e}", f"{event.test_total:.2f}", nll_cell])
            note = f", NLL (K = {k}, {n_curve} items) {nll_cell}" if nll_cell else ""
            print(f"  epoch {event.epoch:3d}: {train_s:6.1f} s, test -ELBO {event.test_total:.2f}{note}", flush=True)
            t_epoch = time.perf_counter()
        elif isinstance(event, RunFinished):
            break

    model = _model_of(last, cfg, data.image_shape, device)
    nll, nll_s = _timed_nll(model, data.test_images[:n_test], k)
    print()
    print(f"per epoch (test -ELBO: all {data.n_test} binarized test items, one sample of z; "
          f"NLL: K = {k}, the first {n_curve} of them)")
    print_table(["epoch", "train s", "lr", "test -ELBO", "NLL"], rows)
    print(f"  total train-step time {train_s_total:.1f} s; curve estimates {eval_s_total:.1f} s")
    print()
    print(f"after epoch {last.epoch}, the binarized test set, nats per image")
    print_rows([
        ("test -ELBO (EpochSnapshot.test_total)", f"{last.test_total:.2f}  (BCE {last.test_recon:.2f} + KL {last.test_kl:.2f})"),
        (f"IS NLL, K = {k}, {n_test} items", f"{nll:.2f}  ({nll_s:.1f} s)"),
        ("the IWAE paper (Table 1, VAE, k = 1, 1 layer)", f"{IWAE_PAPER_NLL:.2f}  after 3280 epochs"),
    ], indent="  ")
    print()
    nll_ok = nll < last.test_total
    print(f"check: NLL (K = {k}) < -ELBO: {nll:.2f} < {last.test_total:.2f} -> {'PASS' if nll_ok else 'FAIL'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
