"""create_model: registry, option validation, config round trip, padding, architecture details."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from segwise.errors import InputError
from segwise.models import arch_options, create_model, freeze_encoder, list_models
from segwise.models.padding import crop_to, pad_amounts, pad_to_multiple


def test_list_models_is_the_issue_set() -> None:
    assert list_models() == [
        "unet",
        "fcn",
        "segnet",
        "segnet_basic",
        "deeplabv3plus",
        "fpn",
        "pspnet",
        "linknet",
    ]


def test_unknown_arch_lists_the_valid_ones() -> None:
    with pytest.raises(InputError, match=r"did you mean 'segnet'\?.*available: .*deeplabv3plus"):
        create_model("segnte", 3)


def test_unknown_option_lists_the_valid_ones() -> None:
    with pytest.raises(
        InputError, match=r"'base_widht'.*did you mean 'base_width'\?.*valid options: depth, base_width"
    ):
        create_model("unet", 3, base_widht=8)
    # the smp U-Net takes smp's options, not the classic ones
    with pytest.raises(InputError, match="decoder_channels"):
        create_model("unet", 3, encoder="resnet18", base_width=8)


def test_unknown_encoder_and_fixed_encoders() -> None:
    with pytest.raises(InputError, match=r"did you mean 'resnet18'\?"):
        create_model("fpn", 3, encoder="resnt18")
    with pytest.raises(InputError, match="timm has no model"):
        create_model("fpn", 3, encoder="tu-not_a_model")
    with pytest.raises(InputError, match="fixed in-house encoder"):
        create_model("segnet", 3, encoder="resnet18")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_classes": 0}, "num_classes"),
        ({"num_classes": 2.5}, "num_classes"),
        ({"dropout": 1.0}, "dropout"),
        ({"in_channels": 0}, "in_channels"),
        ({"pad_mode": "circular"}, "pad_mode"),
        ({"upsampling": "nearest"}, "upsampling"),
        ({"depth": 0}, "depth"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, match) -> None:
    args = {"num_classes": 3, "base_width": 4, **kwargs}
    with pytest.raises(InputError, match=match):
        create_model("unet", **args)


def test_smp_rejections_become_input_errors() -> None:
    with pytest.raises(InputError, match=r"smp.FPN rejected .*divisible"):
        create_model("fpn", 3, encoder="resnet18", decoder_segmentation_channels=20)


def test_config_is_json_and_complete() -> None:
    model = create_model("unet", 4, encoder="resnet18", decoder_channels=(16, 16, 8, 8, 8), dropout=0.1)
    config = json.loads(json.dumps(model.config))
    assert config["decoder_channels"] == [16, 16, 8, 8, 8]
    assert config == {
        "arch": "unet",
        "num_classes": 4,
        "encoder": "resnet18",
        "in_channels": 3,
        "dropout": 0.1,
        "pad_mode": "reflect",
        **{**json.loads(json.dumps(arch_options("unet", "resnet18"))), "decoder_channels": [16, 16, 8, 8, 8]},
    }
    assert create_model(**config).config == config


def test_arch_options_defaults() -> None:
    assert arch_options("unet") == {
        "depth": 4,
        "base_width": 64,
        "batch_norm": True,
        "upsampling": "transposed",
        "bottleneck_dropout": 0.0,
    }
    assert arch_options("deeplabv3plus", "resnet18")["encoder_output_stride"] == 16


def test_classic_unet_is_the_paper_size() -> None:
    # Ronneberger et al.: 64 -> 1024 channels over 4 poolings, ~31M parameters (here with batch norm)
    with torch.device("meta"):
        model = create_model("unet", 2)
    assert model.required_multiple == 16
    assert 30e6 < sum(p.numel() for p in model.parameters()) < 32e6


def test_segnet_sizes_match_the_paper() -> None:
    with torch.device("meta"):
        segnet = create_model("segnet", 11)
        basic = create_model("segnet_basic", 11)
    convs = [m for m in segnet.encoder.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 13  # VGG16's 13 convolutions
    assert 29.0e6 < sum(p.numel() for p in segnet.parameters()) < 29.6e6  # paper: 29.5M
    assert [m.kernel_size for m in basic.encoder.modules() if isinstance(m, nn.Conv2d)] == [(7, 7)] * 4
    assert 1.3e6 < sum(p.numel() for p in basic.parameters()) < 1.5e6  # paper: 1.425M


def test_segnet_unpools_at_the_pooling_indices() -> None:
    model = create_model("segnet_basic", 2, width=4, depth=1, kernel_size=1).eval()
    x = torch.randn(1, 3, 4, 4)
    features, indices = model.encoder(x)
    indices = indices[0]
    unpooled = model.decoder.unpool(features, indices)
    nonzero = (unpooled != 0).sum(dim=(-1, -2))
    assert torch.all(nonzero <= 4)  # one value per 2x2 window, at the max's position
    assert torch.equal(unpooled.flatten(2).gather(2, indices.flatten(2)), features.flatten(2))
    assert torch.equal(unpooled, torch.nn.functional.max_unpool2d(features, indices, 2))


@pytest.mark.filterwarnings("ignore")  # the TorchScript exporter's deprecation and folding notes
def test_segnet_exports_to_onnx() -> None:
    import io

    import onnxruntime

    model = create_model("segnet_basic", 2, width=4, depth=2).eval()
    x = torch.randn(1, 3, 13, 10)
    buffer = io.BytesIO()
    torch.onnx.export(model, (x,), buffer, dynamo=False, input_names=["x"])
    (got,) = onnxruntime.InferenceSession(buffer.getvalue()).run(None, {"x": x.numpy()})
    with torch.no_grad():
        assert torch.allclose(torch.from_numpy(got), model(x), atol=1e-5)


def test_bottleneck_dropout_is_stochastic_in_train_mode() -> None:
    model = create_model("unet", 2, base_width=4, depth=2, bottleneck_dropout=0.5).train()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert not torch.equal(model(x), model(x))


@pytest.mark.parametrize("encoder", ["mobilenet_v2", "efficientnet-b0", "tu-mobilenetv3_small_050"])
def test_smp_and_timm_encoders_beyond_resnet(encoder: str) -> None:
    """smp's own encoders and timm's through smp's ``tu-`` prefix, from scratch, at an odd size."""
    model = create_model("unet", 3, encoder=encoder, decoder_channels=[16, 16, 8, 8, 8]).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 37, 45)).shape == (1, 3, 37, 45)
    freeze_encoder(model).train()
    assert model.encoder_frozen and not any(p.requires_grad for p in model.encoder.parameters())
    assert any(p.requires_grad for p in model.parameters())


