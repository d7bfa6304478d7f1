"""Region (object) metrics on semantic label maps: connected components matched one-to-one.

An *object* is a connected component (8-connectivity by default) of the pixels of one class. Ground
truth and predicted objects of the same class are matched one-to-one when their IoU exceeds 0.5,
as in panoptic quality (Kirillov et al., CVPR 2019); with a threshold >= 0.5 a match is unique.
Per class, over the whole dataset:

* object precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = RQ = TP / (TP + FP/2 + FN/2);
* SQ = mean IoU of the matched pairs; PQ = SQ x RQ = sum of matched IoUs / (TP + FP/2 + FN/2).

Pixels whose target is ``ignore_index`` belong to no object in either map (they split components
and are not counted in any area or IoU). Objects are also stratified by area: small < 32^2, medium
< 96^2, large otherwise (the COCO ranges); matched pairs and missed objects by the ground-truth
area, unmatched predictions by their own area.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from segwise.errors import InputError
from segwise.metrics import _boundary_kernels as K
from segwise.metrics.functional import evaluated_classes
from segwise.metrics.state import MetricState

__all__ = [
    "SIZE_BINS",
    "SIZE_NAMES",
    "RegionAccumulator",
    "connected_components",
    "match_objects",
    "object_scores",
]

SIZE_BINS: tuple[int, int] = (32 * 32, 96 * 96)
SIZE_NAMES: tuple[str, str, str] = ("small", "medium", "large")
_CONNECTIVITY = (4, 8)

POLICY: dict[str, str] = {
    "objects": "connected components of each class in the ground truth and the prediction, matched one-to-one "
    "between same-class components with IoU > threshold (panoptic-quality matching)",
    "objects_scores": "per class over the dataset: precision = TP/(TP+FP), recall = TP/(TP+FN), "
    "f1 = rq = TP/(TP+FP/2+FN/2), sq = mean matched IoU, pq = sq x rq; undefined ratios are null and left out "
    "of the means over classes",
    "objects_ignore": "pixels whose target is ignore_index belong to no object in either map",
    "objects_sizes": "small < 32^2 px, medium < 96^2 px, large otherwise; matched and missed objects by "
    "ground-truth area, unmatched predictions by their own area",
}


def _check_connectivity(connectivity: int) -> int:
    if connectivity not in _CONNECTIVITY:
        raise InputError(f"Expected argument `connectivity` to be 4 or 8, but got {connectivity!r}.")
    return int(connectivity)


def _check_threshold(threshold: float) -> float:
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float | np.number)
        or not (0.5 <= threshold < 1)
    ):
        raise InputError(
            f"Expected argument `iou_threshold` in [0.5, 1), but got {threshold!r}. Below 0.5 a ground-truth "
            "object may overlap several predictions that well, and the one-to-one match is no longer unique."
        )
    return float(threshold)


def _check_size_bins(size_bins: Sequence[int]) -> tuple[int, int]:
    try:
        small, medium = (int(x) for x in size_bins)
    except (TypeError, ValueError):
        raise InputError(
            f"`size_bins` must be two areas (small_max, medium_max), got {size_bins!r}."
        ) from None
    if not 0 < small < medium:
        raise InputError(f"`size_bins` must satisfy 0 < small_max < medium_max, got {size_bins!r}.")
    return small, medium


def connected_components(
    labels: Any, ignore_index: int | None = None, connectivity: int = 8
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Connected components of every class of a label map at once.

    Args:
        labels: class ids ``(H, W)``; negative values and ``ignore_index`` belong to no component.
        ignore_index: label of pixels outside every component.
        connectivity: 4 or 8.

    Returns:
        ``(ids, classes, sizes)``: int32 ``(H, W)`` component id per pixel (-1 outside components),
        and per component its class and its area in pixels. Ids follow the raster order of each
        component's first pixel.

    Shape:
        - labels: ``(H, W)``
        - ids: ``(H, W)``; classes, sizes: ``(K,)``

    Example:
        >>> import numpy as np
        >>> lab = np.array([[1, 0, 1], [0, 1, 0], [2, 2, 0]])
        >>> ids, classes, sizes = connected_components(lab)
        >>> ids.tolist(), classes.tolist(), sizes.tolist()   # diagonal neighbours join
        ([[0, 1, 0], [1, 0, 1], [2, 2, 1]], [1, 0, 2], [3, 4, 2])
        >>> len(connected_components(lab, connectivity=4)[1])
        7
    """
    connectivity = _check_connectivity(connectivity)
    lab = K._as_int_array(labels, "labels")
    if lab.ndim != 2:
        raise InputError(f"`labels` must be a label map (H, W), got shape {lab.shape}.")
    g = np.where(lab < 0, -1, lab).astype(np.int32)
    if ignore_index is not None:
        g[lab == ignore_index] = -1
    return K.components(g, connectivity)


