"""Training: config dataclasses, the loop, checkpoints, schedules, ``train --auto``.

The names below load their module on first use, so ``import segwise.train`` does not import torch.

>>> from segwise.train import load_config
>>> load_config(None, ["train.epochs=3"]).train.epochs
3
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Config": "segwise.train.config",
    "load_config": "segwise.train.config",
    "train": "segwise.train.loop",
    "run_auto": "segwise.train.auto",
    "run_comparison": "segwise.train.compare",
    "calibrate_checkpoint": "segwise.train.calibrate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'segwise.train' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
