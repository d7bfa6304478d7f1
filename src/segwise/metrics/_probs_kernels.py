"""Numba kernel for :class:`segwise.metrics.probs.ProbabilityAccumulator`: one pass over the pixels.

Per evaluated pixel it reads the C probabilities once and updates, in place, the per-class score
histograms (bin = float16 bit pattern, clipped to [0, 1]), the top-label and per-class calibration
bins, the Brier and NLL sums and the argmax recall counts. It replaces ~10 numpy passes with their
(C, n) temporaries (masking copies, one-hot matrix, float64 copy, 2C bincounts): the same counts,
and the float64 per-bin sums are accumulated in pixel order as ``np.bincount`` does. Only the Brier
and NLL totals are summed in another order than numpy's pairwise ``sum`` (last-bit differences).
"""

from __future__ import annotations

import numba
import numpy as np

ONE_BITS = 0x3C00  # float16 1.0
SIGN_BIT = 0x8000
# float64 value of every float16 bit pattern: the exact value of a float16 probability
F16_VALUES = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float64)


@numba.njit(cache=True, nogil=True)
def probs_update(  # pragma: no cover
    bits,  # (C, n) uint16: float16 bit patterns of the scores (raw, clipped here)
    values,  # (C, n) float32/float64 probabilities, or (1, 1) when from_bits
    from_bits,  # values are F16_VALUES[bits] (float16 input)
    table,  # F16_VALUES
    y,  # (n,) int64 targets
    ignore_index,
    has_ignore,
    num_bins,  # calibration bins K
    nll_eps,
    pos_hist,
    neg_hist,
    top_count,
    top_conf,
    top_correct,
    class_count,
    class_conf,
    class_pos,
    loss_sums,
    label_count,
    label_hits,
):
    c, n = bits.shape
    brier = 0.0
    nll = 0.0
    for j in range(n):
        t = y[j]
        if has_ignore and t == ignore_index:
            continue
        best = -1.0
        top = 0
        for k in range(c):
            raw = bits[k, j]
            v = table[raw] if from_bits else np.float64(values[k, j])
            b = raw
            if b > ONE_BITS:
                b = 0 if b >= SIGN_BIT else ONE_BITS
            cb = int(np.floor(v * num_bins))
            if cb < 0:
                cb = 0
            if cb > num_bins - 1:
                cb = num_bins - 1
            class_count[k, cb] += 1
            class_conf[k, cb] += v
            if k == t:
                pos_hist[k, b] += 1
                class_pos[k, cb] += 1
                d = v - 1.0
                nll -= np.log(v if v > nll_eps else nll_eps)
            else:
                neg_hist[k, b] += 1
                d = v
            brier += d * d
            if v > best:
                best = v
                top = k
        tb = int(np.floor(best * num_bins))
        if tb > num_bins - 1:
            tb = num_bins - 1
        top_count[tb] += 1
        top_conf[tb] += best
        label_count[t] += 1
        if top == t:
            top_correct[tb] += 1
            label_hits[t] += 1
    loss_sums[0] += brier
    loss_sums[1] += nll
