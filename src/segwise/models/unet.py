"""U-Net: the classic in-house encoder-decoder (Ronneberger et al., 2015), or smp's with any encoder.

``create_model("unet", C)`` (``encoder="classic"``) builds the in-house network: ``depth``
max-pool stages, each a double 3x3 convolution (with batch norm), widths
``base_width * 2**i``, a mirrored decoder with skip concatenation and a 1x1 classifier. It needs no
pretrained weights. Two deliberate departures from the paper: convolutions are zero-padded
("same"), so no border is lost and no tiling is needed, and batch norm follows each convolution
(``batch_norm=False`` removes it). ``bottleneck_dropout`` is the paper's dropout "at the end of
the contracting path"; ``dropout`` (every architecture has it) acts before the classifier.

Any other encoder (``"resnet34"``, ``"mobilenet_v2"``, ``"efficientnet-b0"``, ``"tu-..."``)
builds smp's ``Unet`` through :mod:`segwise.models.smp_adapter`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch
from torch import nn

from segwise.errors import InputError
from segwise.models._base import ClassifierHead, SegmentationModel, check_positive_int, check_probability
from segwise.models._registry import ArchEntry, register_arch
from segwise.models.padding import PadMode
from segwise.models.smp_adapter import build_smp_model, check_smp_encoder, smp_options

__all__ = ["CLASSIC_ENCODER", "UNet"]

CLASSIC_ENCODER = "classic"
CLASSIC_OPTIONS: dict[str, Any] = {
    "depth": 4,
    "base_width": 64,
    "batch_norm": True,
    "upsampling": "transposed",
    "bottleneck_dropout": 0.0,
}


class DoubleConv(nn.Sequential):
    """(3x3 conv -> [batch norm] -> ReLU) twice."""

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool) -> None:
        layers: list[nn.Module] = []
        for c_in in (in_channels, out_channels):
            layers.append(nn.Conv2d(c_in, out_channels, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class UNetEncoder(nn.Module):
    """The contracting path; returns the features of every stage, shallowest first."""

    def __init__(
        self, in_channels: int, widths: list[int], batch_norm: bool, bottleneck_dropout: float
    ) -> None:
        super().__init__()
        self.stem = DoubleConv(in_channels, widths[0], batch_norm)
        self.downs = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(2), DoubleConv(widths[i], widths[i + 1], batch_norm))
            for i in range(len(widths) - 1)
        )
        self.bottleneck_dropout = (
            nn.Dropout2d(bottleneck_dropout) if bottleneck_dropout > 0 else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = [self.stem(x)]
        for down in self.downs:
            features.append(down(features[-1]))
        features[-1] = self.bottleneck_dropout(features[-1])
        return features


class UpBlock(nn.Module):
    """Upsample x2 (transposed conv, or bilinear + 1x1 conv) to half the channels, concat skip, double conv."""

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool, upsampling: str) -> None:
        super().__init__()
        if upsampling == "transposed":
            self.up: nn.Module = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        else:
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(in_channels, out_channels, kernel_size=1),
            )
        self.conv = DoubleConv(2 * out_channels, out_channels, batch_norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([self.up(x), skip], dim=1))


class UNetDecoder(nn.Module):
    """The expanding path: one :class:`UpBlock` per encoder stage."""

    def __init__(self, widths: list[int], batch_norm: bool, upsampling: str) -> None:
        super().__init__()
        self.ups = nn.ModuleList(
            UpBlock(widths[i + 1], widths[i], batch_norm, upsampling)
            for i in reversed(range(len(widths) - 1))
        )

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = features[-1]
        for up, skip in zip(self.ups, reversed(features[:-1]), strict=True):
            x = up(x, skip)
        return x


class UNet(SegmentationModel):
    """The classic U-Net (in-house). Build it with ``create_model("unet", num_classes)``.

    Shape:
        - x: ``(N, in_channels, H, W)``, any H and W (padded to a multiple of ``2**depth``)
        - output: ``(N, num_classes, H, W)``
    """

    arch = "unet"

    def __init__(
        self,
        num_classes: int,
        *,
        in_channels: int = 3,
        depth: int = 4,
        base_width: int = 64,
        batch_norm: bool = True,
        upsampling: Literal["transposed", "bilinear"] = "transposed",
        bottleneck_dropout: float = 0.0,
        dropout: float = 0.0,
        pad_mode: PadMode = "reflect",
    ) -> None:
        check_positive_int("depth", depth)
        check_positive_int("base_width", base_width)
        if upsampling not in ("transposed", "bilinear"):
            raise InputError(
                f"Expected argument `upsampling` to be 'transposed' or 'bilinear', but got {upsampling!r}."
            )
        if not isinstance(batch_norm, bool):
            raise InputError(f"Expected argument `batch_norm` to be a bool, but got {batch_norm!r}.")
        check_probability("bottleneck_dropout", bottleneck_dropout)
        super().__init__(
            in_channels=in_channels, num_classes=num_classes, required_multiple=2**depth, pad_mode=pad_mode
        )
        widths = [base_width * 2**i for i in range(depth + 1)]
        self.encoder = UNetEncoder(in_channels, widths, batch_norm, bottleneck_dropout)
        self.decoder = UNetDecoder(widths, batch_norm, upsampling)
        self.head = ClassifierHead(widths[0], num_classes, dropout=dropout)
        self.pretrained_encoder: str | None = None

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.decoder(self.encoder(x)))


def _check_encoder(encoder: str) -> None:
    if encoder != CLASSIC_ENCODER:
        try:
            check_smp_encoder(encoder)
        except InputError as exc:
            raise InputError(f"{exc} For the in-house U-Net, use encoder={CLASSIC_ENCODER!r}.") from None


def _options_for(encoder: str) -> Mapping[str, Any]:
    return dict(CLASSIC_OPTIONS) if encoder == CLASSIC_ENCODER else smp_options("unet")


def _build(
    num_classes: int, *, encoder: str, in_channels: int, dropout: float, pad_mode: PadMode, **options: Any
) -> SegmentationModel:
    if encoder == CLASSIC_ENCODER:
        return UNet(num_classes, in_channels=in_channels, dropout=dropout, pad_mode=pad_mode, **options)
    return build_smp_model(
        "unet",
        num_classes,
        encoder=encoder,
        in_channels=in_channels,
        dropout=dropout,
        pad_mode=pad_mode,
        **options,
    )


register_arch(
    ArchEntry(
        name="unet",
        summary="U-Net: in-house classic (encoder='classic') or smp's with any smp/timm encoder",
        default_encoder=CLASSIC_ENCODER,
        check_encoder=_check_encoder,
        options_for=_options_for,
        build=_build,
    )
)
