"""From a training config to the objects of a run: datasets and loaders, class weights, model, loss
and optimizer.

Each builder takes the part of the config it reads (``cfg.data``, ``cfg.model``, ``cfg.loss``,
``cfg.optim``) and the values it needs besides, so what a builder depends on is in its signature.
The training loop (:mod:`segwise.train.loop`), the evaluation of a finished run
(:mod:`segwise.train.runs`) and the demo build through these functions.

Every split is read once: the training set gives the dataset spec (no probe dataset), a stage
that changes augmentation or crop size gets new transforms on the same training set, and class
weights count the masks of the training set's files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from segwise.errors import InputError
from segwise.train.config import DataConfig, LossConfig, ModelConfig, OptimConfig
from segwise.train.distributed import DistInfo, DistributedEpochSampler, ShardSampler
from segwise.train.optim import create_optimizer

__all__ = [
    "Data",
    "build_data",
    "build_datasets",
    "build_loss",
    "build_model",
    "build_optimizer",
    "class_weights_for",
    "dataset_kwargs",
    "eval_dataset",
    "train_loader",
    "train_transforms",
]

# ----------------------------------------------------------------------------- data


def dataset_kwargs(data: DataConfig, seed: int) -> dict[str, Any]:
    """The options of ``create_dataset``: ``data.options``, plus the run's seed and ``data.cache``
    where the options do not set them.

    Example:
        >>> dataset_kwargs(DataConfig(options={"val_fraction": 0.1}), seed=3)
        {'val_fraction': 0.1, 'seed': 3, 'cache': True}
    """
    opts = dict(data.options)
    opts.setdefault("seed", seed)
    opts.setdefault("cache", data.cache)
    return opts


@dataclass
class Data:
    """The training and validation sets of a run and their loaders; ``spec`` is the dataset spec."""

    spec: Any
    train_set: Any
    val_set: Any
    train_loader: DataLoader
    val_loader: DataLoader


def _eval_transforms(data: DataConfig, spec: Any, seed: int = 0) -> Any:
    """No augmentation; a centre crop to ``data.val_size`` if set, else the native size."""
    from segwise.data.transforms import build_transforms

    size = tuple(data.val_size) if data.val_size else None
    return build_transforms("none", spec, train=False, crop_size=size, seed=seed)


def build_datasets(data: DataConfig, seed: int) -> tuple[Any, Any]:
    """The training and validation sets, each split read once.

    The validation set gets its evaluation transforms; the training set normalises only until it
    is given :func:`train_transforms` (as :func:`build_data` does).
    """
    from segwise.data.datasets import create_dataset

    root, kwargs = data.root or None, dataset_kwargs(data, seed)
    train_set = create_dataset(data.dataset, data.train_split, root, None, **kwargs)
    val_tf = _eval_transforms(data, train_set.spec, seed)
    val_set = create_dataset(data.dataset, data.val_split, root, val_tf, **kwargs)
    return train_set, val_set


def train_transforms(
    data: DataConfig, spec: Any, seed: int, augment: str | list[Any], crop_size: list[int]
) -> Any:
    """The training transforms of a stage: ``augment`` (a preset or steps) and crops of ``crop_size``."""
    from segwise.data.transforms import build_transforms

    crop = tuple(crop_size) if crop_size else None
    # data.augment_strength sets the strength of data.augment; a stage naming another preset gets its own
    strength = data.augment_strength if augment == data.augment else None
    return build_transforms(
        augment, spec, train=True, crop_size=crop, seed=seed, strength=strength, crop_focus=data.crop_focus
    )


def _num_workers(data: DataConfig) -> int:
    from segwise.data.loader import default_num_workers

    return default_num_workers() if data.workers == -1 else data.workers  # -1: auto


def train_loader(data: DataConfig, train_set: Any, dist_info: DistInfo, seed: int) -> DataLoader:
    """Shuffled batches of ``data.batch_size`` (per process), the last smaller batch dropped."""
    from segwise.data.loader import build_loader

    workers = _num_workers(data)
    if dist_info.enabled:
        sampler = DistributedEpochSampler(
            train_set, num_replicas=dist_info.world_size, rank=dist_info.rank, shuffle=True, seed=seed
        )
        loader = DataLoader(
            train_set,
            batch_size=data.batch_size,
            sampler=sampler,
            num_workers=workers,
            drop_last=True,
            persistent_workers=workers > 0,
        )
    else:
        loader = build_loader(
            train_set, data.batch_size, shuffle=True, num_workers=workers, seed=seed, drop_last=True
        )
    if len(loader) == 0:
        raise InputError(
            f"the {data.train_split} split has {len(train_set)} samples, fewer than data.batch_size="
            f"{data.batch_size} per process; lower the batch size."
        )
    return loader


def _val_loader(data: DataConfig, val_set: Any, dist_info: DistInfo) -> DataLoader:
    sampler = ShardSampler(len(val_set), dist_info.rank, dist_info.world_size)
    return DataLoader(
        val_set, batch_size=data.val_batch_size, sampler=sampler, num_workers=_num_workers(data)
    )


def build_data(
    data: DataConfig, seed: int, dist_info: DistInfo, augment: str | list[Any], crop_size: list[int]
) -> Data:
    """The datasets and loaders of a run, training with ``augment`` and crops of ``crop_size``."""
    train_set, val_set = build_datasets(data, seed)
    train_set.transforms = train_transforms(data, train_set.spec, seed, augment, crop_size)
    return Data(
        train_set.spec,
        train_set,
        val_set,
        train_loader(data, train_set, dist_info, seed),
        _val_loader(data, val_set, dist_info),
    )


def eval_dataset(data: DataConfig, split: str, seed: int = 0) -> Any:
    """``split`` of the dataset as evaluation sees it: no augmentation, native size.

    ``data.val_size``, if set, replaces the native size (as in validation during training).
    Raises :class:`InputError` if the split is empty.
    """
    from segwise.data.datasets import create_dataset

    ds = create_dataset(data.dataset, split, data.root or None, None, **dataset_kwargs(data, seed))
    ds.transforms = _eval_transforms(data, ds.spec)
    if len(ds) == 0:
        raise InputError(f"split {split!r} of {data.dataset} is empty.")
    return ds


def class_weights_for(data: DataConfig, train_set: Any) -> torch.Tensor | None:
    """``data.class_weights`` from the pixel counts of the training set's masks, raised to
    ``data.class_weights_power``; None for ``"none"``. Absent classes get weight 0."""
    if data.class_weights == "none":
        return None
    from segwise.data.stats import class_stats

    w = np.asarray(class_stats(train_set).weights(data.class_weights), dtype=np.float64)
    w = np.where(np.isfinite(w), w, 0.0)  # classes absent from the training split get weight 0
    w = w**data.class_weights_power  # a power below 1 softens the balancing; 0 stays 0
    return torch.tensor(w, dtype=torch.float32)


# ----------------------------------------------------------------------------- model, loss, optimizer


def build_model(model: ModelConfig, spec: Any) -> torch.nn.Module:
    """The configured architecture for ``spec``'s classes and image channels (random or
    ``model.encoder_weights``), initialised from ``model.init_from`` if set."""
    from segwise.models import create_model, load_encoder_weights

    weights = None if model.encoder_weights in ("", "none") else model.encoder_weights
    net = create_model(
        model.arch,
        spec.num_classes,
        encoder=model.encoder or None,
        in_channels=spec.in_channels,
        encoder_weights=weights,
        dropout=model.dropout,
        **model.options,
    )
    if model.init_from:
        report = load_encoder_weights(net, model.init_from, include_decoder=True)
        print(f"init_from {model.init_from}: {report}")
    return net


def build_loss(loss: LossConfig, spec: Any, class_weights: torch.Tensor | None) -> Any:
    """The configured loss (or sum of losses), ignoring ``spec.ignore_index``."""
    from segwise.losses import create_loss

    return create_loss(
        loss.name,
        weights=loss.weights or None,
        class_weights=class_weights,
        ignore_index=spec.ignore_index,
        check_targets=False,  # the data layer already checked every mask; avoids a device sync per step
        **loss.options,
    )


def build_optimizer(optim: OptimConfig, params: list[torch.nn.Parameter], lr: float) -> torch.optim.Optimizer:
    """The optimizer ``optim.name`` over ``params`` at learning rate ``lr`` (a stage's)."""
    return create_optimizer(optim.name, params, lr, weight_decay=optim.weight_decay, momentum=optim.momentum)
