"""The one training loop: a generator of events, driven alike by the CLI, the GUI and tests.

The whole dataset sits on the training device as one uint8 tensor; each step indexes a
random batch from it. The loop syncs with the device only every ``log_every`` steps
(``.tolist()`` below), so a GPU is never stalled by a per-step ``.item()``.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import threading
import time
from pathlib import Path
from types import MappingProxyType
from typing import Iterator, Union

import numpy as np
import torch

from .checkpoint import RunLock, is_run, open_run, remove_leftovers, save_checkpoint, write_testset
from .distributed import Group, is_collective_failure
from .timeline import keeps_epoch, remove_frames_after, write_frame
from .config import RunConfig
from .data import Dataset, binarize_splits, load_dataset, sample_pixels, to_float
from .errors import CheckpointError, ConfigError, DeviceError, TrainingDiverged
from .events import CheckpointSaved, EpochSnapshot, RunFinished, RunStarted, StepMetrics, frozen_array
from .losses import loss_parts
from .model import VAE, build_model

Event = Union[RunStarted, StepMetrics, EpochSnapshot, CheckpointSaved, RunFinished]

EVAL_BATCH = 1024  # test-set evaluation batch: large, since no gradients are kept


class RunControl:
    """Thread-safe stop and pause flags the loop checks before every step."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()  # a paused loop must wake up to stop

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self) -> None:
        self._running.wait()


# torch's own choice of intra-op threads (physical cores, or OMP_NUM_THREADS), read before
# anything in the process changes it: torch.set_num_threads sets the count of the calling
# thread *and* of every thread that starts later.
_DEFAULT_NUM_THREADS = torch.get_num_threads()


def default_num_threads() -> int:
    """The intra-op thread count a fresh process would train with (``latentlab train``'s)."""
    return _DEFAULT_NUM_THREADS


def available_devices() -> list[str]:
    """The device names this machine can train on, in the order a menu lists them.

    Always ``auto`` and ``cpu``; then ``cuda`` and ``mps`` where torch can use them. Each
    name is one ``resolve_device`` accepts.
    """
    devices = ["auto", "cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


def resolve_device(name: str) -> torch.device:
    """Map auto|cpu|cuda|mps to an available device, or raise ``DeviceError``."""
    mps = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps and mps.is_available())
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if mps_ok else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceError("CUDA is not available on this machine; use --device cpu or --device auto.")
    if name == "mps" and not mps_ok:
        raise DeviceError("Apple's MPS backend is not available on this machine; use --device cpu or --device auto.")
    return torch.device(name)


def probe_indices(labels: torch.Tensor | None, n_items: int, size: int) -> np.ndarray:
    """A fixed probe batch: classes in turn when labelled (every class shows), else evenly spaced."""
    size = min(size, n_items)
    if labels is None:
        return np.linspace(0, n_items - 1, size).round().astype(np.int64)
    labels_np = labels.cpu().numpy()
    by_class = [np.flatnonzero(labels_np == c) for c in np.unique(labels_np)]
    picked: list[int] = []
    rank = 0
    while len(picked) < min(size, len(labels_np)):
        for members in by_class:
            if rank < len(members) and len(picked) < size:
                picked.append(int(members[rank]))
        rank += 1
    return np.array(picked, dtype=np.int64)


