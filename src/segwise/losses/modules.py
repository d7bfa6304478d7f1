"""One ``nn.Module`` per loss, registered by name. Each is a thin wrapper over :mod:`.functional`.

Options are validated once, in ``__init__``; ``class_weights`` become a (non-persistent) buffer, so
``loss.to(device)`` moves them.

>>> import torch
>>> loss = DiceLoss(ignore_index=255)
>>> logits, target = torch.randn(2, 3, 8, 8), torch.randint(0, 3, (2, 8, 8))
>>> float(loss(logits, target)) == float(functional.dice_loss(logits, target, ignore_index=255))
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from segwise.errors import InputError
from segwise.losses import functional
from segwise.losses._registry import loss_options, register_loss
from segwise.losses._validation import (
    Prepared,
    as_class_weights,
    check_ignore_index,
    check_nonnegative,
    prepare,
)
from segwise.losses.functional import ClassSet, check_bool, check_classes, check_ohem, check_smoothing

__all__ = [
    "CrossEntropyLoss",
    "DiceLoss",
    "FocalLoss",
    "FocalTverskyLoss",
    "JaccardLoss",
    "LovaszSoftmaxLoss",
    "OhemCrossEntropyLoss",
    "SegmentationLoss",
    "TverskyLoss",
]

WeightsArg = Sequence[float] | torch.Tensor | None


class SegmentationLoss(nn.Module):
    """Base class: ``loss(logits (N,C,H,W), target (N,H,W)) -> scalar``.

    Subclasses set ``name``, validate their options in ``__init__`` and implement
    :meth:`compute` on validated inputs.
    """

    name: ClassVar[str]
    class_weights: torch.Tensor | None

    def __init__(
        self, *, class_weights: WeightsArg = None, ignore_index: int | None = None, check_targets: bool = True
    ) -> None:
        super().__init__()
        self.register_buffer("class_weights", as_class_weights(class_weights), persistent=False)
        self.ignore_index = check_ignore_index(ignore_index)
        self.check_targets = check_bool("check_targets", check_targets)

    def prepare(self, logits: torch.Tensor, target: torch.Tensor) -> Prepared:
        """Validate ``logits``/``target`` (see :func:`segwise.losses._validation.prepare`)."""
        return prepare(
            logits,
            target,
            ignore_index=self.ignore_index,
            class_weights=self.class_weights,
            check_targets=self.check_targets,
        )

    def compute(self, p: Prepared) -> torch.Tensor:
        """The loss on validated inputs."""
        raise NotImplementedError

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.compute(self.prepare(logits, target))

    @property
    def options(self) -> dict[str, Any]:
        """This loss's own options (not class weights / ignore index), as passed to ``__init__``."""
        return {k: getattr(self, k) for k in loss_options(self.name)}

    def extra_repr(self) -> str:
        shown = dict(self.options, ignore_index=self.ignore_index)
        if self.class_weights is not None:
            shown["class_weights"] = [round(w, 4) for w in self.class_weights.tolist()]
        return ", ".join(f"{k}={v!r}" for k, v in shown.items())


@register_loss
class CrossEntropyLoss(SegmentationLoss):
    """Cross-entropy (:func:`~segwise.losses.functional.cross_entropy`): class weights, label smoothing."""

    name = "ce"

    def __init__(
        self,
        *,
        label_smoothing: float = 0.0,
        class_weights: WeightsArg = None,
        ignore_index: int | None = None,
        check_targets: bool = True,
    ) -> None:
        super().__init__(class_weights=class_weights, ignore_index=ignore_index, check_targets=check_targets)
        self.label_smoothing = check_smoothing(label_smoothing)

    def compute(self, p: Prepared) -> torch.Tensor:
        return functional._ce_core(p, self.label_smoothing)


@register_loss
class OhemCrossEntropyLoss(SegmentationLoss):
    """Cross-entropy over the hard pixels (:func:`~segwise.losses.functional.ohem_cross_entropy`)."""

    name = "ohem"

    def __init__(
        self,
        *,
        thresh: float | None = 0.7,
        min_kept: int = 100_000,
        label_smoothing: float = 0.0,
        class_weights: WeightsArg = None,
        ignore_index: int | None = None,
        check_targets: bool = True,
    ) -> None:
        super().__init__(class_weights=class_weights, ignore_index=ignore_index, check_targets=check_targets)
        self.thresh, self.min_kept = check_ohem(thresh, min_kept)
        self.label_smoothing = check_smoothing(label_smoothing)

    def compute(self, p: Prepared) -> torch.Tensor:
        return functional._ohem_core(p, self.thresh, self.min_kept, self.label_smoothing)


