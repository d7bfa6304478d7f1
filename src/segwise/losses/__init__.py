"""Segmentation losses: functional maths, one module per loss, a registry and ``"a+b"`` composition.

>>> import torch
>>> from segwise.losses import create_loss
>>> loss = create_loss("ce+dice", ignore_index=255)
>>> logits, target = torch.randn(2, 3, 8, 8, requires_grad=True), torch.randint(0, 3, (2, 8, 8))
>>> loss(logits, target).backward()
>>> sorted(loss.last_terms)
['ce', 'dice']

See docs/losses.md for the definitions and where they differ from smp's.
"""

from segwise.losses import functional as functional
from segwise.losses._registry import loss_options as loss_options
from segwise.losses.composite import CompositeLoss as CompositeLoss
from segwise.losses.composite import LossOutput as LossOutput
from segwise.losses.composite import create_loss as create_loss
from segwise.losses.composite import list_losses as list_losses
from segwise.losses.composite import loss_terms as loss_terms
from segwise.losses.modules import CrossEntropyLoss as CrossEntropyLoss
from segwise.losses.modules import DiceLoss as DiceLoss
from segwise.losses.modules import FocalLoss as FocalLoss
from segwise.losses.modules import FocalTverskyLoss as FocalTverskyLoss
from segwise.losses.modules import JaccardLoss as JaccardLoss
from segwise.losses.modules import LovaszSoftmaxLoss as LovaszSoftmaxLoss
from segwise.losses.modules import OhemCrossEntropyLoss as OhemCrossEntropyLoss
from segwise.losses.modules import SegmentationLoss as SegmentationLoss
from segwise.losses.modules import TverskyLoss as TverskyLoss

__all__ = [
    "CompositeLoss",
    "CrossEntropyLoss",
    "DiceLoss",
    "FocalLoss",
    "FocalTverskyLoss",
    "JaccardLoss",
    "LossOutput",
    "LovaszSoftmaxLoss",
    "OhemCrossEntropyLoss",
    "SegmentationLoss",
    "TverskyLoss",
    "create_loss",
    "functional",
    "list_losses",
    "loss_options",
    "loss_terms",
]
