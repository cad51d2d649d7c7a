"""The one training loop: its events, stop/pause, exact resume, reproducibility, divergence, KL warm-up."""

from __future__ import annotations

import dataclasses
import inspect
import math
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import latentlab.core.trainer as trainer_module
from latentlab.core.checkpoint import open_run
from latentlab.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from latentlab.core.errors import CheckpointError, ConfigError, DeviceError, TrainingDiverged
from latentlab.core.events import CheckpointSaved, EpochSnapshot, RunFinished, RunStarted, StepMetrics
from latentlab.core.losses import LossParts
from latentlab.core.trainer import RunControl, probe_indices, resolve_device, train

STEPS_PER_EPOCH = 12  # digits: 1438 training images in batches of 128


def config(model: dict | None = None, **train_kw) -> RunConfig:
    model = {"hidden": (64,), "latent_dim": 2, **(model or {})}
    train_kw.setdefault("epochs", 2)
    train_kw.setdefault("batch_size", 128)  # STEPS_PER_EPOCH
    return RunConfig(model=ModelConfig(**model), train=TrainConfig(**train_kw))


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(run_dir / open_run(run_dir).files["weights"])


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), f"{key} differs"


def folder_state(folder: Path) -> dict[str, tuple[int, bytes]]:
    """The run's files, its timeline's too; the trainer's lock file exists only while a trainer runs."""
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "train.lock"}


def run_until_stopped(cfg: RunConfig, data, run_dir: Path, stop_at_step: int, *, resume: bool = False) -> list:
    control = RunControl()
    events = []
    for event in train(cfg, data, run_dir=run_dir, resume=resume, control=control):
        events.append(event)
        if isinstance(event, StepMetrics) and event.step == stop_at_step:
            control.stop()
    return events


# ---------------------------------------------------------------------------- events


def test_train_is_a_generator_yielding_the_five_event_kinds_in_order(tmp_path, digits):
    run_dir = tmp_path / "run"
    gen = train(config(log_every=5), digits, run_dir=run_dir)
    assert inspect.isgenerator(gen)
    assert not run_dir.exists()  # nothing runs until the caller asks for the first event
    events = list(gen)
    kinds = [type(e) for e in events]
    assert set(kinds) == {RunStarted, StepMetrics, EpochSnapshot, CheckpointSaved, RunFinished}
    assert kinds[0] is RunStarted and kinds[-1] is RunFinished
    assert kinds.count(RunStarted) == kinds.count(RunFinished) == 1

    started = events[0]
    assert started.image_shape == (1, 8, 8)
    assert (started.n_train, started.n_test) == (digits.n_train, digits.n_test) == (1438, 359)
    assert started.steps_per_epoch == STEPS_PER_EPOCH and started.total_steps == 2 * STEPS_PER_EPOCH
    assert (started.start_step, started.start_epoch) == (0, 0)
    assert np.array_equal(started.test_images, digits.test_images.numpy())
    assert np.array_equal(started.test_labels, digits.test_labels.numpy())
    assert started.classes == digits.classes and started.run_dir == str(run_dir)
    assert started.device == str(resolve_device("auto"))
    assert RunConfig.from_dict(started.config) == config(log_every=5)

    metrics = [e for e in events if isinstance(e, StepMetrics)]
    assert [m.step for m in metrics] == [5, 10, 12, 15, 20, 24]  # every log_every-th step, and each epoch end
    assert [m.epoch for m in metrics] == [1, 1, 1, 2, 2, 2]
    for m in metrics:
        assert m.total_steps == 24 and m.beta == 1.0
        assert m.total == pytest.approx(m.recon + m.kl, rel=1e-5)
        assert math.isfinite(m.items_per_second) and m.items_per_second > 0

    # Each epoch ends with a snapshot, then a checkpoint.
    tail = [(type(e), getattr(e, "epoch", None)) for e in events if not isinstance(e, (StepMetrics, RunStarted))]
    assert tail == [(EpochSnapshot, 1), (CheckpointSaved, 1), (EpochSnapshot, 2), (CheckpointSaved, 2), (RunFinished, 2)]
    saved = [e for e in events if isinstance(e, CheckpointSaved)]
    assert [(s.epoch, s.step) for s in saved] == [(1, 12), (2, 24)]
    assert Path(saved[-1].path) == run_dir / "run.json"
    finished = events[-1]
    assert (finished.reason, finished.epoch, finished.step, finished.run_dir) == ("completed", 2, 24, str(run_dir))


