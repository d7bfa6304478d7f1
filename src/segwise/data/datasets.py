"""The dataset registry: ``create_dataset("camvid" | "folder" | "tiles" | "volumes", split, root, transforms, ...)``."""

from __future__ import annotations

import inspect
import os
from typing import Any

from segwise.data.base import SegmentationDataset, Transform
from segwise.data.camvid import CamVid
from segwise.data.folder import FolderDataset
from segwise.data.slices import VolumeSliceDataset
from segwise.data.tiles import TileDataset
from segwise.errors import InputError, did_you_mean, lookup

DATASETS: dict[str, type[SegmentationDataset]] = {
    "camvid": CamVid,
    "folder": FolderDataset,
    "tiles": TileDataset,
    "volumes": VolumeSliceDataset,
}


def dataset_options(name: str) -> list[str]:
    """Keyword options accepted by dataset ``name`` (besides root, split and transforms)."""
    params = inspect.signature(_lookup(name).__init__).parameters
    return [p for p in params if p not in ("self", "root", "split", "transforms")]


def _lookup(name: str) -> type[SegmentationDataset]:
    return lookup(name, DATASETS, "dataset")


def create_dataset(
    name: str,
    split: str = "train",
    root: str | os.PathLike[str] | None = None,
    transforms: Transform | None = None,
    **options: Any,
) -> SegmentationDataset:
    """Create a registered dataset. Options go to its constructor; an unknown option is an error.

    Args:
        name: ``"camvid"``, ``"folder"``, ``"tiles"`` or ``"volumes"`` (see :data:`DATASETS`).
        split: The split, e.g. ``"train"``, ``"val"``, ``"test"``.
        root: The data folder (CamVid: ``None`` reads ``$SEGWISE_CAMVID``).
        transforms: Joint transforms, e.g. from :func:`~segwise.data.transforms.build_transforms`.
        **options: Dataset options, e.g. ``seed``, ``cache``, ``spec``, ``window``; see
            :func:`dataset_options`.

    Example:
        >>> create_dataset("camvd")  # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ...
        segwise.errors.InputError: unknown dataset 'camvd'; did you mean 'camvid'?
        available: camvid, folder, tiles, volumes.
    """
    cls = _lookup(name)
    valid = dataset_options(name)
    for key in options:
        if key not in valid:
            did = did_you_mean(key, valid)
            raise InputError(f"dataset {name!r} has no option {key!r}; {did}options: {', '.join(valid)}.")
    return cls(root, split, transforms, **options)


get_dataset = create_dataset
