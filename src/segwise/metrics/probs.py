"""Threshold-free scores and calibration of predicted class probabilities, in one streaming pass.

:class:`ProbabilityAccumulator` is fed per image with the class probabilities ``(C, H, W)`` and the
ground truth ``(H, W)`` (ignore / ROI already applied) and keeps bounded state:

* per class, one-vs-rest histograms of the scores ``p_c`` of the positive (``y = c``) and negative
  pixels. The bins are the float16 values in [0, 1] (15361 bins: a float16's bit pattern is its bin),
  so for float16 probabilities (what ``segwise predict --save probs`` writes) the histograms are
  exact and ROC AUC and average precision equal scikit-learn's on the same pixels; finer
  probabilities are rounded to float16 first (see docs/metrics.md for the bound);
* per calibration bin (``calibration_bins`` equal-width bins of [0, 1]), exact float64 sums of the
  confidences and counts of the correct pixels, for the top label and for each class;
* float64 sums of the Brier score and the NLL, and the per-class recall counts of the argmax.

ROC AUC = P(score of a positive > score of a negative) + ½ P(tie); average precision is
scikit-learn's step sum ``Σ_n (R_n − R_{n−1}) P_n`` over the distinct scores, high to low.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from segwise.errors import InputError
from segwise.metrics import _probs_kernels
from segwise.metrics.state import MetricState

__all__ = ["NLL_EPS", "NUM_SCORE_BINS", "POLICY", "SUM_TOLERANCE", "ProbabilityAccumulator", "score_bins"]

NUM_SCORE_BINS = 0x3C00 + 1  # float16 bit patterns 0 (0.0) ... 0x3C00 (1.0), in increasing order
NLL_EPS = 1e-7
SUM_TOLERANCE = 1e-2

POLICY: dict[str, str] = {
    "probs_pixels": "pixels whose ground truth is the ignore value (with an ROI: outside it) are left out; the "
    "probabilities themselves are used as given, also outside the ROI",
    "probs_roc_auc": "per class one-vs-rest (positives y = c) over every evaluated pixel of the dataset; ties "
    "count one half; null when the class has no positive or no negative pixel; mean_roc_auc over the "
    "classes where defined",
    "probs_average_precision": "per class one-vs-rest, sum over distinct scores (high to low) of "
    "(R_n - R_n-1) P_n (scikit-learn's definition); null when the class has no positive pixel (1.0 when it "
    "has no negative one); mean_average_precision over the classes where defined",
    "probs_score_bins": "scores are binned at float16 precision (15361 bins of [0, 1]): exact for float16 "
    "probabilities; finer ones are rounded to float16 first",
    "probs_calibration": "top label = argmax (first class on ties), confidence = its probability; bins of "
    "equal width on [0, 1], bin of p = min(floor(p K), K - 1); ece = sum over bins |accuracy - confidence| "
    "x bin mass, mce = max over non-empty bins; classwise_ece = mean over all classes (absent ones too; not an "
    "in-range ignore index) of the ECE of p_c against 1[y = c]",
    "probs_brier": "mean over pixels of sum_c (p_c - 1[y = c])^2 (between 0 and 2)",
    "probs_nll": f"mean over pixels of -ln(max(p_y, {NLL_EPS:g}))",
    "probs_binary": "two classes: class 1 is positive; sensitivity = recall of class 1 and specificity = "
    "recall of class 0 at the argmax; best_threshold: predict 1 where p_1 >= t, t over the distinct float16 "
    "scores of class 1, the highest t among ties",
}


def score_bins(probs: np.ndarray) -> np.ndarray:
    """Histogram bin of each probability: its float16 bit pattern (monotone on [0, 1]).

    >>> score_bins(np.array([0.0, 0.5, 1.0])).tolist()
    [0, 14336, 15360]
    """
    p16 = np.clip(np.asarray(probs, np.float32), 0.0, 1.0).astype(np.float16)
    return p16.view(np.uint16).astype(np.intp)


_BIN_VALUES = np.arange(NUM_SCORE_BINS, dtype=np.uint16).view(np.float16).astype(np.float64)


def _none(x: float) -> float | None:
    return None if x != x else float(x)


def _mean_defined(values: Sequence[float | None]) -> float | None:
    defined = [v for v in values if v is not None]
    return float(np.mean(defined)) if defined else None


def roc_auc_from_histograms(pos: np.ndarray, neg: np.ndarray) -> float | None:
    """ROC AUC from score histograms (bins in increasing score order), ties counted one half.

    >>> roc_auc_from_histograms(np.array([0, 1, 1]), np.array([1, 1, 0]))
    0.875
    """
    num_pos, num_neg = float(pos.sum()), float(neg.sum())
    if num_pos == 0 or num_neg == 0:
        return None
    pos_below = np.cumsum(pos) - pos  # positives in lower bins
    return float(((neg * (num_pos - pos_below - pos)).sum() + 0.5 * (neg * pos).sum()) / (num_pos * num_neg))


def _cumulative_from_top(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True and false positives when predicting positive at score >= each bin's value."""
    return np.cumsum(pos[::-1])[::-1], np.cumsum(neg[::-1])[::-1]