def test_epoch_snapshot_describes_the_test_set(digits):
    events = list(train(config(epochs=1, probe_size=10), digits))
    snap = next(e for e in events if isinstance(e, EpochSnapshot))
    assert (snap.epoch, snap.step) == (1, STEPS_PER_EPOCH)
    assert snap.latents.shape == snap.logvars.shape == (359, 2)
    assert snap.kl_per_dim.shape == (2,) and snap.item_recon.shape == (359,)
    assert snap.test_total == pytest.approx(snap.test_recon + snap.test_kl, rel=1e-5)
    assert snap.test_kl == pytest.approx(float(snap.kl_per_dim.sum()), rel=1e-4)
    assert snap.test_recon == pytest.approx(float(snap.item_recon.mean()), rel=1e-5)
    # The probe batch shows every class; the worst items are those with the highest reconstruction loss.
    assert sorted(digits.test_labels.numpy()[snap.probe_indices].tolist()) == list(range(10))
    assert snap.probe_recons.shape == snap.worst_recons.shape == (10, 1, 8, 8)
    assert snap.probe_recons.min() >= 0 and snap.probe_recons.max() <= 1
    assert set(snap.worst_indices.tolist()) == set(np.argsort(-snap.item_recon)[:10].tolist())
    assert set(snap.decoder_state) >= {"decoder.0.weight", "log_sigma"}
    assert not any(k.startswith("encoder") for k in snap.decoder_state)


def test_event_arrays_are_read_only_numpy_copies(digits):
    events = list(train(config(epochs=1), digits))
    arrays = []
    for event in events:
        assert dataclasses.is_dataclass(event)
        with pytest.raises(dataclasses.FrozenInstanceError):
            event.step = 0  # type: ignore[misc]
        for f in dataclasses.fields(event):
            value = getattr(event, f.name)
            if isinstance(value, np.ndarray):
                arrays.append((type(event).__name__, f.name, value))
        if isinstance(event, EpochSnapshot):
            with pytest.raises(TypeError):
                event.decoder_state["decoder.0.weight"] = np.zeros(1)  # type: ignore[index]
            arrays += [("EpochSnapshot", f"decoder_state[{k}]", v) for k, v in event.decoder_state.items()]
    names = {(kind, name) for kind, name, _ in arrays}
    assert ("RunStarted", "test_images") in names and ("EpochSnapshot", "latents") in names
    assert ("EpochSnapshot", "decoder_state[decoder.0.weight]") in names
    for kind, name, array in arrays:
        assert not array.flags.writeable, f"{kind}.{name} is writeable"
        with pytest.raises(ValueError):
            array.flat[0] = 1
    started = events[0]
    assert not np.shares_memory(started.test_images, digits.test_images.numpy())


# ---------------------------------------------------------------------------- stop, pause, resume


def test_stop_ends_the_run_at_the_next_step_with_a_checkpoint(tmp_path, digits):
    run_dir = tmp_path / "run"
    events = run_until_stopped(config(log_every=1), digits, run_dir, stop_at_step=3)
    after = events[[i for i, e in enumerate(events) if isinstance(e, StepMetrics)][-1] + 1 :]
    assert [type(e) for e in after] == [EpochSnapshot, CheckpointSaved, RunFinished]
    assert max(e.step for e in events if isinstance(e, StepMetrics)) == 3  # no step after the stop
    assert (after[0].epoch, after[0].step) == (0, 3)
    assert (after[1].epoch, after[1].step) == (0, 3)
    assert (after[2].reason, after[2].step) == ("stopped", 3)
    run = open_run(run_dir)
    assert (run.epoch, run.step, run.epoch_complete) == (0, 3, False)
    state = run.load_resume_state()
    assert int(state["position"]) == 3 * 128 and state["order"].shape == (1438,)


def test_stop_without_a_run_dir_saves_nothing_and_still_finishes(digits):
    control = RunControl()
    control.stop()
    events = list(train(config(), digits, control=control))
    assert [type(e) for e in events] == [RunStarted, EpochSnapshot, RunFinished]
    assert (events[-1].reason, events[-1].step, events[-1].run_dir) == ("stopped", 0, None)


