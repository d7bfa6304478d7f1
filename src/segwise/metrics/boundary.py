"""Boundary metrics for multi-class label maps: Boundary F1 (BF), Boundary IoU and trimap scores.

Definitions (docs/metrics.md has them in full, with a worked example):

* **Ignored pixels.** Pixels whose target equals ``ignore_index`` belong to no class, in the ground
  truth *and* in the prediction: they are never boundary pixels, never inside a class mask, and
  what was predicted on them is never read. A prediction that equals the ground truth on every
  non-ignored pixel therefore scores 1 everywhere.
* **BF** (Csurka et al., BMVC 2013): the boundary of class c is the pixels of c with a 4-neighbour
  (inside the image) not of class c. A predicted boundary pixel is matched when a ground-truth
  boundary pixel of the same class lies within Euclidean distance ``<= theta``; recall the other
  way round. ``theta`` defaults to 0.75% of the image diagonal (4.5 px at 360x480).
* **Boundary IoU** (Cheng et al., CVPR 2021): the boundary region of a class mask is the mask minus
  its erosion by a 3x3 square applied ``d`` times on the zero-padded mask (the image edge counts
  as background), ``d = max(1, round(0.02 * diagonal))``. Intersections and unions are summed per
  class over the dataset.
* **Trimap**: pixel accuracy and mIoU of the pixels within Euclidean distance ``<= w`` of a
  ground-truth boundary pixel (any class), for each band width ``w``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from segwise.errors import InputError, did_you_mean
from segwise.metrics import _boundary_kernels as K
from segwise.metrics.functional import evaluated_classes, scores_from_confusion
from segwise.metrics.state import MetricState

__all__ = [
    "BF_THETA_RATIO",
    "BIOU_D_RATIO",
    "TRIMAP_WIDTHS",
    "BoundaryAccumulator",
    "bf_theta",
    "biou_d",
    "boundary_f1",
    "boundary_iou",
    "class_boundaries",
    "trimap",
]

BF_THETA_RATIO = 0.0075
BIOU_D_RATIO = 0.02
TRIMAP_WIDTHS: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
BFAverage = Literal["present", "gt"]
_BF_AVERAGES = ("present", "gt")

POLICY: dict[str, str] = {
    "boundary_ignore": "pixels whose target is ignore_index belong to no class in both maps: they are never "
    "boundary or object pixels and predictions on them are never read",
    "bf_boundary": "boundary of class c = pixels of c with a 4-neighbour inside the image that is not of class c",
    "bf_match": "a boundary pixel is matched if a same-class boundary pixel of the other map lies within "
    "Euclidean distance <= theta; precision = matched predicted / predicted, recall = matched ground truth / "
    "ground truth",
    "bf_f1": "per image and class, F1 = 2PR/(P+R) (0 if P+R = 0); 0 if the class is missing from the ground truth "
    "or the prediction; 1 if both have it and neither has a boundary pixel; 0 if only one has boundary pixels",
    "bf": "mean over images (with a counted class) of the image score; per-class bf = mean over the images "
    "where the class is counted",
    "biou_region": "class mask minus its erosion by a 3x3 square applied d times on the zero-padded mask "
    "(image edge = background), as in the Boundary IoU reference code",
    "biou": "per class, intersection and union of ground-truth and predicted boundary regions summed over "
    "all images; biou = mean over evaluated classes with a non-empty union",
    "trimap": "pixel accuracy and mIoU (pixel-metric semantics) of the pixels within Euclidean distance <= w "
    "of a ground-truth boundary pixel of any class",
}


def bf_theta(height: int, width: int) -> float:
    """Default BF distance tolerance: 0.75% of the image diagonal, in pixels.

    Example:
        >>> bf_theta(360, 480)
        4.5
    """
    return BF_THETA_RATIO * math.sqrt(height * height + width * width)


def biou_d(height: int, width: int) -> int:
    """Default Boundary IoU width: ``max(1, round(0.02 * diagonal))`` pixels (Python rounding, as in
    the reference code).

    Example:
        >>> biou_d(360, 480), biou_d(10, 10)
        (12, 1)
    """
    return max(1, int(round(BIOU_D_RATIO * math.sqrt(height * height + width * width))))


def _check_theta(theta: float | None) -> float | None:
    if theta is None:
        return None
    if isinstance(theta, bool) or not isinstance(theta, int | float | np.number) or not theta > 0:
        raise InputError(
            f"Expected argument `theta` to be a distance in pixels > 0 (or None for 0.75% of the image "
            f"diagonal), but got {theta!r}."
        )
    return float(theta)


def _check_d(d: int | None) -> int | None:
    if d is None:
        return None
    if isinstance(d, bool) or not isinstance(d, int | np.integer) or d < 1:
        raise InputError(
            f"Expected argument `d` to be an integer >= 1 (or None for 2% of the image diagonal), but got {d!r}."
        )
    return int(d)


def _check_average(average: str) -> str:
    if average not in _BF_AVERAGES:
        hint = did_you_mean(average, _BF_AVERAGES)
        raise InputError(f"unknown `average` {average!r} for BF; {hint}valid: {', '.join(_BF_AVERAGES)}.")
    return average


def _check_widths(widths: Sequence[float]) -> tuple[float, ...]:
    try:
        ws = tuple(float(w) for w in widths)
    except (TypeError, ValueError):
        raise InputError(f"`widths` must be a sequence of band widths in pixels, got {widths!r}.") from None
    if not ws or any(not (w >= 0 and math.isfinite(w)) for w in ws) or list(ws) != sorted(set(ws)):
        raise InputError(
            f"`widths` must be distinct, finite, non-negative and ascending (e.g. 1, 2, 4, 8), got {widths!r}."
        )
    return ws


_OFFSETS: dict[float, tuple[np.ndarray, np.ndarray]] = {}


def _offsets(theta: float) -> tuple[np.ndarray, np.ndarray]:
    if theta not in _OFFSETS:
        if len(_OFFSETS) > 64:
            _OFFSETS.clear()
        _OFFSETS[theta] = K.disk_offsets(theta)
    return _OFFSETS[theta]


def _bf_image(
    g: np.ndarray,
    q: np.ndarray,
    gb: np.ndarray,
    num_classes: int,
    theta: float,
    average: str,
    evaluated: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class (F1, precision, recall) of one prepared image (``gb``: its ground-truth boundary
    map); NaN where the class is not counted."""
    pb = K.boundary4(q)
    ody, odx = _offsets(theta)
    pred_n, pred_m, gt_n, gt_m = K.bf_counts(g, q, gb, pb, ody, odx, num_classes)
    in_gt = K.class_pixels(g, num_classes) > 0
    in_pred = K.class_pixels(q, num_classes) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(pred_n > 0, pred_m / np.maximum(pred_n, 1), np.nan)
        recall = np.where(gt_n > 0, gt_m / np.maximum(gt_n, 1), np.nan)
        psum = precision + recall
        f1 = np.where(psum > 0, 2 * precision * recall / np.where(psum > 0, psum, 1), 0.0)
    f1 = np.where((pred_n > 0) & (gt_n > 0), f1, 0.0)
    f1 = np.where(in_gt & in_pred & (pred_n == 0) & (gt_n == 0), 1.0, f1)
    f1 = np.where(in_gt & in_pred, f1, 0.0)
    counted = (in_gt | in_pred) if average == "present" else in_gt
    counted &= evaluated
    f1 = np.where(counted, f1, np.nan)
    return f1, np.where(counted, precision, np.nan), np.where(counted, recall, np.nan)