@torch.no_grad()
def snapshot(
    model: VAE,
    test_images: torch.Tensor,
    probe: np.ndarray,
    *,
    epoch: int,
    step: int,
    seed: int,
) -> EpochSnapshot:
    """Look at the model through the test set: loss parts, latents, reconstructions."""
    was_training = model.training
    model.eval()
    device = test_images.device
    # Its own generator, seeded alike every time: test losses compare across epochs, and
    # evaluating never moves the training noise stream (so resumed runs stay exact).
    gen = torch.Generator(device=device).manual_seed(seed)
    mus, logvars, recons, kl_dims = [], [], [], []
    for start in range(0, test_images.shape[0], EVAL_BATCH):
        x = to_float(test_images[start : start + EVAL_BATCH])
        mu, logvar = model.encode(x)
        out = model.decode(model.reparameterize(mu, logvar, gen))
        parts = loss_parts(out, x, mu, logvar, model.likelihood, model.log_sigma)
        mus.append(mu)
        logvars.append(logvar)
        recons.append(parts.recon)
        kl_dims.append(parts.kl_dims)
    mu, logvar, recon, kl_dims_all = (torch.cat(t) for t in (mus, logvars, recons, kl_dims))
    kl = kl_dims_all.sum(1)
    worst = torch.topk(recon, k=len(probe)).indices
    probe_t = torch.as_tensor(probe, device=device)
    decoded = model.decode_mean(torch.cat([mu[probe_t], mu[worst]]))
    model.train(was_training)
    decoder_state = MappingProxyType({k: frozen_array(v) for k, v in model.decoder_state().items()})
    encoder_state = MappingProxyType({k: frozen_array(v) for k, v in model.encoder_state().items()})
    return EpochSnapshot(
        epoch=epoch,
        step=step,
        test_recon=recon.mean().item(),
        test_kl=kl.mean().item(),
        test_total=(recon + kl).mean().item(),
        latents=frozen_array(mu),
        logvars=frozen_array(logvar),
        kl_per_dim=frozen_array(kl_dims_all.mean(0)),
        item_recon=frozen_array(recon),
        probe_indices=frozen_array(probe),
        probe_recons=frozen_array(decoded[: len(probe)]),
        worst_indices=frozen_array(worst),
        worst_recons=frozen_array(decoded[len(probe) :]),
        decoder_state=decoder_state,  # type: ignore[arg-type]
        encoder_state=encoder_state,  # type: ignore[arg-type]
    )


def batch_input(images: torch.Tensor, batch: torch.Tensor, dynamic: bool, generator: torch.Generator) -> torch.Tensor:
    """The float batch a step trains on: the items' pixels, or under dynamic binarization a
    fresh Bernoulli sample of them drawn with the trainer's generator (so a seed fixes it)."""
    x = to_float(images[batch])  # (B, C, H, W) in [0, 1]
    return sample_pixels(x, generator) if dynamic else x


def _set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def train(
    config: RunConfig,
    data: Dataset | None = None,
    *,
    run_dir: str | Path | None = None,
    resume: bool = False,
    control: RunControl | None = None,
    group: Group | None = None,
) -> Iterator[Event]:
    """Train a VAE, yielding events; the caller decides what to show and when to stop.

    Parameters
    ----------
    config
        The run's settings. When resuming, only ``train.epochs`` (the total) and
        ``train.device`` may differ from the saved run's.
    data
        A loaded dataset; loaded from ``config.data`` when None.
    run_dir
        Where checkpoints go. None trains without saving (tests, throwaway runs).
    resume
        Continue the run saved in ``run_dir`` exactly where it stopped.
    control
        Stop/pause flags another thread may set; a stop ends the loop before the next
        step, with a checkpoint.
    group
        This process's place among the processes torchrun started (``distributed.py``):
        each trains on its shard of every global batch, the losses logged are the whole
        batch's, and only rank 0 evaluates, yields snapshots and writes ``run_dir``.

    Raises
    ------
    TrainingDiverged
        The loss became NaN or infinite; the last good checkpoint is kept.
    ConfigError, DataError, CheckpointError, DeviceError
        Bad settings, data, run folder or device, each with one sentence of advice.
    """
    control = control or RunControl()
    run_dir = Path(run_dir) if run_dir is not None else None
    if resume and run_dir is None:
        raise ConfigError("Resuming needs the run folder to continue; pass --out RUN_DIR.")
    if group is None:
        yield from _train_in(config, data, run_dir, resume, control, None)
        return
    try:
        yield from _train_in(config, data, run_dir, resume, control, group)
    except RuntimeError as exc:  # DDP's own all-reduce in backward() fails like this when a peer dies
        if is_collective_failure(exc):
            raise group.lost(exc) from None
        raise
    except Exception:
        if not group.agreed:  # failed to start: the others are waiting to hear it
            group.agree(False)
        raise