def test_freeze_rejects_other_modules() -> None:
    with pytest.raises(InputError, match="SegmentationModel"):
        freeze_encoder(nn.Conv2d(1, 1, 1))


# ---------------------------------------------------------------------- padding
def test_pad_amounts_and_crop_invert() -> None:
    assert pad_amounts(360, 480, 32) == (0, 0, 12, 12)
    assert pad_amounts(584, 565, 32) == (5, 6, 12, 12)
    x = torch.randn(1, 2, 37, 45)
    for mode in ("reflect", "replicate", "zeros"):
        padded, pads = pad_to_multiple(x, 16, mode)
        assert padded.shape[-2:] == (48, 48)
        assert torch.equal(crop_to(padded, pads, 37, 45), x)


def test_reflect_falls_back_to_replicate_on_tiny_images() -> None:
    x = torch.arange(4.0).reshape(1, 1, 2, 2)
    padded, _ = pad_to_multiple(x, 16, "reflect")  # 7 rows of padding on a 2-row image
    assert padded.shape[-2:] == (16, 16)
    assert padded[0, 0, 0, 0] == 0.0 and padded[0, 0, -1, -1] == 3.0


@pytest.mark.parametrize(("height", "width"), [(360, 480), (584, 565)])
def test_dataset_sizes_from_the_issue(height: int, width: int) -> None:
    model = create_model("segnet_basic", 2, width=4, depth=5).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, height, width)).shape == (1, 2, height, width)
