"""The conv VAE on bigger images: square sides 28 to 128, grey or RGB, its depth chosen from the side.

Every side round-trips to exactly (C, H, W); 28x28 and 32x32 are still the very model saved
runs hold (names, shapes, initial weights); runs saved before the depth rule, at any size the
two-stage model took, open and resume as they were; a 64x64 RGB image folder trains end to end.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from latentlab.core.checkpoint import open_run
from latentlab.core.config import CONV_SIDES, ModelConfig, RunConfig, TrainConfig
from latentlab.core.errors import ConfigError
from latentlab.core.evaluate import _rows_per_chunk
from latentlab.core.model import (
    VAE, activation, build_decoder, build_model, conv_depth, conv_plan, parameter_count,
)
from latentlab.core.trainer import train

SIDES = range(CONV_SIDES[0], CONV_SIDES[1] + 1)


def conv(**kw) -> ModelConfig:
    return ModelConfig(kind="conv", **kw)


# ---------------------------------------------------------------------------- every side, every depth


def test_every_side_from_28_to_128_grey_and_rgb_round_trips_to_its_exact_shape():
    # On the meta device: shapes and parameter counts of all 202 models, no arithmetic.
    for side in SIDES:
        for c in (1, 3):
            shape = (c, side, side)
            cfg = conv(latent_dim=3, hidden=(8,))
            with torch.device("meta"):
                model = build_model(cfg, shape)
                mu, logvar = model.encode(torch.empty(2, *shape))
                out = model.decode(torch.empty(2, 3))
            assert mu.shape == logvar.shape == (2, 3), shape
            assert out.shape == (2, *shape), shape
            assert parameter_count(cfg, shape) == sum(p.numel() for p in model.parameters()), shape


@pytest.mark.parametrize("side", [28, 29, 33, 36, 50, 64, 71, 72, 100, 127, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_odd_and_even_sides_encode_and_decode_real_batches(side, channels):
    torch.manual_seed(0)
    shape = (channels, side, side)
    model = build_model(conv(latent_dim=4, hidden=(16,)), shape)
    x = torch.rand(2, *shape)
    recon, mu, logvar = model(x)
    assert mu.shape == logvar.shape == (2, 4)
    assert recon.shape == x.shape
    assert model.decode_mean(torch.randn(3, 4)).shape == (3, *shape)


@pytest.mark.parametrize(
    ("side", "stages", "last"),
    [(28, 2, 7), (32, 2, 8), (35, 2, 8), (36, 3, 4), (64, 3, 8), (71, 3, 8), (72, 4, 4), (100, 4, 6), (128, 4, 8)],
)
def test_the_depth_halves_the_side_until_the_feature_map_is_8_px_or_less(side, stages, last):
    plan = conv_plan(conv(), (3, side, side))
    assert conv_depth(side) == plan.stages == stages
    assert plan.sides[-1] == (last, last)
    assert plan.channels == (3, 32, 64, 128, 256)[: stages + 1]  # doubling from 32 with each stage


def test_every_side_ends_in_a_feature_map_of_4_to_8_px():
    for side in SIDES:
        plan = conv_plan(conv(), (1, side, side))
        assert 4 <= plan.sides[-1][0] <= 8, side
        assert [h for h, _ in plan.sides] == [side >> i for i in range(plan.stages + 1)]


def test_odd_sides_get_their_lost_row_back_as_output_padding():
    model = build_model(conv(hidden=(8,)), (1, 100, 100))  # 100 -> 50 -> 25 -> 12 -> 6
    ups = [m for m in model.decoder if isinstance(m, nn.ConvTranspose2d)]
    assert [m.output_padding for m in ups] == [(0, 0), (1, 1), (0, 0), (0, 0)]  # 6 -> 12 -> 25 -> 50 -> 100
    assert [(m.in_channels, m.out_channels) for m in ups] == [(256, 128), (128, 64), (64, 32), (32, 1)]


def test_a_128_px_grey_model_trains_a_step_on_a_batch_of_two():
    torch.manual_seed(0)
    model = build_model(conv(latent_dim=8, hidden=(32,)), (1, 128, 128))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(2, 1, 128, 128)
    out, mu, logvar = model(x)
    loss = nn.functional.binary_cross_entropy_with_logits(out, x) + mu.pow(2).mean() + logvar.exp().mean()
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    before = model.encoder[0].weight.detach().clone()
    optimizer.step()
    assert not torch.equal(before, model.encoder[0].weight)
    assert out.shape == x.shape


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 64, 32), (1, 256, 256), (1, 12, 20)])
def test_sizes_the_depth_rule_is_not_for_keep_the_two_stages_the_conv_model_always_had(shape):
    """The 8x8 digits, non-square folders, sides past 128: two stages, as before, where the sides allow."""
    model = build_model(conv(hidden=(16,)), shape)
    assert conv_plan(conv(), shape).stages == 2
    assert model(torch.rand(2, *shape))[0].shape == (2, *shape)


@pytest.mark.parametrize("shape", [(1, 27, 27), (3, 129, 129), (3, 4, 4), (1, 28, 26), (1, 8, 6), (1, 30, 18)])
def test_sizes_neither_rule_takes_are_refused_naming_both(shape, one_sentence):
    with pytest.raises(ConfigError) as info:
        build_model(conv(), shape)
    message = str(info.value)
    one_sentence(message)
    assert "square" in message and "28 to 128" in message and "--model mlp" in message
    assert f"{shape[1]}x{shape[2]}" in message


def test_the_mlp_still_takes_any_size():
    model = build_model(ModelConfig(kind="mlp", hidden=(8,)), (3, 20, 9))
    assert model(torch.rand(2, 3, 20, 9))[0].shape == (2, 3, 20, 9)


# ---------------------------------------------------------------------------- today's models, unchanged


class TodaysConvVAE(VAE):
    """latentlab's conv model before the depth rule, as it was written then (two stages, any side
    divisible by 4): the reference the new code must match at 28 and 32."""

    def __init__(self, cfg: ModelConfig, image_shape: tuple[int, int, int]):
        super().__init__(cfg, image_shape)
        c, h, w = image_shape
        fh, fw = h // 4, w // 4
        width = cfg.hidden[0] if cfg.hidden else 256
        self.encoder = nn.Sequential(
            nn.Conv2d(c, 32, 4, stride=2, padding=1), activation(cfg),
            nn.Conv2d(32, 64, 4, stride=2, padding=1), activation(cfg),
            nn.Flatten(),
            nn.Linear(64 * fh * fw, width), activation(cfg),
        )
        self.fc_mu = nn.Linear(width, cfg.latent_dim)
        self.fc_logvar = nn.Linear(width, cfg.latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(cfg.latent_dim, width), activation(cfg),
            nn.Linear(width, 64 * fh * fw), activation(cfg),
            nn.Unflatten(1, (64, fh, fw)),
            nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), activation(cfg),
            nn.ConvTranspose2d(32, c, 4, stride=2, padding=1),
        )


def _layout(c: int, flat: int) -> dict[str, tuple[int, ...]]:
    """The state dict of the default conv model (--hidden 400, latent 2), as captured before the change."""
    return {
        "log_sigma": (), "encoder.0.weight": (32, c, 4, 4), "encoder.0.bias": (32,),
        "encoder.2.weight": (64, 32, 4, 4), "encoder.2.bias": (64,),
        "encoder.5.weight": (400, flat), "encoder.5.bias": (400,),
        "fc_mu.weight": (2, 400), "fc_mu.bias": (2,), "fc_logvar.weight": (2, 400), "fc_logvar.bias": (2,),
        "decoder.0.weight": (400, 2), "decoder.0.bias": (400,), "decoder.2.weight": (flat, 400),
        "decoder.2.bias": (flat,), "decoder.5.weight": (64, 32, 4, 4), "decoder.5.bias": (32,),
        "decoder.7.weight": (32, c, 4, 4), "decoder.7.bias": (c,),
    }


@pytest.mark.parametrize(("shape", "flat"), [((1, 28, 28), 64 * 7 * 7), ((3, 32, 32), 64 * 8 * 8)])
def test_28_grey_and_32_rgb_keep_todays_parameter_names_and_shapes(shape, flat):
    state = build_model(conv(), shape).state_dict()
    assert list(state) == list(_layout(shape[0], flat))
    assert {k: tuple(v.shape) for k, v in state.items()} == _layout(shape[0], flat)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
@pytest.mark.parametrize("cfg", [conv(), conv(latent_dim=20, hidden=(64,), likelihood="gaussian", activation="tanh")])
def test_28_grey_and_32_rgb_are_todays_model_down_to_the_seeded_weights(shape, cfg):
    torch.manual_seed(7)
    today = TodaysConvVAE(cfg, shape)
    torch.manual_seed(7)
    now = build_model(cfg, shape)
    old_state, new_state = today.state_dict(), now.state_dict()
    assert {k: v.shape for k, v in old_state.items()} == {k: v.shape for k, v in new_state.items()}
    assert all(torch.equal(old_state[k], new_state[k]) for k in old_state)  # same layers made in the same order
    x = torch.rand(3, *shape)
    with torch.no_grad():
        assert torch.equal(today(x, torch.Generator().manual_seed(1))[0], now(x, torch.Generator().manual_seed(1))[0])
    assert str(today.encoder) == str(now.encoder) and str(today.decoder) == str(now.decoder)


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 64, 64), (3, 8, 12), (1, 128, 96)])
def test_the_two_stage_layout_is_todays_model_at_the_other_sizes_it_took(shape):
    cfg = conv(latent_dim=3, hidden=(16,), conv_layout="two-stage")
    torch.manual_seed(3)
    today = TodaysConvVAE(cfg, shape)
    torch.manual_seed(3)
    now = build_model(cfg, shape)
    old_state, new_state = today.state_dict(), now.state_dict()
    assert list(old_state) == list(new_state)
    assert all(old_state[k].shape == new_state[k].shape and torch.equal(old_state[k], new_state[k]) for k in old_state)
    assert parameter_count(cfg, shape) == sum(p.numel() for p in now.parameters())


def _todays_rows_per_chunk(model) -> int:
    c, h, w = model.image_shape
    per_row = 4 * c * h * w + 2 * sum(model.cfg.hidden) + 4 * model.latent_dim
    per_row += 2 * (32 * h * w // 4 + 64 * h * w // 16)
    return max(1, min(32768, (1 << 22) // per_row))


def test_the_evaluation_chunks_count_every_stage_and_keep_todays_at_28_and_32():
    for shape in ((1, 28, 28), (3, 32, 32)):
        model = build_model(conv(hidden=(16,)), shape)
        assert _rows_per_chunk(model) == _todays_rows_per_chunk(model)  # so recorded NLLs reproduce exactly
    model = build_model(conv(hidden=(16,)), (3, 128, 128))
    maps = 32 * 64 * 64 + 64 * 32 * 32 + 128 * 16 * 16 + 256 * 8 * 8
    assert _rows_per_chunk(model) == (1 << 22) // (4 * 3 * 128 * 128 + 2 * 16 + 4 * 2 + 2 * maps)
    assert _rows_per_chunk(model) < _todays_rows_per_chunk(model)  # the two-stage term undercounts four stages


# ---------------------------------------------------------------------------- runs saved before the rule


def _drop_conv_layout(run_dir) -> None:
    """Make run.json what latentlab wrote before ``conv_layout`` existed."""
    meta = json.loads((run_dir / "run.json").read_text())
    del meta["config"]["model"]["conv_layout"]
    (run_dir / "run.json").write_text(json.dumps(meta))


def test_a_conv_run_saved_before_the_rule_opens_and_resumes_as_the_two_stage_model(tmp_path, digits):
    # Digits are 8x8: the old conv model took them; a new conv run refuses them.
    old = RunConfig(model=conv(hidden=(16,), conv_layout="two-stage"), train=TrainConfig(epochs=1, batch_size=256))
    list(train(old, digits, run_dir=tmp_path / "old"))
    _drop_conv_layout(tmp_path / "old")
    run = open_run(tmp_path / "old")
    assert run.config.model.conv_layout == "two-stage" and run.image_shape == (1, 8, 8)
    model = run.load_model()
    assert model.decode(torch.zeros(1, 2)).shape == (1, 1, 8, 8)
    assert model.encoder[5].in_features == 64 * 2 * 2  # two stages: 8 -> 4 -> 2
    events = list(train(run.config.with_changes(train={"epochs": 2}), digits, run_dir=tmp_path / "old", resume=True))
    assert type(events[-1]).__name__ == "RunFinished"
    assert open_run(tmp_path / "old").epoch == 2
    # Resumed, it is the run trained straight through: the same model, bit for bit.
    list(train(old.with_changes(train={"epochs": 2}), digits, run_dir=tmp_path / "straight"))
    a, b = open_run(tmp_path / "old").load_model().state_dict(), open_run(tmp_path / "straight").load_model().state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_new_conv_run_on_8x8_digits_trains_with_two_stages_as_before(tmp_path, digits):
    list(train(RunConfig(model=conv(hidden=(16,)), train=TrainConfig(epochs=1)), digits, run_dir=tmp_path / "r"))
    run = open_run(tmp_path / "r")
    assert run.config.model.conv_layout == "by-size" and conv_plan(run.config.model, run.image_shape).stages == 2


def test_saved_settings_without_a_layout_mean_two_stages_only_for_conv_runs():
    assert RunConfig.from_saved({"model": {"kind": "conv"}}).model.conv_layout == "two-stage"
    assert RunConfig.from_saved({"model": {"kind": "mlp"}}).model == ModelConfig()
    assert RunConfig.from_saved({"model": {"kind": "conv", "conv_layout": "by-size"}}).model.conv_layout == "by-size"
    # At 28 and 32 the two layouts are one model.
    for shape in ((1, 28, 28), (3, 32, 32)):
        assert conv_plan(conv(conv_layout="two-stage"), shape) == conv_plan(conv(), shape)


def test_an_unknown_layout_is_a_config_error(one_sentence):
    with pytest.raises(ConfigError) as info:
        conv(conv_layout="deep")
    one_sentence(str(info.value))


# ---------------------------------------------------------------------------- a 64x64 RGB folder, end to end


def write_rgb_folder(root, side: int = 64, per_class: int = 20) -> None:
    """Two classes of small RGB images: reddish squares in a/, bluish discs in b/."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:side, :side]
    disc = (yy - side / 2) ** 2 + (xx - side / 2) ** 2 < (side / 3) ** 2
    for label, cls in enumerate(("a", "b")):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            img = rng.integers(0, 60, (side, side, 3), dtype=np.uint8)
            mask = disc if label else (abs(yy - side / 2) < side / 4) & (abs(xx - side / 2) < side / 4)
            img[mask, 2 * label] = 150 + 4 * i
            Image.fromarray(img, "RGB").save(root / cls / f"{i}.png")


