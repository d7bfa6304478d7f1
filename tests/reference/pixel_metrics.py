"""Independent re-statement of the pixel metrics, written from the definitions with sklearn and
plain numpy masks (no shared code with segwise.metrics)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import cohen_kappa_score, confusion_matrix, jaccard_score


def reference_confusion(pred, target, num_classes, ignore_index=None):
    p = np.asarray(pred).reshape(-1).astype(np.int64)
    t = np.asarray(target).reshape(-1).astype(np.int64)
    keep = np.ones_like(t, dtype=bool) if ignore_index is None else t != ignore_index
    if not keep.any():
        return np.zeros((num_classes, num_classes), np.int64)
    return confusion_matrix(t[keep], p[keep], labels=list(range(num_classes)))


def reference_scores(pred, target, num_classes, ignore_index=None):
    """Per-class and mean scores straight from boolean masks, following the documented policy."""
    p = np.asarray(pred).reshape(-1).astype(np.int64)
    t = np.asarray(target).reshape(-1).astype(np.int64)
    valid = np.ones_like(t, dtype=bool) if ignore_index is None else t != ignore_index
    p, t = p[valid], t[valid]
    evaluated = [c for c in range(num_classes) if c != ignore_index]
    iou, acc, prec, dice = {}, {}, {}, {}
    absent = []
    for c in evaluated:
        in_t, in_p = t == c, p == c
        tp = np.sum(in_t & in_p)
        if not in_t.any() and not in_p.any():
            absent.append(c)
            continue
        iou[c] = tp / np.sum(in_t | in_p)
        dice[c] = 2 * tp / (in_t.sum() + in_p.sum())
        if in_t.any():
            acc[c] = tp / in_t.sum()
        if in_p.any():
            prec[c] = tp / in_p.sum()
    out = {
        "iou": iou,
        "accuracy": acc,
        "precision": prec,
        "dice": dice,
        "absent_classes": absent,
        "pixel_accuracy": float(np.mean(p == t)) if t.size else float("nan"),
        "miou": float(np.mean(list(iou.values()))) if iou else float("nan"),
        "mean_accuracy": float(np.mean(list(acc.values()))) if acc else float("nan"),
        "mean_dice": float(np.mean(list(dice.values()))) if dice else float("nan"),
        "fwiou": float(sum(np.mean(t == c) * v for c, v in iou.items())) if t.size else float("nan"),
    }
    if t.size and len(np.union1d(np.unique(t), np.unique(p))) > 1:
        out["kappa"] = float(cohen_kappa_score(t, p, labels=list(range(num_classes))))
    # sklearn's own IoU over the scored classes, as a second opinion
    scored = sorted(iou)
    if scored and t.size:
        sk = jaccard_score(t, p, labels=scored, average=None, zero_division=0.0)  # unions are > 0 here
        out["sklearn_iou"] = dict(zip(scored, sk, strict=True))
    return out
