"""Independent re-statements of the loss definitions: plain numpy, explicit loops, float64.

Written from the published formulas (and, for cross-entropy, PyTorch's documented definition),
not from segwise's code: pixel losses loop over pixels, region losses count per class, and
Lovasz-Softmax evaluates the Jaccard set function on every prefix of the sorted errors instead of
using the cumulative-sum gradient formula.
"""

from __future__ import annotations

import math

import numpy as np


def _pixels(logits: np.ndarray, target: np.ndarray, ignore_index: int | None):
    """Yield (image, log-probabilities (C,), class id) for every valid pixel."""
    n, c, h, w = logits.shape
    for b in range(n):
        for i in range(h):
            for j in range(w):
                y = int(target[b, i, j])
                if ignore_index is not None and y == ignore_index:
                    continue
                z = logits[b, :, i, j].astype(np.float64)
                log_p = z - (z.max() + math.log(np.exp(z - z.max()).sum()))
                yield b, log_p, y


def _weights(class_weights, c: int) -> np.ndarray:
    return np.ones(c) if class_weights is None else np.asarray(class_weights, dtype=np.float64)


def cross_entropy(logits, target, class_weights=None, ignore_index=None, label_smoothing=0.0) -> float:
    """PyTorch's definition: sum_i [(1-e) w_y (-log p_y) + e/C sum_c w_c (-log p_c)] / sum_i w_y."""
    c = logits.shape[1]
    w = _weights(class_weights, c)
    num = den = 0.0
    for _, log_p, y in _pixels(logits, target, ignore_index):
        num += (1 - label_smoothing) * w[y] * -log_p[y] + label_smoothing / c * float((w * -log_p).sum())
        den += w[y]
    return num / den if den > 0 else 0.0


def focal(logits, target, gamma=2.0, class_weights=None, ignore_index=None) -> float:
    """Lin et al.: -a_y (1 - p_y)^gamma log p_y, normalised by the sum of a_y."""
    w = _weights(class_weights, logits.shape[1])
    num = den = 0.0
    for _, log_p, y in _pixels(logits, target, ignore_index):
        p = math.exp(log_p[y])
        num += w[y] * (1 - p) ** gamma * -log_p[y]
        den += w[y]
    return num / den if den > 0 else 0.0


def ohem(logits, target, thresh=0.7, min_kept=100_000, class_weights=None, ignore_index=None) -> float:
    """CE over the valid pixels with p_true <= max(thresh, k-th smallest p_true), k = min(min_kept, n)."""
    c = logits.shape[1]
    w = _weights(class_weights, c)
    pixels = list(_pixels(logits, target, ignore_index))
    if not pixels:
        return 0.0
    probs = sorted(math.exp(log_p[y]) for _, log_p, y in pixels)
    k = min(min_kept, len(probs))
    t = probs[k - 1] if thresh is None else max(thresh, probs[k - 1])
    num = den = 0.0
    for _, log_p, y in pixels:
        if math.exp(log_p[y]) <= t:
            num += w[y] * -log_p[y]
            den += w[y]
    return num / den if den > 0 else 0.0


def _region_counts(logits, target, ignore_index):
    """Per class over the batch: I = sum p_c [y=c], P = sum p_c, G = sum [y=c] (valid pixels only)."""
    c = logits.shape[1]
    inter, pred, gt = np.zeros(c), np.zeros(c), np.zeros(c)
    for _, log_p, y in _pixels(logits, target, ignore_index):
        p = np.exp(log_p)
        pred += p
        inter[y] += p[y]
        gt[y] += 1
    return inter, pred, gt


def _average(per_class, gt, class_weights, classes) -> float:
    w = _weights(class_weights, len(per_class))
    num = den = 0.0
    for k in range(len(per_class)):
        if classes == "present" and gt[k] == 0:
            continue
        num += w[k] * per_class[k]
        den += w[k]
    return num / den if den > 0 else 0.0


def dice(logits, target, smooth=0.0, classes="present", class_weights=None, ignore_index=None) -> float:
    """1 - (2I + s) / (P + G + s) per class, averaged over present (or all) classes."""
    inter, pred, gt = _region_counts(logits, target, ignore_index)
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 for absent classes, left out below
        per_class = [1 - (2 * inter[k] + smooth) / (pred[k] + gt[k] + smooth) for k in range(len(gt))]
    return _average(per_class, gt, class_weights, classes)


def jaccard(logits, target, smooth=0.0, classes="present", class_weights=None, ignore_index=None) -> float:
    """1 - (I + s) / (P + G - I + s) per class, averaged."""
    inter, pred, gt = _region_counts(logits, target, ignore_index)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = [1 - (inter[k] + smooth) / (pred[k] + gt[k] - inter[k] + smooth) for k in range(len(gt))]
    return _average(per_class, gt, class_weights, classes)


def tversky(
    logits,
    target,
    alpha=0.3,
    beta=0.7,
    gamma=1.0,
    smooth=0.0,
    classes="present",
    class_weights=None,
    ignore_index=None,
) -> float:
    """(1 - (I + s) / (I + alpha FP + beta FN + s))^gamma per class, averaged (gamma=1: Tversky)."""
    inter, pred, gt = _region_counts(logits, target, ignore_index)
    per_class = []
    for k in range(len(gt)):
        fp, fn = pred[k] - inter[k], gt[k] - inter[k]
        with np.errstate(invalid="ignore", divide="ignore"):
            index = (inter[k] + smooth) / (inter[k] + alpha * fp + beta * fn + smooth)
        per_class.append((1 - index) ** gamma)
    return _average(per_class, gt, class_weights, classes)


def _lovasz_class(errors: list[float], fg: list[int]) -> float:
    """Lovasz extension of the Jaccard loss Delta(S) = |S| / |GT u S|, evaluated by prefixes."""
    order = sorted(range(len(errors)), key=lambda i: -errors[i])
    n_gt = sum(fg)
    loss, previous = 0.0, 0.0
    for rank in range(1, len(order) + 1):
        prefix = order[:rank]
        outside_gt = sum(1 for i in prefix if not fg[i])
        delta = rank / (n_gt + outside_gt)
        loss += errors[order[rank - 1]] * (delta - previous)
        previous = delta
    return loss


def lovasz(
    logits, target, per_image=False, classes="present", class_weights=None, ignore_index=None
) -> float:
    """Berman et al.: per class, Lovasz extension of the Jaccard loss on |[y=c] - p_c|, averaged."""
    n, c = logits.shape[:2]
    groups: dict[int, list[tuple[np.ndarray, int]]] = {}
    for b, log_p, y in _pixels(logits, target, ignore_index):
        groups.setdefault(b if per_image else 0, []).append((np.exp(log_p), y))
    values = []
    for pixels in groups.values():
        per_class, counts = [], []
        for k in range(c):
            fg = [int(y == k) for _, y in pixels]
            errors = [abs(f - p[k]) for f, (p, _) in zip(fg, pixels, strict=True)]
            per_class.append(_lovasz_class(errors, fg))
            counts.append(sum(fg))
        values.append(_average(per_class, counts, class_weights, classes))
    return float(np.mean(values)) if values else 0.0
