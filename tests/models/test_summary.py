"""Parameter counts, the FLOPs estimate and ``segwise models list``."""

from __future__ import annotations

import torch

from segwise.cli import main
from segwise.models import count_parameters, create_model, estimate_flops, freeze_encoder, model_table


def _conv_flops(c_in: int, c_out: int, k: int, h: int, w: int) -> int:
    return 2 * c_in * c_out * k * k * h * w


def test_flops_of_segnet_basic_by_hand() -> None:
    model = create_model("segnet_basic", 5, width=8, depth=2, kernel_size=3)
    expected = (
        _conv_flops(3, 8, 3, 32, 32)  # encoder 1
        + _conv_flops(8, 8, 3, 16, 16)  # encoder 2
        + _conv_flops(8, 8, 3, 16, 16)  # decoder after unpool to 16x16
        + _conv_flops(8, 8, 3, 32, 32)  # decoder after unpool to 32x32
        + _conv_flops(8, 5, 1, 32, 32)  # 1x1 classifier
    )
    assert estimate_flops(model, (1, 3, 32, 32)) == expected
    # 30x30 is padded to 32x32 first: the estimate is of what actually runs
    assert estimate_flops(model, (1, 3, 30, 30)) == expected


def test_parameter_counts() -> None:
    model = create_model("segnet_basic", 5, width=8, depth=2, kernel_size=3)
    by_hand = (3 * 9 * 8 + 8) + (8 * 9 * 8 + 8) * 3 + 4 * 16 + (8 * 5 + 5)  # convs, 4 BNs, head
    assert count_parameters(model) == (by_hand, by_hand)
    freeze_encoder(model)
    encoder = sum(p.numel() for p in model.encoder.parameters())
    assert count_parameters(model) == (by_hand, by_hand - encoder)


def test_model_table_runs_on_meta_and_flags_unused_stages() -> None:
    rows = {
        r.arch: r
        for r in model_table(["pspnet", "segnet_basic"], encoder="resnet18", input_shape=(1, 3, 64, 64))
    }
    assert rows["pspnet"].params_used < rows["pspnet"].params  # resnet layer3/4 are never called
    assert rows["segnet_basic"].encoder == "basic"  # fixed encoder kept
    assert rows["segnet_basic"].params_used == rows["segnet_basic"].params
    assert rows["pspnet"].pretrained.startswith("imagenet")
    assert rows["segnet_basic"].pretrained == "none"
    assert all(r.gflops and r.gflops > 0 for r in rows.values())


def test_cli_models_list(capsys) -> None:
    assert main(["models", "list", "--arch", "segnet_basic", "--arch", "unet", "--size", "64x64"]) == 0
    out = capsys.readouterr().out
    assert "segnet_basic" in out and "classic" in out and "GFLOPs at 1x3x64x64" in out


def test_cli_models_list_errors(capsys) -> None:
    assert main(["models", "list", "--arch", "unte"]) == 2
    assert "did you mean 'unet'" in capsys.readouterr().err
    assert main(["models", "list", "--size", "64"]) == 2


def test_meta_build_allocates_nothing() -> None:
    with torch.device("meta"):
        model = create_model("segnet", 11)
    assert all(p.is_meta for p in model.parameters())