def _nanmean(x: np.ndarray) -> float:
    x = x[~np.isnan(x)]
    return float(x.mean()) if x.size else float("nan")


def class_boundaries(labels: Any, ignore_index: int | None = None) -> np.ndarray:
    """Boolean map of BF boundary pixels: pixels with a 4-neighbour of another label.

    Pixels equal to ``ignore_index`` (and negative values) belong to no class: they are never
    boundary pixels, and count as "another label" for their neighbours. The image edge is not a
    boundary.

    Shape:
        - labels: ``(H, W)`` integer class ids
        - output: ``(H, W)`` bool

    Example:
        >>> import numpy as np
        >>> lab = np.array([[0, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0]])
        >>> class_boundaries(lab).astype(int)
        array([[0, 1, 1, 0],
               [1, 1, 1, 1],
               [0, 1, 1, 0]])
    """
    lab = K._as_int_array(labels, "labels")
    if lab.ndim != 2:
        raise InputError(f"`labels` must be a label map (H, W), got shape {lab.shape}.")
    g = np.where(lab < 0, -1, lab).astype(np.int32)
    if ignore_index is not None:
        g[lab == ignore_index] = -1
    return K.boundary4(g).astype(bool)


def boundary_f1(
    pred: Any,
    target: Any,
    num_classes: int,
    ignore_index: int | None = None,
    theta: float | None = None,
    average: BFAverage = "present",
) -> dict[str, Any]:
    """Boundary F1 (BF) score of one image.

    Args:
        pred: predicted class ids ``(H, W)``.
        target: ground-truth class ids ``(H, W)``.
        num_classes: number of classes C.
        ignore_index: target value whose pixels belong to no class (in both maps).
        theta: distance tolerance in pixels; ``None`` = 0.75% of the image diagonal.
        average: ``"present"`` averages over classes in the ground truth or the prediction (the
            SegNet evaluation's choice); ``"gt"`` over classes in the ground truth only.

    Returns:
        dict with ``bf`` (the image score, NaN if no class is counted), per-class float arrays
        ``per_class`` (F1), ``precision``, ``recall`` (NaN where not counted or undefined) and
        ``theta``.

    Shape:
        - pred, target: ``(H, W)``
        - per_class: ``(C,)``

    Example:
        >>> import numpy as np
        >>> t = np.zeros((8, 8), int); t[2:6, 2:6] = 1
        >>> p = np.zeros((8, 8), int); p[2:6, 3:7] = 1   # the square shifted by one pixel
        >>> r = boundary_f1(p, t, num_classes=2, theta=0.5)  # exact positions only
        >>> r["per_class"].tolist(), r["bf"]  # background: 6 of 16 ring pixels; square: 6 of 12
        ([0.375, 0.5], 0.4375)
    """
    theta = _check_theta(theta)
    average = _check_average(average)
    pairs = list(K.iter_pairs(pred, target, num_classes, ignore_index))
    if len(target.shape) != 2:
        raise InputError(
            f"`target` must be one label map (H, W) for boundary_f1, got shape {tuple(target.shape)}. "
            "For a dataset use BoundaryAccumulator."
        )
    g, q = pairs[0]
    th = theta if theta is not None else bf_theta(*g.shape)
    f1, precision, recall = _bf_image(
        g, q, K.boundary4(g), int(num_classes), th, average, evaluated_classes(num_classes, ignore_index)
    )
    return {"bf": _nanmean(f1), "per_class": f1, "precision": precision, "recall": recall, "theta": th}