def average_precision_from_histograms(pos: np.ndarray, neg: np.ndarray) -> float | None:
    """scikit-learn's average precision from score histograms.

    >>> average_precision_from_histograms(np.array([0, 1, 1]), np.array([1, 1, 0]))
    0.8333333333333333
    """
    num_pos = float(pos.sum())
    if num_pos == 0:
        return None
    tp, fp = _cumulative_from_top(pos, neg)
    hit = pos > 0
    return float((pos[hit] / num_pos * tp[hit] / (tp[hit] + fp[hit])).sum())


def best_thresholds(pos: np.ndarray, neg: np.ndarray) -> dict[str, dict[str, float] | None]:
    """The thresholds (predict positive where score >= t) that maximise F1 and Youden's J."""
    num_pos, num_neg = int(pos.sum()), int(neg.sum())
    seen = np.flatnonzero((pos + neg) > 0)[::-1]  # distinct scores, high to low
    if seen.size == 0:
        return {"f1": None, "youden": None}
    tp_all, fp_all = _cumulative_from_top(pos, neg)
    tp, fp = tp_all[seen].astype(np.float64), fp_all[seen].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
        recall = tp / num_pos if num_pos else np.full_like(tp, np.nan)
        f1 = np.where(2 * tp + fp + (num_pos - tp) > 0, 2 * tp / (2 * tp + fp + (num_pos - tp)), np.nan)
        fpr = fp / num_neg if num_neg else np.full_like(fp, np.nan)
        youden = recall - fpr

    def row(scores: np.ndarray, key: str) -> dict[str, float] | None:
        if np.all(np.isnan(scores)):
            return None
        i = int(np.nanargmax(scores))  # first maximum: the highest threshold among ties
        out = {
            "threshold": float(_BIN_VALUES[seen[i]]),
            "precision": _none(precision[i]),
            "recall": _none(recall[i]),
            "f1": _none(f1[i]),
        }
        if key == "youden":
            out.update(youden=_none(youden[i]), specificity=_none(1 - fpr[i]))
        return out

    return {"f1": row(f1, "f1"), "youden": row(youden, "youden")}


