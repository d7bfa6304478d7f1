"""Numba kernels for boundary and region metrics on one pair of label maps.

All kernels take *prepared* label maps: ``int32 (H, W)`` with class ids in ``[0, C)`` and ``-1`` for
ignored pixels (the same pixels are ``-1`` in the ground truth and in the prediction, see
``prepare``). A pixel of label ``-1`` belongs to no class: it is never a boundary pixel, never an
object pixel, and counts as "not class c" when the boundary of class c is looked for.

Every kernel visits each pixel a constant number of times, except the BF matcher, which scans a
disk of offsets sorted by distance around each boundary pixel and stops at the first hit.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numba
import numpy as np

from segwise.errors import InputError

_INF = np.int64(1) << np.int64(40)  # larger than any squared distance inside an image


def _as_int_array(x: Any, name: str) -> np.ndarray:
    if type(x).__module__.startswith("torch"):
        x = x.detach().cpu().numpy()  # host copy: these metrics run on the CPU
    if not isinstance(x, np.ndarray):
        raise InputError(
            f"`{name}` must be a numpy array or torch tensor of class ids, got {type(x).__name__}. "
            f"Wrap it with numpy.asarray({name})."
        )
    if x.dtype == np.bool_:
        x = x.view(np.uint8)
    if not np.issubdtype(x.dtype, np.integer):
        raise InputError(
            f"`{name}` must hold integer class ids, got {x.dtype} {x.shape}. If it holds scores "
            "(N, C, H, W), pass scores.argmax(1); if it holds whole numbers, cast it to an integer type."
        )
    return x


def check_num_classes(num_classes: Any) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer) or num_classes < 1:
        raise InputError(f"Expected argument `num_classes` to be an integer >= 1, but got {num_classes!r}.")


def iter_pairs(
    pred: Any, target: Any, num_classes: int, ignore_index: int | None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Validate a label-map pair ``(H, W)`` or batch ``(N, H, W)`` and yield prepared int32 maps per
    image: class ids in ``[0, C)``, -1 on pixels whose target is ``ignore_index`` (in both maps)."""
    check_num_classes(num_classes)
    if ignore_index is not None and (
        isinstance(ignore_index, bool) or not isinstance(ignore_index, int | np.integer)
    ):
        raise InputError(
            f"Expected argument `ignore_index` to be an integer or None, but got {ignore_index!r}."
        )
    p = _as_int_array(pred, "pred")
    t = _as_int_array(target, "target")
    if p.shape != t.shape:
        raise InputError(
            f"shape mismatch: `pred` {p.dtype} {p.shape} and `target` {t.dtype} {t.shape} must have the "
            "same shape."
        )
    if t.ndim not in (2, 3) or t.size == 0:
        raise InputError(
            f"`target` must be a non-empty label map (H, W) or a batch (N, H, W), got shape {t.shape}."
        )
    if t.ndim == 2:
        p, t = p[None], t[None]
    has_ignore = ignore_index is not None
    ign = np.int64(ignore_index) if has_ignore else np.int64(0)
    for pi, ti in zip(p, t, strict=True):
        g, q, bad_t, bad_p = prepare(pi, ti, int(num_classes), ign, has_ignore)
        if bad_t:
            extra = f"and not the ignore_index ({ignore_index})" if has_ignore else "(no ignore_index set)"
            raise InputError(
                f"`target` holds {bad_t} pixels with values outside [0, {num_classes}) {extra}. "
                "Pass the right num_classes, or set ignore_index to the void label (e.g. 255)."
            )
        if bad_p:
            raise InputError(
                f"`pred` holds {bad_p} pixels (on non-ignored targets) with class ids outside "
                f"[0, {num_classes}). Predictions must be class ids of the evaluated classes."
            )
        yield g, q


@numba.njit(cache=True, nogil=True)
def prepare(pred, target, num_classes, ignore_index, has_ignore):  # pragma: no cover
    """Copy ``pred``/``target`` to int32 maps with -1 on ignored pixels; count out-of-range ids."""
    h, w = target.shape
    g = np.empty((h, w), dtype=np.int32)
    p = np.empty((h, w), dtype=np.int32)
    bad_t = 0
    bad_p = 0
    for i in range(h):
        for j in range(w):
            t = np.int64(target[i, j])
            if has_ignore and t == ignore_index:
                g[i, j] = -1
                p[i, j] = -1
                continue
            if t < 0 or t >= num_classes:
                bad_t += 1
                t = -1
            q = np.int64(pred[i, j])
            if q < 0 or q >= num_classes:
                bad_p += 1
                q = -1
            g[i, j] = t
            p[i, j] = q
    return g, p, bad_t, bad_p