def boundary_iou(
    pred: Any, target: Any, num_classes: int, ignore_index: int | None = None, d: int | None = None
) -> dict[str, Any]:
    """Boundary IoU per class, intersections and unions summed over the images of a batch.

    Args:
        pred: predicted class ids ``(H, W)`` or ``(N, H, W)``.
        target: ground-truth class ids, same shape.
        num_classes: number of classes C.
        ignore_index: target value whose pixels belong to no class (in both maps).
        d: boundary width in pixels; ``None`` = ``max(1, round(0.02 * diagonal))``.

    Returns:
        dict with ``biou`` (mean over evaluated classes with a non-empty union), per-class
        ``per_class`` (NaN where the union is empty), int arrays ``intersection``, ``union`` and
        the width ``d`` used.

    Shape:
        - pred, target: ``(H, W)`` or ``(N, H, W)``
        - per_class, intersection, union: ``(C,)``

    Example:
        >>> import numpy as np
        >>> t = np.zeros((6, 6), int); t[1:5, 1:5] = 1
        >>> r = boundary_iou(t, t, num_classes=2, d=1)
        >>> r["per_class"].tolist(), r["union"].tolist()
        ([1.0, 1.0], [20, 12])
    """
    d = _check_d(d)
    K.check_num_classes(num_classes)
    inter = np.zeros(num_classes, dtype=np.int64)
    union = inter.copy()
    used = None
    for g, q in K.iter_pairs(pred, target, num_classes, ignore_index):
        used = d if d is not None else biou_d(*g.shape)
        gt_n, pr_n, i = K.biou_counts(g, q, used, int(num_classes))
        inter += i
        union += gt_n + pr_n - i
    per_class = np.full(num_classes, np.nan)
    np.divide(inter, union, out=per_class, where=union > 0)
    per_class[~evaluated_classes(num_classes, ignore_index)] = np.nan
    return {
        "biou": _nanmean(per_class),
        "per_class": per_class,
        "intersection": inter,
        "union": union,
        "d": used,
    }


