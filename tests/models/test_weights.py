"""Encoder weights: the offline 'imagenet' error, the download path (faked), local files, transfer."""

from __future__ import annotations

import json
import logging

import pytest
import segmentation_models_pytorch.encoders as smp_encoders
import torch
from safetensors.torch import save_file

from segwise.errors import CheckpointError, InputError
from segwise.models import create_model, load_encoder_weights
from segwise.models.segnet import SegNet

TINY_UNET = {"encoder": "resnet18", "decoder_channels": [16, 16, 8, 8, 8]}


def _offline(*args, **kwargs):
    raise ConnectionError("Name or service not known")


def test_imagenet_offline_names_the_remedy(monkeypatch) -> None:
    monkeypatch.setattr(smp_encoders, "hf_hub_download", _offline)
    with pytest.raises(InputError) as err:
        create_model("unet", 3, encoder_weights="imagenet", **TINY_UNET)
    message = str(err.value)
    assert "encoder_weights=None" in message and "--encoder-weights none" in message
    assert "ConnectionError" in message and "local" in message


def test_in_house_encoders_have_no_imagenet_weights() -> None:
    with pytest.raises(InputError, match="no downloadable 'imagenet' weights.*encoder_weights=None"):
        create_model("unet", 3, base_width=4, encoder_weights="imagenet")
    with pytest.raises(InputError, match="no downloadable"):
        create_model("segnet", 3, base_width=8, encoder_weights="imagenet")


def test_unknown_weights_string_is_an_error() -> None:
    with pytest.raises(
        InputError, match=r"neither a pretrained tag \(downloadable: 'imagenet', 'ssl', 'swsl'\)"
    ):
        create_model("unet", 3, encoder_weights="imagenet21k", **TINY_UNET)


def test_none_string_means_random() -> None:
    model = create_model("unet", 3, encoder_weights="none", **TINY_UNET)
    assert model.weights_source is None


def _fake_hub(tmp_path, state: dict[str, torch.Tensor]):
    weights = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(weights))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"mean": [0.5] * 3, "std": [0.5] * 3}))

    def download(repo_id, filename, revision=None, **kwargs):
        return str(weights if filename == "model.safetensors" else config)

    return download


def test_imagenet_download_path_loads_the_weights(tmp_path, monkeypatch) -> None:
    torch.manual_seed(5)
    hub_state = smp_encoders.get_encoder("resnet18", weights=None).state_dict()
    monkeypatch.setattr(smp_encoders, "hf_hub_download", _fake_hub(tmp_path, hub_state))
    model = create_model(
        "fpn", 3, encoder="resnet18", encoder_weights="imagenet", decoder_segmentation_channels=32
    )
    for key, value in hub_state.items():
        assert torch.equal(model.encoder.state_dict()[key], value), key
    assert model.weights_source == "resnet18:imagenet"
    assert "encoder_weights" not in model.config  # rebuilding from the config downloads nothing


def test_segnet_encoder_takes_smp_vgg16_bn_weights(tmp_path, monkeypatch) -> None:
    with torch.device("meta"):
        vgg = smp_encoders.get_encoder("vgg16_bn", weights=None).state_dict()
        segnet = SegNet(2).encoder.state_dict()
    assert {k: tuple(v.shape) for k, v in vgg.items()} == {k: tuple(v.shape) for k, v in segnet.items()}
    hub_state = {k: torch.full(v.shape, 0.25, dtype=v.dtype) for k, v in vgg.items()}
    monkeypatch.setattr(smp_encoders, "hf_hub_download", _fake_hub(tmp_path, hub_state))
    model = create_model("segnet", 2, encoder_weights="imagenet")
    assert all(torch.equal(v, hub_state[k]) for k, v in model.encoder.state_dict().items())


def test_safetensors_encoder_state_dict(tmp_path) -> None:
    encoder_state = smp_encoders.get_encoder("resnet18", weights=None).state_dict()
    path = tmp_path / "resnet18.safetensors"
    save_file(encoder_state, str(path))
    model = create_model("linknet", 3, encoder="resnet18", encoder_weights=path)
    report = model.weights_report
    assert report.kind == "encoder state dict" and report.complete
    assert torch.equal(model.encoder.conv1.weight, encoder_state["conv1.weight"])


