"""``create_model``: build any registered architecture by name, with validated options;
``model_from_checkpoint``: rebuild a trained one from a segwise checkpoint.

The architecture modules are imported here by name, so the registry is complete whatever the
caller imported before.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch

from segwise.data.spec import DatasetSpec
from segwise.errors import CheckpointError, InputError, did_you_mean
from segwise.models import fcn as _fcn  # noqa: F401  (registers "fcn")
from segwise.models import segnet as _segnet  # noqa: F401  (registers "segnet", "segnet_basic")
from segwise.models import smp_adapter as _smp_adapter  # noqa: F401  (registers the smp archs)
from segwise.models import unet as _unet  # noqa: F401  (registers "unet")
from segwise.models._base import SegmentationModel, check_positive_int, check_probability
from segwise.models._registry import get_arch, registered_archs
from segwise.models.checkpoint import check_checkpoint, checkpoint_spec, load_checkpoint, written_by
from segwise.models.padding import PAD_MODES, PadMode
from segwise.models.smp_adapter import pretrained_tags
from segwise.models.weights import load_encoder_weights, load_pretrained_encoder, resolve_encoder_weights
from segwise.version import __version__

__all__ = [
    "arch_options",
    "create_model",
    "freeze_encoder",
    "list_models",
    "model_from_checkpoint",
    "unfreeze_encoder",
]

# The order in which list_models() and `segwise models list` show the architectures.
_ORDER = ("unet", "fcn", "segnet", "segnet_basic", "deeplabv3plus", "fpn", "pspnet", "linknet")


def list_models() -> list[str]:
    """Names of the registered architectures.

    >>> list_models()
    ['unet', 'fcn', 'segnet', 'segnet_basic', 'deeplabv3plus', 'fpn', 'pspnet', 'linknet']
    """
    archs = registered_archs()
    return [n for n in _ORDER if n in archs] + [n for n in archs if n not in _ORDER]


def arch_options(arch: str, encoder: str | None = None) -> dict[str, Any]:
    """The options ``create_model(arch, ..., **options)`` accepts with ``encoder``, and their defaults.

    >>> arch_options("segnet_basic")
    {'width': 64, 'depth': 4, 'kernel_size': 7}
    """
    entry = get_arch(arch)
    encoder = entry.default_encoder if encoder is None else encoder
    entry.check_encoder(encoder)
    return dict(entry.options_for(encoder))


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def create_model(
    arch: str,
    num_classes: int,
    encoder: str | None = None,
    in_channels: int = 3,
    encoder_weights: str | None = None,
    dropout: float = 0.0,
    pad_mode: PadMode = "reflect",
    **arch_options: Any,
) -> SegmentationModel:
    """Build a segmentation model that maps ``(N, in_channels, H, W)`` images to ``(N, num_classes, H, W)`` logits.

    Args:
        arch: a name from :func:`list_models`: ``unet``, ``fcn``, ``segnet``, ``segnet_basic``,
            ``deeplabv3plus``, ``fpn``, ``pspnet``, ``linknet``.
        num_classes: number of output classes C.
        encoder: the backbone. ``None`` takes the architecture's default (``"classic"`` for
            ``unet``, ``"vgg16_bn"`` for ``fcn`` and ``segnet``, ``"basic"`` for ``segnet_basic``,
            ``"resnet34"`` for the smp architectures). ``unet``, ``fcn`` and the smp architectures
            take any smp encoder name or ``"tu-<timm model>"``.
        in_channels: channels of the input images.
        encoder_weights: ``None``/``"none"`` (random), a pretrained tag such as ``"imagenet"``
            (downloaded through smp/timm; offline this fails with an :class:`InputError` naming the
            remedy), or a local ``.pth``/``.safetensors`` file or segwise checkpoint (transfer
            learning; see :func:`segwise.models.load_encoder_weights`).
        dropout: probability of the ``Dropout2d`` just before the 1x1 classifier (every arch).
        pad_mode: how inputs are padded to the network's multiple: ``"reflect"`` (default),
            ``"replicate"`` or ``"zeros"``.
        **arch_options: architecture options; :func:`arch_options` lists them with their
            defaults. An unknown option raises :class:`InputError` listing the valid ones.

    Returns:
        A :class:`~segwise.models.SegmentationModel` whose ``config`` rebuilds it:
        ``create_model(**model.config)`` gives the same architecture (weights are not part of it).

    >>> import torch
    >>> model = create_model("unet", 5, base_width=8, depth=3)
    >>> tuple(model(torch.rand(1, 3, 37, 45)).shape)
    (1, 5, 37, 45)
    >>> create_model(**model.config).config == model.config
    True
    """
    entry = get_arch(arch)
    check_positive_int("num_classes", num_classes)
    check_positive_int("in_channels", in_channels)
    dropout = check_probability("dropout", dropout)
    if pad_mode not in PAD_MODES:
        raise InputError(f"Expected argument `pad_mode` to be one of {PAD_MODES}, but got {pad_mode!r}.")
    encoder = entry.default_encoder if encoder is None else encoder
    entry.check_encoder(encoder)
    valid = dict(entry.options_for(encoder))
    unknown = [k for k in arch_options if k not in valid]
    if unknown:
        hints = "".join(did_you_mean(k, list(valid)) for k in unknown)
        raise InputError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for arch {entry.name!r} with encoder "
            f"{encoder!r}; {hints}valid options: {', '.join(valid) or 'none'} (plus encoder, in_channels, "
            "encoder_weights, dropout, pad_mode)."
        )
    options = {**valid, **arch_options}
    kind, weights = resolve_encoder_weights(encoder_weights, pretrained_tags=pretrained_tags(encoder))
    model = entry.build(
        num_classes, encoder=encoder, in_channels=in_channels, dropout=dropout, pad_mode=pad_mode, **options
    )
    model.arch = entry.name
    model.config = {
        "arch": entry.name,
        "num_classes": num_classes,
        "encoder": encoder,
        "in_channels": in_channels,
        "dropout": dropout,
        "pad_mode": pad_mode,
        **_jsonable(options),
    }
    if kind == "tag":
        load_pretrained_encoder(model, weights)
    elif kind == "file":
        load_encoder_weights(model, weights)
    return model


def model_from_checkpoint(
    checkpoint: str | os.PathLike[str] | Mapping[str, Any],
    device: str | torch.device = "cpu",
    *,
    source: str | os.PathLike[str] | None = None,
) -> tuple[SegmentationModel, DatasetSpec]:
    """The model (eval mode, on ``device``) and the dataset spec of a segwise checkpoint.

    Args:
        checkpoint: the checkpoint file, or a dict from :func:`~segwise.models.checkpoint.load_checkpoint`.
        device: where the model goes.
        source: the file the dict came from, for messages (default: ``checkpoint`` if a path).

    Raises:
        CheckpointError: missing, truncated or foreign file; a checkpoint whose spec, model config or
            weights this segwise version cannot use.
    """
    if isinstance(checkpoint, Mapping):
        path = source if source is not None else "(in memory)"
        ckpt = check_checkpoint(checkpoint, path)
    else:
        path = checkpoint
        ckpt = load_checkpoint(checkpoint)
    spec = checkpoint_spec(ckpt, path)
    try:
        model = create_model(**ckpt["model_config"])
    except (InputError, TypeError) as exc:
        raise CheckpointError(
            f"checkpoint {path} (written by {written_by(ckpt)}): its model config does not build with segwise "
            f"{__version__}: {exc} Use the segwise version that wrote it."
        ) from None
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, TypeError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0][:300]
        raise CheckpointError(
            f"checkpoint {path} (written by {written_by(ckpt)}): its weights do not fit the architecture "
            f"{ckpt['model_config'].get('arch')!r} of segwise {__version__} ({first}). Use the segwise version "
            "that wrote it."
        ) from None
    if model.num_classes != spec.num_classes or model.in_channels != spec.in_channels:
        raise CheckpointError(
            f"checkpoint {path}: the model has {model.num_classes} classes and {model.in_channels} input channels "
            f"but its dataset spec has {spec.num_classes} and {spec.in_channels}; the checkpoint is inconsistent."
        )
    return model.to(device).eval(), spec


def _check_model(model: Any) -> SegmentationModel:
    if not isinstance(model, SegmentationModel):
        raise InputError(
            f"Expected argument `model` to be a segwise SegmentationModel (from create_model), "
            f"but got {type(model).__name__}."
        )
    return model


def freeze_encoder(model: SegmentationModel, train_bn: bool = False) -> SegmentationModel:
    """Freeze ``model``'s encoder (see :meth:`SegmentationModel.freeze_encoder`); returns ``model``."""
    _check_model(model).freeze_encoder(train_bn=train_bn)
    return model


def unfreeze_encoder(model: SegmentationModel) -> SegmentationModel:
    """Undo :func:`freeze_encoder`; returns ``model``."""
    _check_model(model).unfreeze_encoder()
    return model
