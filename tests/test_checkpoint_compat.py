"""Checkpoints users already have keep working: tests/fixtures/checkpoint_v0.pt, written by the
checkpoint writer of segwise 0.1.0 (see tests/fixtures/make_checkpoint_v0.py), loads through the
current reader, predicts the same logits, and ``segwise export``/``predict`` accept it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from segwise.cli import main
from segwise.data.readers import read_mask
from segwise.demo_data import CLASS_NAMES, make_shapes_dataset
from segwise.infer import Predictor
from segwise.models import create_model, load_encoder_weights, model_from_checkpoint
from segwise.models.checkpoint import RESUME_KEYS, load_checkpoint
from segwise.train.config import config_from_dict

V0 = Path(__file__).parent / "fixtures" / "checkpoint_v0.pt"
# logits of the fixture's model at pixel (5, 7) of a seeded (1, 3, 37, 53) input, recorded with the v0 reader
V0_LOGITS = [0.0224428, 0.0059518, 0.0034304, 0.0230221, -0.0378767, -0.0329252]


@pytest.fixture(scope="module")
def v0(tmp_path_factory) -> Path:
    """A copy, so that no test can change the committed file."""
    return Path(shutil.copyfile(V0, tmp_path_factory.mktemp("v0") / "best.pt"))


def test_the_fixture_is_small_and_complete():
    assert V0.stat().st_size < 200_000
    ckpt = load_checkpoint(V0, needs=RESUME_KEYS)  # everything --resume reads
    assert ckpt["format"] == "segwise.checkpoint/1" and ckpt["segwise_version"] == "0.1.0"
    for key in (
        "model",
        "train_model",
        "ema_updates",
        "optimizer",
        "optimizer_stage",
        "rng",
        "config",
        "spec",
        "class_names",
        "model_config",
        "epoch",
        "step",
        "best_miou",
        "stage",
        "finished",
    ):
        assert key in ckpt, key
    assert config_from_dict(ckpt["config"]).model.arch == "unet"


def test_loads_and_predicts_the_recorded_logits(v0):
    model, spec = model_from_checkpoint(v0)
    assert spec.class_names == CLASS_NAMES and spec.num_classes == 6 and spec.in_channels == 3
    assert not model.training
    x = torch.randn(1, 3, 37, 53, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = model(x)
    assert logits.shape == (1, 6, 37, 53)
    np.testing.assert_allclose(logits[0, :, 5, 7].numpy(), V0_LOGITS, atol=1e-5)
    prediction = Predictor.from_checkpoint(v0, tile=32).predict(np.zeros((40, 50, 3), np.uint8))
    assert prediction.index.shape == (40, 50) and prediction.index.max() < 6


def test_the_saved_weights_are_the_ema_average(v0):
    model, _ = model_from_checkpoint(v0)
    ckpt = load_checkpoint(v0)
    for key, value in model.state_dict().items():
        assert torch.equal(value, ckpt["model"][key]), key


def test_init_from_reads_it(v0):
    model = create_model("unet", 6, encoder="classic", base_width=4, depth=2)
    report = load_encoder_weights(model, v0, include_decoder=True)
    assert report.kind == "segwise checkpoint" and report.complete and not report.head_reinitialised


def test_cli_export_and_predict_accept_it(v0, tmp_path):
    images = make_shapes_dataset(tmp_path / "shapes", num_images=2, height=32, width=48, seed=3) / "images"
    onnx = tmp_path / "v0.onnx"
    assert main(["export", "--checkpoint", str(v0), "--out", str(onnx)]) == 0
    for source in (["--checkpoint", str(v0)], ["--onnx", str(onnx)]):
        out = tmp_path / source[0].strip("-")
        assert main(["predict", *source, "--input", str(images), "--out", str(out), "--save", "index"]) == 0
        masks = sorted((out / "index").iterdir())
        assert len(masks) == 2
        assert all(read_mask(m).shape == (32, 48) and read_mask(m).max() < 6 for m in masks)
