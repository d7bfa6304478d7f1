"""Segmentation models: a registry of architectures behind one factory.

>>> from segwise.models import create_model, list_models
>>> "segnet" in list_models()
True

See docs/models.md for the architectures, their options, padding, encoder weights and freezing.
"""

from segwise.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    "segwise.models",
    {
        "ClassifierHead": "segwise.models._base",
        "SegmentationModel": "segwise.models._base",
        "load_checkpoint": "segwise.models.checkpoint",
        "save_checkpoint": "segwise.models.checkpoint",
        "arch_options": "segwise.models.factory",
        "create_model": "segwise.models.factory",
        "freeze_encoder": "segwise.models.factory",
        "list_models": "segwise.models.factory",
        "model_from_checkpoint": "segwise.models.factory",
        "unfreeze_encoder": "segwise.models.factory",
        "count_parameters": "segwise.models.summary",
        "estimate_flops": "segwise.models.summary",
        "model_table": "segwise.models.summary",
        "LoadReport": "segwise.models.weights",
        "load_encoder_weights": "segwise.models.weights",
    },
)
