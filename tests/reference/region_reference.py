"""Independent re-statement of the object metrics: scipy.ndimage.label per class, the full IoU
matrix of every ground-truth / predicted component pair, and the pairs with IoU > threshold."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def _bin(area, small, medium):
    return 0 if area < small else (1 if area < medium else 2)


def object_counts(
    pred, target, num_classes, ignore_index=None, connectivity=8, threshold=0.5, small=32 * 32, medium=96 * 96
):
    """(4, C, 3) TP, FP, FN, IoU sum per class and size bin for one image."""
    structure = np.ones((3, 3)) if connectivity == 8 else ndi.generate_binary_structure(2, 1)
    valid = np.ones(target.shape, bool) if ignore_index is None else target != ignore_index
    out = np.zeros((4, num_classes, 3))
    for c in range(num_classes):
        gl, ng = ndi.label((target == c) & valid, structure=structure)
        pl, npr = ndi.label((pred == c) & valid, structure=structure)
        g_area = [int((gl == i).sum()) for i in range(1, ng + 1)]
        p_area = [int((pl == j).sum()) for j in range(1, npr + 1)]
        matches = []
        for i in range(1, ng + 1):
            for j in range(1, npr + 1):
                inter = int(((gl == i) & (pl == j)).sum())
                union = g_area[i - 1] + p_area[j - 1] - inter
                if inter / union > threshold:
                    matches.append((i, j, inter / union))
        gi = [m[0] for m in matches]
        pj = [m[1] for m in matches]
        assert len(set(gi)) == len(gi) and len(set(pj)) == len(pj), "IoU > 0.5 matches must be unique"
        for i, _, iou in matches:
            b = _bin(g_area[i - 1], small, medium)
            out[0, c, b] += 1
            out[3, c, b] += iou
        for i in range(1, ng + 1):
            if i not in gi:
                out[2, c, _bin(g_area[i - 1], small, medium)] += 1
        for j in range(1, npr + 1):
            if j not in pj:
                out[1, c, _bin(p_area[j - 1], small, medium)] += 1
    return out
