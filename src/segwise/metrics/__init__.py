"""Evaluation metrics: confusion matrices, pixel scores and the result format; the stateful metrics
(one per family: pixel, boundary, regions, surface, bootstrap intervals, probabilities, uncertainty)
and their registry; paired comparison of confusion matrices.

>>> import numpy as np
>>> from segwise.metrics import ConfusionMatrix
>>> cm = ConfusionMatrix(2)
>>> cm.update(np.array([[0, 1]]), np.array([[0, 0]])); cm.result()["pixel_accuracy"]
0.5
"""

from segwise.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    "segwise.metrics",
    {
        "ConfusionMatrix": "segwise.metrics.confusion",
        "POLICY": "segwise.metrics.functional",
        "confusion_matrix": "segwise.metrics.functional",
        "per_image_iou": "segwise.metrics.functional",
        "per_image_miou": "segwise.metrics.functional",
        "scores_from_confusion": "segwise.metrics.functional",
        "build_result": "segwise.metrics.result",
        "MetricState": "segwise.metrics.state",
        "BoundaryAccumulator": "segwise.metrics.boundary",
        "RegionAccumulator": "segwise.metrics.regions",
        "SurfaceAccumulator": "segwise.metrics.surface",
        "BootstrapCI": "segwise.metrics.stats",
        "ProbabilityAccumulator": "segwise.metrics.probs",
        "UncertaintyAccumulator": "segwise.metrics.uncertainty",
        "compare_matrices": "segwise.metrics.compare",
        "MatrixScore": "segwise.metrics.scalar",
        "parse_metric": "segwise.metrics.scalar",
        "MetricFamily": "segwise.metrics.families",
        "register_family": "segwise.metrics.families",
    },
)
