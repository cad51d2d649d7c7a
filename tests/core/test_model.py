"""The VAE: shapes through encode/decode/forward, the two likelihoods, the conv model's size rules
(every size it takes: test_conv_sizes.py)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from latentlab.core.config import ModelConfig, RunConfig, TrainConfig
from latentlab.core.errors import ConfigError
from latentlab.core.model import ConvVAE, MLPVAE, build_decoder, build_model


def linear_widths(seq: nn.Sequential) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in seq if isinstance(m, nn.Linear)]


@pytest.mark.parametrize("hidden", [(400,), (256, 128), (32,), (64, 32, 16)])
@pytest.mark.parametrize("latent_dim", [1, 2, 20])
def test_mlp_shapes_for_hidden_configs_and_latent_dims(hidden, latent_dim):
    model = build_model(ModelConfig(kind="mlp", latent_dim=latent_dim, hidden=hidden), (1, 28, 28))
    assert isinstance(model, MLPVAE)
    x = torch.rand(5, 1, 28, 28)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (5, latent_dim)
    out = model.decode(torch.randn(5, latent_dim))
    assert out.shape == (5, 1, 28, 28)
    recon, mu2, logvar2 = model(x)
    assert recon.shape == x.shape and mu2.shape == (5, latent_dim) and logvar2.shape == (5, latent_dim)
    # The encoder runs 784 -> hidden..., the decoder mirrors it back to 784.
    widths = [784, *hidden]
    assert linear_widths(model.encoder) == list(zip(widths[:-1], widths[1:]))
    back = [latent_dim, *reversed(hidden), 784]
    assert linear_widths(model.decoder) == list(zip(back[:-1], back[1:]))


def test_mlp_reference_model_matches_pytorch_examples_size():
    model = build_model(ModelConfig(latent_dim=20, hidden=(400,)), (1, 28, 28))
    # 784-400-(20, 20) encoder and 20-400-784 decoder, as in pytorch/examples vae/main.py.
    expected = (784 * 400 + 400) + 2 * (400 * 20 + 20) + (20 * 400 + 400) + (400 * 784 + 784)
    assert sum(p.numel() for p in model.parameters()) == expected


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
@pytest.mark.parametrize("latent_dim", [1, 2, 20])
def test_conv_shapes_on_mnist_and_cifar_sizes(shape, latent_dim):
    model = build_model(ModelConfig(kind="conv", latent_dim=latent_dim, hidden=(64,)), shape)
    assert isinstance(model, ConvVAE)
    x = torch.rand(3, *shape)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (3, latent_dim)
    assert model.decode(torch.randn(3, latent_dim)).shape == (3, *shape)
    recon, _, _ = model(x)
    assert recon.shape == x.shape


@pytest.mark.parametrize("shape", [(1, 26, 26), (3, 130, 130), (3, 4, 4), (1, 28, 26), (1, 8, 6)])
def test_conv_on_a_bad_size_is_a_config_error(shape, one_sentence):
    with pytest.raises(ConfigError) as info:
        build_model(ModelConfig(kind="conv"), shape)
    one_sentence(str(info.value))
    assert "--model mlp" in str(info.value)


def test_mlp_takes_any_image_size():
    model = build_model(ModelConfig(kind="mlp", hidden=(16,)), (3, 7, 5))
    assert model(torch.rand(2, 3, 7, 5))[0].shape == (2, 3, 7, 5)


def test_bernoulli_decoder_gives_logits_and_a_mean_in_unit_interval():
    torch.manual_seed(0)
    model = build_model(ModelConfig(likelihood="bernoulli", hidden=(16,)), (1, 8, 8))
    assert "log_sigma" not in dict(model.named_parameters())
    z = torch.randn(4, 2) * 5
    logits = model.decode(z)
    assert torch.equal(model.decode_mean(z), torch.sigmoid(logits))
    assert (logits < 0).any()  # raw logits, not probabilities


def test_gaussian_with_fixed_sigma_keeps_sigma_as_a_buffer():
    model = build_model(ModelConfig(likelihood="gaussian", sigma=0.25, hidden=(16,)), (1, 8, 8))
    assert "log_sigma" not in dict(model.named_parameters())
    assert "log_sigma" in dict(model.named_buffers())
    assert math.isclose(model.log_sigma.item(), math.log(0.25), rel_tol=1e-6)
    z = torch.randn(3, 2) * 10
    mean = model.decode_mean(z)
    assert torch.equal(mean, model.decode(z).clamp(0, 1))


def test_gaussian_with_learned_sigma_is_a_parameter():
    model = build_model(ModelConfig(likelihood="gaussian", sigma=None, hidden=(16,)), (1, 8, 8))
    params = dict(model.named_parameters())
    assert isinstance(params["log_sigma"], nn.Parameter) and params["log_sigma"].requires_grad
    assert model.log_sigma.item() == 0.0  # starts at sigma = 1


def test_learned_sigma_changes_with_training_and_fixed_sigma_does_not(tmp_path, digits):
    from latentlab.core.checkpoint import open_run
    from latentlab.core.trainer import train

    def trained(sigma, name):
        cfg = RunConfig(model=ModelConfig(likelihood="gaussian", sigma=sigma, hidden=(32,)),
                        train=TrainConfig(epochs=1, lr=1e-2))
        list(train(cfg, digits, run_dir=tmp_path / name))
        return open_run(tmp_path / name).load_model()

    learned = trained(None, "learned")
    assert learned.log_sigma.item() != 0.0
    assert isinstance(learned.log_sigma, nn.Parameter)
    fixed = trained(0.3, "fixed")
    assert math.isclose(fixed.log_sigma.item(), math.log(0.3), rel_tol=1e-6)


def test_reparameterize_is_reproducible_with_a_generator_and_collapses_at_zero_variance():
    model = build_model(ModelConfig(latent_dim=3, hidden=(8,)), (1, 4, 4))
    mu, logvar = torch.randn(6, 3), torch.zeros(6, 3)
    a = model.reparameterize(mu, logvar, torch.Generator().manual_seed(5))
    b = model.reparameterize(mu, logvar, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert not torch.equal(a, mu)
    assert torch.allclose(model.reparameterize(mu, torch.full_like(logvar, -60.0)), mu, atol=1e-10)
    # z - mu is the noise times sigma = exp(logvar / 2).
    eps = torch.randn(6, 3, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(model.reparameterize(mu, torch.full_like(logvar, 2.0), torch.Generator().manual_seed(5)),
                          mu + math.e * eps)


def test_build_decoder_from_decoder_state_decodes_like_the_model():
    cfg = ModelConfig(likelihood="gaussian", latent_dim=4, hidden=(32, 16))
    torch.manual_seed(1)
    model = build_model(cfg, (1, 8, 8))
    with torch.no_grad():
        model.log_sigma.fill_(-0.7)
    state = model.decoder_state()
    assert all(k.startswith("decoder.") or k == "log_sigma" for k in state)
    assert not any(k.startswith("encoder.") for k in state)
    torch.manual_seed(99)  # a different initialisation for the fresh model
    decoder = build_decoder(cfg, (1, 8, 8), state)
    assert not decoder.training
    z = torch.randn(5, 4)
    with torch.no_grad():
        assert torch.equal(decoder.decode(z), model.decode(z))
        assert decoder.log_sigma.item() == pytest.approx(-0.7)
    state["log_sigma"].fill_(3.0)  # a copy: changing it leaves the model alone
    assert model.log_sigma.item() == pytest.approx(-0.7)


@pytest.mark.parametrize(
    "kwargs",
    [{"latent_dim": 0}, {"latent_dim": -3}, {"hidden": ()}, {"hidden": (0,)}, {"kind": "rnn"},
     {"likelihood": "poisson"}, {"sigma": -1.0}, {"sigma": float("nan")}],
)
def test_nonsense_model_settings_are_config_errors(kwargs, one_sentence):
    with pytest.raises(ConfigError) as info:
        ModelConfig(**kwargs)
    one_sentence(str(info.value))
