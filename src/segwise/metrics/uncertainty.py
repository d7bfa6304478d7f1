"""How well per-pixel uncertainty finds errors: error AUROC and the risk-coverage curve.

Each image brings its prediction, its ground truth and two uncertainty maps in nats, stacked as
``(2, H, W)`` = (predictive entropy, mutual information) -- what ``segwise predict --save
uncertainty`` writes. Over the valid pixels (target in ``[0, C)`` and not ``ignore_index``) a pixel
is *wrong* when ``pred != target``. Every map value is counted in a fixed histogram of ``bins``
equal bins over ``[0, log C]`` (values above go to the last bin), per map and per right/wrong, so
memory is ``O(bins)`` however many pixels are evaluated.

* ``error_auroc_<map>``: the area under the ROC curve of the map as a score for "pixel is wrong",
  i.e. P(u_wrong > u_right) + P(tie)/2, where values in one bin count as tied. The difference to the
  exact AUROC is at most half the share of (wrong, right) pairs that fall in the same bin (below
  1e-3 on the tests' data with the default 4096 bins, a bin width of log C / 4096 nats).
* ``risk_coverage``: the error rate of the most certain (lowest entropy) ``x`` of the valid pixels,
  at coverages 0.1, 0.2, ..., 1.0; pixels of the bin at the cut count with its mean error rate.
* ``aurc``: the area under that risk-coverage curve over coverage (0, 1], the integral of the
  piecewise-linear cumulative error (linear within a bin) divided by coverage.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from segwise.errors import InputError
from segwise.metrics.state import MetricState

__all__ = ["COVERAGES", "UNCERTAINTY_MAPS", "UncertaintyAccumulator", "histogram_auroc", "risk_coverage"]

UNCERTAINTY_MAPS: tuple[str, str] = ("entropy", "mi")
COVERAGES: tuple[float, ...] = tuple(round(0.1 * k, 1) for k in range(1, 11))

POLICY: dict[str, str] = {
    "uncertainty": "uncertainty maps (2,H,W) = (predictive entropy, mutual information) in nats, one <key>.npy "
    "per image; valid pixels: target in [0,C) and not the ignore index; a pixel is wrong when pred != target",
    "uncertainty_bins": "values are counted in {bins} equal bins over [0, log C] (higher values in the last bin); "
    "values in one bin count as tied",
    "error_auroc": "AUROC of each map as a score for 'pixel is wrong' = P(u_wrong > u_right) + P(tie)/2; null "
    "when no valid pixel is wrong or none is right",
    "risk_coverage": "error rate of the most certain (lowest entropy) fraction of valid pixels at coverages "
    "0.1..1.0; aurc = area under the curve over coverage (0,1], errors spread evenly within a bin",
}


def histogram_auroc(wrong: np.ndarray, right: np.ndarray) -> float:
    """AUROC of a score binned into histograms ``wrong`` and ``right`` (counts per bin, ascending
    score), values in one bin counted as ties; NaN when either histogram is empty.

    Example:
        >>> histogram_auroc(np.array([0, 1, 3]), np.array([2, 1, 0]))
        0.9583333333333334
    """
    wrong = np.asarray(wrong, np.float64)
    right = np.asarray(right, np.float64)
    n_wrong, n_right = wrong.sum(), right.sum()
    if n_wrong == 0 or n_right == 0:
        return float("nan")
    right_below = np.cumsum(right) - right
    return float((wrong * (right_below + 0.5 * right)).sum() / (n_wrong * n_right))


def risk_coverage(
    wrong: np.ndarray, right: np.ndarray, coverages: Sequence[float] = COVERAGES
) -> tuple[list[float], float]:
    """Risk at ``coverages`` and the AURC from histograms ``wrong``, ``right`` (ascending uncertainty).

    Example:
        >>> risk, aurc = risk_coverage(np.array([0, 2]), np.array([2, 0]), (0.5, 1.0))
        >>> risk, round(aurc, 4)
        ([0.0, 0.5], 0.1534)
    """
    wrong = np.asarray(wrong, np.float64)
    total = wrong + np.asarray(right, np.float64)
    n = total.sum()
    if n == 0:
        return [float("nan")] * len(coverages), float("nan")
    cov = np.concatenate([[0.0], np.cumsum(total) / n])  # coverage at bin edges
    err = np.concatenate([[0.0], np.cumsum(wrong) / n])  # cumulative error (fraction of all pixels)
    risk = [float(np.interp(c, cov, err) / c) for c in coverages]
    area = 0.0
    for k in range(len(total)):
        c1, c2 = cov[k], cov[k + 1]
        if c2 <= c1:
            continue
        slope = (err[k + 1] - err[k]) / (c2 - c1)
        offset = err[k] - slope * c1  # err(c) = offset + slope c within the bin
        area += slope * (c2 - c1) + (offset * math.log(c2 / c1) if offset != 0 else 0.0)
    return risk, float(area)


class UncertaintyAccumulator(MetricState):
    """Streaming histograms of the uncertainty of right and wrong pixels (see the module docstring).

    Args:
        num_classes: number of evaluated classes C (the histograms span ``[0, log C]`` nats).
        ignore_index: target value that is not counted.
        bins: histogram bins per map.

    Shape:
        - pred, target: ``(H, W)`` or ``(N, H, W)`` class ids
        - uncertainty: ``(2, H, W)`` or ``(N, 2, H, W)``: entropy and mutual information in nats

    Example:
        >>> acc = UncertaintyAccumulator(2, 255, bins=8)
        >>> t = np.zeros((2, 2), np.uint8); p = np.array([[0, 1], [0, 0]], np.uint8)
        >>> u = np.stack([np.array([[0.1, 0.6], [0.0, 0.2]])] * 2)
        >>> acc.update(p, t, uncertainty=u)
        >>> acc.result()["uncertainty"]["error_auroc_entropy"]
        1.0
    """

    inputs: tuple[str, ...] = ("uncertainty",)

    def __init__(self, num_classes: int, ignore_index: int | None = None, bins: int = 4096) -> None:
        super().__init__()
        if int(num_classes) < 2:
            raise InputError(f"Expected argument `num_classes` >= 2, but got {num_classes!r}.")
        if int(bins) < 2:
            raise InputError(f"Expected argument `bins` >= 2, but got {bins!r}.")
        self.num_classes = int(num_classes)
        self.ignore_index = ignore_index
        self.bins = int(bins)
        # [map (entropy, mi), right/wrong, bin]
        self.add_state("hist", np.zeros((2, 2, self.bins), np.int64), "sum")

    def settings(self) -> dict[str, Any]:
        return {"num_classes": self.num_classes, "ignore_index": self.ignore_index, "bins": self.bins}

    def update(self, pred: Any, target: Any, uncertainty: Any = None) -> None:
        """Add one image or a batch with its uncertainty maps."""
        if uncertainty is None:
            raise InputError(
                "the uncertainty metrics need the uncertainty maps of each image: pass "
                "update(pred, target, uncertainty=...) (segwise eval --uncertainty DIR)."
            )
        pred = np.asarray(pred.cpu() if hasattr(pred, "cpu") else pred)
        target = np.asarray(target.cpu() if hasattr(target, "cpu") else target)
        unc = np.asarray(uncertainty.cpu() if hasattr(uncertainty, "cpu") else uncertainty, np.float64)
        if target.ndim == 2:
            pred, target, unc = pred[None], target[None], unc[None]
        if pred.shape != target.shape or unc.shape != (target.shape[0], 2, *target.shape[1:]):
            raise InputError(
                f"Expected uncertainty of shape (2, H, W) per image matching target {target.shape[-2:]} and "
                f"pred {pred.shape[-2:]}, but got {unc.shape}."
            )
        t = target.astype(np.int64)
        valid = (t >= 0) & (t < self.num_classes)
        if self.ignore_index is not None:
            valid &= t != self.ignore_index
        wrong = (pred.astype(np.int64) != t)[valid].astype(np.int64)
        scale = self.bins / math.log(self.num_classes)
        for m in range(2):
            u = np.nan_to_num(unc[:, m][valid], nan=0.0, posinf=math.inf)
            idx = np.clip((u * scale).astype(np.int64), 0, self.bins - 1)
            self.hist[m] += np.bincount(wrong * self.bins + idx, minlength=2 * self.bins).reshape(
                2, self.bins
            )

    def policy(self) -> dict[str, str]:
        return {k: v.format(bins=self.bins) for k, v in POLICY.items()}

    def result(self, state: Any = None, class_names: Sequence[str] | None = None) -> dict[str, Any]:
        """``uncertainty``: ``error_auroc_entropy``, ``error_auroc_mi``, ``risk_coverage``
        (``coverage``, ``risk``), ``aurc``, ``pixels``; and ``policy``."""

        def num(x: float) -> float | None:
            return None if x != x else float(x)

        aurocs = {
            f"error_auroc_{name}": num(histogram_auroc(self.hist[m, 1], self.hist[m, 0]))
            for m, name in enumerate(UNCERTAINTY_MAPS)
        }
        risk, aurc = risk_coverage(self.hist[0, 1], self.hist[0, 0])
        out = {
            **aurocs,
            "risk_coverage": {"coverage": list(COVERAGES), "risk": [num(r) for r in risk]},
            "aurc": num(aurc),
            "pixels": int(self.hist[0].sum()),
            "wrong_pixels": int(self.hist[0, 1].sum()),
        }
        return {"uncertainty": out, "policy": self.policy()}
