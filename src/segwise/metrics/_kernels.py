"""Numba kernels for confusion matrices.

Both kernels split the pixels into chunks, give every chunk its own histogram (no atomics, no
false sharing between threads) and sum the histograms at the end. Inside a chunk, four
interleaved sub-histograms break the store-to-load dependency when neighbouring pixels hit the
same cell, which is the common case for label maps.

The kernels also count labels outside ``[0, C)`` so that the caller can raise a clear error; they
never index out of bounds.
"""

from __future__ import annotations

import numba
import numpy as np

_LANES = 4
_MIN_CHUNK = 1 << 16  # pixels; below this one chunk is cheaper than scheduling threads
_ARGMAX_BLOCK = 512  # pixels per block in the fused argmax


def _num_chunks(n: int) -> int:
    threads = numba.get_num_threads()
    return max(1, min(threads * 4, n // _MIN_CHUNK))


@numba.njit(parallel=True, cache=True, nogil=True)
def _labels_kernel(pred, target, num_classes, ignore_index, has_ignore, nchunks):  # pragma: no cover
    n = target.shape[0]
    cc = num_classes * num_classes
    hists = np.zeros((nchunks, _LANES * cc), dtype=np.int64)
    bad = np.zeros((nchunks, 2), dtype=np.int64)
    step = (n + nchunks - 1) // nchunks
    for k in numba.prange(nchunks):
        start = k * step
        stop = min(n, start + step)
        h = hists[k]
        bad_t = 0
        bad_p = 0
        for i in range(start, stop):
            t = np.int64(target[i])
            if has_ignore and t == ignore_index:
                continue
            p = np.int64(pred[i])
            if t < 0 or t >= num_classes:
                bad_t += 1
                continue
            if p < 0 or p >= num_classes:
                bad_p += 1
                continue
            h[(i & (_LANES - 1)) * cc + t * num_classes + p] += 1
        bad[k, 0] = bad_t
        bad[k, 1] = bad_p
    out = np.zeros(cc, dtype=np.int64)
    for k in range(nchunks):
        for lane in range(_LANES):
            for j in range(cc):
                out[j] += hists[k, lane * cc + j]
    return out.reshape((num_classes, num_classes)), bad[:, 0].sum(), bad[:, 1].sum()


@numba.njit(parallel=True, cache=True, nogil=True)
def _scores_kernel(scores, target, ignore_index, has_ignore, nchunks):  # pragma: no cover
    # scores: (N, C, P) float, target: (N, P) int. Argmax over C fused with the histogram.
    num_images, num_classes, npix = scores.shape
    cc = num_classes * num_classes
    hists = np.zeros((nchunks, cc), dtype=np.int64)
    bad = np.zeros(nchunks, dtype=np.int64)
    nblocks_per_image = (npix + _ARGMAX_BLOCK - 1) // _ARGMAX_BLOCK
    total_blocks = num_images * nblocks_per_image
    step = (total_blocks + nchunks - 1) // nchunks
    for k in numba.prange(nchunks):
        h = hists[k]
        best = np.empty(_ARGMAX_BLOCK, dtype=scores.dtype)
        arg = np.empty(_ARGMAX_BLOCK, dtype=np.int64)
        bad_t = 0
        for b in range(k * step, min(total_blocks, (k + 1) * step)):
            img = b // nblocks_per_image
            start = (b % nblocks_per_image) * _ARGMAX_BLOCK
            stop = min(npix, start + _ARGMAX_BLOCK)
            m = stop - start
            for i in range(m):
                best[i] = scores[img, 0, start + i]
                arg[i] = 0
            for c in range(1, num_classes):
                for i in range(m):
                    v = scores[img, c, start + i]
                    if v > best[i]:
                        best[i] = v
                        arg[i] = c
            for i in range(m):
                t = np.int64(target[img, start + i])
                if has_ignore and t == ignore_index:
                    continue
                if t < 0 or t >= num_classes:
                    bad_t += 1
                    continue
                h[t * num_classes + arg[i]] += 1
        bad[k] = bad_t
    out = np.zeros(cc, dtype=np.int64)
    for k in range(nchunks):
        for j in range(cc):
            out[j] += hists[k, j]
    return out.reshape((num_classes, num_classes)), bad.sum()


def confusion_from_labels(
    pred: np.ndarray, target: np.ndarray, num_classes: int, ignore_index: int | None
) -> tuple[np.ndarray, int, int]:
    """(C, C) int64 counts of flat integer ``pred``/``target``, plus counts of bad target/pred ids."""
    n = target.shape[0]
    has_ignore = ignore_index is not None
    ign = np.int64(ignore_index if has_ignore else 0)
    cm, bad_t, bad_p = _labels_kernel(pred, target, num_classes, ign, has_ignore, _num_chunks(n))
    return cm, int(bad_t), int(bad_p)


def confusion_from_scores(
    scores: np.ndarray, target: np.ndarray, ignore_index: int | None
) -> tuple[np.ndarray, int]:
    """(C, C) int64 counts of argmax(``scores``, 1) against ``target``; scores (N, C, P), target (N, P)."""
    has_ignore = ignore_index is not None
    ign = np.int64(ignore_index if has_ignore else 0)
    n = target.size
    cm, bad_t = _scores_kernel(scores, target, ign, has_ignore, _num_chunks(n))
    return cm, int(bad_t)
