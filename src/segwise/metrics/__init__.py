"""Evaluation metrics: confusion matrices, pixel scores and the result format."""

from segwise.metrics.confusion import ConfusionMatrix as ConfusionMatrix
from segwise.metrics.functional import POLICY as POLICY
from segwise.metrics.functional import confusion_matrix as confusion_matrix
from segwise.metrics.functional import per_image_iou as per_image_iou
from segwise.metrics.functional import per_image_miou as per_image_miou
from segwise.metrics.functional import scores_from_confusion as scores_from_confusion
from segwise.metrics.result import build_result as build_result

__all__ = [
    "ConfusionMatrix",
    "POLICY",
    "build_result",
    "confusion_matrix",
    "per_image_iou",
    "per_image_miou",
    "scores_from_confusion",
]
