"""Pad an image batch to a multiple of the network's stride, and crop the logits back.

Every segwise model accepts any input height and width: ``SegmentationModel.forward`` pads the
input to ``required_multiple`` with :func:`pad_to_multiple` and crops the logits back with
:func:`crop_to`. The padding is split between the two borders of each axis (top/bottom,
left/right; the odd pixel goes to the bottom/right), so the image stays centred in the padded
canvas and every border gets a similar amount of context.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from segwise.errors import InputError

PadMode = Literal["reflect", "replicate", "zeros"]
PAD_MODES: tuple[str, ...] = ("reflect", "replicate", "zeros")

__all__ = ["PAD_MODES", "PadMode", "crop_to", "pad_amounts", "pad_to_multiple"]


def pad_amounts(height: int, width: int, multiple: int) -> tuple[int, int, int, int]:
    """Return ``(left, right, top, bottom)``, the padding that makes both sides a multiple.

    >>> pad_amounts(360, 480, 32)
    (0, 0, 12, 12)
    >>> pad_amounts(37, 45, 16)
    (1, 2, 5, 6)
    """
    pad_h = -height % multiple
    pad_w = -width % multiple
    top, left = pad_h // 2, pad_w // 2
    return left, pad_w - left, top, pad_h - top


def pad_to_multiple(
    x: torch.Tensor, multiple: int, mode: PadMode = "reflect"
) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Pad ``x`` so that its height and width are multiples of ``multiple``.

    ``"reflect"`` mirrors the image at its borders (no repeated edge row). Reflection needs the
    padding on a side to be smaller than the image along that axis; for tiny images where it is
    not, ``"replicate"`` (repeat the edge pixel) is used instead. ``"zeros"`` pads with 0.

    Shape:
        - x: ``(N, C, H, W)``
        - output: ``(N, C, H', W')`` with ``H' % multiple == 0 == W' % multiple``

    >>> y, pads = pad_to_multiple(torch.zeros(1, 3, 37, 45), 16)
    >>> tuple(y.shape), pads
    ((1, 3, 48, 48), (1, 2, 5, 6))
    """
    if mode not in PAD_MODES:
        raise InputError(f"Expected argument `pad_mode` to be one of {PAD_MODES}, but got {mode!r}.")
    height, width = x.shape[-2:]
    pads = pad_amounts(int(height), int(width), multiple)
    if not any(pads):
        return x, pads
    if mode == "zeros":
        return F.pad(x, pads, mode="constant", value=0.0), pads
    if mode == "reflect" and max(pads[0], pads[1]) < width and max(pads[2], pads[3]) < height:
        return F.pad(x, pads, mode="reflect"), pads
    return F.pad(x, pads, mode="replicate"), pads


def crop_to(x: torch.Tensor, pads: tuple[int, int, int, int], height: int, width: int) -> torch.Tensor:
    """Undo :func:`pad_to_multiple`: cut ``x`` back to ``height`` x ``width``.

    >>> y, pads = pad_to_multiple(torch.arange(6.0).reshape(1, 1, 2, 3), 4)
    >>> crop_to(y, pads, 2, 3).flatten().tolist()
    [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    """
    left, _, top, _ = pads
    return x[..., top : top + height, left : left + width]
