"""FCN-8s (Long, Shelhamer & Darrell, 2015) on any smp/timm encoder (in-house; smp has no FCN).

The encoder's stride-32 features go through a "neck" standing in for the paper's fc6/fc7
(a 3x3 and a 1x1 convolution, ``fc_channels`` wide, with batch norm). The head is the FCN-8s
skip fusion: 1x1 score layers on the neck (stride 32) and on the encoder's stride-16 and stride-8
features; the stride-32 scores are upsampled x2 by a learnable transposed convolution
initialised to bilinear interpolation and added to the stride-16 scores, the sum is upsampled x2
the same way and added to the stride-8 scores, and a fixed bilinear x8 upsampling gives
full-resolution logits. The default encoder is ``vgg16_bn``, the paper's backbone (with batch norm).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from segmentation_models_pytorch.encoders import get_encoder
from torch import nn

from segwise.models._base import SegmentationModel, bilinear_kernel, check_positive_int
from segwise.models._registry import ArchEntry, register_arch
from segwise.models.padding import PadMode
from segwise.models.smp_adapter import check_smp_encoder

__all__ = ["FCN8s"]

FCN_OPTIONS: dict[str, Any] = {"fc_channels": 512}


class FCNNeck(nn.Sequential):
    """The fc6/fc7 stand-in: 3x3 conv -> BN -> ReLU -> 1x1 conv -> BN -> ReLU."""

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )


class FCN8sHead(nn.Module):
    """1x1 score layers at strides 32/16/8, fused by x2 learnable upsampling, then x8 bilinear."""

    def __init__(self, neck_channels: int, c16: int, c8: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.score32 = nn.Conv2d(neck_channels, num_classes, 1)
        self.score16 = nn.Conv2d(c16, num_classes, 1)
        self.score8 = nn.Conv2d(c8, num_classes, 1)
        self.up32 = nn.ConvTranspose2d(num_classes, num_classes, 4, stride=2, padding=1, bias=False)
        self.up16 = nn.ConvTranspose2d(num_classes, num_classes, 4, stride=2, padding=1, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for score in (self.score32, self.score16, self.score8):
            nn.init.xavier_uniform_(score.weight)
            nn.init.zeros_(score.bias)
        for up in (self.up32, self.up16):
            with torch.no_grad():
                up.weight.copy_(bilinear_kernel(up.in_channels, 4))

    def forward(self, neck: torch.Tensor, f16: torch.Tensor, f8: torch.Tensor) -> torch.Tensor:
        scores = self.up32(self.score32(self.dropout(neck))) + self.score16(f16)
        scores = self.up16(scores) + self.score8(f8)
        return F.interpolate(scores, scale_factor=8, mode="bilinear", align_corners=False)


class FCN8s(SegmentationModel):
    """FCN-8s on an smp/timm encoder. Build it with ``create_model("fcn", num_classes)``.

    Shape:
        - x: ``(N, in_channels, H, W)``, any H and W (padded to a multiple of 32)
        - output: ``(N, num_classes, H, W)``
    """

    arch = "fcn"

    def __init__(
        self,
        num_classes: int,
        *,
        encoder: str = "vgg16_bn",
        in_channels: int = 3,
        fc_channels: int = 512,
        dropout: float = 0.0,
        pad_mode: PadMode = "reflect",
    ) -> None:
        check_smp_encoder(encoder)
        check_positive_int("fc_channels", fc_channels)
        enc = get_encoder(encoder, in_channels=in_channels, depth=5, weights=None)
        super().__init__(
            in_channels=in_channels, num_classes=num_classes, required_multiple=32, pad_mode=pad_mode
        )
        self.encoder = enc
        channels = list(enc.out_channels)
        self.decoder = FCNNeck(channels[-1], fc_channels)
        self.head = FCN8sHead(fc_channels, channels[-2], channels[-3], num_classes, dropout)
        self.encoder_depth = 5
        self.pretrained_encoder: str | None = encoder

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        features = self.encoder(x)
        return self.head(self.decoder(features[-1]), features[-2], features[-3])


def _build(num_classes: int, *, encoder: str, **kwargs: Any) -> FCN8s:
    return FCN8s(num_classes, encoder=encoder, **kwargs)


def _options_for(encoder: str) -> Mapping[str, Any]:
    return dict(FCN_OPTIONS)


register_arch(
    ArchEntry(
        name="fcn",
        summary="FCN-8s (in-house): score layers at strides 32/16/8 fused by upsample + add",
        default_encoder="vgg16_bn",
        check_encoder=check_smp_encoder,
        options_for=_options_for,
        build=_build,
    )
)
