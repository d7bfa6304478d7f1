"""Architectures from segmentation_models_pytorch (smp), wrapped as segwise models.

``deeplabv3plus``, ``fpn``, ``pspnet`` and ``linknet`` (and ``unet`` with an smp/timm encoder)
take smp's encoder and decoder as they are and replace smp's segmentation head by segwise's
:class:`~segwise.models._base.ClassifierHead` (dropout + 1x1 convolution + smp's upsampling
factor), so every model has the same head, the same padding and the same freezing.

The architecture options are the keyword arguments of the smp class, read from its signature, so
an option smp does not know fails before smp is called, with the list of valid ones.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import segmentation_models_pytorch as smp
import timm
import torch
from segmentation_models_pytorch.encoders import encoders as _SMP_ENCODERS
from torch import nn

from segwise.errors import InputError, did_you_mean
from segwise.models._base import ClassifierHead, SegmentationModel
from segwise.models._registry import ArchEntry, register_arch
from segwise.models.padding import PadMode

__all__ = [
    "SMP_ARCHS",
    "SmpModel",
    "build_smp_model",
    "check_smp_encoder",
    "pretrained_tags",
    "smp_options",
]

SMP_ARCHS: dict[str, type[nn.Module]] = {
    "unet": smp.Unet,
    "deeplabv3plus": smp.DeepLabV3Plus,
    "fpn": smp.FPN,
    "pspnet": smp.PSPNet,
    "linknet": smp.Linknet,
}
# Constructor arguments that segwise sets itself (or that make no sense for segmentation logits).
_SET_BY_SEGWISE = {
    "self",
    "encoder_name",
    "encoder_weights",
    "in_channels",
    "classes",
    "activation",
    "aux_params",
}


def _json_default(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def smp_options(arch: str) -> dict[str, Any]:
    """The options (name -> default) that the smp class of ``arch`` accepts.

    >>> smp_options("linknet")
    {'encoder_depth': 5, 'decoder_use_norm': 'batchnorm'}
    """
    params = inspect.signature(SMP_ARCHS[arch].__init__).parameters.values()
    return {
        p.name: _json_default(p.default)
        for p in params
        if p.name not in _SET_BY_SEGWISE and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    }


def check_smp_encoder(name: str) -> None:
    """Raise :class:`InputError` unless ``name`` is an smp encoder or ``tu-<timm model>``."""
    if not isinstance(name, str):
        raise InputError(f"Expected argument `encoder` to be a string, but got {name!r}.")
    if name.startswith("tu-"):
        timm_name = name[3:].split(".")[0]
        if not timm.is_model(timm_name):
            close = timm.list_models(f"*{timm_name[:4]}*")[:5] if len(timm_name) >= 4 else []
            raise InputError(
                f"unknown timm encoder {name!r}: timm has no model {timm_name!r}. "
                f"Similar timm models: {', '.join('tu-' + c for c in close) or 'none'}; "
                "see timm.list_models()."
            )
        return
    if name not in _SMP_ENCODERS:
        names = sorted(_SMP_ENCODERS)
        raise InputError(
            f"unknown encoder {name!r}; {did_you_mean(name, names)}smp encoders: {', '.join(names)}; "
            "or any timm model as 'tu-<name>' (e.g. 'tu-resnet18')."
        )


def pretrained_tags(encoder: str) -> tuple[str, ...]:
    """The pretrained weights smp can download for ``encoder`` (e.g. ``('imagenet', 'ssl', 'swsl')``)."""
    if encoder.startswith("tu-"):
        return ("imagenet",)
    if encoder in _SMP_ENCODERS:
        return tuple(_SMP_ENCODERS[encoder]["pretrained_settings"])
    return ()


class SmpModel(SegmentationModel):
    """An smp model's encoder and decoder with a segwise head (see the module docstring).

    ``encoder_depth`` and ``pretrained_encoder`` tell :mod:`segwise.models.weights` which smp
    encoder weights fit ``encoder``.
    """

    def __init__(
        self,
        arch: str,
        net: nn.Module,
        *,
        encoder: str,
        num_classes: int,
        in_channels: int,
        dropout: float,
        pad_mode: PadMode,
    ) -> None:
        smp_head = net.segmentation_head
        conv, upsample = smp_head[0], smp_head[1]
        upsampling = int(upsample.scale_factor) if isinstance(upsample, nn.Upsample) else 1
        super().__init__(
            in_channels=in_channels,
            num_classes=num_classes,
            required_multiple=int(net.encoder.output_stride),
            pad_mode=pad_mode,
        )
        self.arch = arch
        self.encoder = net.encoder
        self.decoder = net.decoder
        self.head = ClassifierHead(conv.in_channels, num_classes, dropout=dropout, upsampling=upsampling)
        self.encoder_depth = int(net.encoder._depth)
        self.pretrained_encoder: str | None = encoder

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.decoder(self.encoder(x)))


def build_smp_model(
    arch: str,
    num_classes: int,
    *,
    encoder: str,
    in_channels: int,
    dropout: float,
    pad_mode: PadMode,
    **options: Any,
) -> SmpModel:
    """Build smp's ``arch`` with random weights and wrap it as an :class:`SmpModel`."""
    check_smp_encoder(encoder)
    smp_cls = SMP_ARCHS[arch]
    try:
        net = smp_cls(
            encoder_name=encoder,
            encoder_weights=None,
            in_channels=in_channels,
            classes=num_classes,
            **options,
        )
    except (ValueError, TypeError, KeyError, AssertionError) as exc:
        shown = ", ".join(f"{k}={v!r}" for k, v in options.items()) or "no options"
        raise InputError(
            f"smp.{smp_cls.__name__} rejected encoder={encoder!r} with {shown}: {exc}. "
            f"Valid options for {arch!r}: {', '.join(smp_options(arch))}."
        ) from exc
    return SmpModel(
        arch,
        net,
        encoder=encoder,
        num_classes=num_classes,
        in_channels=in_channels,
        dropout=dropout,
        pad_mode=pad_mode,
    )


_SUMMARIES = {
    "deeplabv3plus": "DeepLabV3+ (smp): atrous spatial pyramid pooling + low-level skip, output stride 16",
    "fpn": "Feature Pyramid Network (smp): top-down pyramid, merged at stride 4",
    "pspnet": "PSPNet (smp): pyramid pooling on a 3-stage encoder (train with batch >= 2)",
    "linknet": "LinkNet (smp): light decoder with additive encoder skips",
}


def _register(arch: str) -> None:
    def build(num_classes: int, **kwargs: Any) -> SmpModel:
        return build_smp_model(arch, num_classes, **kwargs)

    def options_for(encoder: str) -> Mapping[str, Any]:
        return smp_options(arch)

    register_arch(
        ArchEntry(
            name=arch,
            summary=_SUMMARIES[arch],
            default_encoder="resnet34",
            check_encoder=check_smp_encoder,
            options_for=options_for,
            build=build,
        )
    )


for _arch in ("deeplabv3plus", "fpn", "pspnet", "linknet"):
    _register(_arch)
