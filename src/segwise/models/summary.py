"""Model size: parameter counts and a FLOPs estimate, and the table of ``segwise models list``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["ModelInfo", "count_parameters", "estimate_flops", "model_table", "used_parameter_count"]


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """``(total, trainable)`` numbers of parameters.

    >>> count_parameters(nn.Conv2d(3, 4, 1))
    (16, 16)
    """
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


def used_parameter_count(model: nn.Module, input_shape: tuple[int, int, int, int] = (1, 3, 64, 64)) -> int:
    """Parameters of the modules that one forward pass actually runs.

    Some smp encoders keep stages their architecture never calls (``pspnet`` uses 3 of a ResNet's
    5 stages); their parameters count in :func:`count_parameters` but not here.

    >>> used_parameter_count(nn.Sequential(nn.Conv2d(3, 4, 1)), (1, 3, 8, 8))
    16
    """
    called: set[int] = set()
    hooks = [m.register_forward_pre_hook(lambda mod, args: called.add(id(mod))) for m in model.modules()]
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(input_shape, device=device))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return sum(p.numel() for m in model.modules() if id(m) in called for p in m.parameters(recurse=False))


def estimate_flops(model: nn.Module, input_shape: tuple[int, int, int, int] = (1, 3, 360, 480)) -> int:
    """Floating-point operations of one forward pass at ``input_shape``, by ``torch.utils.flop_counter``.

    Counts matrix multiplications and convolutions (2 FLOPs per multiply-accumulate), at the padded
    size the network actually runs at; elementwise operations, pooling and normalisation are not
    counted. A model on the ``meta`` device is counted without computing anything.

    >>> estimate_flops(nn.Conv2d(3, 4, 1), (1, 3, 8, 8))
    1536
    """
    from torch.utils.flop_counter import FlopCounterMode

    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    x = torch.zeros(input_shape, device=device)
    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


@dataclass(frozen=True)
class ModelInfo:
    """One row of ``segwise models list``."""

    arch: str
    encoder: str
    params: int
    params_used: int
    gflops: float | None
    pretrained: str  # downloadable encoder weights, e.g. "imagenet, ssl, swsl", or "none"
    summary: str
    options: dict[str, Any]


def model_table(
    archs: list[str] | None = None,
    *,
    encoder: str | None = None,
    num_classes: int = 11,
    input_shape: tuple[int, int, int, int] = (1, 3, 360, 480),
    flops: bool = True,
) -> list[ModelInfo]:
    """Build each architecture (random weights, on the meta device: no memory, no compute) and measure it.

    Args:
        archs: architectures to list (default: all, in :func:`~segwise.models.list_models` order).
        encoder: an encoder for the architectures that take one (default: each one's default);
            architectures with a fixed in-house encoder keep theirs.
        num_classes: classes of the head (it changes the counts slightly).
        input_shape: ``(N, C, H, W)`` of the FLOPs estimate; ``C`` is the models' ``in_channels``.
        flops: also estimate FLOPs.
    """
    from segwise.errors import InputError
    from segwise.models._registry import get_arch
    from segwise.models.factory import create_model, list_models
    from segwise.models.smp_adapter import pretrained_tags

    rows = []
    for arch in archs or list_models():
        entry = get_arch(arch)
        enc = entry.default_encoder
        if encoder is not None:
            try:
                entry.check_encoder(encoder)
                enc = encoder
            except InputError:
                if arch not in ("segnet", "segnet_basic"):
                    raise
        with torch.device("meta"):
            model = create_model(arch, num_classes, encoder=enc, in_channels=input_shape[1])
        total, _ = count_parameters(model)
        used = used_parameter_count(model, input_shape)
        gflops = estimate_flops(model, input_shape) / 1e9 if flops else None
        options = {
            k: v
            for k, v in model.config.items()
            if k not in ("arch", "num_classes", "encoder", "in_channels")
        }
        source = getattr(model, "pretrained_encoder", None)
        pretrained = ", ".join(pretrained_tags(source)) if source else "none"
        rows.append(ModelInfo(arch, enc, total, used, gflops, pretrained, entry.summary, options))
    return rows