def test_stop_from_another_thread_wakes_a_paused_run(digits):
    control = RunControl()
    gen = train(config(log_every=1), digits, control=control)
    first = None
    for event in gen:
        if isinstance(event, StepMetrics):
            first = event
            break
    control.pause()
    assert control.paused
    timer = threading.Timer(0.05, control.stop)
    timer.start()
    rest = list(gen)  # blocks while paused, until the other thread's stop
    timer.join()
    assert control.stop_requested and not control.paused
    assert [type(e) for e in rest] == [EpochSnapshot, RunFinished]
    assert rest[-1].reason == "stopped" and rest[-1].step == first.step == 1


@pytest.mark.parametrize("stop_at_step", [5, 17], ids=["in-epoch-1", "in-epoch-2"])
def test_stopped_run_resumes_mid_epoch_exactly(tmp_path, digits, stop_at_step):
    cfg = config(epochs=3, log_every=1)
    list(train(cfg, digits, run_dir=tmp_path / "whole"))

    run_until_stopped(cfg, digits, tmp_path / "split", stop_at_step)
    stopped = open_run(tmp_path / "split")
    assert stopped.step == stop_at_step and not stopped.epoch_complete
    events = list(train(cfg, digits, run_dir=tmp_path / "split", resume=True))
    started = events[0]
    assert (started.start_step, started.start_epoch) == (stop_at_step, stop_at_step // STEPS_PER_EPOCH)
    first_metrics = next(e for e in events if isinstance(e, StepMetrics))
    assert first_metrics.step == stop_at_step + 1
    assert events[-1].reason == "completed" and events[-1].step == 3 * STEPS_PER_EPOCH

    assert_same_weights(tmp_path / "whole", tmp_path / "split")
    whole, split = open_run(tmp_path / "whole").load_snapshot(), open_run(tmp_path / "split").load_snapshot()
    assert np.array_equal(whole["latents"], split["latents"])


def test_resume_after_whole_epochs_equals_one_long_run_on_an_mnist_subset(tmp_path, mnist_small):
    cfg2 = config(epochs=2, batch_size=100)
    list(train(cfg2, mnist_small, run_dir=tmp_path / "a"))
    list(train(config(epochs=3, batch_size=100), mnist_small, run_dir=tmp_path / "a", resume=True))
    list(train(config(epochs=3, batch_size=100), mnist_small, run_dir=tmp_path / "b"))
    assert open_run(tmp_path / "a").epoch == open_run(tmp_path / "b").epoch == 3
    assert_same_weights(tmp_path / "a", tmp_path / "b")
    hist_a, hist_b = open_run(tmp_path / "a").history, open_run(tmp_path / "b").history
    assert [e["epoch"] for e in hist_a["epochs"]] == [1, 2, 3]
    assert hist_a["epochs"] == hist_b["epochs"]


def test_resuming_a_run_already_at_its_epoch_count_is_refused_and_changes_nothing(tmp_path, digits, one_sentence):
    run_dir = tmp_path / "run"
    list(train(config(epochs=1), digits, run_dir=run_dir))
    before = folder_state(run_dir)
    with pytest.raises(ConfigError) as info:
        next(train(config(epochs=1), digits, run_dir=run_dir, resume=True))
    one_sentence(str(info.value))
    assert "already trained 1 epoch" in str(info.value)
    assert folder_state(run_dir) == before


def test_training_into_a_folder_holding_a_run_is_refused_and_changes_nothing(tmp_path, digits, one_sentence):
    run_dir = tmp_path / "run"
    list(train(config(epochs=1), digits, run_dir=run_dir))
    before = folder_state(run_dir)
    with pytest.raises(ConfigError) as info:
        next(train(config(epochs=1, seed=9), digits, run_dir=run_dir))
    one_sentence(str(info.value))
    assert "--resume" in str(info.value)
    assert folder_state(run_dir) == before


def test_resume_refuses_changed_settings_but_allows_more_epochs(tmp_path, digits, one_sentence):
    run_dir = tmp_path / "run"
    list(train(config(epochs=1), digits, run_dir=run_dir))
    with pytest.raises(ConfigError) as info:
        next(train(config(epochs=2, lr=5e-3), digits, run_dir=run_dir, resume=True))
    one_sentence(str(info.value))
    assert "lr" in str(info.value)
    with pytest.raises(ConfigError) as info:
        next(train(config({"latent_dim": 3}, epochs=2), digits, run_dir=run_dir, resume=True))
    one_sentence(str(info.value))
    assert "model settings" in str(info.value)
    started = next(train(config(epochs=2, device="cpu"), digits, run_dir=run_dir, resume=True))
    assert started.start_epoch == 1 and started.total_steps == 2 * STEPS_PER_EPOCH


def test_resume_needs_a_run_folder_holding_a_run(tmp_path, digits, one_sentence):
    with pytest.raises(ConfigError) as info:
        next(train(config(), digits, resume=True))
    one_sentence(str(info.value))
    with pytest.raises(CheckpointError) as info:
        next(train(config(), digits, run_dir=tmp_path, resume=True))
    one_sentence(str(info.value))


# ---------------------------------------------------------------------------- reproducibility


def test_same_seed_gives_identical_weights_and_another_seed_different(tmp_path, digits):
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        list(train(config(epochs=1, seed=seed), digits, run_dir=tmp_path / name))
    assert_same_weights(tmp_path / "a", tmp_path / "b")
    wa, wc = weights(tmp_path / "a"), weights(tmp_path / "c")
    assert not torch.equal(wa["decoder.0.weight"], wc["decoder.0.weight"])
    assert not torch.equal(wa["fc_mu.weight"], wc["fc_mu.weight"])


def test_same_seed_gives_identical_metrics_without_a_run_dir(digits):
    def losses(seed):
        return [(e.step, e.total) for e in train(config(epochs=1, seed=seed, log_every=4), digits)
                if isinstance(e, StepMetrics)]

    assert losses(3) == losses(3)
    assert losses(3) != losses(4)


# ---------------------------------------------------------------------------- divergence


def test_non_finite_loss_raises_training_diverged_with_the_step(one_sentence):
    # lr = 10 (the largest allowed) on a Gaussian likelihood blows the weights up within a few steps.
    cfg = RunConfig(model=ModelConfig(likelihood="gaussian", hidden=(64,)), train=TrainConfig(epochs=3, lr=10.0, log_every=1))
    with pytest.raises(TrainingDiverged) as info:
        for _ in train(cfg):  # data=None: loads the digits named by the config
            pass
    err = info.value
    assert 1 <= err.step < 3 * STEPS_PER_EPOCH
    one_sentence(str(err))
    assert f"step {err.step}" in str(err) and "lower the learning rate" in str(err)


def test_divergence_before_the_first_checkpoint_claims_none_was_kept(tmp_path, one_sentence):
    cfg = RunConfig(model=ModelConfig(likelihood="gaussian", hidden=(64,)), train=TrainConfig(epochs=3, lr=10.0, log_every=1))
    run_dir = tmp_path / "run"
    with pytest.raises(TrainingDiverged) as info:
        for _ in train(cfg, run_dir=run_dir):
            pass
    assert info.value.step < STEPS_PER_EPOCH  # within the first epoch: no checkpoint yet
    one_sentence(str(info.value))
    assert "nothing was saved" in str(info.value) and "kept" not in str(info.value)
    assert not (run_dir / "run.json").exists()


def test_divergence_keeps_the_last_good_checkpoint(tmp_path, digits, monkeypatch, one_sentence):
    """A NaN at step 14 (epoch 2) is reported with that step; the epoch-1 checkpoint stays as it was."""
    real_loss_parts = trainer_module.loss_parts
    training_calls = []

    def poisoned(out, x, mu, logvar, likelihood, log_sigma=None):
        parts = real_loss_parts(out, x, mu, logvar, likelihood, log_sigma)
        if torch.is_grad_enabled():  # the training step, not the snapshot's evaluation
            training_calls.append(1)
            if len(training_calls) == 14:
                return LossParts(parts.recon * float("nan"), parts.kl, parts.kl_dims)
        return parts

    monkeypatch.setattr(trainer_module, "loss_parts", poisoned)
    run_dir = tmp_path / "run"
    seen = []
    with pytest.raises(TrainingDiverged) as info:
        for event in train(config(epochs=3, log_every=5), digits, run_dir=run_dir):
            seen.append(event)
            if isinstance(event, CheckpointSaved):
                kept = folder_state(run_dir)
    err = info.value
    assert err.step == 14
    one_sentence(str(err))
    assert "step 14" in str(err) and str(run_dir) in str(err) and "kept" in str(err)
    assert max(e.step for e in seen if isinstance(e, StepMetrics)) == 12  # nothing reported from the bad window
    assert folder_state(run_dir) == kept
    run = open_run(run_dir)
    assert (run.epoch, run.step, run.epoch_complete) == (1, 12, True)
    model = run.load_model()
    assert all(torch.isfinite(p).all() for p in model.state_dict().values())


# ---------------------------------------------------------------------------- KL warm-up


@pytest.mark.parametrize("beta", [1.0, 0.5])
def test_kl_warmup_ramps_beta_linearly_over_the_warmup_epochs(digits, beta):
    events = list(train(config(epochs=3, log_every=1, kl_warmup_epochs=2, beta=beta), digits))
    metrics = [e for e in events if isinstance(e, StepMetrics)]
    warmup_steps = 2 * STEPS_PER_EPOCH
    assert [m.beta for m in metrics] == pytest.approx([beta * min(1.0, m.step / warmup_steps) for m in metrics])
    ramp = [m.beta for m in metrics if m.step <= warmup_steps]
    assert all(a < b for a, b in zip(ramp, ramp[1:]))
    assert metrics[0].beta == pytest.approx(beta / warmup_steps)
    assert all(m.beta == beta for m in metrics if m.step >= warmup_steps)
    for m in metrics:
        assert m.total == pytest.approx(m.recon + m.beta * m.kl, rel=1e-5)


def test_no_warmup_keeps_beta_constant(digits):
    metrics = [e for e in train(config(epochs=1, log_every=1, beta=2.0), digits) if isinstance(e, StepMetrics)]
    assert {m.beta for m in metrics} == {2.0}


# ---------------------------------------------------------------------------- checkpoints, devices, probes, other data


def test_checkpoint_every_saves_on_those_epochs_and_the_last(tmp_path, digits):
    events = list(train(config(epochs=3, checkpoint_every=2), digits, run_dir=tmp_path / "run"))
    assert [e.epoch for e in events if isinstance(e, CheckpointSaved)] == [2, 3]
    run = open_run(tmp_path / "run")
    assert [e["epoch"] for e in run.history["epochs"]] == [1, 2, 3]
    assert run.history["steps"][-1]["step"] == 3 * STEPS_PER_EPOCH


def test_resolve_device_maps_names_or_refuses(one_sentence):
    assert resolve_device("cpu") == torch.device("cpu")
    if torch.cuda.is_available():
        assert resolve_device("auto").type == "cuda" and resolve_device("cuda").type == "cuda"
    else:
        with pytest.raises(DeviceError) as info:
            resolve_device("cuda")
        one_sentence(str(info.value))
    mps = getattr(torch.backends, "mps", None)
    if not (mps and mps.is_available()):
        with pytest.raises(DeviceError):
            resolve_device("mps")
    if not torch.cuda.is_available() and not (mps and mps.is_available()):
        assert resolve_device("auto") == torch.device("cpu")


def test_probe_indices_take_classes_in_turn_or_spread_evenly():
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    picked = probe_indices(labels, 9, 5)
    assert picked.tolist() == [0, 3, 5, 1, 4]
    assert probe_indices(None, 9, 3).tolist() == [0, 4, 8]
    assert sorted(probe_indices(labels, 9, 50).tolist()) == list(range(9))  # never more than there are
    assert len(probe_indices(None, 3, 16)) == 3


def test_conv_model_trains_on_real_cifar10_jpegs_from_the_folder_path(cifar_jpg_subset):
    cfg = RunConfig(
        data=DataConfig(name="folder", root=str(cifar_jpg_subset), channels=3),
        model=ModelConfig(kind="conv", hidden=(32,), latent_dim=8, likelihood="gaussian", sigma=0.1),
        train=TrainConfig(epochs=1, batch_size=100, probe_size=10),
    )
    events = list(train(cfg))
    started, finished = events[0], events[-1]
    assert started.image_shape == (3, 32, 32) and (started.n_train, started.n_test) == (200, 200)
    assert started.classes[0] == "airplane"
    assert finished.reason == "completed" and finished.step == 2
    snap = next(e for e in events if isinstance(e, EpochSnapshot))
    assert snap.latents.shape == (200, 8) and snap.probe_recons.shape == (10, 3, 32, 32)
    assert np.isfinite(snap.test_total)


def test_conv_model_trains_on_an_mnist_subset(mnist_small):
    cfg = config({"kind": "conv", "hidden": (32,)}, epochs=1, batch_size=250)
    events = list(train(cfg, mnist_small))
    snap = next(e for e in events if isinstance(e, EpochSnapshot))
    assert snap.latents.shape == (200, 2) and snap.probe_recons.shape == (16, 1, 28, 28)
    first, last = [e for e in events if isinstance(e, StepMetrics)][0], events[-1]
    assert last.step == 4 and first.step == 4 and np.isfinite(first.total)


# ---------------------------------------------------------------------------- devices


def test_available_devices_are_auto_and_cpu_then_what_torch_can_use(monkeypatch):
    from latentlab.core.trainer import available_devices

    devices = available_devices()
    assert devices[:2] == ["auto", "cpu"]
    assert ("cuda" in devices) == torch.cuda.is_available()
    for name in devices:
        resolve_device(name)  # every name listed is one the trainer accepts here
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert available_devices()[:3] == ["auto", "cpu", "cuda"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert "cuda" not in available_devices()


# ---------------------------------------------------------------------------- out of memory while moving to the device

CUDA_OOM = "CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; 7.79 GiB total capacity)"
CPU_OOM = "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried to allocate 9663676416 bytes."


def refusing_to_move(tensor: torch.Tensor, error: BaseException | None) -> torch.Tensor:
    """``tensor``, except that moving it to a device raises ``error`` (as a full device does);
    with no error, it stays where it is, as if moved (there is no GPU here to move it to)."""

    class RefusesToMove(torch.Tensor):
        def to(self, *args, **kwargs):
            if error is None:
                return self
            raise error

    return tensor.as_subclass(RefusesToMove)


@pytest.mark.parametrize("what", ["model", "train images", "test images"])
@pytest.mark.parametrize(
    "device, error, said",
    [("cuda", torch.cuda.OutOfMemoryError(CUDA_OOM), "The GPU ran out of memory at batch size 128"),
     ("cpu", RuntimeError(CPU_OOM), "The CPU ran out of memory at batch size 128")],
    ids=["cuda-oom", "cpu-allocator"],
)
def test_running_out_of_memory_while_moving_to_the_device_is_advice_not_a_crash(
        tmp_path, digits, monkeypatch, one_sentence, what, device, error, said):
    from latentlab.core.model import VAE

    monkeypatch.setattr(trainer_module, "resolve_device", lambda name: torch.device(device))  # a GPU, as far as it knows
    if what == "model":
        def move(self, *args, **kwargs):
            raise error
    else:
        def move(self, *args, **kwargs):
            return self  # the model fits; the data does not

        full = what.replace(" ", "_")
        digits = dataclasses.replace(digits, **{field: refusing_to_move(getattr(digits, field), error if field == full else None)
                                                for field in ("train_images", "test_images")})
    monkeypatch.setattr(VAE, "to", move)
    run_dir = tmp_path / "run"
    with pytest.raises(DeviceError) as info:
        list(train(config(device=device), digits, run_dir=run_dir))
    message = str(info.value)
    one_sentence(message)
    assert message.startswith(said) and "smaller batch size" in message
    assert ("or the CPU" in message) == (device == "cuda")  # a GPU that is full can be swapped for the CPU
    assert not run_dir.exists()  # failed before its first checkpoint: no husk left behind


def test_other_errors_while_moving_to_the_device_are_not_called_out_of_memory(digits):
    error = RuntimeError("Expected all tensors to be on the same device")
    digits = dataclasses.replace(digits, train_images=refusing_to_move(digits.train_images, error))
    with pytest.raises(RuntimeError) as info:
        list(train(config(device="cpu"), digits))
    assert info.value is error and not isinstance(info.value, DeviceError)
