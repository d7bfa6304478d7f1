"""Using a finished run: rebuild its model from a checkpoint and evaluate it on a split."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from segwise.errors import InputError
from segwise.metrics import ConfusionMatrix
from segwise.models.checkpoint import load_checkpoint
from segwise.train.config import config_from_dict


def load_model(
    checkpoint: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The model of a segwise checkpoint, in eval mode, and the checkpoint dict (with its training config)."""
    from segwise.models import model_from_checkpoint

    ckpt = load_checkpoint(checkpoint, needs=("config",))
    model, _ = model_from_checkpoint(ckpt, device, source=checkpoint)
    return model, ckpt


def evaluate_checkpoint(
    checkpoint: str | os.PathLike[str],
    split: str,
    *,
    per_image: bool = False,
    batch_size: int = 4,
    device: str | torch.device = "cpu",
) -> tuple[ConfusionMatrix, Any]:
    """Evaluate a checkpoint on ``split`` of the dataset it was trained on (from its saved config).

    Images are evaluated at their native size (``data.val_size`` of the config if set), in fp32.
    Returns the confusion-matrix state and the DatasetSpec.
    """
    from segwise.train.loop import evaluate

    model, ckpt = load_model(checkpoint, device)
    ds = eval_dataset(config_from_dict(ckpt["config"]), split)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size)
    dev = torch.device(device)
    # fp32 for reported numbers: bf16 logits can flip the argmax of near-ties
    state = evaluate(model, loader, ds.spec.num_classes, ds.spec.ignore_index, dev, per_image=per_image)
    state.class_names = list(ds.spec.class_names)
    return state, ds.spec


def eval_dataset(cfg: Any, split: str) -> Any:
    """``split`` of the config's dataset as evaluation sees it: no augmentation, native size.

    ``data.val_size`` of the config, if set, replaces the native size (as in validation during
    training). Raises :class:`InputError` if the split is empty.
    """
    from segwise.data.datasets import create_dataset
    from segwise.data.transforms import build_transforms
    from segwise.train.loop import _dataset_kwargs

    root, kwargs = cfg.data.root or None, _dataset_kwargs(cfg)
    probe = create_dataset(cfg.data.dataset, split, root, None, **kwargs)
    size = tuple(cfg.data.val_size) if cfg.data.val_size else None
    tf = build_transforms("none", probe.spec, train=False, crop_size=size)
    ds = create_dataset(cfg.data.dataset, split, root, tf, **kwargs)
    if len(ds) == 0:
        raise InputError(f"split {split!r} of {cfg.data.dataset} is empty.")
    return ds


def run_checkpoint(run: str | os.PathLike[str], which: str = "best") -> Path:
    run = Path(run)
    path = run / f"{which}.pt" if run.is_dir() else run
    if not path.is_file():
        raise InputError(f"no checkpoint {path}; is {run} a finished segwise run folder?")
    return path
