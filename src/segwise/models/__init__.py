"""Segmentation models: a registry of architectures behind one factory.

>>> from segwise.models import create_model, list_models
>>> "segnet" in list_models()
True

See docs/models.md for the architectures, their options, padding, encoder weights and freezing.
"""

from segwise.models._base import ClassifierHead as ClassifierHead
from segwise.models._base import SegmentationModel as SegmentationModel
from segwise.models.checkpoint import load_checkpoint as load_checkpoint
from segwise.models.checkpoint import save_checkpoint as save_checkpoint
from segwise.models.factory import arch_options as arch_options
from segwise.models.factory import create_model as create_model
from segwise.models.factory import freeze_encoder as freeze_encoder
from segwise.models.factory import list_models as list_models
from segwise.models.factory import model_from_checkpoint as model_from_checkpoint
from segwise.models.factory import unfreeze_encoder as unfreeze_encoder
from segwise.models.summary import count_parameters as count_parameters
from segwise.models.summary import estimate_flops as estimate_flops
from segwise.models.summary import model_table as model_table
from segwise.models.weights import LoadReport as LoadReport
from segwise.models.weights import load_encoder_weights as load_encoder_weights

__all__ = [
    "ClassifierHead",
    "LoadReport",
    "SegmentationModel",
    "arch_options",
    "count_parameters",
    "create_model",
    "estimate_flops",
    "freeze_encoder",
    "list_models",
    "load_checkpoint",
    "load_encoder_weights",
    "model_from_checkpoint",
    "model_table",
    "save_checkpoint",
    "unfreeze_encoder",
]
