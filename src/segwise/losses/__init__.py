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

from segwise.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    "segwise.losses",
    {
        "functional": "segwise.losses.functional",
        "loss_options": "segwise.losses._registry",
        "CompositeLoss": "segwise.losses.composite",
        "LossOutput": "segwise.losses.composite",
        "create_loss": "segwise.losses.composite",
        "list_losses": "segwise.losses.composite",
        "loss_terms": "segwise.losses.composite",
        "CrossEntropyLoss": "segwise.losses.modules",
        "DiceLoss": "segwise.losses.modules",
        "FocalLoss": "segwise.losses.modules",
        "FocalTverskyLoss": "segwise.losses.modules",
        "JaccardLoss": "segwise.losses.modules",
        "LovaszSoftmaxLoss": "segwise.losses.modules",
        "OhemCrossEntropyLoss": "segwise.losses.modules",
        "SegmentationLoss": "segwise.losses.modules",
        "TverskyLoss": "segwise.losses.modules",
    },
)