@numba.njit(cache=True, nogil=True)
def boundary4(lab):  # pragma: no cover
    """uint8 map: 1 where a labelled pixel has a 4-neighbour (inside the image) of another label."""
    h, w = lab.shape
    out = np.zeros((h, w), dtype=np.uint8)
    for i in range(h):
        for j in range(w):
            c = lab[i, j]
            if c < 0:
                continue
            if (
                (i > 0 and lab[i - 1, j] != c)
                or (i + 1 < h and lab[i + 1, j] != c)
                or (j > 0 and lab[i, j - 1] != c)
                or (j + 1 < w and lab[i, j + 1] != c)
            ):
                out[i, j] = 1
    return out


def disk_offsets(theta: float) -> tuple[np.ndarray, np.ndarray]:
    """Integer offsets ``(dy, dx)`` with ``dy^2 + dx^2 <= theta^2``, nearest first."""
    r = int(math.floor(theta))
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    d2 = dy * dy + dx * dx
    keep = d2 <= theta * theta
    order = np.argsort(d2[keep], kind="stable")
    return (
        np.ascontiguousarray(dy[keep][order].astype(np.int64)),
        np.ascontiguousarray(dx[keep][order].astype(np.int64)),
    )


@numba.njit(cache=True, nogil=True)
def _match_into(src_lab, src_bnd, dst_lab, dst_bnd, ody, odx, count, matched):  # pragma: no cover
    h, w = src_lab.shape
    n_off = ody.shape[0]
    for i in range(h):
        for j in range(w):
            if src_bnd[i, j] == 0:
                continue
            c = src_lab[i, j]
            count[c] += 1
            for k in range(n_off):
                y = i + ody[k]
                x = j + odx[k]
                if y < 0 or y >= h or x < 0 or x >= w:
                    continue
                if dst_bnd[y, x] != 0 and dst_lab[y, x] == c:
                    matched[c] += 1
                    break


@numba.njit(cache=True, nogil=True)
def bf_counts(g, p, gb, pb, ody, odx, num_classes):  # pragma: no cover
    """Per class: predicted boundary pixels, those within the disk of a same-class ground-truth
    boundary pixel, ground-truth boundary pixels and those matched by the prediction.

    Returns int64 ``(4, C)``: rows pred_total, pred_matched, gt_total, gt_matched.
    """
    out = np.zeros((4, num_classes), dtype=np.int64)
    _match_into(p, pb, g, gb, ody, odx, out[0], out[1])
    _match_into(g, gb, p, pb, ody, odx, out[2], out[3])
    return out


@numba.njit(cache=True, nogil=True)
def inner_region(lab, d):  # pragma: no cover
    """uint8 map: 1 where the (2d+1) x (2d+1) square around the pixel lies inside the image and
    holds only the pixel's own label (>= 0).

    This is the erosion of each class mask, zero-padded by one pixel, by a 3x3 square applied d
    times (a chessboard erosion of radius d), computed for all classes at once: first the
    horizontal runs, then vertical runs of pixels whose horizontal window passed.
    """
    h, w = lab.shape
    hok = np.zeros((h, w), dtype=np.uint8)
    left = np.empty(w, dtype=np.int64)
    for i in range(h):
        for j in range(w):
            if j > 0 and lab[i, j] == lab[i, j - 1]:
                left[j] = left[j - 1] + 1
            else:
                left[j] = 0
        right = 0
        for j in range(w - 1, -1, -1):
            if j + 1 < w and lab[i, j] == lab[i, j + 1]:
                right += 1
            else:
                right = 0
            if lab[i, j] >= 0 and left[j] >= d and right >= d:
                hok[i, j] = 1
    # vertical runs of pixels whose horizontal window passed, scanned row by row (contiguous)
    up = np.zeros((h, w), dtype=np.int32)
    for i in range(1, h):
        for j in range(w):
            if hok[i, j] != 0 and hok[i - 1, j] != 0 and lab[i, j] == lab[i - 1, j]:
                up[i, j] = up[i - 1, j] + 1
    out = np.zeros((h, w), dtype=np.uint8)
    down = np.zeros(w, dtype=np.int32)
    for i in range(h - 1, -1, -1):
        for j in range(w):
            if i + 1 < h and hok[i, j] != 0 and hok[i + 1, j] != 0 and lab[i, j] == lab[i + 1, j]:
                down[j] += 1
            else:
                down[j] = 0
            if hok[i, j] != 0 and up[i, j] >= d and down[j] >= d:
                out[i, j] = 1
    return out


