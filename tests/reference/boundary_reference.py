"""Independent re-statements of the boundary metrics, written from the published definitions with
per-class boolean masks, scipy/opencv and brute force (no code shared with segwise.metrics).

Ignored pixels (target == ignore_index) belong to no class in either map: the class masks are
``(labels == c) & valid``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from scipy import ndimage as ndi


def class_masks(pred, target, c, ignore_index):
    valid = np.ones(target.shape, bool) if ignore_index is None else target != ignore_index
    return (target == c) & valid, (pred == c) & valid


def boundary_4(mask):
    """Pixels of ``mask`` with a 4-neighbour inside the image that is not in ``mask``."""
    b = np.zeros_like(mask)
    b[1:, :] |= mask[1:, :] & ~mask[:-1, :]
    b[:-1, :] |= mask[:-1, :] & ~mask[1:, :]
    b[:, 1:] |= mask[:, 1:] & ~mask[:, :-1]
    b[:, :-1] |= mask[:, :-1] & ~mask[:, 1:]
    return b


def _matched_bruteforce(src, dst, theta):
    """How many pixels of ``src`` have a pixel of ``dst`` within Euclidean distance <= theta
    (all pairwise distances)."""
    ys, xs = np.nonzero(src)
    yd, xd = np.nonzero(dst)
    if len(ys) == 0 or len(yd) == 0:
        return 0
    d = np.sqrt((ys[:, None] - yd[None, :]) ** 2 + (xs[:, None] - xd[None, :]) ** 2)
    return int((d.min(axis=1) <= theta).sum())


def _matched_edt(src, dst, theta):
    """The same count through a distance transform of ``dst`` (scipy)."""
    if not src.any() or not dst.any():
        return 0
    dist = ndi.distance_transform_edt(~dst)
    return int((dist[src] <= theta).sum())


def _f1(in_gt, in_pred, gb, pb, matched_p, matched_g):
    if not (in_gt and in_pred):
        return 0.0
    if gb == 0 and pb == 0:
        return 1.0
    if gb == 0 or pb == 0:
        return 0.0
    p, r = matched_p / pb, matched_g / gb
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def bf_image(pred, target, num_classes, ignore_index=None, theta=None, average="present", method="brute"):
    """Per-class BF F1 of one image (NaN where not counted) and the image score."""
    h, w = target.shape
    if theta is None:
        theta = 0.0075 * math.hypot(h, w)
    match = _matched_bruteforce if method == "brute" else _matched_edt
    per_class = np.full(num_classes, np.nan)
    for c in range(num_classes):
        if c == ignore_index:
            continue
        g, p = class_masks(pred, target, c, ignore_index)
        counted = (g.any() or p.any()) if average == "present" else g.any()
        if not counted:
            continue
        gb, pb = boundary_4(g), boundary_4(p)
        per_class[c] = _f1(
            g.any(), p.any(), int(gb.sum()), int(pb.sum()), match(pb, gb, theta), match(gb, pb, theta)
        )
    score = float(np.nanmean(per_class)) if not np.isnan(per_class).all() else float("nan")
    return per_class, score


def mask_to_boundary_region(mask, d):
    """Boundary IoU reference algorithm (Cheng et al. 2021): pad by one zero pixel, erode with a 3x3
    kernel ``d`` times, crop, subtract."""
    h, w = mask.shape
    m = mask.astype(np.uint8)
    padded = cv2.copyMakeBorder(m, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    eroded = cv2.erode(padded, np.ones((3, 3), np.uint8), iterations=d)[1 : h + 1, 1 : w + 1]
    return (m - eroded).astype(bool)


def default_d(h, w):
    return max(1, int(round(0.02 * np.sqrt(h**2 + w**2))))


def biou_counts(pred, target, num_classes, ignore_index=None, d=None):
    """Per-class intersection and union of the boundary regions of one image."""
    if d is None:
        d = default_d(*target.shape)
    inter = np.zeros(num_classes, np.int64)
    union = np.zeros(num_classes, np.int64)
    for c in range(num_classes):
        g, p = class_masks(pred, target, c, ignore_index)
        gr, pr = mask_to_boundary_region(g, d), mask_to_boundary_region(p, d)
        inter[c] = np.sum(gr & pr)
        union[c] = np.sum(gr | pr)
    return inter, union


def trimap_confusions(pred, target, num_classes, ignore_index, widths):
    """Confusion matrices of the pixels within distance <= w of a ground-truth class boundary."""
    valid = np.ones(target.shape, bool) if ignore_index is None else target != ignore_index
    gb = np.zeros(target.shape, bool)
    for c in range(num_classes):
        if c != ignore_index:
            gb |= boundary_4((target == c) & valid)
    out = np.zeros((len(widths), num_classes, num_classes), np.int64)
    if not gb.any():
        return out
    dist = ndi.distance_transform_edt(~gb)
    for k, wdt in enumerate(widths):
        band = valid & (dist <= wdt)
        np.add.at(out[k], (target[band].astype(np.int64), pred[band].astype(np.int64)), 1)
    return out