def test_a_64px_rgb_folder_trains_through_the_cli_and_its_run_decodes_64x64x3(tmp_path, capsys):
    from latentlab.cli import main

    write_rgb_folder(tmp_path / "faces")
    out = tmp_path / "run"
    code = main(["train", "--out", str(out), "--dataset", "folder", "--data-dir", str(tmp_path / "faces"), "--rgb",
                 "--model", "conv", "--hidden", "32", "--latent-dim", "4", "--batch-size", "16", "--epochs", "1",
                 "--likelihood", "gaussian", "--sigma", "0.2", "--quiet"])
    assert code == 0, capsys.readouterr().err
    run = open_run(out)
    assert run.image_shape == (3, 64, 64) and run.classes == ("a", "b")
    assert run.config.model.conv_layout == "by-size"
    model = run.load_model()
    assert sum(isinstance(m, nn.Conv2d) for m in model.encoder) == 3  # 64 -> 32 -> 16 -> 8
    snap = run.load_epoch_snapshot()
    assert snap.probe_recons.shape[1:] == (3, 64, 64)
    decoder = build_decoder(run.config.model, run.image_shape,
                            {k: torch.from_numpy(np.array(v)) for k, v in snap.decoder_state.items()})
    with torch.no_grad():
        images = decoder.decode_mean(torch.from_numpy(np.array(snap.latents[:5])))
    assert images.shape == (5, 3, 64, 64) and 0 <= images.min() and images.max() <= 1


def test_a_folder_of_small_images_with_the_conv_model_is_one_line(tmp_path, capsys):
    from latentlab.cli import main

    write_rgb_folder(tmp_path / "small", side=18, per_class=3)  # not square-in-range, not divisible by 4
    code = main(["train", "--out", str(tmp_path / "run"), "--dataset", "folder", "--data-dir", str(tmp_path / "small"),
                 "--rgb", "--model", "conv", "--epochs", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "18x18" in err and "28 to 128" in err and "--image-size" in err


def test_train_help_states_the_sizes_the_depths_and_the_memory(capsys):
    from latentlab.cli import main

    with pytest.raises(SystemExit) as info:
        main(["train", "--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "conv: square images 28 to 128 px a side, grey or RGB" in text
    assert "64: 3, 128: 4" in text and "390 MiB at 32, 64 and 128 px" in text