def test_torchvision_classifier_weights_report_the_unused_fc(tmp_path, caplog) -> None:
    import torchvision

    state = torchvision.models.resnet18(weights=None).state_dict()
    path = tmp_path / "resnet18-torchvision.pth"
    torch.save(state, path)
    with caplog.at_level(logging.INFO, logger="segwise.models"):
        model = create_model("unet", 3, encoder_weights=str(path), **TINY_UNET)
    report = model.weights_report
    assert report.complete
    assert sorted(report.unexpected) == ["encoder.fc.bias", "encoder.fc.weight"]
    assert "unexpected (ignored): 2" in caplog.text


def test_shape_mismatches_are_reported_not_fatal(tmp_path, caplog) -> None:
    source = create_model("unet", 3, base_width=4, depth=2, in_channels=1)
    path = tmp_path / "gray.pt"
    torch.save({"model": source.state_dict(), "model_config": source.config}, path)
    with caplog.at_level(logging.WARNING, logger="segwise.models"):
        report = load_encoder_weights(create_model("unet", 5, base_width=4, depth=2), path)
    assert [key for key, _, _ in report.mismatched] == ["encoder.stem.0.weight"]
    assert report.mismatched[0][1:] == ((4, 1, 3, 3), (4, 3, 3, 3))
    assert not report.complete and "shape mismatch" in caplog.text
    assert "encoder.stem.0.weight" not in report.loaded


def test_nothing_fits_is_an_error(tmp_path) -> None:
    source = create_model("segnet_basic", 3, width=4)
    path = tmp_path / "basic.pt"
    torch.save({"model": source.state_dict(), "model_config": source.config}, path)
    with pytest.raises(CheckpointError, match="no tensor .* fits unet"):
        create_model("unet", 3, encoder_weights=str(path), **TINY_UNET)


def test_pickled_model_object_is_refused(tmp_path) -> None:
    path = tmp_path / "whole-model.pth"
    torch.save(torch.nn.Linear(2, 2), path)
    with pytest.raises(CheckpointError, match="save model.state_dict"):
        create_model("unet", 3, encoder_weights=str(path), **TINY_UNET)


def test_ddp_prefixes_are_stripped(tmp_path) -> None:
    source = create_model("unet", 3, **TINY_UNET)
    path = tmp_path / "ddp.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, path)
    report = create_model("unet", 4, encoder_weights=str(path), **TINY_UNET).weights_report
    assert report.complete and report.kind == "model state dict"


def test_transfer_across_architectures_with_the_same_encoder(tmp_path) -> None:
    source = create_model("fpn", 11, encoder="resnet18", decoder_segmentation_channels=32)
    path = tmp_path / "fpn-camvid.pt"
    torch.save({"model": source.state_dict(), "model_config": source.config}, path)
    model = create_model("linknet", 2, encoder="resnet18", encoder_weights=str(path))
    report = model.weights_report
    assert report.complete and report.source_config["arch"] == "fpn"
    assert torch.equal(model.encoder.layer4[1].conv2.weight, source.encoder.layer4[1].conv2.weight)
    assert "source model: arch='fpn' encoder='resnet18' num_classes=11" in report.summary()


def test_init_from_the_same_task_copies_the_head_too(tmp_path) -> None:
    """Fine-tuning a run on its own classes keeps the trained head; another class count does not."""
    torch.manual_seed(0)
    source = create_model("unet", 3, **TINY_UNET)
    path = tmp_path / "run.pt"
    torch.save({"model": source.state_dict(), "model_config": source.config}, path)

    torch.manual_seed(1)
    same = create_model("unet", 3, **TINY_UNET)
    report = load_encoder_weights(same, path, include_decoder=True)
    assert report.scope == "encoder+decoder+head" and not report.head_reinitialised
    assert "head: freshly initialised" not in report.summary()
    for key, value in source.state_dict().items():
        assert torch.equal(same.state_dict()[key], value), key
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(same.eval()(x), source.eval()(x))

    other = create_model("unet", 4, **TINY_UNET)
    fresh_head = {k: v.clone() for k, v in other.head.state_dict().items()}
    report = load_encoder_weights(other, path, include_decoder=True)
    assert report.scope == "encoder+decoder" and report.head_reinitialised
    assert all(torch.equal(other.head.state_dict()[k], v) for k, v in fresh_head.items())

    encoder_only = create_model("unet", 3, **TINY_UNET)
    assert load_encoder_weights(encoder_only, path).head_reinitialised
