"""Random label maps with blob-like regions (like real masks, unlike i.i.d. noise), for the
boundary, region and statistics tests."""

from __future__ import annotations

import numpy as np


def blob_labels(rng, h, w, num_classes, cell=4, noise=0.03):
    """Class ids (H, W): a coarse random grid upsampled by ``cell``, plus a sprinkle of noise."""
    coarse = rng.integers(0, num_classes, (h // cell + 2, w // cell + 2))
    lab = np.repeat(np.repeat(coarse, cell, axis=0), cell, axis=1)
    oy, ox = rng.integers(0, cell, 2)
    lab = lab[oy : oy + h, ox : ox + w].copy()
    flip = rng.random((h, w)) < noise
    lab[flip] = rng.integers(0, num_classes, int(flip.sum()))
    return lab


def perturb(rng, lab, num_classes, shift=2, boxes=3):
    """A prediction: the labels shifted by up to ``shift`` px, with a few random boxes painted in."""
    h, w = lab.shape
    p = np.roll(lab, tuple(rng.integers(-shift, shift + 1, 2)), axis=(0, 1)).copy()
    for _ in range(boxes):
        y, x = rng.integers(0, h), rng.integers(0, w)
        p[y : y + rng.integers(1, max(2, h // 3)), x : x + rng.integers(1, max(2, w // 3))] = rng.integers(
            0, num_classes
        )
    return p
