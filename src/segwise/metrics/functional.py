"""Pixel metrics, functional form: a confusion matrix from label maps, and scores from a matrix.

Conventions (docs/metrics.md has the full definitions):

* The confusion matrix ``cm`` is ``(C, C)`` int64, rows are ground truth and columns prediction.
* Pixels whose target equals ``ignore_index`` are not counted. If ``ignore_index`` lies in
  ``[0, C)``, that class is not evaluated: its scores are NaN and it is left out of every mean,
  while predictions of it on valid pixels still count as errors for the true class.
* A class with no ground-truth and no predicted pixels is *absent*: its scores are NaN, it is left
  out of every mean and listed in ``absent_classes``. A class predicted but absent from the ground
  truth gets IoU 0 and Dice 0 (its recall is undefined, NaN).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from segwise.errors import InputError
from segwise.metrics import _kernels

__all__ = [
    "confusion_matrix",
    "evaluated_classes",
    "scores_from_confusion",
    "per_image_dice",
    "per_image_iou",
    "per_image_miou",
    "POLICY",
]

POLICY: dict[str, str] = {
    "confusion_matrix": (
        "rows = ground truth, columns = prediction; pixels with target == ignore_index are not counted"
    ),
    "averaging": (
        "dataset-level: every mean is taken over per-class scores computed from the confusion matrix "
        "summed over all images"
    ),
    "absent_classes": (
        "a class with no ground-truth and no predicted pixels scores NaN (null), is left out of every mean "
        "and listed in absent_classes"
    ),
    "false_positive_only_classes": (
        "a class predicted but absent from the ground truth gets IoU 0 and Dice 0; "
        "its accuracy/recall is undefined (NaN) and left out of mean_accuracy"
    ),
    "ignore_index_in_range": (
        "if ignore_index is a class id, that class is not evaluated (NaN, left out of means); "
        "predictions of it on valid pixels count as errors"
    ),
    "mean_accuracy": "mean of per-class recall over evaluated classes with ground-truth pixels",
    "fwiou": "sum over classes of (ground-truth pixel share x IoU), FCN definition",
    "kappa": "Cohen's kappa from the confusion matrix; NaN when chance agreement is 1",
    "miou_per_image": (
        "per image, mean IoU over the evaluated classes present in its ground truth or prediction; "
        "then the mean over images that have valid pixels"
    ),
}


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _describe(x: Any) -> str:
    dtype = str(x.dtype).replace("torch.", "")
    return f"{dtype} {tuple(x.shape)}"


def _validate(pred: Any, target: Any, num_classes: int, ignore_index: int | None) -> str:
    """Check arguments; return ``"labels"`` or ``"scores"`` (the kind of ``pred``)."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer) or num_classes < 1:
        raise InputError(f"Expected argument `num_classes` to be an integer >= 1, but got {num_classes!r}.")
    if ignore_index is not None and (
        isinstance(ignore_index, bool) or not isinstance(ignore_index, int | np.integer)
    ):
        raise InputError(
            f"Expected argument `ignore_index` to be an integer or None, but got {ignore_index!r}."
        )
    for name, x in (("pred", pred), ("target", target)):
        if not (isinstance(x, np.ndarray) or _is_torch(x)):
            raise InputError(
                f"`{name}` must be a numpy array or torch tensor, got {type(x).__name__}. "
                f"Wrap it with numpy.asarray({name})."
            )
    if _is_float(target):
        raise InputError(
            f"`target` must hold integer class ids, got {_describe(target)}. "
            "If it is one-hot (N,C,H,W), pass target.argmax(1); if it holds whole numbers, cast it "
            "to an integer type."
        )
    if target.ndim == 0 or _numel(target) == 0:
        raise InputError(f"`target` is empty ({_describe(target)}); pass at least one pixel.")
    if _is_float(pred):
        if pred.ndim != 4 or target.ndim != 3:
            raise InputError(
                f"float `pred` must be class scores of shape (N,C,H,W) with `target` (N,H,W); got "
                f"pred {_describe(pred)} and target {_describe(target)}. For class ids, cast pred to "
                "an integer type; for a single image add the batch dimension (pred[None], target[None])."
            )
        n, c, h, w = pred.shape
        if c != num_classes:
            raise InputError(
                f"score `pred` has {c} channels but num_classes={num_classes}; pass scores with one "
                "channel per class."
            )
        if tuple(target.shape) != (n, h, w):
            raise InputError(
                f"shape mismatch: scores `pred` {_describe(pred)} need `target` of shape {(n, h, w)}, "
                f"got {_describe(target)}."
            )
        return "scores"
    if tuple(pred.shape) != tuple(target.shape):
        hint = ""
        if pred.ndim == target.ndim + 1 and pred.shape[1] == 1:
            hint = " If pred has a channel dimension of 1, pass pred.squeeze(1)."
        raise InputError(
            f"shape mismatch: `pred` {_describe(pred)} and `target` {_describe(target)} must have the "
            f"same shape.{hint}"
        )
    return "labels"


