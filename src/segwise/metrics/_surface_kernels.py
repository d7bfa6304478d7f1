"""Numba kernels of the surface-distance metrics: label preparation and boundary voxels of every class.

The kernels work on volumes ``(D, H, W)``; a 2D image is a volume of depth 1 with ``is3d=False``
(no neighbours along the first axis). Prepared label maps are ``int32`` with class ids in
``[0, C)`` and ``-1`` for voxels of no class (ignored in the target, in both maps).

Boundary voxels (MONAI's ``get_mask_edges`` without spacing: ``mask ^ binary_erosion(mask)``): a
voxel of class c with a face neighbour that is not of class c, or on the array border (outside
the array counts as "not class c").
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def prepare(pred, target, num_classes, ignore_index, has_ignore):  # pragma: no cover
    """Flat ``pred``/``target`` -> int32 copies with -1 on ignored voxels; count out-of-range ids
    (targets outside ``[0, C)`` that are not ignored; predictions outside it on non-ignored voxels)."""
    n = target.size
    g = np.empty(n, dtype=np.int32)
    q = np.empty(n, dtype=np.int32)
    bad_t = 0
    bad_p = 0
    for i in range(n):
        t = np.int64(target[i])
        if has_ignore and t == ignore_index:
            g[i] = -1
            q[i] = -1
            continue
        if t < 0 or t >= num_classes:
            bad_t += 1
            t = -1
        p = np.int64(pred[i])
        if p < 0 or p >= num_classes:
            bad_p += 1
            p = -1
        g[i] = t
        q[i] = p
    return g, q, bad_t, bad_p


@numba.njit(cache=True, nogil=True)
def boundary_flags(lab, is3d):  # pragma: no cover
    """``uint8 (D, H, W)``: 1 on boundary voxels of their class (see the module docstring)."""
    d, h, w = lab.shape
    out = np.zeros(lab.shape, dtype=np.uint8)
    for z in range(d):
        for y in range(h):
            for x in range(w):
                c = lab[z, y, x]
                if c < 0:
                    continue
                edge = (
                    x == 0
                    or x == w - 1
                    or y == 0
                    or y == h - 1
                    or lab[z, y, x - 1] != c
                    or lab[z, y, x + 1] != c
                    or lab[z, y - 1, x] != c
                    or lab[z, y + 1, x] != c
                )
                if not edge and is3d:
                    edge = z == 0 or z == d - 1 or lab[z - 1, y, x] != c or lab[z + 1, y, x] != c
                if edge:
                    out[z, y, x] = 1
    return out


@numba.njit(cache=True, nogil=True)
def collect(lab, flags, num_classes):  # pragma: no cover
    """Boundary voxels of ``lab`` grouped by class: ``(offsets (C+1,), points (M, 3) int32)``, the
    points of class c being ``points[offsets[c]:offsets[c + 1]]`` in raster order."""
    d, h, w = lab.shape
    counts = np.zeros(num_classes + 1, dtype=np.int64)
    for z in range(d):
        for y in range(h):
            for x in range(w):
                if flags[z, y, x]:
                    counts[lab[z, y, x] + 1] += 1
    offsets = np.cumsum(counts)
    fill = offsets[:-1].copy()
    points = np.empty((offsets[-1], 3), dtype=np.int32)
    for z in range(d):
        for y in range(h):
            for x in range(w):
                if flags[z, y, x]:
                    i = fill[lab[z, y, x]]
                    points[i, 0] = z
                    points[i, 1] = y
                    points[i, 2] = x
                    fill[lab[z, y, x]] = i + 1
    return offsets, points


@numba.njit(cache=True, nogil=True)
def nearest_nearby(points, lab, flags, c, steps, step_distance):  # pragma: no cover
    """Distance from each point to the nearest boundary voxel of class ``c`` in ``(lab, flags)``
    among the voxel steps ``steps (K, 3)``, sorted by their physical length ``step_distance``; -1
    where none of them is one (the nearest lies farther than the last step)."""
    d, h, w = lab.shape
    out = np.full(len(points), -1.0)
    for i in range(len(points)):
        z, y, x = points[i, 0], points[i, 1], points[i, 2]
        for k in range(len(steps)):
            zz, yy, xx = z + steps[k, 0], y + steps[k, 1], x + steps[k, 2]
            if 0 <= zz < d and 0 <= yy < h and 0 <= xx < w and flags[zz, yy, xx] and lab[zz, yy, xx] == c:
                out[i] = step_distance[k]
                break
    return out