@numba.njit(cache=True, nogil=True)
def biou_counts(g, p, d, num_classes):  # pragma: no cover
    """Per class: ground-truth boundary-region pixels, predicted ones, and their intersection.

    Returns int64 ``(3, C)``. The boundary region of a class is its mask minus the mask's
    chessboard erosion of radius d (image exterior counted as background).
    """
    gi = inner_region(g, d)
    pi = inner_region(p, d)
    out = np.zeros((3, num_classes), dtype=np.int64)
    h, w = g.shape
    for i in range(h):
        for j in range(w):
            a = g[i, j]
            b = p[i, j]
            in_g = a >= 0 and gi[i, j] == 0
            in_p = b >= 0 and pi[i, j] == 0
            if in_g:
                out[0, a] += 1
            if in_p:
                out[1, b] += 1
            if in_g and in_p and a == b:
                out[2, a] += 1
    return out


@numba.njit(cache=True, nogil=True)
def squared_edt(seed):  # pragma: no cover
    """Exact squared Euclidean distance from every pixel to the nearest pixel with ``seed != 0``
    (Felzenszwalb & Huttenlocher: a column pass, then the lower envelope of parabolas per row).
    Pixels of an image without seeds get a large sentinel."""
    h, w = seed.shape
    # vertical distance to the nearest seed in the same column, scanned row by row (contiguous)
    col = np.empty((h, w), dtype=np.int32)  # int32 halves the memory traffic of this pass
    last = np.full(w, -1, dtype=np.int32)
    for i in range(h):
        for j in range(w):
            if seed[i, j] != 0:
                last[j] = i
            col[i, j] = i - last[j] if last[j] >= 0 else -1
    last[:] = -1
    for i in range(h - 1, -1, -1):
        for j in range(w):
            if seed[i, j] != 0:
                last[j] = i
            if last[j] >= 0:
                dd = last[j] - i
                if col[i, j] < 0 or dd < col[i, j]:
                    col[i, j] = dd
    # Per row, the lower envelope of the parabolas (x - v)^2 + f(v) over the columns v with a finite
    # column distance. The breakpoints z = num / den are kept as exact integer fractions (den > 0),
    # so the loop needs no division.
    out = np.empty((h, w), dtype=np.int64)
    v = np.empty(w, dtype=np.int64)
    f = np.empty(w, dtype=np.int64)
    zn = np.empty(w, dtype=np.int64)
    zd = np.empty(w, dtype=np.int64)
    for i in range(h):
        n = 0
        for j in range(w):
            if col[i, j] >= 0:
                f[n] = col[i, j] * col[i, j]
                v[n] = j
                n += 1
        if n == 0:
            for j in range(w):
                out[i, j] = _INF
            continue
        k = 0  # envelope: parabolas v[0..k]; parabola m is lowest on (z[m], z[m+1]], z[0] = -inf
        for q in range(1, n):
            fq = f[q]
            vq = v[q]
            while True:
                num = (fq + vq * vq) - (f[k] + v[k] * v[k])
                den = 2 * (vq - v[k])
                if k > 0 and num * zd[k] <= zn[k] * den:
                    k -= 1
                else:
                    break
            k += 1
            v[k] = vq
            f[k] = fq
            zn[k] = num
            zd[k] = den
        m = 0
        for j in range(w):
            while m < k and zn[m + 1] < j * zd[m + 1]:
                m += 1
            dj = j - v[m]
            out[i, j] = dj * dj + f[m]
    return out


@numba.njit(cache=True, nogil=True)
def trimap_confusion(g, p, gb, widths2, num_classes):  # pragma: no cover
    """Confusion matrices ``(K, C, C)`` of the pixels whose squared distance to the nearest
    ground-truth boundary pixel is ``<= widths2[k]`` (ascending), one per width."""
    d2 = squared_edt(gb)
    k_n = widths2.shape[0]
    out = np.zeros((k_n, num_classes, num_classes), dtype=np.int64)
    h, w = g.shape
    for i in range(h):
        for j in range(w):
            a = g[i, j]
            if a < 0:
                continue
            dd = d2[i, j]
            for k in range(k_n):
                if dd <= widths2[k]:
                    out[k, a, p[i, j]] += 1
                    break
    for k in range(1, k_n):
        out[k] += out[k - 1]
    return out


@numba.njit(cache=True, nogil=True)
def _find(parent, x):  # pragma: no cover
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:  # path compression
        nxt = parent[x]
        parent[x] = root
        x = nxt
    return root


@numba.njit(cache=True, nogil=True)
def _union(parent, a, b):  # pragma: no cover
    ra = _find(parent, a)
    rb = _find(parent, b)
    if ra != rb:
        parent[max(ra, rb)] = min(ra, rb)


