"""SegNet and SegNet-Basic (Badrinarayanan, Kendall & Cipolla, 2017), in-house (smp has neither).

Both are encoder-decoders that upsample with max-unpooling at the positions recorded by the
encoder's max-pooling (``MaxPool2d(return_indices=True)`` / ``MaxUnpool2d``), instead of learned
upsampling or skip concatenation.

``segnet``: the encoder is the 13 convolutions of VGG16 with batch norm (five stages of 2, 2, 3,
3, 3 conv-BN-ReLU, each followed by a 2x2 max-pool), laid out exactly like torchvision's
``vgg16_bn().features``, so ``encoder_weights="imagenet"`` loads smp's ``vgg16_bn`` ImageNet
weights (as the paper initialised from VGG16). The decoder mirrors it: unpool, then
conv-BN-ReLU layers whose last one per stage halves the width. ``base_width`` scales every
width (64 is the paper's; ImageNet weights need 64).

``segnet_basic``: the paper's smaller SegNet-Basic: ``depth`` (4) encoder layers of one 7x7
convolution with ``width`` (64) channels, BN, ReLU and max-pool, and a decoder of unpool, 7x7
convolution and BN with no ReLU, as in the authors' Caffe model. (The Caffe model's local
response normalisation of the input is left out; normalise images in the data pipeline.)

Both end in segwise's 1x1 classifier head (the paper's last decoder conv outputs the classes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from segwise.errors import InputError
from segwise.models._base import ClassifierHead, SegmentationModel, check_positive_int
from segwise.models._registry import ArchEntry, register_arch
from segwise.models.padding import PadMode

__all__ = ["SegNet", "SegNetBasic"]

# torchvision's VGG16 configuration "D": channel counts and "M" for a max-pool.
_VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
SEGNET_ENCODER = "vgg16_bn"
BASIC_ENCODER = "basic"


class SegNetEncoder(nn.Module):
    """VGG16-BN features (``features.<i>`` keys as in torchvision); returns pooled features + indices."""

    def __init__(self, in_channels: int, base_width: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_channels
        self.stage_widths: list[int] = []
        for item in _VGG16:
            if item == "M":
                layers.append(nn.MaxPool2d(2, stride=2, return_indices=True))
                self.stage_widths.append(c_in)
                continue
            c_out = int(item) * base_width // 64
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
            c_in = c_out
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        indices: list[torch.Tensor] = []
        for layer in self.features:
            if isinstance(layer, nn.MaxPool2d):
                x, where = layer(x)
                indices.append(where)
            else:
                x = layer(x)
        return x, indices


class MaxUnpool2x(nn.Module):
    """``nn.MaxUnpool2d(2, 2)`` for outputs of exactly twice the input size, written as a scatter.

    Same result and gradient as ``F.max_unpool2d``; unlike it, it traces and exports to ONNX
    (PyTorch's max_unpool2d checks its output size with Python booleans that fail under tracing).
    """

    def forward(self, x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        out = x.new_zeros(n, c, 4 * h * w).scatter(2, indices.flatten(2), x.flatten(2))
        return out.view(n, c, 2 * h, 2 * w)


def _conv_bn(c_in: int, c_out: int, kernel: int, relu: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2), nn.BatchNorm2d(c_out)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return layers


class SegNetDecoder(nn.Module):
    """Mirror of :class:`SegNetEncoder`: per stage, unpool then conv-BN-ReLU layers."""

    def __init__(self, stage_widths: list[int], convs_per_stage: list[int]) -> None:
        super().__init__()
        self.unpool = MaxUnpool2x()
        stages = []
        widths = list(reversed(stage_widths))  # deepest first, e.g. 512, 512, 256, 128, 64
        for i, (width, n_convs) in enumerate(zip(widths, reversed(convs_per_stage), strict=True)):
            out = widths[i + 1] if i + 1 < len(widths) else width
            layers: list[nn.Module] = []
            for j in range(n_convs):
                layers += _conv_bn(width, out if j == n_convs - 1 else width, 3, relu=True)
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor, indices: list[torch.Tensor]) -> torch.Tensor:
        # Inputs are padded to a multiple of 2**stages, so every unpooling exactly doubles the size.
        for stage, where in zip(self.stages, reversed(indices), strict=True):
            x = stage(self.unpool(x, where))
        return x


class SegNet(SegmentationModel):
    """SegNet with a VGG16-BN encoder. Build it with ``create_model("segnet", num_classes)``.

    Shape:
        - x: ``(N, in_channels, H, W)``, any H and W (padded to a multiple of 32)
        - output: ``(N, num_classes, H, W)``
    """

    arch = "segnet"

    def __init__(
        self,
        num_classes: int,
        *,
        in_channels: int = 3,
        base_width: int = 64,
        dropout: float = 0.0,
        pad_mode: PadMode = "reflect",
    ) -> None:
        check_positive_int("base_width", base_width)
        super().__init__(
            in_channels=in_channels, num_classes=num_classes, required_multiple=32, pad_mode=pad_mode
        )
        self.encoder = SegNetEncoder(in_channels, base_width)
        self.decoder = SegNetDecoder(self.encoder.stage_widths, [2, 2, 3, 3, 3])
        self.head = ClassifierHead(self.encoder.stage_widths[0], num_classes, dropout=dropout)
        self.encoder_depth = 5
        # smp's vgg16_bn encoder has the same keys and shapes when base_width == 64.
        self.pretrained_encoder: str | None = SEGNET_ENCODER if base_width == 64 else None

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        features, indices = self.encoder(x)
        return self.head(self.decoder(features, indices))


class BasicEncoder(nn.Module):
    """SegNet-Basic encoder: ``depth`` x (7x7 conv, BN, ReLU, max-pool with indices)."""

    def __init__(self, in_channels: int, width: int, depth: int, kernel_size: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Sequential(*_conv_bn(in_channels if i == 0 else width, width, kernel_size, relu=True))
            for i in range(depth)
        )
        self.pool = nn.MaxPool2d(2, stride=2, return_indices=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        indices = []
        for layer in self.layers:
            x, where = self.pool(layer(x))
            indices.append(where)
        return x, indices


class BasicDecoder(nn.Module):
    """SegNet-Basic decoder: ``depth`` x (unpool, 7x7 conv, BN), no ReLU."""

    def __init__(self, width: int, depth: int, kernel_size: int) -> None:
        super().__init__()
        self.unpool = MaxUnpool2x()
        self.layers = nn.ModuleList(
            nn.Sequential(*_conv_bn(width, width, kernel_size, relu=False)) for _ in range(depth)
        )

    def forward(self, x: torch.Tensor, indices: list[torch.Tensor]) -> torch.Tensor:
        for layer, where in zip(self.layers, reversed(indices), strict=True):
            x = layer(self.unpool(x, where))
        return x


class SegNetBasic(SegmentationModel):
    """SegNet-Basic. Build it with ``create_model("segnet_basic", num_classes)``.

    Shape:
        - x: ``(N, in_channels, H, W)``, any H and W (padded to a multiple of ``2**depth``)
        - output: ``(N, num_classes, H, W)``
    """

    arch = "segnet_basic"

    def __init__(
        self,
        num_classes: int,
        *,
        in_channels: int = 3,
        width: int = 64,
        depth: int = 4,
        kernel_size: int = 7,
        dropout: float = 0.0,
        pad_mode: PadMode = "reflect",
    ) -> None:
        check_positive_int("width", width)
        check_positive_int("depth", depth)
        check_positive_int("kernel_size", kernel_size)
        if kernel_size % 2 == 0:
            raise InputError(f"Expected argument `kernel_size` to be odd, but got {kernel_size}.")
        super().__init__(
            in_channels=in_channels, num_classes=num_classes, required_multiple=2**depth, pad_mode=pad_mode
        )
        self.encoder = BasicEncoder(in_channels, width, depth, kernel_size)
        self.decoder = BasicDecoder(width, depth, kernel_size)
        self.head = ClassifierHead(width, num_classes, dropout=dropout)
        self.pretrained_encoder: str | None = None

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        features, indices = self.encoder(x)
        return self.head(self.decoder(features, indices))


def _fixed_encoder(arch: str, name: str) -> Any:
    def check(encoder: str) -> None:
        if encoder != name:
            raise InputError(
                f"{arch} has a fixed in-house encoder: pass encoder={name!r} (or leave it unset), "
                f"not {encoder!r}. For smp/timm encoders use unet, fcn, fpn, linknet, pspnet or deeplabv3plus."
            )

    return check


def _build_segnet(num_classes: int, *, encoder: str, **kwargs: Any) -> SegNet:
    return SegNet(num_classes, **kwargs)


def _build_basic(num_classes: int, *, encoder: str, **kwargs: Any) -> SegNetBasic:
    return SegNetBasic(num_classes, **kwargs)


def _segnet_options(encoder: str) -> Mapping[str, Any]:
    return {"base_width": 64}


def _basic_options(encoder: str) -> Mapping[str, Any]:
    return {"width": 64, "depth": 4, "kernel_size": 7}


register_arch(
    ArchEntry(
        name="segnet",
        summary="SegNet (in-house): VGG16-BN encoder, max-unpooling decoder",
        default_encoder=SEGNET_ENCODER,
        check_encoder=_fixed_encoder("segnet", SEGNET_ENCODER),
        options_for=_segnet_options,
        build=_build_segnet,
    )
)
register_arch(
    ArchEntry(
        name="segnet_basic",
        summary="SegNet-Basic (in-house): 4 x 64-channel 7x7 conv encoder/decoder, max-unpooling",
        default_encoder=BASIC_ENCODER,
        check_encoder=_fixed_encoder("segnet_basic", BASIC_ENCODER),
        options_for=_basic_options,
        build=_build_basic,
    )
)