def _is_float(x: Any) -> bool:
    if _is_torch(x):
        return bool(x.is_floating_point())
    return np.issubdtype(x.dtype, np.floating)


def _numel(x: Any) -> int:
    return int(x.numel()) if _is_torch(x) else int(x.size)


def _to_numpy(x: Any) -> np.ndarray:
    if _is_torch(x):
        x = x.detach()
        if x.device.type != "cpu":  # device -> host copy (a sync point)
            x = x.cpu()
        x = x.numpy()
    if x.dtype == np.bool_:
        x = x.view(np.uint8)
    if x.dtype == np.float16:
        x = x.astype(np.float32)
    return np.ascontiguousarray(x)


def _bad_values(x: np.ndarray, valid: np.ndarray) -> str:
    values, counts = np.unique(x[~valid], return_counts=True)
    order = np.argsort(-counts)[:5]
    shown = ", ".join(f"{values[i]} ({counts[i]} px)" for i in order)
    more = f" and {len(values) - 5} more values" if len(values) > 5 else ""
    return shown + more


def _raise_bad_labels(
    pred: np.ndarray | None, target: np.ndarray, num_classes: int, ignore_index: int | None
) -> None:
    t_ok = (target >= 0) & (target < num_classes)
    if ignore_index is not None:
        t_ok |= target == ignore_index
    if not t_ok.all():
        ign = (
            f"and not the ignore_index ({ignore_index})"
            if ignore_index is not None
            else "(no ignore_index set)"
        )
        raise InputError(
            f"`target` holds values outside [0, {num_classes}) {ign}: {_bad_values(target, t_ok)}. "
            "Pass the right num_classes, or set ignore_index to the void label (e.g. 255)."
        )
    if pred is not None:
        p_ok = (pred >= 0) & (pred < num_classes)
        if ignore_index is not None:
            p_ok |= target == ignore_index  # predictions on ignored pixels are never read
        raise InputError(
            f"`pred` holds class ids outside [0, {num_classes}): {_bad_values(pred, p_ok)}. "
            "Predictions must be class ids of the evaluated classes."
        )


def _confusion_torch_device(pred: Any, target: Any, num_classes: int, ignore_index: int | None) -> np.ndarray:
    """Confusion matrix of integer tensors on an accelerator, without copying the maps to the host."""
    import torch

    t = target.reshape(-1).long()
    p = pred.reshape(-1).long()
    keep = torch.ones_like(t, dtype=torch.bool) if ignore_index is None else t != ignore_index
    t, p = t[keep], p[keep]
    ok = (t >= 0) & (t < num_classes) & (p >= 0) & (p < num_classes)
    if not bool(ok.all()):  # sync point: only to report bad labels
        _raise_bad_labels(p.cpu().numpy(), t.cpu().numpy(), num_classes, None)
    counts = torch.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).cpu().numpy().astype(np.int64)  # sync: result


def confusion_matrix(pred: Any, target: Any, num_classes: int, ignore_index: int | None = None) -> np.ndarray:
    """Count (ground truth, prediction) pairs over all pixels.

    Args:
        pred: class ids of any integer dtype, same shape as ``target``; or float scores
            ``(N, C, H, W)``, argmaxed over dim 1 in the same pass. numpy array or torch tensor.
        target: ground-truth class ids, integer dtype.
        num_classes: number of classes C; ids must lie in ``[0, C)``.
        ignore_index: target value whose pixels are not counted. May lie outside ``[0, C)`` (CamVid
            void 11 with C=11, VOC 255) or inside it (the class is then not evaluated).

    Returns:
        ``(C, C)`` int64 array; rows are ground truth, columns prediction.

    Shape:
        - pred: ``(*)`` ids or ``(N, C, H, W)`` scores
        - target: ``(*)`` matching ids, or ``(N, H, W)`` with scores
        - output: ``(C, C)``

    Example:
        >>> import numpy as np
        >>> t = np.array([[0, 0, 1], [1, 2, 255]])
        >>> p = np.array([[0, 1, 1], [1, 2, 0]])
        >>> confusion_matrix(p, t, num_classes=3, ignore_index=255)
        array([[1, 1, 0],
               [0, 2, 0],
               [0, 0, 1]])
    """
    return _confusion_matrix(pred, target, num_classes, ignore_index, parallel=True)