@numba.njit(cache=True, nogil=True)
def components(lab, connectivity):  # pragma: no cover
    """Connected components of equal label (labels >= 0), all classes in one union-find pass over
    horizontal runs.

    ``connectivity`` is 4 or 8. Returns ``(ids, cls, size)``: int32 ``(H, W)`` component id per pixel
    (-1 on pixels < 0), and per component its class and pixel count. Ids are numbered in raster
    order of the components' first pixels.
    """
    h, w = lab.shape
    row_start = np.empty(h + 1, dtype=np.int64)
    rs = np.empty(h * w, dtype=np.int64)
    re = np.empty(h * w, dtype=np.int64)
    rl = np.empty(h * w, dtype=np.int64)
    n = 0
    for i in range(h):
        row_start[i] = n
        j = 0
        while j < w:
            c = lab[i, j]
            k = j
            while k + 1 < w and lab[i, k + 1] == c:
                k += 1
            if c >= 0:
                rs[n] = j
                re[n] = k
                rl[n] = c
                n += 1
            j = k + 1
    row_start[h] = n
    ext = 1 if connectivity == 8 else 0
    parent = np.arange(n)
    for i in range(1, h):
        k = row_start[i - 1]
        k_end = row_start[i]
        for r in range(row_start[i], row_start[i + 1]):
            while k < k_end and re[k] < rs[r] - ext:
                k += 1
            m = k
            while m < k_end and rs[m] <= re[r] + ext:
                if rl[m] == rl[r]:
                    _union(parent, r, m)
                m += 1
    comp = np.empty(n, dtype=np.int64)
    count = 0
    for r in range(n):
        root = _find(parent, r)
        if root == r:
            comp[r] = count
            count += 1
        else:
            comp[r] = comp[root]  # the root is an earlier run: union keeps the smaller index
    cls = np.empty(count, dtype=np.int64)
    size = np.zeros(count, dtype=np.int64)
    ids = np.full((h, w), -1, dtype=np.int32)
    for i in range(h):
        for r in range(row_start[i], row_start[i + 1]):
            k = comp[r]
            cls[k] = rl[r]
            size[k] += re[r] - rs[r] + 1
            for j in range(rs[r], re[r] + 1):
                ids[i, j] = k
    return ids, cls, size


@numba.njit(cache=True, nogil=True)
def _size_bin(area, small, medium):  # pragma: no cover
    if area < small:
        return 0
    if area < medium:
        return 1
    return 2


@numba.njit(cache=True, nogil=True)
def match_components(g, p, num_classes, connectivity, threshold, small, medium):  # pragma: no cover
    """One-to-one matching of same-class components at IoU > ``threshold`` (>= 0.5).

    IoU > 0.5 implies the predicted component covers more than half of the ground-truth one, so
    the only candidate is the majority vote over the ground-truth component's pixels (Boyer-Moore,
    then one counting pass). Returns float64 ``(4, C, 3)``: true positives, false positives, false
    negatives and the sum of matched IoUs, per class and size bin (small, medium, large). Matched
    pairs and missed ground-truth objects are binned by ground-truth area, unmatched predictions by
    their own area.
    """
    gid, gcls, gsize = components(g, connectivity)
    pid, pcls, psize = components(p, connectivity)
    ng = gcls.shape[0]
    npr = pcls.shape[0]
    cand = np.full(ng, -1, dtype=np.int64)
    votes = np.zeros(ng, dtype=np.int64)
    h, w = g.shape
    for i in range(h):
        for j in range(w):
            k = gid[i, j]
            if k < 0:
                continue
            v = np.int64(pid[i, j]) if p[i, j] == g[i, j] else np.int64(-2)
            if votes[k] == 0:
                cand[k] = v
                votes[k] = 1
            elif cand[k] == v:
                votes[k] += 1
            else:
                votes[k] -= 1
    inter = np.zeros(ng, dtype=np.int64)
    for i in range(h):
        for j in range(w):
            k = gid[i, j]
            if k >= 0 and cand[k] >= 0 and p[i, j] == g[i, j] and pid[i, j] == cand[k]:
                inter[k] += 1
    out = np.zeros((4, num_classes, 3), dtype=np.float64)
    pmatched = np.zeros(npr, dtype=np.uint8)
    for k in range(ng):
        c = gcls[k]
        b = _size_bin(gsize[k], small, medium)
        q = cand[k]
        if q >= 0:
            union = gsize[k] + psize[q] - inter[k]
            if inter[k] > threshold * union:
                out[0, c, b] += 1.0
                out[3, c, b] += inter[k] / union
                pmatched[q] = 1
                continue
        out[2, c, b] += 1.0
    for q in range(npr):
        if pmatched[q] == 0:
            out[1, pcls[q], _size_bin(psize[q], small, medium)] += 1.0
    return out


@numba.njit(cache=True, nogil=True)
def class_pixels(lab, num_classes):  # pragma: no cover
    """Pixel count per class of a prepared label map (pixels < 0 skipped)."""
    out = np.zeros(num_classes, dtype=np.int64)
    h, w = lab.shape
    for i in range(h):
        for j in range(w):
            c = lab[i, j]
            if c >= 0:
                out[c] += 1
    return out