def match_objects(
    pred: Any,
    target: Any,
    num_classes: int,
    ignore_index: int | None = None,
    connectivity: int = 8,
    iou_threshold: float = 0.5,
    size_bins: Sequence[int] = SIZE_BINS,
) -> np.ndarray:
    """Count matched, spurious and missed objects per class and size, summed over a batch.

    Args:
        pred: predicted class ids ``(H, W)`` or ``(N, H, W)``.
        target: ground-truth class ids, same shape.
        num_classes: number of classes C.
        ignore_index: target value whose pixels belong to no object (in both maps).
        connectivity: 4 or 8.
        iou_threshold: a pair matches when IoU > this (>= 0.5).
        size_bins: upper area limits of small and medium objects.

    Returns:
        float64 ``(4, C, 3)``: TP, FP, FN and the sum of matched IoUs, per class and size bin
        (small, medium, large). Pass it (summed over images) to :func:`object_scores`.

    Shape:
        - counts: ``(4, C, 3)``

    Example:
        >>> import numpy as np
        >>> t = np.zeros((10, 10), int); t[1:4, 1:4] = 1; t[6:9, 6:9] = 1   # two objects
        >>> p = np.zeros((10, 10), int); p[1:4, 1:5] = 1                    # one, too wide
        >>> counts = match_objects(p, t, num_classes=2)
        >>> counts[:, 1].sum(axis=1).tolist()   # TP, FP, FN, IoU sum of class 1
        [1.0, 0.0, 1.0, 0.75]
    """
    connectivity = _check_connectivity(connectivity)
    iou_threshold = _check_threshold(iou_threshold)
    small, medium = _check_size_bins(size_bins)
    K.check_num_classes(num_classes)
    out = np.zeros((4, num_classes, 3), dtype=np.float64)
    for g, q in K.iter_pairs(pred, target, num_classes, ignore_index):
        out += K.match_components(g, q, int(num_classes), connectivity, iou_threshold, small, medium)
    return out


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(np.shape(num), np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def object_scores(counts: np.ndarray, ignore_index: int | None = None) -> dict[str, Any]:
    """Per-class and mean object scores from counts ``(4, C)`` or ``(4, C, S)`` (summed over S).

    Returns:
        dict with per-class float arrays ``precision``, ``recall``, ``f1`` (= ``rq``), ``sq``, ``pq``
        (NaN where undefined), their means over the classes where they are defined (``mean_*``), and
        int arrays ``tp``, ``fp``, ``fn``.

    Example:
        >>> import numpy as np
        >>> counts = np.array([[2.0], [1.0], [1.0], [1.6]])   # TP, FP, FN, IoU sum of one class
        >>> s = object_scores(counts)
        >>> s["f1"].tolist(), s["sq"].tolist(), s["pq"].round(3).tolist()
        ([0.6666666666666666], [0.8], [0.533])
    """
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim == 3:
        c = c.sum(axis=2)
    if c.ndim != 2 or c.shape[0] != 4:
        raise InputError(f"`counts` must have shape (4, C) or (4, C, S), got {np.shape(counts)}.")
    tp, fp, fn, iou_sum = c
    evaluated = evaluated_classes(c.shape[1], ignore_index)
    if not evaluated.all():
        tp, fp, fn, iou_sum = (x.copy() for x in (tp, fp, fn, iou_sum))
        for x in (tp, fp, fn, iou_sum):
            x[~evaluated] = 0.0  # not evaluated: its scores are NaN below
    half = tp + 0.5 * fp + 0.5 * fn
    scores: dict[str, Any] = {
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(tp, half),
        "sq": _ratio(iou_sum, tp),
        "pq": _ratio(iou_sum, half),
    }
    scores["rq"] = scores["f1"].copy()
    for k in ("precision", "recall", "f1", "rq", "sq", "pq"):
        v = scores[k][~np.isnan(scores[k])]
        scores[f"mean_{k}"] = float(v.mean()) if v.size else float("nan")
    scores.update(tp=tp.astype(np.int64), fp=fp.astype(np.int64), fn=fn.astype(np.int64))
    return scores


def _summary(s: dict[str, Any]) -> dict[str, Any]:
    out = {k: s[f"mean_{k}"] for k in ("precision", "recall", "f1", "sq", "rq", "pq")}
    out.update(tp=int(s["tp"].sum()), fp=int(s["fp"].sum()), fn=int(s["fn"].sum()))
    return out


class RegionAccumulator(MetricState):
    """Streaming object metrics (connected components matched at IoU > 0.5) over a dataset.

    Keeps a ``(4, C, 3)`` count array; memory does not grow with the dataset. Follows the
    metric-state contract (:class:`~segwise.metrics.state.MetricState`).

    Args:
        num_classes: number of classes C.
        ignore_index: target value whose pixels belong to no object.
        connectivity: 4 or 8.
        iou_threshold: match threshold, >= 0.5.
        size_bins: upper areas of small and medium objects (default 32^2, 96^2).

    Example:
        >>> import numpy as np
        >>> acc = RegionAccumulator(num_classes=2)
        >>> t = np.zeros((10, 10), int); t[2:5, 2:5] = 1
        >>> acc.update(t, t)
        >>> r = acc.result()
        >>> r["objects"]["pq"], r["per_class"][1]["object_f1"]
        (1.0, 1.0)
    """

    def __init__(
        self,
        num_classes: int,
        ignore_index: int | None = None,
        connectivity: int = 8,
        iou_threshold: float = 0.5,
        size_bins: Sequence[int] = SIZE_BINS,
    ) -> None:
        K.check_num_classes(num_classes)
        super().__init__()
        self.num_classes = int(num_classes)
        self.ignore_index = None if ignore_index is None else int(ignore_index)
        self.connectivity = _check_connectivity(connectivity)
        self.iou_threshold = _check_threshold(iou_threshold)
        self.size_bins = _check_size_bins(size_bins)
        self.counts: np.ndarray
        self.num_images: int
        self.add_state("counts", np.zeros((4, self.num_classes, 3), dtype=np.float64), "sum")
        self.add_state("num_images", 0, "sum")

    def settings(self) -> dict[str, Any]:
        return {
            "num_classes": self.num_classes,
            "ignore_index": self.ignore_index,
            "connectivity": self.connectivity,
            "iou_threshold": self.iou_threshold,
            "size_bins": self.size_bins,
        }

    def update(self, pred: Any, target: Any) -> None:
        """Add one image ``(H, W)`` or a batch ``(N, H, W)`` of class ids."""
        small, medium = self.size_bins
        for g, q in K.iter_pairs(pred, target, self.num_classes, self.ignore_index):
            self.counts += K.match_components(
                g, q, self.num_classes, self.connectivity, self.iou_threshold, small, medium
            )
            self.num_images += 1

    def policy(self) -> dict[str, Any]:
        pol: dict[str, Any] = dict(POLICY)
        pol["objects_connectivity"] = self.connectivity
        pol["objects_iou_threshold"] = self.iou_threshold
        pol["objects_size_bins"] = {"small_max": self.size_bins[0], "medium_max": self.size_bins[1]}
        return pol

    def result(self, state: Any = None, class_names: Sequence[str] | None = None) -> dict[str, Any]:
        """The keys merged into the evaluation result: ``objects`` (means over classes, totals and
        ``by_size``), ``per_class`` (``object_precision``, ``object_recall``, ``object_f1``,
        ``sq``, ``pq``, ``objects_tp/fp/fn``) and ``policy``."""
        s = object_scores(self.counts, self.ignore_index)
        objects = _summary(s)
        by_size = {}
        for b, name in enumerate(SIZE_NAMES):
            sb = object_scores(self.counts[:, :, b], self.ignore_index)
            by_size[name] = _summary(sb) | {
                "per_class_f1": sb["f1"].tolist(),
                "per_class_pq": sb["pq"].tolist(),
            }
        objects["by_size"] = by_size
        per_class = [
            {
                "object_precision": float(s["precision"][k]),
                "object_recall": float(s["recall"][k]),
                "object_f1": float(s["f1"][k]),
                "sq": float(s["sq"][k]),
                "pq": float(s["pq"][k]),
                "objects_tp": int(s["tp"][k]),
                "objects_fp": int(s["fp"][k]),
                "objects_fn": int(s["fn"][k]),
            }
            for k in range(self.num_classes)
        ]
        return {"objects": objects, "per_class": per_class, "policy": self.policy()}

    def __repr__(self) -> str:
        return (
            f"RegionAccumulator(num_classes={self.num_classes}, ignore_index={self.ignore_index}, "
            f"images={self.num_images})"
        )
