"""Using a finished run: evaluate its checkpoint (or a model) on a split of its dataset."""

from __future__ import annotations

import os
from typing import Any

import torch

from segwise.metrics import ConfusionMatrix
from segwise.metrics.probs import ProbabilityAccumulator
from segwise.models import model_from_checkpoint
from segwise.models.checkpoint import load_checkpoint
from segwise.train.build import eval_dataset
from segwise.train.config import Config, config_from_dict


def evaluate_checkpoint(
    checkpoint: str | os.PathLike[str],
    split: str,
    *,
    per_image: bool = False,
    batch_size: int = 4,
    device: str | torch.device = "cpu",
    probs: ProbabilityAccumulator | None = None,
) -> tuple[ConfusionMatrix, Any]:
    """Evaluate a checkpoint on ``split`` of the dataset it was trained on (from its saved config).

    Images are evaluated at their native size (``data.val_size`` of the config if set), in fp32,
    without the checkpoint's calibration (raw softmax). ``probs`` (a
    :class:`~segwise.metrics.probs.ProbabilityAccumulator`) is also fed the class probabilities.
    Returns the confusion-matrix state and the DatasetSpec.
    """
    ckpt = load_checkpoint(checkpoint, needs=("config",))
    model, _ = model_from_checkpoint(ckpt, device, source=checkpoint)
    state, ds = evaluate_model(
        model,
        config_from_dict(ckpt["config"]),
        split,
        per_image=per_image,
        batch_size=batch_size,
        device=device,
        probs=probs,
    )
    return state, ds.spec


def evaluate_model(
    model: torch.nn.Module,
    cfg: Config,
    split: str,
    *,
    per_image: bool = False,
    batch_size: int = 4,
    device: str | torch.device = "cpu",
    probs: ProbabilityAccumulator | None = None,
) -> tuple[ConfusionMatrix, Any]:
    """Evaluate ``model`` on ``split`` of the dataset of the run config ``cfg``, as :func:`evaluate_checkpoint`
    does. Returns the confusion-matrix state and the dataset (:func:`segwise.train.build.eval_dataset`)."""
    from segwise.train.loop import validate

    ds = eval_dataset(cfg.data, split, cfg.train.seed)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size)
    dev = torch.device(device)
    # fp32 for reported numbers: bf16 logits can flip the argmax of near-ties
    state = validate(
        model, loader, ds.spec.num_classes, ds.spec.ignore_index, dev, per_image=per_image, probs=probs
    )
    state.class_names = list(ds.spec.class_names)
    return state, ds
