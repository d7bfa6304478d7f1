"""Independent re-statement of the metrics ``compare-preds --metric`` can compare, and of their
paired bootstrap and exact permutation test.

A set of images is scored from its summed confusion matrix: expanded back into flat pixel arrays
and scored with sklearn (per class) or the pixel-mask reference (means), and, for the loops, with
the formulas of docs/metrics.md written out class by class (the two are tested to agree). The
bootstrap is a plain loop over the documented draws; the permutation test enumerates all 2^N swaps. Nothing here calls
segwise.metrics.
"""

from __future__ import annotations

import itertools

import numpy as np
from sklearn.metrics import f1_score, jaccard_score, precision_score, recall_score

from tests.reference.pixel_metrics import reference_scores

_SKLEARN = {"iou": jaccard_score, "dice": f1_score, "precision": precision_score, "recall": recall_score}


def pixels_from_confusion(cm):
    """Flat (target, pred) pixel arrays whose confusion matrix is ``cm`` (rows ground truth)."""
    cm = np.asarray(cm, np.int64)
    c = cm.shape[0]
    rows, cols = np.meshgrid(np.arange(c), np.arange(c), indexing="ij")
    counts = cm.ravel()
    return np.repeat(rows.ravel(), counts), np.repeat(cols.ravel(), counts)


def metric_from_pixels(cm, name, ignore_index=None):
    """Score ``name`` ("miou", "pixel_accuracy", "mean_accuracy", "mean_dice", "fwiou", or
    "iou:K", "dice:K", "precision:K", "recall:K" with K an id) of one summed confusion matrix, from
    its pixels: sklearn per class, the pixel-mask reference for the means; NaN where the documented
    policy says undefined. Slow: for point estimates."""
    cm = np.asarray(cm, np.int64)
    c = cm.shape[0]
    t, p = pixels_from_confusion(cm)
    key, _, cls = name.partition(":")
    if not cls:
        if t.size == 0:
            return float("nan")
        return float(reference_scores(p, t, c, ignore_index)[key])
    k = int(cls)
    in_t, in_p = (t == k).any(), (p == k).any()
    undefined = {
        "iou": not (in_t or in_p),
        "dice": not (in_t or in_p),
        "precision": not in_p,
        "recall": not in_t,
    }[key]
    if undefined:
        return float("nan")
    return float(_SKLEARN[key](t, p, labels=[k], average=None, zero_division=0.0)[0])


def metric_from_confusion(cm, name, ignore_index=None):
    """The same score written out from the matrix with scalar arithmetic, class by class (fast, for
    the loops of the bootstrap and the permutation test)."""
    cm = np.asarray(cm, np.int64)
    c = cm.shape[0]
    key, _, cls = name.partition(":")
    n = int(cm.sum())
    per = {}  # class -> (tp, gt, pred)
    for k in range(c):
        if k != ignore_index:
            per[k] = (int(cm[k, k]), int(cm[k, :].sum()), int(cm[:, k].sum()))

    def iou(tp, g, q):
        return tp / (g + q - tp) if g + q > 0 else None

    def dice(tp, g, q):
        return 2 * tp / (g + q) if g + q > 0 else None

    def precision(tp, g, q):
        return tp / q if q > 0 else None

    def recall(tp, g, q):
        return tp / g if g > 0 else None

    fn = {"iou": iou, "dice": dice, "precision": precision, "recall": recall}
    if cls:
        v = fn[key](*per[int(cls)])
        return float("nan") if v is None else v

    def mean(f):
        vals = [v for v in (f(*x) for x in per.values()) if v is not None]
        return sum(vals) / len(vals) if vals else float("nan")

    if key == "miou":
        return mean(iou)
    if key == "mean_dice":
        return mean(dice)
    if key == "mean_accuracy":
        return mean(recall)
    if n == 0:
        return float("nan")
    if key == "pixel_accuracy":
        return sum(tp for tp, _, _ in per.values()) / n
    if key == "fwiou":
        return sum(g / n * (iou(tp, g, q) or 0.0) for tp, g, q in per.values())
    raise KeyError(name)


def bootstrap_deltas(mats_a, mats_b, idx, name, ignore_index=None):
    """``metric(B) - metric(A)`` of each resample, the drawn images' matrices summed (a loop)."""
    return np.array(
        [
            metric_from_confusion(mats_b[row].sum(0), name, ignore_index)
            - metric_from_confusion(mats_a[row].sum(0), name, ignore_index)
            for row in idx
        ]
    )


def exact_permutation_p_of(mats_a, mats_b, name, ignore_index=None):
    """Two-sided exact p-value of Δ ``name`` over all 2^N swaps (an undefined Δ* counts as extreme)."""
    n = mats_a.shape[0]
    observed = metric_from_confusion(mats_b.sum(0), name, ignore_index) - metric_from_confusion(
        mats_a.sum(0), name, ignore_index
    )
    count = total = 0
    for swap in itertools.product([False, True], repeat=n):
        s = np.array(swap)[:, None, None]
        a = np.where(s, mats_b, mats_a).sum(0)
        b = np.where(s, mats_a, mats_b).sum(0)
        delta = metric_from_confusion(b, name, ignore_index) - metric_from_confusion(a, name, ignore_index)
        count += bool(np.isnan(delta) or abs(delta) >= abs(observed) - 1e-12)
        total += 1
    return count / total