def _train_in(config, data, run_dir: Path | None, resume: bool, control: RunControl,
              group: Group | None) -> Iterator[Event]:
    """``_train`` in its run folder, which the one process that writes it locks (and makes)."""
    if run_dir is None or (group is not None and not group.is_main):
        yield from _train(config, data, run_dir, resume, control, group)
        return
    created = not run_dir.exists()
    _make_run_dir(run_dir, resume)
    try:
        with RunLock(run_dir):  # one trainer per run folder, across processes and within this one
            yield from _train(config, data, run_dir, resume, control, group)
    except BaseException:
        if created and not is_run(run_dir):  # failed before its first checkpoint: leave no husk behind
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _make_run_dir(run_dir: Path, resume: bool) -> None:
    """Create the run folder (and its parents), or say in one sentence why it cannot be."""
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"{run_dir} is a file, not a folder; choose a folder for the run.")
    if resume:
        if not run_dir.is_dir():
            raise CheckpointError(f"There is no run at {run_dir}; check the path.")
        return
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"Cannot create the run folder {run_dir} ({exc.strerror or exc}); choose a folder you can write to."
        ) from None


def _train(
    config: RunConfig, data: Dataset | None, run_dir: Path | None, resume: bool, control: RunControl,
    group: Group | None = None,
) -> Iterator[Event]:
    writes = group is None or group.is_main  # in a group, rank 0 alone evaluates and saves
    out_dir = run_dir if writes else None
    checkpoint = None
    if resume:
        checkpoint = open_run(run_dir)
        _check_resumable(checkpoint.config, config)
        if writes:
            remove_leftovers(run_dir)  # what a killed save left; safe, since we hold the lock
            remove_frames_after(run_dir, checkpoint.epoch)  # frames of epochs the resumed run trains again
    elif run_dir is not None and is_run(run_dir):
        raise ConfigError(f"{run_dir} already holds a run; pass --resume to continue it, or choose another --out.")

    # A caller's dataset is binarized as the config says too (idempotent on binarized pixels).
    data = load_dataset(config.data) if data is None else binarize_splits(data, config.data)
    device = resolve_device(config.train.device)
    tc = config.train
    torch.manual_seed(tc.seed)  # initial weights
    model = build_model(config.model, data.image_shape)
    with _out_of_memory_advice(device, tc.batch_size):
        model = model.to(device)
        train_images = data.train_images.to(device)
        test_images = data.test_images.to(device)
    # fused Adam runs the update as one kernel per device: fewer launches on GPU, less overhead on CPU.
    # Its rate is the schedule's for the epoch training starts in, as a resumed state's holds.
    start_lr = tc.lr_at(checkpoint.epoch if checkpoint is not None else 0)
    optimizer = torch.optim.Adam(model.parameters(), lr=start_lr, eps=tc.adam_eps, fused=device.type in ("cuda", "cpu"))
    gen = torch.Generator(device=device).manual_seed(tc.seed)  # batch order and reparameterisation noise

    n = data.n_train
    steps_per_epoch = math.ceil(n / tc.batch_size)
    total_steps = tc.epochs * steps_per_epoch
    probe = probe_indices(data.test_labels, data.n_test, tc.probe_size)
    warmup_steps = tc.kl_warmup_epochs * steps_per_epoch
    dynamic = config.data.binarize == "dynamic"

    step, epoch, order, position = 0, 0, None, 0
    history: dict[str, list[dict[str, float]]] = {"steps": [], "epochs": []}
    if checkpoint is not None:
        saved = checkpoint.load_model("cpu")
        if saved.state_dict().keys() != model.state_dict().keys():
            raise CheckpointError(f"The weights in {run_dir} do not fit this run's model; it cannot be resumed.")
        model.load_state_dict(saved.state_dict())
        state = checkpoint.load_resume_state()
        order, position = _check_resume_state(state, optimizer, n, run_dir)
        try:
            optimizer.load_state_dict(state["optimizer"])
            gen.set_state(state["generator"])
        except (ValueError, RuntimeError, KeyError, TypeError):
            raise CheckpointError(f"The resume state in {run_dir} does not fit this run; it cannot be resumed.") from None
        step, epoch = checkpoint.step, checkpoint.epoch
        order = order.to(device) if order is not None else None
        history = checkpoint.history
        checkpoint.close()  # its files are replaced at the next commit; don't keep them alive
        if epoch >= tc.epochs:
            raise ConfigError(
                f"The run in {run_dir} has already trained {epoch} epoch(s); pass an --epochs larger than that."
            )
    elif out_dir is not None:
        try:
            write_testset(run_dir, data.test_images, data.test_labels)
        except OSError as exc:
            raise CheckpointError(_save_failed(run_dir, exc, kept=False)) from None
    net = model
    if group is not None:
        if not group.agree(True):
            raise ConfigError("Another training process could not start (it said why); this one stops too.")
        from torch.nn.parallel import DistributedDataParallel

        # Broadcasts rank 0's weights (the same: one seed, or one checkpoint) and averages gradients.
        net = DistributedDataParallel(model, device_ids=[device.index or 0] if device.type == "cuda" else None)
    latent_dim = config.model.latent_dim

    yield RunStarted(
        config=config.to_dict(),
        device=str(device),
        image_shape=data.image_shape,
        n_train=n,
        n_test=data.n_test,
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        start_step=step,
        start_epoch=epoch,
        test_images=frozen_array(data.test_images),
        test_labels=None if data.test_labels is None else frozen_array(data.test_labels),
        classes=data.classes,
        run_dir=str(run_dir) if run_dir is not None else None,
    )

    saved_epoch = checkpoint.epoch if checkpoint is not None else None

    def save(snap: EpochSnapshot, epoch_complete: bool) -> CheckpointSaved:
        nonlocal saved_epoch
        resume_state = {
            "optimizer": optimizer.state_dict(),
            "generator": gen.get_state(),
            "order": None if order is None else order.cpu(),
            "position": position,
        }
        try:
            path = save_checkpoint(
                run_dir,
                config=config,
                model=model,
                resume_state=resume_state,
                snapshot=snap.to_arrays(),
                epoch=epoch,
                step=step,
                epoch_complete=epoch_complete,
                image_shape=data.image_shape,
                classes=data.classes,
                history=history,
            )
        except OSError as exc:  # a full disk, a folder made read-only: the last commit still stands
            raise CheckpointError(_save_failed(run_dir, exc, kept=saved_epoch is not None)) from None
        saved_epoch = epoch
        return CheckpointSaved(str(path), epoch, step)

    model.train()
    zero = torch.zeros((), device=device)
    acc_recon, acc_kl, acc_total, acc_items = zero.clone(), zero.clone(), zero.clone(), 0
    first_bad_step = torch.full((), -1, dtype=torch.long, device=device)
    stop_agreed = False  # in a group, every process stops at the same step: the one they agree on
    elapsed, window_start = 0.0, time.perf_counter()
    try:
        while epoch < tc.epochs:
            if order is None:
                order = torch.randperm(n, generator=gen, device=device)
                position = 0
            while position < n:
                control.wait_while_paused()
                if stop_agreed if group is not None else control.stop_requested:
                    if writes:
                        snap = snapshot(model, test_images, probe, epoch=epoch, step=step, seed=tc.seed)
                        yield snap
                        if out_dir is not None:
                            yield save(snap, epoch_complete=False)
                    yield RunFinished("stopped", epoch, step, str(run_dir) if run_dir else None)
                    return
                batch = order[position : position + tc.batch_size]
                position += tc.batch_size
                # The whole batch's pixels and noise, from the one generator every process shares.
                x = batch_input(train_images, batch, dynamic, gen)
                eps = torch.randn((len(batch), latent_dim), generator=gen, device=device)
                if group is not None:
                    mine = group.shard(len(batch))
                    x, eps = x[mine], eps[mine]
                out, mu, logvar = net(x, eps=eps)
                parts = loss_parts(out, x, mu, logvar, model.likelihood, model.log_sigma)
                beta = tc.beta * min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else tc.beta
                per_item = parts.total(beta)
                # Nats per image of the whole batch: DDP averages the processes' gradients, so each
                # weighs its share's sum by world / batch.
                loss = per_item.mean() if group is None else per_item.sum() * (group.world / len(batch))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                # Accumulate on the device; no sync here.
                acc_recon += parts.recon.detach().sum()
                acc_kl += parts.kl.detach().sum()
                acc_total += per_item.detach().sum()
                acc_items += x.shape[0]
                bad = ~torch.isfinite(loss.detach()) & (first_bad_step < 0)
                first_bad_step = torch.where(bad, torch.full_like(first_bad_step, step), first_bad_step)

                if step % tc.log_every == 0 or position >= n:
                    # The sync point: one transfer of four numbers every log_every steps.
                    sums = torch.stack([acc_recon, acc_kl, acc_total, first_bad_step.to(acc_recon.dtype)])
                    if group is not None:  # the whole batch's losses, and whether anyone must stop
                        totals = torch.cat([sums[:3].double().to(group.device),
                                            torch.tensor([float(acc_items)], dtype=torch.float64, device=group.device)])
                        flags = torch.tensor([float(first_bad_step), float(control.stop_requested)], device=group.device)
                        group.all_reduce(totals, "sum")
                        group.all_reduce(flags, "max")
                        acc_items, stop_agreed = int(totals[3].item()), bool(flags[1].item() > 0)
                        sums = torch.cat([totals[:3], flags[:1].double()])
                    recon_sum, kl_sum, total_sum, bad_step = sums.tolist()
                    if bad_step >= 0 or not math.isfinite(total_sum):
                        raise TrainingDiverged(_divergence_advice(at := int(bad_step) if bad_step >= 0 else step, run_dir), at)
                    now = time.perf_counter()
                    elapsed += now - window_start
                    metrics = StepMetrics(
                        epoch=epoch + 1,
                        step=step,
                        total_steps=total_steps,
                        recon=recon_sum / acc_items,
                        kl=kl_sum / acc_items,
                        total=total_sum / acc_items,
                        beta=beta,
                        items_per_second=acc_items / max(now - window_start, 1e-9),
                        elapsed=elapsed,
                    )
                    history["steps"].append(
                        {"step": step, "epoch": epoch + 1, "recon": metrics.recon, "kl": metrics.kl,
                         "total": metrics.total, "beta": beta}
                    )
                    acc_recon.zero_(), acc_kl.zero_(), acc_total.zero_()
                    acc_items = 0
                    yield metrics
                    window_start = time.perf_counter()  # time spent by the consumer is not training time
            epoch += 1
            order = None
            position = 0
            _set_lr(optimizer, tc.lr_at(epoch))  # before the save: a resumed run starts at this epoch's rate
            if not writes:
                continue  # rank 0 evaluates and saves; the others go on to the next epoch's first step
            snap = snapshot(model, test_images, probe, epoch=epoch, step=step, seed=tc.seed)
            history["epochs"].append(
                {"epoch": epoch, "step": step, "recon": snap.test_recon, "kl": snap.test_kl, "total": snap.test_total}
            )
            yield snap
            if run_dir is not None and keeps_epoch(epoch, tc.timeline_stride, tc.epochs):
                try:  # before the checkpoint that commits the epoch: a resume removes frames past its own
                    write_frame(run_dir, snap)
                except OSError as exc:
                    raise CheckpointError(_save_failed(run_dir, exc, kept=saved_epoch is not None)) from None
            if run_dir is not None and (epoch % tc.checkpoint_every == 0 or epoch == tc.epochs):
                yield save(snap, epoch_complete=True)
            window_start = time.perf_counter()
    except (torch.cuda.OutOfMemoryError, MemoryError) as exc:
        raise _oom_error(device, tc.batch_size, exc) from None
    yield RunFinished("completed", epoch, step, str(run_dir) if run_dir else None)


