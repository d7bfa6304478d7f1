"""Synthetic per-image confusion matrices for the comparison tests."""

import numpy as np


def pair_sets(rng, n, c=3, noise_a=0.3, noise_b=0.1):
    """Two prediction sets of the same ground truth, as (n, c, c) per-image matrices: each wrong pixel
    goes to the next class; set A is wrong with probability ``noise_a``, set B with ``noise_b``."""
    gt = rng.integers(20, 60, size=(n, c))  # ground-truth pixels per image and class

    def make(noise):
        mats = np.zeros((n, c, c), np.int64)
        for i in range(n):
            for k in range(c):
                wrong = rng.binomial(gt[i, k], noise)
                mats[i, k, k] = gt[i, k] - wrong
                mats[i, k, (k + 1) % c] = wrong
        return mats

    return make(noise_a), make(noise_b)