def trimap(
    pred: Any,
    target: Any,
    num_classes: int,
    ignore_index: int | None = None,
    widths: Sequence[float] = TRIMAP_WIDTHS,
) -> dict[str, Any]:
    """Pixel accuracy and mIoU restricted to bands around the ground-truth boundaries.

    The band of width w holds the non-ignored pixels within Euclidean distance ``<= w`` of a
    ground-truth boundary pixel (:func:`class_boundaries` of the target).

    Args:
        pred: predicted class ids ``(H, W)`` or ``(N, H, W)``.
        target: ground-truth class ids, same shape.
        num_classes: number of classes C.
        ignore_index: target value whose pixels are not counted.
        widths: ascending band widths in pixels.

    Returns:
        dict with ``widths``, ``pixel_accuracy``, ``miou`` (lists, one per width) and
        ``confusion`` ``(K, C, C)`` int64.

    Example:
        >>> import numpy as np
        >>> t = np.zeros((1, 9), int); t[0, 4:] = 1
        >>> p = np.zeros((1, 9), int); p[0, 5:] = 1
        >>> r = trimap(p, t, num_classes=2, widths=(0, 1, 2))
        >>> r["pixel_accuracy"]
        [0.5, 0.75, 0.8333333333333334]
    """
    ws = _check_widths(widths)
    w2 = np.array([w * w for w in ws], dtype=np.float64)
    K.check_num_classes(num_classes)
    cms = np.zeros((len(ws), num_classes, num_classes), dtype=np.int64)
    for g, q in K.iter_pairs(pred, target, num_classes, ignore_index):
        cms += K.trimap_confusion(g, q, K.boundary4(g), w2, int(num_classes))
    return _trimap_result(cms, ws, ignore_index)


def _trimap_result(cms: np.ndarray, widths: Sequence[float], ignore_index: int | None) -> dict[str, Any]:
    scores = [scores_from_confusion(cm, ignore_index) for cm in cms]
    return {
        "widths": [int(w) if float(w).is_integer() else float(w) for w in widths],
        "pixel_accuracy": [s["pixel_accuracy"] for s in scores],
        "miou": [s["miou"] for s in scores],
        "num_pixels": [s["num_pixels"] for s in scores],
        "confusion": cms,
    }