def confusion_matrix_serial(
    pred: Any, target: Any, num_classes: int, ignore_index: int | None = None
) -> np.ndarray:
    """:func:`confusion_matrix` on one thread: for callers that already run one image per thread.

    >>> confusion_matrix_serial(np.array([0, 1]), np.array([0, 0]), 2).tolist()
    [[1, 1], [0, 0]]
    """
    return _confusion_matrix(pred, target, num_classes, ignore_index, parallel=False)


def _confusion_matrix(
    pred: Any, target: Any, num_classes: int, ignore_index: int | None, parallel: bool
) -> np.ndarray:
    kind = _validate(pred, target, num_classes, ignore_index)
    num_classes = int(num_classes)
    ignore_index = None if ignore_index is None else int(ignore_index)
    if kind == "labels" and _is_torch(pred) and pred.device.type != "cpu":
        return _confusion_torch_device(pred, target.to(pred.device), num_classes, ignore_index)
    p = _to_numpy(pred)
    t = _to_numpy(target)
    if kind == "scores":
        n = t.shape[0]
        cm, bad_t = _kernels.confusion_from_scores(
            p.reshape(n, num_classes, -1), t.reshape(n, -1), ignore_index
        )
        if bad_t:
            _raise_bad_labels(None, t, num_classes, ignore_index)
        return cm
    cm, bad_t, bad_p = _kernels.confusion_from_labels(
        p.reshape(-1), t.reshape(-1), num_classes, ignore_index, parallel
    )
    if bad_t or bad_p:
        _raise_bad_labels(p, t, num_classes, ignore_index)
    return cm


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with NaN where den == 0 (undefined), never a warning."""
    out = np.full(num.shape, np.nan, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _nanmean(x: np.ndarray) -> float:
    x = x[~np.isnan(x)]
    return float(x.mean()) if x.size else float("nan")


def evaluated_classes(num_classes: int, ignore_index: int | None = None) -> np.ndarray:
    """Which classes are evaluated: all of them, except ``ignore_index`` when it is a class id.

    The in-range ignore rule of every metric in :mod:`segwise.metrics` (pixel, boundary, object
    and bootstrap scores): an ``ignore_index`` in ``[0, C)`` names a class that is not evaluated
    (NaN, left out of every mean); one outside that range (e.g. 255) only marks void pixels.

    Shape:
        - output: ``(C,)`` bool

    Example:
        >>> evaluated_classes(3, ignore_index=1).tolist(), evaluated_classes(3, ignore_index=255).tolist()
        ([True, False, True], [True, True, True])
    """
    mask = np.ones(num_classes, dtype=bool)
    if ignore_index is not None and 0 <= ignore_index < num_classes:
        mask[ignore_index] = False
    return mask


def scores_from_confusion(cm: np.ndarray, ignore_index: int | None = None) -> dict[str, Any]:
    """All pixel scores of one confusion matrix, following the module's NaN policy.

    Args:
        cm: ``(C, C)`` counts, rows ground truth, columns prediction.
        ignore_index: if it lies in ``[0, C)``, that class is not evaluated.

    Returns:
        dict with the summary floats ``pixel_accuracy``, ``mean_accuracy``, ``miou``, ``mean_dice``,
        ``fwiou``, ``kappa``; per-class float arrays ``iou``, ``accuracy``, ``precision``, ``recall``,
        ``dice``; int arrays ``gt_pixels``, ``pred_pixels``; lists ``absent_classes`` and
        ``ignored_classes``; and ``num_pixels``.

    Example:
        >>> import numpy as np
        >>> s = scores_from_confusion(np.array([[3, 1, 0], [0, 4, 0], [0, 0, 0]]))
        >>> round(s["miou"], 4), s["absent_classes"]
        (0.775, [2])
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise InputError(f"`cm` must be a square (C, C) matrix, got shape {cm.shape}.")
    cm = cm.astype(np.int64, copy=False)
    num_classes = cm.shape[0]
    evaluated = evaluated_classes(num_classes, ignore_index)
    tp = np.diag(cm).astype(np.float64)
    gt = cm.sum(axis=1)
    pr = cm.sum(axis=0)
    total = int(gt.sum())
    absent = evaluated & (gt == 0) & (pr == 0)
    scored = evaluated & ~absent

    def masked(x: np.ndarray) -> np.ndarray:
        x = x.copy()
        x[~scored] = np.nan
        return x

    iou = masked(_divide(tp, (gt + pr - tp)))
    dice = masked(_divide(2 * tp, (gt + pr)))
    recall = masked(_divide(tp, gt))  # NaN where the class has no ground truth
    precision = masked(_divide(tp, pr))  # NaN where the class is never predicted
    pixel_accuracy = float(tp[evaluated].sum() / total) if total else float("nan")
    if total:
        share = gt / total
        fwiou = float(np.nansum(share * np.where(np.isnan(iou), 0.0, iou)))
        pe = float((gt.astype(np.float64) * pr).sum()) / float(total) ** 2
        kappa = (pixel_accuracy - pe) / (1 - pe) if pe < 1 else float("nan")
    else:
        fwiou = kappa = float("nan")
    return {
        "pixel_accuracy": pixel_accuracy,
        "mean_accuracy": _nanmean(recall),
        "miou": _nanmean(iou),
        "mean_dice": _nanmean(dice),
        "fwiou": fwiou,
        "kappa": float(kappa),
        "iou": iou,
        "accuracy": recall.copy(),
        "precision": precision,
        "recall": recall,
        "dice": dice,
        "gt_pixels": gt,
        "pred_pixels": pr,
        "absent_classes": [int(c) for c in np.flatnonzero(absent)],
        "ignored_classes": [int(c) for c in np.flatnonzero(~evaluated)],
        "num_pixels": total,
    }


