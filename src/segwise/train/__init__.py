"""Training: config dataclasses, the loop, checkpoints, schedules, ``train --auto``.

The names below load their module on first use, so ``import segwise.train`` does not import torch.

>>> from segwise.train import load_config
>>> load_config(None, ["train.epochs=3"]).train.epochs
3
"""

from segwise.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    "segwise.train",
    {
        "Config": "segwise.train.config",
        "load_config": "segwise.train.config",
        "train": "segwise.train.loop",
        "run_auto": "segwise.train.auto",
        "run_comparison": "segwise.train.variants",
        "calibrate_checkpoint": "segwise.train.calibrate",
    },
)
