"""Data: dataset specs, mask readers, datasets, joint transforms and class statistics.

Importing :mod:`segwise.data` does not import torch (evaluation stays fast). The torch-based
parts (datasets, transforms, loaders) load on first use of their names, or import them from
their modules: :mod:`segwise.data.datasets`, :mod:`segwise.data.transforms`,
:mod:`segwise.data.loader`.
"""

from __future__ import annotations

import importlib
from typing import Any

from segwise.data.cache import DecodeCache as DecodeCache
from segwise.data.files import Sample as Sample
from segwise.data.readers import ClassTable as ClassTable
from segwise.data.readers import apply_value_map as apply_value_map
from segwise.data.readers import read_class_table as read_class_table
from segwise.data.readers import read_image as read_image
from segwise.data.readers import read_mask as read_mask
from segwise.data.readers import read_spec_mask as read_spec_mask
from segwise.data.readers import rgb_to_index as rgb_to_index
from segwise.data.spec import CAMVID_SPEC as CAMVID_SPEC
from segwise.data.spec import DatasetSpec as DatasetSpec
from segwise.data.spec import make_spec as make_spec
from segwise.data.spec import spec_from_class_table as spec_from_class_table
from segwise.data.stats import ClassStats as ClassStats
from segwise.data.stats import class_stats as class_stats
from segwise.data.stats import enet_weights as enet_weights
from segwise.data.stats import inverse_frequency_weights as inverse_frequency_weights
from segwise.data.stats import median_frequency_weights as median_frequency_weights

# Torch-based names, imported on first access (module, attribute).
_LAZY = {
    "DATASETS": "segwise.data.datasets",
    "create_dataset": "segwise.data.datasets",
    "get_dataset": "segwise.data.datasets",
    "SegmentationDataset": "segwise.data.base",
    "CamVid": "segwise.data.camvid",
    "FolderDataset": "segwise.data.folder",
    "TileDataset": "segwise.data.tiles",
    "build_transforms": "segwise.data.transforms",
    "JointTransforms": "segwise.data.transforms",
    "TRANSFORMS": "segwise.data.transforms",
    "PRESETS": "segwise.data.transforms",
    "build_loader": "segwise.data.loader",
    "EpochSampler": "segwise.data.loader",
    "set_epoch": "segwise.data.loader",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'segwise.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "CAMVID_SPEC",
    "ClassStats",
    "ClassTable",
    "DatasetSpec",
    "DecodeCache",
    "Sample",
    "apply_value_map",
    "class_stats",
    "enet_weights",
    "inverse_frequency_weights",
    "make_spec",
    "median_frequency_weights",
    "read_class_table",
    "read_image",
    "read_mask",
    "read_spec_mask",
    "rgb_to_index",
    "spec_from_class_table",
    *_LAZY,
]