class BoundaryAccumulator(MetricState):
    """Streaming BF, Boundary IoU and trimap over a dataset, one image at a time.

    Keeps O(C) numbers per image (its BF scores and Boundary IoU counts, used by
    :class:`~segwise.metrics.stats.BootstrapCI`) and the ``(K, C, C)`` trimap matrices. Follows the
    metric-state contract (:class:`~segwise.metrics.state.MetricState`).

    Args:
        num_classes: number of classes C.
        ignore_index: target value whose pixels belong to no class.
        theta: BF tolerance in pixels; ``None`` = 0.75% of each image's diagonal.
        d: Boundary IoU width in pixels; ``None`` = ``max(1, round(0.02 * diagonal))`` per image.
        bf_average: ``"present"`` or ``"gt"`` (see :func:`boundary_f1`).
        trimap_widths: ascending band widths in pixels.

    Example:
        >>> import numpy as np
        >>> acc = BoundaryAccumulator(num_classes=2)
        >>> t = np.zeros((20, 20), int); t[5:15, 5:15] = 1
        >>> acc.update(t, t)
        >>> r = acc.result()
        >>> r["bf"], r["biou"], r["trimap"]["miou"][0]
        (1.0, 1.0, 1.0)
    """

    def __init__(
        self,
        num_classes: int,
        ignore_index: int | None = None,
        theta: float | None = None,
        d: int | None = None,
        bf_average: BFAverage = "present",
        trimap_widths: Sequence[float] = TRIMAP_WIDTHS,
    ) -> None:
        K.check_num_classes(num_classes)
        super().__init__()
        self.num_classes = int(num_classes)
        self.ignore_index = None if ignore_index is None else int(ignore_index)
        self.theta = _check_theta(theta)
        self.d = _check_d(d)
        self.bf_average = _check_average(bf_average)
        self.trimap_widths = _check_widths(trimap_widths)
        self._w2 = np.array([w * w for w in self.trimap_widths], dtype=np.float64)
        self._evaluated = evaluated_classes(self.num_classes, self.ignore_index)
        self.image_bf: list[float]
        self.image_class_bf: list[np.ndarray]
        self.image_biou: list[np.ndarray]
        self.trimap_matrices: np.ndarray
        self.thetas_used: set[float]
        self.ds_used: set[int]
        self.add_state("image_bf", [], "cat")
        self.add_state("image_class_bf", [], "cat")
        self.add_state("image_biou", [], "cat")  # (2, C): intersection, union per image
        shape = (len(self.trimap_widths), self.num_classes, self.num_classes)
        self.add_state("trimap_matrices", np.zeros(shape, dtype=np.int64), "sum")
        self.add_state("thetas_used", set(), "union")
        self.add_state("ds_used", set(), "union")

    def settings(self) -> dict[str, Any]:
        return {
            "num_classes": self.num_classes,
            "ignore_index": self.ignore_index,
            "theta": self.theta,
            "d": self.d,
            "bf_average": self.bf_average,
            "trimap_widths": self.trimap_widths,
        }

    def update(self, pred: Any, target: Any) -> None:
        """Add one image ``(H, W)`` or a batch ``(N, H, W)`` of class ids."""
        c = self.num_classes
        for g, q in K.iter_pairs(pred, target, c, self.ignore_index):
            h, w = g.shape
            theta = self.theta if self.theta is not None else bf_theta(h, w)
            d = self.d if self.d is not None else biou_d(h, w)
            gb = K.boundary4(g)
            f1, _, _ = _bf_image(g, q, gb, c, theta, self.bf_average, self._evaluated)
            self.image_class_bf.append(f1)
            self.image_bf.append(_nanmean(f1))
            gt_n, pr_n, inter = K.biou_counts(g, q, d, c)
            self.image_biou.append(np.stack([inter, gt_n + pr_n - inter]))
            self.trimap_matrices += K.trimap_confusion(g, q, gb, self._w2, c)
            self.thetas_used.add(round(theta, 6))
            self.ds_used.add(d)

    @property
    def num_images(self) -> int:
        return len(self.image_bf)

    def per_image_biou_counts(self) -> np.ndarray:
        """``(N, 2, C)`` int64: per image, the Boundary IoU intersection and union of each class."""
        if not self.image_biou:
            return np.zeros((0, 2, self.num_classes), dtype=np.int64)
        return np.stack(self.image_biou)

    def policy(self) -> dict[str, Any]:
        pol: dict[str, Any] = dict(POLICY)
        pol["bf_theta"] = self.theta if self.theta is not None else f"{BF_THETA_RATIO} x image diagonal"
        pol["bf_theta_px"] = sorted(self.thetas_used)
        pol["bf_average"] = self.bf_average
        pol["biou_d"] = self.d if self.d is not None else f"max(1, round({BIOU_D_RATIO} x image diagonal))"
        pol["biou_d_px"] = sorted(self.ds_used)
        pol["trimap_widths"] = [int(w) if w.is_integer() else w for w in self.trimap_widths]
        return pol

    def result(self, state: Any = None, class_names: Sequence[str] | None = None) -> dict[str, Any]:
        """The keys merged into the evaluation result: ``bf``, ``biou``, ``trimap``, ``per_class``
        (``bf``, ``biou`` per class) and ``policy``. ``state`` and ``class_names`` are not needed."""
        c = self.num_classes
        class_bf = np.stack(self.image_class_bf) if self.image_class_bf else np.full((0, c), np.nan)
        bf_per_class = np.array([_nanmean(class_bf[:, k]) for k in range(c)])
        counts = self.per_image_biou_counts().sum(axis=0)
        inter, union = counts[0], counts[1]
        biou_per_class = np.full(c, np.nan)
        np.divide(inter, union, out=biou_per_class, where=union > 0)
        biou_per_class[~self._evaluated] = np.nan
        tri = _trimap_result(self.trimap_matrices, self.trimap_widths, self.ignore_index)
        tri.pop("confusion")
        return {
            "bf": _nanmean(np.array(self.image_bf, dtype=np.float64)),
            "biou": _nanmean(biou_per_class),
            "trimap": tri,
            "per_class": [{"bf": float(bf_per_class[k]), "biou": float(biou_per_class[k])} for k in range(c)],
            "policy": self.policy(),
        }

    def __repr__(self) -> str:
        return (
            f"BoundaryAccumulator(num_classes={self.num_classes}, ignore_index={self.ignore_index}, "
            f"images={self.num_images})"
        )
