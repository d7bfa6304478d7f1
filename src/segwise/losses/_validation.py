"""Input checks shared by every loss: shapes, dtypes, target values, ignore index, class weights."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from segwise.errors import InputError

__all__ = ["Prepared", "as_class_weights", "check_ignore_index", "prepare"]


def _describe(x: torch.Tensor) -> str:
    return f"{str(x.dtype).replace('torch.', '')} {tuple(x.shape)}"


def check_ignore_index(ignore_index: Any) -> int | None:
    """Return ``ignore_index`` if it is None or an int, else raise :class:`InputError`."""
    if ignore_index is None:
        return None
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise InputError(
            f"Expected argument `ignore_index` to be an integer or None, but got {ignore_index!r}."
        )
    return int(ignore_index)


def as_class_weights(class_weights: Any) -> torch.Tensor | None:
    """Validate ``class_weights`` (a sequence or 1-D tensor of C non-negative finite numbers)."""
    if class_weights is None:
        return None
    if isinstance(class_weights, torch.Tensor):
        weights = class_weights.detach().to(torch.float64)
    elif isinstance(class_weights, Sequence) and not isinstance(class_weights, str):
        try:
            weights = torch.tensor([float(w) for w in class_weights], dtype=torch.float64)
        except (TypeError, ValueError):
            raise InputError(
                f"Expected argument `class_weights` to be a sequence of numbers, but got {class_weights!r}."
            ) from None
    else:
        raise InputError(
            "Expected argument `class_weights` to be a sequence or 1-D tensor of per-class weights, "
            f"but got {type(class_weights).__name__}."
        )
    if weights.ndim != 1 or weights.numel() == 0:
        raise InputError(
            f"`class_weights` must be 1-D with one weight per class, got shape {tuple(weights.shape)}."
        )
    if not bool(torch.isfinite(weights).all()) or bool((weights < 0).any()) or float(weights.sum()) <= 0:
        raise InputError(
            f"`class_weights` must be finite, non-negative and not all zero, got {weights.tolist()}."
        )
    return weights.to(torch.float32)


class Prepared:
    """Validated inputs in the working precision.

    Attributes:
        logits: ``(N, C, H, W)`` in float32 (float64 stays float64).
        target: ``(N, H, W)`` int64 with ignored pixels replaced by 0 (safe for gathers).
        valid: ``(N, H, W)`` bool, False where the target equals ``ignore_index``.
        weights: ``(C,)`` class weights in the logits' dtype, or None.
    """

    __slots__ = ("logits", "target", "valid", "weights", "num_classes")

    def __init__(
        self, logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, weights: torch.Tensor | None
    ) -> None:
        self.logits = logits
        self.target = target
        self.valid = valid
        self.weights = weights
        self.num_classes = int(logits.shape[1])

    def pixel_weights(self) -> torch.Tensor:
        """``(N, H, W)`` weight of each pixel: its class weight (or 1), 0 where ignored."""
        valid = self.valid.to(self.logits.dtype)
        if self.weights is None:
            return valid
        return self.weights[self.target] * valid


def prepare(
    logits: Any,
    target: Any,
    *,
    ignore_index: int | None,
    class_weights: torch.Tensor | None = None,
    check_targets: bool = True,
) -> Prepared:
    """Validate a loss's inputs and return them ready for the maths.

    Raises :class:`InputError` naming the argument for: non-tensors, logits that are not float
    ``(N,C,H,W)`` with C >= 2, targets that are not integer ``(N,H,W)`` of the same N, H, W,
    different devices, class weights of the wrong length and (with ``check_targets``) target values
    outside ``[0, C)`` that are not ``ignore_index``. That last check reads one value back from the
    device (a sync); turn it off with ``check_targets=False`` once the data pipeline is trusted.
    """
    if not isinstance(logits, torch.Tensor):
        raise InputError(f"`logits` must be a torch.Tensor (N,C,H,W), got {type(logits).__name__}.")
    if not isinstance(target, torch.Tensor):
        raise InputError(
            f"`target` must be a torch.Tensor (N,H,W) of class ids, got {type(target).__name__}."
        )
    if not logits.is_floating_point() or logits.ndim != 4:
        raise InputError(
            f"`logits` must be float scores of shape (N,C,H,W), got {_describe(logits)}. "
            "Pass the raw model output (before softmax/argmax)."
        )
    if logits.shape[1] < 2:
        raise InputError(
            f"`logits` must have at least 2 classes (softmax losses), got {_describe(logits)}. "
            "For a binary task, output 2 channels (background, foreground)."
        )
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        hint = " If it is one-hot (N,C,H,W), pass target.argmax(1)." if target.ndim == 4 else ""
        raise InputError(
            f"`target` must hold integer class ids (N,H,W), got {_describe(target)}.{hint} "
            "If it holds whole numbers, cast it with target.long()."
        )
    n, c, h, w = logits.shape
    if tuple(target.shape) != (n, h, w):
        hint = (
            " Remove the channel dimension with target.squeeze(1)."
            if target.ndim == 4 and target.shape[1] == 1
            else ""
        )
        raise InputError(
            f"`target` must have shape (N,H,W) = {(n, h, w)} to match `logits` {_describe(logits)}, "
            f"got {_describe(target)}.{hint}"
        )
    if target.device != logits.device:
        raise InputError(
            f"`target` is on {target.device} but `logits` on {logits.device}; move them to one device."
        )
    if class_weights is not None and class_weights.numel() != c:
        raise InputError(
            f"`class_weights` has {class_weights.numel()} entries but `logits` has C={c} classes."
        )
    target = target.long()
    valid = target != ignore_index if ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
    if check_targets and target.numel():
        bad = valid & ((target < 0) | (target >= c))
        if bool(bad.any()):  # device sync: one boolean read back, only to give a clear error
            values = torch.unique(target[bad])[:10].tolist()
            raise InputError(
                f"`target` holds class ids outside [0, {c}) that are not ignore_index={ignore_index}: "
                f"{values}. Check num_classes / the label mapping, or set ignore_index for void pixels."
            )
    dtype = logits.dtype if logits.dtype == torch.float64 else torch.float32
    safe_target = torch.where(valid, target, torch.zeros_like(target))
    weights = class_weights.to(device=logits.device, dtype=dtype) if class_weights is not None else None
    return Prepared(logits.to(dtype), safe_target, valid, weights)


def finite_mean_denominator(x: torch.Tensor) -> torch.Tensor:
    """``x`` clamped away from 0, so that an empty sum divides to 0 instead of NaN."""
    return x.clamp_min(torch.finfo(x.dtype).tiny)


def check_nonnegative(name: str, value: Any, *, positive: bool = False) -> float:
    """Return ``value`` as float if it is a finite number >= 0 (> 0 with ``positive``)."""
    ok = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(float(value))
    if not ok or float(value) < 0 or (positive and float(value) == 0):
        bound = "> 0" if positive else ">= 0"
        raise InputError(f"Expected argument `{name}` to be a finite number {bound}, but got {value!r}.")
    return float(value)