def _save_failed(run_dir: Path, exc: OSError, kept: bool) -> str:
    what = "with the last complete checkpoint kept" if kept else "before its first checkpoint"
    return (
        f"Could not save to {run_dir} ({exc.strerror or exc}), so training stopped {what}; "
        f"free some disk space or make the folder writable, then {'resume the run' if kept else 'start again'}."
    )


@contextlib.contextmanager
def _out_of_memory_advice(device: torch.device, batch_size: int):
    try:
        yield
    except (torch.cuda.OutOfMemoryError, MemoryError) as exc:
        raise _oom_error(device, batch_size, exc) from None
    except RuntimeError as exc:  # the CPU allocator's refusal is a plain RuntimeError
        if "can't allocate memory" in str(exc) or "out of memory" in str(exc).lower():
            raise _oom_error(device, batch_size, exc) from None
        raise


def _oom_error(device: torch.device, batch_size: int, exc: BaseException) -> DeviceError:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        return DeviceError(
            f"The GPU ran out of memory at batch size {batch_size}; choose a smaller batch size or model, or the CPU."
        )
    return DeviceError(
        f"The {device.type.upper()} ran out of memory at batch size {batch_size}; choose a smaller batch size or model."
    )


def _check_resume_state(
    state: dict, optimizer: torch.optim.Optimizer, n_train: int, run_dir: Path
) -> tuple[torch.Tensor | None, int]:
    """Check every saved tensor against the model before any of it is used.

    A fused optimizer step trusts its state's shapes; one of the wrong size reads past the
    end of a buffer and crashes the process rather than raising.
    """
    bad = CheckpointError(f"The resume state in {run_dir} does not fit this run's model; it cannot be resumed.")
    saved, fresh = state["optimizer"], optimizer.state_dict()
    if not (isinstance(saved, dict) and isinstance(saved.get("state"), dict)
            and isinstance(saved.get("param_groups"), list) and len(saved["param_groups"]) == 1
            and isinstance(saved["param_groups"][0], dict)):
        raise bad
    group, fresh_group = saved["param_groups"][0], fresh["param_groups"][0]
    if group.get("params") != fresh_group["params"]:
        raise bad
    for key, value in fresh_group.items():  # lr, betas, eps, ...: the run's own settings
        if key != "params" and key in group and group[key] != value:
            raise bad
    params = [p for g in optimizer.param_groups for p in g["params"]]
    for index, entry in saved["state"].items():
        if not (isinstance(index, int) and 0 <= index < len(params) and isinstance(entry, dict)):
            raise bad
        p = params[index]
        for key in ("exp_avg", "exp_avg_sq"):
            t = entry.get(key)
            if not (isinstance(t, torch.Tensor) and t.shape == p.shape and t.dtype == p.dtype
                    and bool(torch.isfinite(t).all())):
                raise bad
        t = entry.get("step")
        if not (isinstance(t, torch.Tensor) and t.numel() == 1 and t.is_floating_point()
                and bool(torch.isfinite(t).all()) and float(t) >= 0):
            raise bad
    if not isinstance(state["generator"], torch.Tensor) or state["generator"].dtype != torch.uint8:
        raise bad
    order, position = state["order"], state["position"]
    if not (isinstance(position, int) and not isinstance(position, bool) and 0 <= position <= n_train):
        raise bad
    if order is not None:
        if not (isinstance(order, torch.Tensor) and order.dtype == torch.int64 and order.shape == (n_train,)
                and torch.equal(order.sort().values, torch.arange(n_train))):
            raise bad
    elif position != 0:
        raise bad
    return order, position


def _divergence_advice(step: int, run_dir: Path | None) -> str:
    kept = f"the last good checkpoint in {run_dir} is kept" if run_dir is not None and is_run(run_dir) else "nothing was saved"
    return (
        f"The loss became NaN or infinite at step {step}, so training stopped and {kept}; "
        f"lower the learning rate or warm up the KL weight (--kl-warmup)."
    )


def _check_resumable(saved: RunConfig, asked: RunConfig) -> None:
    """Only the total epochs and the device may change when resuming; anything else is a new run."""
    for section in ("data", "model"):
        if getattr(saved, section) != getattr(asked, section):
            raise ConfigError(
                f"The {section} settings differ from the saved run's; resume with the run's own settings "
                f"or start a new run in another folder."
            )
    free = ("epochs", "device", "timeline_every")  # how long, where, and how much of it to keep
    same = {k: v for k, v in vars(saved.train).items() if k not in free}
    now = {k: v for k, v in vars(asked.train).items() if k not in free}
    if same != now:
        changed = ", ".join(sorted(k for k in same if same[k] != now[k]))
        raise ConfigError(f"Resuming cannot change {changed}; start a new run in another folder to change them.")