class ProbabilityAccumulator(MetricState):
    """ROC AUC, average precision, calibration (ECE, class-wise ECE, MCE), Brier score and NLL of
    class probabilities, streamed over images.

    Args:
        num_classes: number of classes C (the probabilities' first axis).
        ignore_index: ground-truth value left out (with an ROI, the value outside it); other values
            must be class ids.
        calibration_bins: equal-width bins of [0, 1] for the calibration scores.

    Shape:
        - probs: ``(C, H, W)`` or ``(N, C, H, W)`` floats in [0, 1] summing to 1 over C
        - target: ``(H, W)`` or ``(N, H, W)`` class ids

    Example:
        >>> acc = ProbabilityAccumulator(2)
        >>> p1 = np.array([[0.9, 0.2], [0.6, 0.4]])
        >>> acc.update(np.stack([1 - p1, p1]), np.array([[1, 0], [0, 1]]))
        >>> r = acc.result()
        >>> r["roc_auc"], r["sensitivity"], r["specificity"]
        ([0.75, 0.75], 0.5, 0.5)
    """

    def __init__(self, num_classes: int, ignore_index: int | None = None, calibration_bins: int = 15) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer) or num_classes < 2:
            raise InputError(
                f"Expected argument `num_classes` to be an integer >= 2, but got {num_classes!r}."
            )
        if (
            isinstance(calibration_bins, bool)
            or not isinstance(calibration_bins, int | np.integer)
            or calibration_bins < 1
        ):
            raise InputError(
                f"Expected argument `calibration_bins` to be an integer >= 1, but got {calibration_bins!r}, e.g. 15."
            )
        self.num_classes = int(num_classes)
        self.ignore_index = None if ignore_index is None else int(ignore_index)
        self.calibration_bins = int(calibration_bins)
        c, k = self.num_classes, self.calibration_bins
        self.add_state("pos_hist", np.zeros((c, NUM_SCORE_BINS), np.int64), "sum")
        self.add_state("neg_hist", np.zeros((c, NUM_SCORE_BINS), np.int64), "sum")
        self.add_state("top_count", np.zeros(k, np.int64), "sum")
        self.add_state("top_conf", np.zeros(k, np.float64), "sum")
        self.add_state("top_correct", np.zeros(k, np.int64), "sum")
        self.add_state("class_count", np.zeros((c, k), np.int64), "sum")
        self.add_state("class_conf", np.zeros((c, k), np.float64), "sum")
        self.add_state("class_pos", np.zeros((c, k), np.int64), "sum")
        self.add_state("loss_sums", np.zeros(2, np.float64), "sum")  # Brier, NLL
        self.add_state("label_count", np.zeros(c, np.int64), "sum")
        self.add_state("label_hits", np.zeros(c, np.int64), "sum")

    def settings(self) -> dict[str, Any]:
        return {
            "num_classes": self.num_classes,
            "ignore_index": self.ignore_index,
            "calibration_bins": self.calibration_bins,
        }

    def _bin(self, p: np.ndarray) -> np.ndarray:
        k = self.calibration_bins
        return np.minimum(np.floor(p * k), k - 1).astype(np.intp)

    def update(self, pred: Any, target: Any) -> None:
        """Add one image (``pred``: probabilities ``(C, H, W)``) or a batch ``(N, C, H, W)``."""
        probs, target = np.asarray(pred), np.asarray(target)
        if probs.ndim == 4 and target.ndim == 3:
            for p, t in zip(probs, target, strict=True):
                self._update_image(p, t)
        else:
            self._update_image(probs, target)

    def _update_image(self, probs: np.ndarray, target: np.ndarray) -> None:
        c = self.num_classes
        if probs.ndim != 3 or probs.shape[0] != c or probs.shape[1:] != target.shape:
            raise InputError(
                f"Expected probabilities (C={c}, H, W) and target (H, W); got {probs.shape} and {target.shape}."
            )
        if not np.issubdtype(probs.dtype, np.floating):
            raise InputError(f"probabilities must be floats in [0, 1]; got {probs.dtype}.")
        y = target.reshape(-1).astype(np.int64)
        valid = y != self.ignore_index if self.ignore_index is not None else np.ones(y.shape, bool)
        bad = valid & ((y < 0) | (y >= c))
        if bad.any():
            raise InputError(
                f"target holds {np.unique(y[bad])[:5].tolist()}, not class ids in [0, {c}) nor the ignore "
                f"value {self.ignore_index}."
            )
        if not valid.any():
            return
        if probs.dtype == np.float16:
            bits = np.ascontiguousarray(probs.reshape(c, -1)).view(np.uint16)
            values = np.zeros((1, 1), np.float64)
        else:
            values = np.ascontiguousarray(probs.reshape(c, -1))
            if values.dtype not in (np.float32, np.float64):
                values = values.astype(np.float64)
            bits = np.clip(values, 0.0, 1.0).astype(np.float32).astype(np.float16).view(np.uint16)
        _probs_kernels.probs_update(
            bits,
            values,
            probs.dtype == np.float16,
            _probs_kernels.F16_VALUES,
            y,
            -1 if self.ignore_index is None else self.ignore_index,
            self.ignore_index is not None,
            self.calibration_bins,
            NLL_EPS,
            self.pos_hist,
            self.neg_hist,
            self.top_count,
            self.top_conf,
            self.top_correct,
            self.class_count,
            self.class_conf,
            self.class_pos,
            self.loss_sums,
            self.label_count,
            self.label_hits,
        )

    def calibration(self) -> dict[str, Any]:
        """Reliability-diagram data of the top label: bin edges, per-bin confidence, accuracy, count."""
        count = self.top_count
        with np.errstate(invalid="ignore", divide="ignore"):
            conf, acc = self.top_conf / count, self.top_correct / count
        return {
            "bins": self.calibration_bins,
            "edges": np.linspace(0.0, 1.0, self.calibration_bins + 1).tolist(),
            "confidence": [_none(v) for v in conf],
            "accuracy": [_none(v) for v in acc],
            "count": count.tolist(),
        }

    def result(self, state: Any = None, class_names: Sequence[str] | None = None) -> dict[str, Any]:
        c = self.num_classes
        n = int(self.top_count.sum())
        auc = [roc_auc_from_histograms(self.pos_hist[k], self.neg_hist[k]) for k in range(c)]
        ap = [average_precision_from_histograms(self.pos_hist[k], self.neg_hist[k]) for k in range(c)]
        out: dict[str, Any] = {
            "roc_auc": auc,
            "average_precision": ap,
            "mean_roc_auc": _mean_defined(auc),
            "mean_average_precision": _mean_defined(ap),
            "probs_pixels": n,
        }
        if n:
            gaps = np.abs(self.top_correct - self.top_conf)
            nonempty = self.top_count > 0
            out["ece"] = float(gaps.sum() / n)
            out["mce"] = float((gaps[nonempty] / self.top_count[nonempty]).max())
            scored = [k for k in range(c) if k != self.ignore_index]  # an in-range ignore index is no class
            per_class = np.abs(self.class_pos - self.class_conf).sum(axis=1) / n
            out["classwise_ece"] = float(per_class[scored].mean())
            out["brier"] = float(self.loss_sums[0] / n)
            out["nll"] = float(self.loss_sums[1] / n)
        else:
            out.update(ece=None, mce=None, classwise_ece=None, brier=None, nll=None)
        out["calibration"] = self.calibration()
        if c == 2:
            with np.errstate(invalid="ignore", divide="ignore"):
                recall = self.label_hits / self.label_count
            out["sensitivity"] = _none(recall[1])
            out["specificity"] = _none(recall[0])
            out["best_threshold"] = best_thresholds(self.pos_hist[1], self.neg_hist[1])
        out["policy"] = dict(POLICY)
        return out
