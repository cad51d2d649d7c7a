"""Every item of a run's dataset, the test items first, encoded to their posterior means in batches."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from latentlab.core.all_items import Cancelled, dataset_items, encode_means, encoder_from
from latentlab.core.config import DataConfig, ModelConfig, RunConfig
from latentlab.core.data import load_dataset, to_float
from latentlab.core.errors import DataError, LatentlabError
from latentlab.core.model import build_model


def _model(latent_dim=3):
    torch.manual_seed(0)
    return build_model(ModelConfig(hidden=(32,), latent_dim=latent_dim), (1, 8, 8)).eval()


def test_the_items_are_the_test_split_then_the_training_split(digits):
    items = dataset_items(RunConfig().to_dict())
    assert items.n_test == digits.n_test and items.n_train == digits.n_train
    assert torch.equal(items.test_images, digits.test_images) and torch.equal(items.train_images, digits.train_images)
    np.testing.assert_array_equal(items.labels, np.concatenate([digits.test_labels, digits.train_labels]))
    assert not items.labels.flags.writeable


def test_a_dynamically_binarized_run_encodes_one_fixed_binarization():
    config = RunConfig(data=DataConfig(binarize="dynamic")).to_dict()
    first, again = dataset_items(config), dataset_items(config)
    train = first.train_images
    assert set(torch.unique(train).tolist()) <= {0, 255} and torch.equal(train, again.train_images)
    assert torch.equal(first.test_images, load_dataset(DataConfig(binarize="dynamic")).test_images)


def test_posterior_means_match_the_model_whatever_the_batch(digits):
    model = _model()
    images = digits.train_images[:300]
    with torch.no_grad():
        expected = model.encode(to_float(images))[0].numpy()
    seen = []
    got = encode_means(model, images, torch.device("cpu"), batch=128, progress=lambda done, n: seen.append((done, n)))
    assert got.dtype == np.float32 and got.shape == (300, 3)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert seen == [(128, 300), (256, 300), (300, 300)]


def test_a_cancel_stops_between_batches(digits):
    cancel = threading.Event()

    def progress(done, n):
        cancel.set()  # asked to stop after the first batch

    with pytest.raises(Cancelled):
        encode_means(_model(), digits.train_images, torch.device("cpu"), batch=100, cancel=cancel, progress=progress)


def test_the_encoder_comes_from_a_snapshots_weights_and_a_decoder_alone_is_refused():
    model = _model()
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    cfg = {"hidden": [32], "latent_dim": 3}
    rebuilt = encoder_from({**ModelConfig(**{**cfg, "hidden": (32,)}).__dict__}, (1, 8, 8), state, torch.device("cpu"))
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(rebuilt.encode(x)[0], model.encode(x)[0])
    decoder_only = {k: v for k, v in state.items() if k.startswith("decoder.")}
    with pytest.raises(LatentlabError, match="keeps no encoder"):
        encoder_from(ModelConfig(hidden=(32,), latent_dim=3).__dict__, (1, 8, 8), decoder_only, torch.device("cpu"))


def test_a_dataset_not_on_this_machine_is_one_sentence(tmp_path):
    config = RunConfig(data=DataConfig(name="mnist", root=str(tmp_path / "nowhere"))).to_dict()
    with pytest.raises(DataError) as caught:
        dataset_items(config)
    assert "\n" not in str(caught.value)