def per_image_iou(matrices: np.ndarray, ignore_index: int | None = None) -> np.ndarray:
    """Per-image, per-class IoU ``(N, C)`` from stacked per-image matrices ``(N, C, C)``; NaN where a
    class is absent from both the image's ground truth and its prediction, or not evaluated."""
    m = np.asarray(matrices, dtype=np.int64)
    if m.ndim != 3 or m.shape[1] != m.shape[2]:
        raise InputError(f"`matrices` must have shape (N, C, C), got {m.shape}.")
    tp = np.diagonal(m, axis1=1, axis2=2).astype(np.float64)
    union = m.sum(axis=2) + m.sum(axis=1) - tp
    iou = _divide(tp, union)
    iou[:, ~evaluated_classes(m.shape[1], ignore_index)] = np.nan
    return iou


def per_image_dice(matrices: np.ndarray, ignore_index: int | None = None) -> np.ndarray:
    """Per-image, per-class Dice ``(N, C)`` (2 TP / (2 TP + FP + FN)) from stacked per-image matrices
    ``(N, C, C)``; NaN where :func:`per_image_iou` is NaN.

    Example:
        >>> import numpy as np
        >>> per_image_dice(np.array([[[1, 1], [0, 2]]])).round(4).tolist()
        [[0.6667, 0.8]]
    """
    m = np.asarray(matrices, dtype=np.int64)
    if m.ndim != 3 or m.shape[1] != m.shape[2]:
        raise InputError(f"`matrices` must have shape (N, C, C), got {m.shape}.")
    tp = np.diagonal(m, axis1=1, axis2=2).astype(np.float64)
    union = m.sum(axis=2) + m.sum(axis=1) - tp
    dice = _divide(2 * tp, union + tp)
    dice[:, ~evaluated_classes(m.shape[1], ignore_index)] = np.nan
    return dice


def per_image_miou(matrices: np.ndarray, ignore_index: int | None = None) -> float:
    """Mean over images of each image's mean IoU over the classes present in it.

    Not the same number as mIoU (which sums the matrices first): small images and rare classes
    weigh more. Images without valid pixels are skipped.

    Example:
        >>> import numpy as np
        >>> a = np.array([[2, 0], [0, 0]])  # image 1: class 0 perfect, class 1 absent
        >>> b = np.array([[1, 1], [0, 2]])  # image 2: IoU 0.5 and 2/3
        >>> round(per_image_miou(np.stack([a, b])), 4)
        0.7917
    """
    m = np.asarray(matrices, dtype=np.int64)
    if m.size == 0:
        return float("nan")
    iou = per_image_iou(m, ignore_index)
    valid_images = m.sum(axis=(1, 2)) > 0
    means = [_nanmean(row) for row in iou[valid_images]]
    means = np.array([x for x in means if not np.isnan(x)])
    return float(means.mean()) if means.size else float("nan")
