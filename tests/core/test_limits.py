"""Every bounded setting names its bounds; seeds fit torch; a model too large to train is refused
before it is built; importance sampling keeps its memory bounded for any K."""

from __future__ import annotations

import math

import pytest
import torch

from latentlab.core.config import MAX_SEED, DataConfig, ModelConfig, RunConfig, TrainConfig
from latentlab.core.errors import ConfigError
from latentlab.core.evaluate import MAX_IW_SAMPLES, evaluate, importance_sampled_nll
from latentlab.core.model import MAX_PARAMETERS, build_decoder, build_model, check_model_size, parameter_count

# ---------------------------------------------------------------------------- settings name their range


@pytest.mark.parametrize(
    ("make", "bounds"),
    [
        (lambda v: TrainConfig(epochs=v), (1, 100000)),
        (lambda v: TrainConfig(batch_size=v), (1, 1048576)),
        (lambda v: TrainConfig(seed=v), (0, 2**63 - 1)),
        (lambda v: TrainConfig(log_every=v), (1, 1000000)),
        (lambda v: TrainConfig(probe_size=v), (1, 256)),
        (lambda v: TrainConfig(checkpoint_every=v), (1, 100000)),
        (lambda v: ModelConfig(latent_dim=v), (1, 4096)),
        (lambda v: DataConfig(split_seed=v), (0, 2**63 - 1)),
        (lambda v: DataConfig(name="folder", root="x", image_size=v), (4, 512)),
    ],
    ids=["epochs", "batch_size", "seed", "log_every", "probe_size", "checkpoint_every", "latent_dim", "split_seed",
         "image_size"],
)
def test_a_whole_number_setting_out_of_range_names_its_range(make, bounds, one_sentence):
    low, high = bounds
    make(low), make(high)  # the bounds themselves are accepted
    for value in (low - 1, high + 1, high * 10, 2**70):
        with pytest.raises(ConfigError) as info:
            make(value)
        one_sentence(str(info.value))
        assert f"between {low} and {high}, not {value}." in str(info.value)


@pytest.mark.parametrize("value", [True, 2.0, "3"], ids=["bool", "float", "string"])
def test_a_whole_number_setting_refuses_other_types(value, one_sentence):
    with pytest.raises(ConfigError) as info:
        TrainConfig(log_every=value)
    one_sentence(str(info.value))


def test_the_kl_warm_up_names_its_range(one_sentence):
    with pytest.raises(ConfigError) as info:
        TrainConfig(kl_warmup_epochs=1e308)
    one_sentence(str(info.value))
    assert "between 0 and 100000" in str(info.value)


def test_hidden_widths_name_their_range(one_sentence):
    with pytest.raises(ConfigError) as info:
        ModelConfig(hidden=(400, 65537))
    one_sentence(str(info.value))
    assert "between 1 and 65536" in str(info.value)


def test_the_largest_seed_seeds_torch_and_round_trips_through_json():
    """The bound is torch's own: a generator takes it, and a larger one overflows there."""
    torch.Generator().manual_seed(MAX_SEED)
    cfg = RunConfig(data=DataConfig(split_seed=MAX_SEED), train=TrainConfig(seed=MAX_SEED))
    assert RunConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError):  # a negative seed is refused, not aliased to 2**64 - 1 as torch does
        TrainConfig(seed=-1)


# ---------------------------------------------------------------------------- the CLI, as a user runs it


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--epochs", "1000000"], "Epochs must be a whole number between 1 and 100000, not 1000000."),
        (["--seed", "99999999999999999999999"], f"between 0 and {MAX_SEED}"),
        (["--hidden", "65536,65536"], "A model of 8.6 billion parameters (32 GiB of weights)"),
        (["--hidden", "70000"], "between 1 and 65536"),
    ],
    ids=["epochs", "seed-overflow", "huge-model", "hidden-width"],
)
def test_out_of_range_train_options_are_one_line_naming_the_range(cli, tmp_path, args, needle, one_sentence):
    message = cli.user_error("train", "--out", tmp_path / "run", "--quiet", *args)
    one_sentence(message)
    assert needle in message
    assert not (tmp_path / "run").exists()


def test_an_export_seed_beyond_64_bits_is_one_line(cli, tmp_path, one_sentence):
    message = cli.user_error("export", tmp_path, "--samples", tmp_path / "s.png", "--seed", str(2**64))
    one_sentence(message)
    assert f"between 0 and {MAX_SEED}" in message


# ---------------------------------------------------------------------------- model size, before building


@pytest.mark.parametrize(
    ("cfg", "shape"),
    [
        (ModelConfig(), (1, 8, 8)),
        (ModelConfig(latent_dim=20, hidden=(400,)), (1, 28, 28)),
        (ModelConfig(latent_dim=3, hidden=(64, 32, 16)), (3, 5, 7)),
        (ModelConfig(likelihood="gaussian", hidden=(16,)), (1, 4, 4)),  # learns one log sigma
        (ModelConfig(likelihood="gaussian", sigma=0.5, hidden=(16,)), (1, 4, 4)),  # sigma is a buffer
        (ModelConfig(kind="conv", latent_dim=20, hidden=(256,)), (1, 28, 28)),
        (ModelConfig(kind="conv", latent_dim=2, hidden=(64, 32), likelihood="gaussian"), (3, 32, 32)),
        (ModelConfig(kind="conv", latent_dim=5, hidden=(8,), conv_layout="two-stage"), (3, 8, 12)),
        (ModelConfig(kind="conv", latent_dim=8, hidden=(32,)), (3, 100, 100)),
        (ModelConfig(kind="conv", latent_dim=8, hidden=(32,), likelihood="gaussian"), (1, 128, 128)),
    ],
    ids=["digits", "pytorch-examples", "deep-rgb-odd", "gaussian-learned", "gaussian-fixed", "conv-mnist",
         "conv-cifar", "conv-oblong-two-stage", "conv-100-rgb", "conv-128-grey"],
)
def test_parameter_count_matches_the_built_model(cfg, shape):
    assert parameter_count(cfg, shape) == sum(p.numel() for p in build_model(cfg, shape).parameters())


