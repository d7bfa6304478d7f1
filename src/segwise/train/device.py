"""The device and the autocast precision of a run (``train.device``, ``train.amp``).

:data:`AMP_MODES` is the registry of ``train.amp``; the config is checked against it when it is
loaded.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from segwise.errors import InputError, lookup


def select_device(name: str) -> torch.device:
    """``train.device``: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"train.device={name!r} but CUDA is not available; use 'auto' or 'cpu'.")
    return dev


def cpu_has_fast_bf16() -> bool:
    """True when oneDNN runs bf16 natively (AVX512-BF16 or AMX); emulated bf16 is much slower."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _auto_dtype(device: torch.device) -> torch.dtype | None:
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_fast_bf16() else None


# train.amp -> the autocast dtype on a device (None: fp32)
AMP_MODES: dict[str, Callable[[torch.device], torch.dtype | None]] = {
    "auto": _auto_dtype,
    "bf16": lambda device: torch.bfloat16,
    "fp16": lambda device: torch.float16,
    "none": lambda device: None,
}


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``train.amp`` (a key of :data:`AMP_MODES`), or None for fp32.

    ``auto``: bf16 on CUDA when supported (else fp16 with a GradScaler); on CPU bf16 only where the
    CPU has native bf16 (AVX512-BF16/AMX). On this project's AVX2 machines bf16 autocast measured
    10-20x *slower* than fp32 (docs/benchmarks.md), so ``auto`` keeps fp32 there.

    Example:
        >>> autocast_dtype("bf16", torch.device("cpu")), autocast_dtype("none", torch.device("cpu"))
        (torch.bfloat16, None)
    """
    return lookup(amp, AMP_MODES, "amp mode")(device)
