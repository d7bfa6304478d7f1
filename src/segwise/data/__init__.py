"""Data: dataset specs, mask readers, datasets, joint transforms and class statistics.

Importing :mod:`segwise.data` does not import torch (evaluation stays fast). The torch-based
parts (datasets, transforms, loaders) load on first use of their names, or import them from
their modules: :mod:`segwise.data.datasets`, :mod:`segwise.data.transforms`,
:mod:`segwise.data.loader`.
"""

from segwise.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    "segwise.data",
    {
        "DecodeCache": "segwise.data.cache",
        "Sample": "segwise.data.files",
        "ClassTable": "segwise.data.readers",
        "apply_value_map": "segwise.data.readers",
        "read_class_table": "segwise.data.readers",
        "read_image": "segwise.data.readers",
        "read_mask": "segwise.data.readers",
        "read_spec_mask": "segwise.data.readers",
        "rgb_to_index": "segwise.data.readers",
        "CAMVID_SPEC": "segwise.data.spec",
        "DatasetSpec": "segwise.data.spec",
        "make_spec": "segwise.data.spec",
        "spec_from_class_table": "segwise.data.spec",
        "ClassStats": "segwise.data.stats",
        "class_stats": "segwise.data.stats",
        "enet_weights": "segwise.data.stats",
        "inverse_frequency_weights": "segwise.data.stats",
        "median_frequency_weights": "segwise.data.stats",
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
    },
)
