"""A starter training config for a scanned dataset folder (``segwise data init`` writes it).

The choices, each a plain rule on what the scan saw (docs/own-data.md explains them):

* a U-Net with a ResNet-18 encoder trained from scratch (no download), AdamW, cosine schedule;
* square crops of up to 256 px that fit the smallest image, the ``light`` augmentation;
* a validation split carved from the files (20%, seeded) unless ``ROOT/splits/`` defines one;
* about 3000 training steps, stopped earlier by ``train.time_limit_minutes`` (30);
* for imbalanced classes (largest share over the smallest above 10): CE + Dice and
  median-frequency class weights softened by a square root.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from segwise.train.config import Config, config_to_toml

TARGET_STEPS = 3000
MAX_CROP = 256
IMBALANCED = 10.0


def _crop_side(sizes: list[tuple[int, int]]) -> int:
    side = min(min(h, w) for h, w in sizes)
    if side < 64:
        return side
    return min(MAX_CROP, side // 32 * 32)


def starter_config(scan: Any, *, out_dir: str | None = None, has_splits: bool | None = None) -> Config:
    """The config that ``segwise train --config ROOT/train.toml`` runs, from a
    :class:`~segwise.data.scan.ScanResult`."""
    if getattr(scan.spec, "volume", None) is not None:
        return _volume_starter(scan, out_dir=out_dir, has_splits=has_splits)
    cfg = Config()
    n = len(scan.samples)
    root = Path(scan.root).resolve()
    has_splits = (root / "splits").is_dir() if has_splits is None else has_splits
    val_fraction = max(0.2, 1.0 / n)
    n_train = n - round(n * val_fraction) if not has_splits else n
    batch = max(1, min(4, n_train))
    steps_per_epoch = max(1, n_train // batch)
    side = _crop_side(scan.sizes)
    imbalanced = scan.imbalance > IMBALANCED or scan.spec.num_classes == 2 and scan.imbalance > 3

    options: dict[str, Any] = {"images": scan.images, "masks": scan.masks}
    if scan.roi:
        options["roi"] = scan.roi
    if scan.match:
        options["match"] = scan.match
    if not has_splits and val_fraction != 0.2:
        options["val_fraction"] = round(val_fraction, 4)

    d = cfg.data
    d.dataset, d.root, d.options = "folder", str(root), options
    d.crop_size = [side, side]
    d.batch_size, d.val_batch_size = batch, 1
    d.augment = "light"
    if imbalanced:
        d.class_weights, d.class_weights_power = "median_frequency", 0.5
    cfg.model.arch, cfg.model.encoder, cfg.model.encoder_weights = "unet", "resnet18", "none"
    cfg.loss.name = "ce+dice" if imbalanced else "ce"
    cfg.optim.name, cfg.optim.lr, cfg.optim.weight_decay = "adamw", 1e-3, 1e-4
    cfg.schedule.name = "cosine"
    cfg.schedule.warmup_epochs = round(min(1.0, 50 / steps_per_epoch), 3)
    t = cfg.train
    t.epochs = int(min(1000, max(10, math.ceil(TARGET_STEPS / steps_per_epoch))))
    t.eval_every = max(1, math.ceil(100 / steps_per_epoch))
    t.time_limit_minutes = 30.0
    t.out_dir = out_dir or f"runs/{root.name}"
    return cfg


def starter_toml(scan: Any, cfg: Config) -> str:
    """The config as TOML, with a header saying where it came from and what to change first."""
    spec = scan.spec
    if spec.volume is not None:
        v = spec.volume
        header = [
            f"# Starter config written by `segwise data init` for {scan.root} ({len(scan.samples)} cases, "
            f"{scan.num_slices} slices",
            f"# along axis {v.axis}; {spec.num_classes} classes: {', '.join(spec.class_names)}). Train: segwise train "
            "--config THIS_FILE",
            f"# The classes and the slicing (axis, modality {v.modality}) are in spec.json next to this file;",
            "# data.options.axis / context (2.5D) / modality / ct_window / empty_slice_fraction override them.",
            "# First knobs: train.time_limit_minutes (stops early, keeps best.pt), train.epochs, data.crop_size.",
            "# Every key: docs/config.md; volumes: docs/volumes.md.",
            "",
        ]
        return "\n".join(header) + config_to_toml(cfg)
    header = [
        f"# Starter config written by `segwise data init` for {scan.root} ({len(scan.samples)} image/mask pairs,",
        f"# {spec.num_classes} classes: {', '.join(spec.class_names)}). Train: segwise train --config THIS_FILE",
        "# The classes, mask encoding and normalisation are in spec.json next to this file.",
        "# First knobs: train.time_limit_minutes (stops early, keeps best.pt), train.epochs, data.crop_size,",
        '# model.encoder_weights = "imagenet" (needs a download; then use ImageNet mean/std in spec.json).',
        "# Every key: docs/config.md.",
        "",
    ]
    return "\n".join(header) + config_to_toml(cfg)


VOLUME_AUGMENT = ["random_scale", "random_crop", "hflip", "rotate"]  # no color_jitter: slices are float
EMPTY_SLICE_FRACTION = 0.2


def _volume_starter(scan: Any, *, out_dir: str | None, has_splits: bool | None) -> Config:
    """The starter of a volume folder: the ``volumes`` dataset, steps counted in slices, most empty
    slices skipped in training, augmentation without colour jitter."""
    cfg = Config()
    n = len(scan.samples)
    root = Path(scan.root).resolve()
    has_splits = (root / "splits").is_dir() if has_splits is None else has_splits
    val_fraction = max(0.2, 1.0 / n)
    n_train_cases = n - round(n * val_fraction) if not has_splits else n
    slices = max(1, round(scan.num_slices * n_train_cases / n * (0.5 + EMPTY_SLICE_FRACTION / 2)))
    batch = max(1, min(8, slices))
    steps_per_epoch = max(1, slices // batch)
    options: dict[str, Any] = {
        "images": scan.images,
        "masks": scan.masks,
        "empty_slice_fraction": EMPTY_SLICE_FRACTION,
    }
    if not has_splits and val_fraction != 0.2:
        options["val_fraction"] = round(val_fraction, 4)
    side = _crop_side(scan.sizes)
    imbalanced = scan.imbalance > IMBALANCED or scan.spec.num_classes == 2 and scan.imbalance > 3
    d = cfg.data
    d.dataset, d.root, d.options = "volumes", str(root), options
    d.crop_size = [side, side]
    # whole slices are validated: batch them only when every case has the same slice size
    d.batch_size, d.val_batch_size = batch, 8 if len(set(scan.sizes)) == 1 else 1
    d.augment = list(VOLUME_AUGMENT)
    if imbalanced:
        d.class_weights, d.class_weights_power = "median_frequency", 0.5
    cfg.model.arch, cfg.model.encoder, cfg.model.encoder_weights = "unet", "resnet18", "none"
    cfg.loss.name = "ce+dice" if imbalanced else "ce"
    cfg.optim.name, cfg.optim.lr, cfg.optim.weight_decay = "adamw", 1e-3, 1e-4
    cfg.schedule.name = "cosine"
    cfg.schedule.warmup_epochs = round(min(1.0, 50 / steps_per_epoch), 3)
    t = cfg.train
    t.epochs = int(min(1000, max(10, math.ceil(TARGET_STEPS / steps_per_epoch))))
    t.eval_every = max(1, math.ceil(100 / steps_per_epoch))
    t.time_limit_minutes = 30.0
    t.out_dir = out_dir or f"runs/{root.name}"
    return cfg
