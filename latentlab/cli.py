"""The ``latentlab`` command: the desktop app, or ``train``/``evaluate``/``export``/``compare``/``fetch`` headless.

A user's mistake prints one sentence to stderr and exits with code 2; nothing is
overwritten. Heavy imports (torch, Qt) happen inside the commands, so ``--help`` is quick.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import Sequence

from latentlab.core.distributed import DEFAULT_TIMEOUT_S

EXIT_USER_ERROR = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line, not the usage block plus a line."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USER_ERROR, f"{self.prog.split()[0]}: error: {message} (see {self.prog} --help).\n")


class UsageError(Exception):
    """A bad option value found after parsing."""


def _whole_number(low: int, high: int):
    """An option type for whole numbers in [low, high] whose refusal names the range."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is not between {low} and {high}")
        return value

    return parse


def _nonneg_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a finite number of zero or more")
    return value


def _positive_float(text: str) -> float:
    value = _nonneg_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text} must be larger than zero")
    return value


def _hidden(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of widths such as 400,200") from None
    from latentlab.core.config import MAX_HIDDEN_WIDTH

    if not widths or not all(1 <= w <= MAX_HIDDEN_WIDTH for w in widths):
        raise argparse.ArgumentTypeError(f"{text} must list widths between 1 and {MAX_HIDDEN_WIDTH}")
    return widths


def build_parser() -> argparse.ArgumentParser:
    from latentlab import __version__
    from latentlab.core.config import (
        ACTIVATIONS, BINARIZATIONS, CONV_SIDES, DATASETS, DEVICES, IMAGE_SIZES, LIKELIHOODS, LR_SCHEDULES, MAX_SEED,
        MODELS,
    )

    parser = _Parser(prog="latentlab", description="Watch a Variational AutoEncoder learn.")
    parser.add_argument("--version", action="version", version=f"latentlab {__version__}")
    parser.add_argument("--checkpoint", metavar="RUN_DIR", help="open a saved run in the desktop app")
    parser.add_argument(
        "--follow", metavar="RUN_DIR", help="open a run another process or machine trains, and keep it live (read-only)"
    )
    parser.add_argument(
        "--self-test", metavar="OUTDIR", help="exercise the desktop app offscreen; write OUTDIR/result.json, exit 0 if all passed"
    )
    parser.add_argument(
        "--info", action="store_true", help="print versions, devices, the Qt platform and folders (for a bug report)"
    )
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    t = sub.add_parser("train", help="train a VAE headless, saving checkpoints to a run folder")
    t.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder for checkpoints")
    # Defaults are None so that --resume can tell what the user actually asked to change.
    t.add_argument("--dataset", choices=DATASETS)
    t.add_argument("--data-dir", metavar="DIR", help="dataset root (torchvision layout) or image folder")
    t.add_argument("--image-size", type=_whole_number(*IMAGE_SIZES), help="folder: resize images to this square side")
    t.add_argument("--rgb", action="store_true", default=None, help="folder: keep colour (default grey)")
    t.add_argument(
        "--binarize", choices=BINARIZATIONS,
        help="grey data: train on Bernoulli samples of the pixels, drawn afresh every batch (dynamic) or once "
             "(static); the test set is binarized once, with a fixed seed (default: keep the grey levels)",
    )
    t.add_argument(
        "--model", choices=MODELS,
        help=f"mlp (any image size) or conv: square images {CONV_SIDES[0]} to {CONV_SIDES[1]} px a side, grey or RGB, "
             "one stride-2 stage per halving down to 8 px or less (28 and 32 px: 2 stages, 64: 3, 128: 4; "
             "other sides divisible by 4, such as the 8x8 digits: 2); "
             "a training step at batch 64 and --hidden 400 holds about 60, 145 and 390 MiB at 32, 64 and 128 px "
             "RGB: the model's weights, gradients and Adam's moments (51, 105, 221 MiB) and the batch's "
             "activations (9, 39, 165 MiB; the README's table has the rest)",
    )
    t.add_argument("--latent-dim", type=int, metavar="N")
    t.add_argument("--hidden", type=_hidden, metavar="W[,W...]", help="hidden widths, e.g. 400 or 512,256")
    t.add_argument("--activation", choices=ACTIVATIONS, help="hidden layers' nonlinearity (default relu)")
    t.add_argument("--likelihood", choices=LIKELIHOODS)
    t.add_argument("--sigma", type=_positive_float, help="gaussian: fixed observation std (default: learned)")
    t.add_argument("--beta", type=_nonneg_float, help="KL weight (1 = true ELBO)")
    t.add_argument("--kl-warmup", type=_nonneg_float, metavar="EPOCHS", help="ramp beta up from 0 over this many epochs")
    t.add_argument("--epochs", type=int, metavar="N", help="total epochs (resume trains up to this)")
    t.add_argument("--batch-size", type=int, metavar="N")
    t.add_argument("--lr", type=float)
    t.add_argument(
        "--lr-schedule", choices=LR_SCHEDULES,
        help="constant (default), or iwae: Burda et al.'s lr x 10^(-i/7) for the 3^i epochs of stage i = 0..7",
    )
    t.add_argument("--adam-eps", type=_positive_float, metavar="EPS", help="Adam's epsilon (default 1e-8)")
    t.add_argument("--seed", type=int)
    t.add_argument("--device", choices=DEVICES)
    t.add_argument(
        "--timeline-every", type=int, metavar="N",
        help="keep every N-th epoch's frame (test latents and model) for replaying the run in the app; "
             "0 keeps none, the last epoch is always kept (default: every epoch of a run of up to 200 epochs, "
             "about 200 frames of a longer one; the README gives the cost per epoch)",
    )
    t.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    t.add_argument(
        "--dist-timeout", type=_positive_float, default=DEFAULT_TIMEOUT_S, metavar="S",
        help="under torchrun: how long a process waits for the others before it stops with a message "
             f"(default {DEFAULT_TIMEOUT_S:.0f}; rank 0 evaluates and saves alone while they wait)",
    )
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    e = sub.add_parser("evaluate", help="test-set ELBO parts and importance-sampled NLL of a run")
    e.add_argument("run_dir", metavar="RUN_DIR")
    e.add_argument("--iw-samples", type=int, default=100, metavar="K", help="importance samples per item (0: skip NLL)")
    e.add_argument("--device", choices=DEVICES, default="auto")
    e.add_argument("--json", action="store_true", help="print one JSON object")

    x = sub.add_parser("export", help="write a run's latents, loss history, reconstructions or samples to files")
    x.add_argument("run_dir", metavar="RUN_DIR")
    x.add_argument("--latents", metavar="FILE.csv|.npy", help="posterior means of the test split, one row per item")
    x.add_argument("--history", metavar="FILE.csv", help="loss history: -ELBO, its parts, the objective")
    x.add_argument("--reconstructions", metavar="FILE.png", help="probe inputs above their reconstructions")
    x.add_argument("--samples", metavar="FILE.png", help="decodings of 64 draws from the prior")
    x.add_argument("--seed", type=_whole_number(0, MAX_SEED), default=0, help="seed for --samples")

    c = sub.add_parser("compare", help="two runs' final test -ELBO parts and NLL side by side; their curves as a PNG")
    c.add_argument("run_a", metavar="RUN_A")
    c.add_argument("run_b", metavar="RUN_B")
    c.add_argument("--png", metavar="FILE.png", help="both runs' -ELBO curves overlaid, test and train")

    f = sub.add_parser("fetch", help="download MNIST, Fashion-MNIST or CIFAR-10 into a data folder")
    f.add_argument("dataset", choices=["mnist", "fashion-mnist", "cifar10"])
    f.add_argument("--data-dir", metavar="DIR", help="where to put it (default: $LATENTLAB_DATA, else the app's data folder)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from latentlab.core.errors import LatentlabError, os_error_sentence

    try:
        if args.command == "train":
            return _train(args)
        if args.command == "evaluate":
            return _evaluate(args)
        if args.command == "export":
            return _export(args)
        if args.command == "fetch":
            return _fetch(args)
        if args.command == "compare":
            return _compare(args)
        if args.info:
            from latentlab.info import info_text

            print(info_text())
            return 0
        return _gui(args)
    except (LatentlabError, UsageError) as exc:
        print(f"latentlab: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:  # the system refused a file operation not caught nearer its cause
        print(f"latentlab: error: {os_error_sentence(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("latentlab: interrupted.", file=sys.stderr)
        return 130


def _gui(args) -> int:
    from latentlab.gui.qt_check import require_platform

    if args.self_test:
        from latentlab.gui.self_test import run_self_test

        require_platform({**os.environ, "QT_QPA_PLATFORM": "offscreen"})  # the platform the self-test uses
        return run_self_test(args.self_test)
    # Before any Qt module loads: where the platform plugin cannot load, Qt aborts the process.
    require_platform()
    from latentlab.gui.app import main as gui_main

    return gui_main(checkpoint=args.checkpoint, follow=args.follow)


def _train_config(args):
    """The run's settings: saved ones when resuming (with the user's changes), else from options."""
    from latentlab.core.checkpoint import open_run
    from latentlab.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig

    data = {
        "name": args.dataset,
        "root": str(Path(args.data_dir).expanduser().resolve()) if args.data_dir else None,
        "image_size": args.image_size,
        "channels": 3 if args.rgb else None,
        "binarize": args.binarize,
    }
    model = {
        "kind": args.model,
        "latent_dim": args.latent_dim,
        "hidden": args.hidden,
        "likelihood": args.likelihood,
        "sigma": args.sigma,
        "activation": args.activation,
    }
    train = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "lr_schedule": args.lr_schedule,
        "adam_eps": args.adam_eps,
        "beta": args.beta,
        "kl_warmup_epochs": args.kl_warmup,
        "seed": args.seed,
        "device": args.device,
        "timeline_every": args.timeline_every,
    }
    given = {
        name: {k: v for k, v in section.items() if v is not None}
        for name, section in (("data", data), ("model", model), ("train", train))
    }
    if args.resume:
        base = open_run(args.out).config
    else:
        if "root" in given["data"] and "name" not in given["data"]:
            raise UsageError("--data-dir needs --dataset to say what is in it (mnist, fashion-mnist, cifar10 or folder).")
        base = RunConfig(DataConfig(), ModelConfig(), TrainConfig())
    return base.with_changes(**given)


def _train(args) -> int:
    from latentlab.core.distributed import join_from_environment
    from latentlab.core.events import EpochSnapshot, RunFinished, RunStarted, StepMetrics
    from latentlab.core.trainer import RunControl, resolve_device, train

    config = _train_config(args)
    control = RunControl()
    # Under torchrun: one of several processes; rank 0 alone speaks, writes the run and its metrics.
    group = join_from_environment(resolve_device(config.train.device), args.dist_timeout)
    if group is not None and not group.is_main:
        args.quiet = True

    # Ctrl-C or SIGTERM (a scheduler's, or kill) asks the loop to stop at the next step and
    # save; a second one of the same kind acts at once.
    def on_signal(signum, frame):
        control.stop()
        signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    # A redrawn bar only on a terminal: in a log (nohup, a batch scheduler) each frame would be
    # kept, ~100 KB for a short run, so there progress is one line per epoch.
    use_bar = not args.quiet and sys.stderr.isatty()
    bar = None
    last_metrics = None
    epochs = config.train.epochs
    log = None
    ended = False  # the run's generator returned: every process got as far (else a peer or this one failed)
    try:
        for event in train(config, run_dir=args.out, resume=args.resume, control=control, group=group):
            if isinstance(event, RunStarted):
                last_step, steps_per_epoch = event.start_step, event.steps_per_epoch
                if group is None or group.is_main:
                    log = _open_metrics_log(event.run_dir, event.start_step)
                if not args.quiet:
                    processes = f" in {group.world} processes ({group.backend})" if group is not None else ""
                    print(
                        f"training on {event.device}{processes}: {event.n_train} train / {event.n_test} test items "
                        f"of shape {'x'.join(map(str, event.image_shape))}, {epochs} epochs",
                        file=sys.stderr,
                        flush=True,
                    )
                if use_bar:
                    bar = _progress_bar(event.start_epoch + 1, epochs, steps_per_epoch)
                    bar.update(last_step - event.start_epoch * steps_per_epoch)
            elif isinstance(event, StepMetrics):
                if bar is not None:
                    bar.update(event.step - last_step)
                    bar.set_postfix_str(
                        f"recon {event.recon:.2f}  kl {event.kl:.2f}  total {event.total:.2f}  "
                        f"{event.items_per_second:,.0f} items/s"
                    )
                last_step = event.step
                last_metrics = event
                log = _append_metrics(log, event)
            elif isinstance(event, EpochSnapshot):
                if bar is not None:
                    bar.close()
                    bar = None
                if not args.quiet:
                    speed = f"  ({last_metrics.items_per_second:,.0f} items/s)" if last_metrics is not None else ""
                    print(
                        f"epoch {event.epoch}/{epochs}: test recon {event.test_recon:.2f}  kl {event.test_kl:.2f}  "
                        f"-ELBO {event.test_total:.2f} nats/image{speed}",
                        file=sys.stderr,
                        flush=True,
                    )
                if use_bar and event.epoch < epochs and event.step == event.epoch * steps_per_epoch:
                    bar = _progress_bar(event.epoch + 1, epochs, steps_per_epoch)
            elif isinstance(event, RunFinished) and (group is None or group.is_main):
                what = "stopped" if event.reason == "stopped" else "finished"
                print(f"{what} at epoch {event.epoch}, step {event.step}; run saved in {event.run_dir}", file=sys.stderr)
        ended = True
    finally:
        if bar is not None:
            bar.close()
        if log is not None:
            log.close()
        if group is not None:
            group.close(together=ended)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _open_metrics_log(run_dir, start_step: int):
    """metrics.jsonl for followers; a courtesy, so a failure warns and training goes on."""
    from latentlab.core.errors import os_error_sentence
    from latentlab.core.metrics_log import MetricsLog

    if run_dir is None:
        return None
    try:
        return MetricsLog(run_dir, start_step)
    except OSError as exc:
        print(f"latentlab: warning: no metrics.jsonl for followers: {os_error_sentence(exc)}", file=sys.stderr)
        return None


def _append_metrics(log, metrics):
    """The log after one record: None once a write failed (the checkpoint says the rest)."""
    from latentlab.core.errors import os_error_sentence

    if log is None:
        return None
    try:
        log.append(metrics)
        return log
    except OSError as exc:
        log.close()
        print(f"latentlab: warning: metrics.jsonl is no longer written: {os_error_sentence(exc)}", file=sys.stderr)
        return None


def _progress_bar(epoch: int, epochs: int, steps: int):
    from tqdm import tqdm

    return tqdm(total=steps, desc=f"epoch {epoch}/{epochs}", unit="step", leave=False, dynamic_ncols=True)


def _evaluate(args) -> int:
    from latentlab.core.checkpoint import open_run, record_evaluation
    from latentlab.core.evaluate import evaluate
    from latentlab.core.trainer import resolve_device

    if args.iw_samples < 0:
        raise UsageError(f"--iw-samples must be 0 (skip) or a positive number of samples, not {args.iw_samples}.")
    run = open_run(args.run_dir)
    model = run.load_model(resolve_device(args.device))
    images, _ = run.load_testset()
    result = evaluate(model, images, iw_samples=args.iw_samples)
    if result.nll is not None:  # kept beside the checkpoint it scores, for the app to show
        record_evaluation(run.run_dir, run.step, {"nll": result.nll, "neg_elbo": result.total,
                                                  "iw_samples": result.iw_samples, "n_items": result.n_items})
    binarize = run.config.data.binarize
    if args.json:
        print(json.dumps({**result.to_dict(), "epoch": run.epoch, "step": run.step, "binarize": binarize}))
    else:
        items = f"{result.n_items} {'binarized ' if binarize else ''}test items"
        print(f"run {run.run_dir} (epoch {run.epoch}, step {run.step}), {items}, nats per image:")
        print(f"  reconstruction  {result.recon:10.3f}")
        print(f"  KL              {result.kl:10.3f}")
        print(f"  -ELBO           {result.total:10.3f}")
        if result.nll is not None:
            print(f"  NLL (K={result.iw_samples:<5d})  {result.nll:10.3f}")
    return 0


def _export(args) -> int:
    from latentlab.core import export
    from latentlab.core.checkpoint import open_run

    targets = {
        "latents": args.latents, "history": args.history, "reconstructions": args.reconstructions, "samples": args.samples,
    }
    if not any(targets.values()):
        raise UsageError("Nothing to export; pass --latents, --history, --reconstructions or --samples.")
    if args.latents and Path(args.latents).suffix.lower() not in (".csv", ".npy"):
        raise UsageError(f"--latents must end in .csv or .npy, not {Path(args.latents).name!r}.")
    if args.history and Path(args.history).suffix.lower() != ".csv":
        raise UsageError(f"--history must name a .csv file, not {Path(args.history).name!r}.")
    for name in ("reconstructions", "samples"):
        if targets[name] and Path(targets[name]).suffix.lower() != ".png":
            raise UsageError(f"--{name} must name a .png file, not {Path(targets[name]).name!r}.")
    for path in filter(None, targets.values()):
        if not Path(path).expanduser().resolve().parent.is_dir():
            raise UsageError(f"The folder for {path} does not exist; create it first.")
    run = open_run(args.run_dir)
    model = run.load_model("cpu")
    images, labels = run.load_testset()
    try:
        if args.latents:
            export.write_latents(Path(args.latents), export.posterior_means(model, images), labels)
        if args.history:
            export.write_history_csv(Path(args.history), run.history)
        if args.reconstructions:
            export.write_reconstructions(Path(args.reconstructions), model, images, labels)
        if args.samples:
            export.write_samples(Path(args.samples), model, seed=args.seed)
    except OSError as exc:
        raise UsageError(f"Could not write the export ({exc.strerror or exc}); check the path and permissions.") from None
    return 0


def _compare(args) -> int:
    from latentlab.core import compare
    from latentlab.core.checkpoint import open_run

    if args.png and Path(args.png).suffix.lower() != ".png":
        raise UsageError(f"--png must name a .png file, not {Path(args.png).name!r}.")
    if args.png and not Path(args.png).expanduser().resolve().parent.is_dir():
        raise UsageError(f"The folder for {args.png} does not exist; create it first.")
    with open_run(args.run_a) as a, open_run(args.run_b) as b:
        names = compare.run_names(a.run_dir.resolve(), b.run_dir.resolve())
        print(compare.format_table(compare.summarise(a, names[0]), compare.summarise(b, names[1])))
        if args.png:
            try:
                compare.write_curves_png(Path(args.png), [(names[0], a.history), (names[1], b.history)])
            except OSError as exc:
                raise UsageError(f"Could not write {args.png} ({exc.strerror or exc}); check the path and permissions.") from None
    return 0


def _fetch(args) -> int:
    from latentlab.core.fetch import LABELS, fetch
    from latentlab.core.paths import default_data_dir

    root = Path(args.data_dir).expanduser().resolve() if args.data_dir else default_data_dir()
    report = _FetchReport()
    try:
        folder = fetch(args.dataset, root, progress=report.update)  # on Ctrl-C, fetch removes the partial file
    finally:
        report.close()
    print(f"{LABELS[args.dataset]} is in {folder}; train on it with --dataset {args.dataset} --data-dir {root}")
    return 0


class _FetchReport:
    """A tqdm bar per file on a terminal; elsewhere (a log, a pipe) one line per finished file."""

    def __init__(self):
        self.bar = None
        self.file: str | None = None
        self.terminal = sys.stderr.isatty()

    def update(self, p) -> None:
        from latentlab.core.fetch import format_bytes

        if p.file != self.file:
            self.close()
            self.file = p.file
            if self.terminal:
                from tqdm import tqdm

                self.bar = tqdm(total=p.total_bytes, desc=f"{p.file} ({p.file_number}/{p.file_count})", unit="B",
                                unit_scale=True, dynamic_ncols=True, file=sys.stderr)
        if self.bar is not None:
            self.bar.update(p.done_bytes - self.bar.n)
        if p.complete:
            if self.bar is None:
                print(f"{p.file} ({p.file_number}/{p.file_count}): {format_bytes(p.done_bytes)}, "
                      f"{format_bytes(p.bytes_per_second)}/s", file=sys.stderr)
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