@register_loss
class FocalLoss(SegmentationLoss):
    """Softmax focal loss (:func:`~segwise.losses.functional.focal_loss`).

    ``alpha`` (per-class weights, the paper's alpha_t) is another name for ``class_weights``; give one.
    """

    name = "focal"

    def __init__(
        self,
        *,
        gamma: float = 2.0,
        alpha: WeightsArg = None,
        class_weights: WeightsArg = None,
        ignore_index: int | None = None,
        check_targets: bool = True,
    ) -> None:
        if alpha is not None:
            if class_weights is not None:
                raise InputError("give per-class weights once: `alpha` or `class_weights`, not both.")
            class_weights = alpha
        super().__init__(class_weights=class_weights, ignore_index=ignore_index, check_targets=check_targets)
        self.gamma = check_nonnegative("gamma", gamma)
        self.alpha = None if alpha is None else self.class_weights.tolist()

    def compute(self, p: Prepared) -> torch.Tensor:
        return functional._focal_core(p, self.gamma)


class _RegionLoss(SegmentationLoss):
    def _set_region_options(self, smooth: float, classes: ClassSet) -> None:
        self.smooth = check_nonnegative("smooth", smooth)
        self.classes = check_classes(classes, self.smooth)


@register_loss
class DiceLoss(_RegionLoss):
    """Soft multiclass Dice over the batch (:func:`~segwise.losses.functional.dice_loss`)."""

    name = "dice"

    def __init__(
        self,
        *,
        smooth: float = 0.0,
        classes: ClassSet = "present",
        class_weights: WeightsArg = None,
        ignore_index: int | None = None,
        check_targets: bool = True,
    ) -> None:
        super().__init__(class_weights=class_weights, ignore_index=ignore_index, check_targets=check_targets)
        self._set_region_options(smooth, classes)

    def compute(self, p: Prepared) -> torch.Tensor:
        return functional._tversky_core(p, 0.5, 0.5, self.smooth / 2, self.classes)


@register_loss
class JaccardLoss(_RegionLoss):
    """Soft Jaccard / IoU over the batch (:func:`~segwise.losses.functional.jaccard_loss`)."""

    name = "jaccard"

    def __init__(
        self,
        *,
        smooth: float = 0.0,
        classes: ClassSet = "present",
        class_weights: WeightsArg = None,
        ignore_index: int | None = None,
        check_targets: bool = True,
    ) -> None:
        super().__init__(class_weights=class_weights, ignore_index=ignore_index, check_targets=check_targets)
        self._set_region_options(smooth, classes)

    def compute(self, p: Prepared) -> torch.Tensor:
        return functional._tversky_core(p, 1.0, 1.0, self.smooth, self.classes)


@register_loss
class TverskyLoss(_RegionLoss):
    """Tversky loss (:func:`~segwise.losses.functional.tversky_loss`)."""

    name = "tversky"

    def __init__(
        self,
        *,
        alpha: float = 0.3,
        beta: float = 0.7,
        smooth: float = 0.0,
        classes: ClassSet = "present",
        class_weights: WeightsArg = None,
        ignore_index: int | None = None,
        check_targets: bool = True,
    ) -> None:
        super().__init__(class_weights=class_weights, ignore_index=ignore_index, check_targets=check_targets)
        self.alpha = check_nonnegative("alpha", alpha)
        self.beta = check_nonnegative("beta", beta)
        self._set_region_options(smooth, classes)

    def compute(self, p: Prepared) -> torch.Tensor:
        return functional._tversky_core(p, self.alpha, self.beta, self.smooth, self.classes)


@register_loss
class FocalTverskyLoss(_RegionLoss):
    """Focal Tversky loss (:func:`~segwise.losses.functional.focal_tversky_loss`)."""

    name = "focal_tversky"

    def __init__(
        self,
        *,
        alpha: float = 0.3,
        beta: float = 0.7,
        gamma: float = 0.75,
        smooth: float = 0.0,
        classes: ClassSet = "present",
        class_weights: WeightsArg = None,
        ignore_index: int | None = None,
        check_targets: bool = True,
    ) -> None:
        super().__init__(class_weights=class_weights, ignore_index=ignore_index, check_targets=check_targets)
        self.alpha = check_nonnegative("alpha", alpha)
        self.beta = check_nonnegative("beta", beta)
        self.gamma = check_nonnegative("gamma", gamma, positive=True)
        self._set_region_options(smooth, classes)

    def compute(self, p: Prepared) -> torch.Tensor:
        return functional._tversky_core(p, self.alpha, self.beta, self.smooth, self.classes, self.gamma)


@register_loss
class LovaszSoftmaxLoss(SegmentationLoss):
    """Lovasz-Softmax (:func:`~segwise.losses.functional.lovasz_softmax_loss`)."""

    name = "lovasz"

    def __init__(
        self,
        *,
        per_image: bool = False,
        classes: ClassSet = "present",
        class_weights: WeightsArg = None,
        ignore_index: int | None = None,
        check_targets: bool = True,
    ) -> None:
        super().__init__(class_weights=class_weights, ignore_index=ignore_index, check_targets=check_targets)
        self.per_image = check_bool("per_image", per_image)
        self.classes = check_classes(classes)

    def compute(self, p: Prepared) -> torch.Tensor:
        return functional._lovasz_core(p, self.per_image, self.classes)