def test_a_model_too_large_to_train_is_refused_before_anything_is_allocated(one_sentence):
    cfg = ModelConfig(hidden=(65536, 65536))
    with pytest.raises(ConfigError) as info:
        build_model(cfg, (1, 8, 8))
    message = str(info.value)
    one_sentence(message)
    assert message.startswith("A model of 8.6 billion parameters (32 GiB of weights)")
    assert "--hidden" in message
    with pytest.raises(ConfigError):  # reopening a run builds its decoder through the same check
        build_decoder(cfg, (1, 8, 8), {})


def test_the_size_limit_counts_the_images_too():
    cfg = ModelConfig(hidden=(2048,))
    assert check_model_size(cfg, (1, 64, 64)) < MAX_PARAMETERS
    with pytest.raises(ConfigError, match="smaller images"):
        check_model_size(cfg, (3, 256, 256))


# ---------------------------------------------------------------------------- importance sampling, any K


def tiny_model(seed: int = 0):
    torch.manual_seed(seed)
    return build_model(ModelConfig(hidden=(8,), latent_dim=2), (1, 4, 4))


def tiny_images(n: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, 1, 4, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))


def record_decoded_rows(model) -> list[int]:
    rows: list[int] = []
    decode = model.decode

    def recording(z):
        rows.append(z.shape[0])
        return decode(z)

    model.decode = recording
    return rows


def fixed_noise(model, n_rows: int) -> None:
    """Replace the sampler by one that hands out rows of one fixed table in order: the estimate then
    depends on the chunking only through float rounding."""
    eps = torch.randn(n_rows, model.latent_dim, generator=torch.Generator().manual_seed(7))
    taken = [0]

    def reparameterize(mu, logvar, generator=None):
        n = math.prod(mu.shape[:-1])
        rows = eps[taken[0] : taken[0] + n].view(mu.shape)
        taken[0] += n
        return mu + torch.exp(0.5 * logvar) * rows

    model.reparameterize = reparameterize


def test_chunking_k_gives_the_unchunked_estimate():
    images = tiny_images(3)
    estimates = []
    for max_rows in (10**6, 7, 1):  # all at once; K in chunks of 7, 7, 6 per item; one row at a time
        model = tiny_model()
        fixed_noise(model, 3 * 20)
        rows = record_decoded_rows(model)
        estimates.append(importance_sampled_nll(model, images, samples=20, max_rows=max_rows))
        assert max(rows) <= max_rows and sum(rows) == 3 * 20
    assert estimates[1] == pytest.approx(estimates[0], rel=1e-6)
    assert estimates[2] == pytest.approx(estimates[0], rel=1e-6)


def test_a_large_k_computes_with_bounded_memory():
    model = tiny_model()
    rows = record_decoded_rows(model)
    nll = importance_sampled_nll(model, tiny_images(2), samples=50000)
    assert math.isfinite(nll) and nll > 0
    assert sum(rows) == 2 * 50000 and max(rows) <= 32768


def test_the_chunk_size_shrinks_with_the_image_size():
    torch.manual_seed(0)
    model = build_model(ModelConfig(hidden=(4,), latent_dim=2), (3, 128, 128))
    rows = record_decoded_rows(model)
    images = torch.zeros(1, 3, 128, 128, dtype=torch.uint8)
    assert math.isfinite(importance_sampled_nll(model, images, samples=2000))
    assert max(rows) * 3 * 128 * 128 <= 2**26  # the decoder's output per chunk stays within 256 MB


@pytest.mark.parametrize("k", [-1, MAX_IW_SAMPLES + 1, 100000000, True, 2.5])
def test_evaluate_refuses_a_sample_count_out_of_range_before_any_work(k, one_sentence):
    model = tiny_model()
    rows = record_decoded_rows(model)
    with pytest.raises(ConfigError) as info:
        evaluate(model, tiny_images(2), iw_samples=k)
    one_sentence(str(info.value))
    assert f"between 0 and {MAX_IW_SAMPLES}" in str(info.value)
    assert rows == []


def test_importance_sampling_needs_at_least_one_sample():
    with pytest.raises(ConfigError, match="between 1 and"):
        importance_sampled_nll(tiny_model(), tiny_images(2), samples=0)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from latentlab.core.trainer import train

    run_dir = tmp_path_factory.mktemp("tiny") / "run"
    cfg = RunConfig(model=ModelConfig(hidden=(8,)), train=TrainConfig(epochs=1, batch_size=512))
    list(train(cfg, run_dir=run_dir))
    return run_dir


def test_the_cli_refuses_absurd_importance_samples_in_one_line(cli, tiny_run, one_sentence):
    message = cli.user_error("evaluate", tiny_run, "--iw-samples", "100000000")
    one_sentence(message)
    assert f"between 0 and {MAX_IW_SAMPLES}" in message
