"""Loop re-statements of the bootstrap and the paired tests: every resample sums the drawn images'
confusion matrices and scores them with the scalar ``scores_from_confusion``; the permutation test
is enumerated exactly over all 2^N swaps."""

from __future__ import annotations

import itertools

import numpy as np

from segwise.metrics.functional import scores_from_confusion


def draw_indices(num_images, num_resamples, seed):
    """The documented resampling protocol: ``default_rng(seed).integers(0, N, (B, N))``."""
    return np.random.default_rng(seed).integers(0, num_images, size=(num_resamples, num_images))


def percentile_interval(samples, level):
    s = np.asarray(samples, float)
    s = s[~np.isnan(s)]
    a = 1 - level
    return float(np.percentile(s, 100 * a / 2)), float(np.percentile(s, 100 * (1 - a / 2)))


def bootstrap_samples(mats, ignore_index, idx, image_bf=None, image_biou=None):
    out = {"miou": [], "pixel_accuracy": [], "mean_accuracy": [], "bf": [], "biou": []}
    c = mats.shape[1]
    for row in idx:
        s = scores_from_confusion(mats[row].sum(axis=0), ignore_index)
        for k in ("miou", "pixel_accuracy", "mean_accuracy"):
            out[k].append(s[k])
        if image_bf is not None:
            v = np.asarray(image_bf)[row]
            v = v[~np.isnan(v)]
            out["bf"].append(v.mean() if v.size else np.nan)
        if image_biou is not None:
            inter = image_biou[row, 0].sum(axis=0).astype(float)
            union = image_biou[row, 1].sum(axis=0).astype(float)
            per = [inter[k] / union[k] for k in range(c) if union[k] > 0 and k != ignore_index]
            out["biou"].append(np.mean(per) if per else np.nan)
    return out


def exact_permutation_p(mats_a, mats_b, ignore_index=None):
    """Two-sided exact p-value of delta mIoU over all 2^N swaps (the identity swap included)."""
    n = mats_a.shape[0]
    observed = (
        scores_from_confusion(mats_b.sum(0), ignore_index)["miou"]
        - scores_from_confusion(mats_a.sum(0), ignore_index)["miou"]
    )
    count = 0
    total = 0
    for swap in itertools.product([0, 1], repeat=n):
        s = np.array(swap, bool)
        a = np.where(s[:, None, None], mats_b, mats_a).sum(0)
        b = np.where(s[:, None, None], mats_a, mats_b).sum(0)
        delta = (
            scores_from_confusion(b, ignore_index)["miou"] - scores_from_confusion(a, ignore_index)["miou"]
        )
        count += abs(delta) >= abs(observed) - 1e-12
        total += 1
    return count / total
