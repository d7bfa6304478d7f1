"""Probability scores: segwise's streaming ProbabilityAccumulator vs scikit-learn and torchmetrics.

Run:  python benchmarks/bench_probs.py [--images 4] [--repeats 3]

Synthetic CamVid-sized float16 probability maps (N images x 11 classes x 360x480, seeded RNG):
softmax of random logits raised on a random ground truth (5% of the pixels are the ignore value
11). ROC AUC and average precision (one-vs-rest per class) and the top-label ECE (15 bins, L1) are
computed by

* segwise: ``ProbabilityAccumulator`` fed one image at a time, as ``segwise eval --probs`` does;
* scikit-learn ``roc_auc_score`` / ``average_precision_score`` per class on the concatenated
  valid pixels, plus a numpy ECE;
* torchmetrics ``MulticlassAUROC(average=None)``, ``MulticlassAveragePrecision(average=None)``
  (both ``thresholds=None``: the exact mode, which keeps every score) and
  ``MulticlassCalibrationError(n_bins=15, norm="l1")``, one update over the whole stack.

Checks (docs/metrics.md, "Exactness and the histogram bound"): for float16 probabilities segwise's
ROC AUC and AP equal scikit-learn's up to floating-point rounding (1e-12 here) and its ECE equals
the numpy ECE (1e-12); torchmetrics computes in float32, so against it the bound is 1e-4. Prints
the median time of each side, the ratio to the faster peer and each side's peak memory
(tracemalloc: numpy allocations; torch tensors are not traced, so torchmetrics' line is the size
of its exact-mode state). segwise's peak is shown at two dataset sizes: it does not grow with the
number of pixels. Exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tracemalloc

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from torchmetrics.classification import (
    MulticlassAUROC,
    MulticlassAveragePrecision,
    MulticlassCalibrationError,
)

from segwise.metrics.probs import ProbabilityAccumulator

C, IGNORE, H, W, BINS = 11, 11, 360, 480, 15
TOL_EXACT, TOL_TORCH = 1e-12, 1e-4


def make_image(i: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (C, H, W) float16 and ground truth (H, W) uint8 of image i (its own seeded RNG)."""
    rng = np.random.default_rng([seed, i])
    prior = np.linspace(1.0, 3.0, C)
    gt = rng.choice(C, size=(H, W), p=prior / prior.sum()).astype(np.uint8)
    logits = rng.standard_normal((C, H, W), dtype=np.float32) * 1.5
    logits[gt, np.arange(H)[:, None], np.arange(W)] += 2.0  # correlated with the ground truth
    logits -= logits.max(axis=0)
    e = np.exp(logits)
    probs = (e / e.sum(axis=0)).astype(np.float16)
    gt[rng.random((H, W)) < 0.05] = IGNORE
    return probs, gt


def timed(fn, repeats: int, warm_up: bool = True) -> tuple[float, list[float], object]:
    """Median wall time over `repeats` runs (after one warm-up run), all times, last output."""
    out = fn() if warm_up else None  # warm-up (numba JIT, caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, out


def peak_traced(fn) -> float:
    """Peak of numpy/Python allocations (MiB) while fn runs, above what was allocated before."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return (peak - base) / 2**20


def numpy_ece(p: np.ndarray, y: np.ndarray) -> float:
    """Top-label ECE, equal-width bins, bin of conf = min(floor(conf K), K - 1); p (n, C), y (n,)."""
    p64 = p.astype(np.float64)
    top = p64.argmax(axis=1)
    conf = p64[np.arange(len(y)), top]
    b = np.minimum(np.floor(conf * BINS), BINS - 1).astype(np.intp)
    count = np.bincount(b, minlength=BINS)
    gaps = np.abs(
        np.bincount(b, weights=top == y, minlength=BINS) - np.bincount(b, weights=conf, minlength=BINS)
    )
    return float(gaps.sum() / count.sum())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=4, help="images of 11x360x480 (CamVid test: 233)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per side (the median is printed)")
    args = ap.parse_args()
    n_img = args.images
    data = [make_image(i) for i in range(n_img)]
    mpix = n_img * H * W / 1e6
    print(
        f"{n_img} synthetic float16 probability maps {C}x{H}x{W} ({mpix:.1f} Mpix), "
        f"{torch.get_num_threads()} torch threads, {os.cpu_count()} cores"
    )

    def segwise_run(images=data):
        acc = ProbabilityAccumulator(C, ignore_index=IGNORE, calibration_bins=BINS)
        for probs, gt in images:
            acc.update(probs, gt)
        return acc.result()

    # peers see the valid pixels, concatenated: (n, C) float16 and (n,) labels
    keep = [gt.reshape(-1) != IGNORE for _, gt in data]
    p_all = np.concatenate([p.reshape(C, -1)[:, k].T for (p, _), k in zip(data, keep, strict=True)])
    y_all = np.concatenate([gt.reshape(-1)[k] for (_, gt), k in zip(data, keep, strict=True)]).astype(
        np.int64
    )

    def sklearn_run():
        auc = [roc_auc_score(y_all == c, p_all[:, c]) for c in range(C)]
        aps = [average_precision_score(y_all == c, p_all[:, c]) for c in range(C)]
        return auc, aps, numpy_ece(p_all, y_all)

    pt, yt = torch.from_numpy(p_all.astype(np.float32)), torch.from_numpy(y_all)

    def torchmetrics_run():
        ms = [
            MulticlassAUROC(C, average=None, thresholds=None),
            MulticlassAveragePrecision(C, average=None, thresholds=None),
            MulticlassCalibrationError(C, n_bins=BINS, norm="l1"),
        ]
        for m in ms:
            m.update(pt, yt)
        auc, aps, ece = (m.compute() for m in ms)
        state_mb = sum(sum(t.nbytes for t in v) for v in (ms[0].preds, ms[0].target)) / 2**20
        return auc.double().tolist(), aps.double().tolist(), float(ece), state_mb

    t_sw, ts_sw, r_sw = timed(segwise_run, args.repeats)
    t_sk, ts_sk, r_sk = timed(sklearn_run, args.repeats, warm_up=False)
    t_tm, ts_tm, r_tm = timed(torchmetrics_run, args.repeats, warm_up=False)

    sw = (np.array(r_sw["roc_auc"], float), np.array(r_sw["average_precision"], float), r_sw["ece"])
    sk = (np.array(r_sk[0]), np.array(r_sk[1]), r_sk[2])
    tm = (np.array(r_tm[0]), np.array(r_tm[1]), r_tm[2])
    d_sk = [float(np.max(np.abs(sw[i] - sk[i]))) for i in range(3)]
    d_tm = [float(np.max(np.abs(sw[i] - tm[i]))) for i in range(3)]
    ok_sk = all(d <= TOL_EXACT for d in d_sk)
    ok_tm = all(d <= TOL_TORCH for d in d_tm)

    small = data[: max(1, n_img // 4)]
    mem_sw_small = peak_traced(lambda: segwise_run(small))
    mem_sw = peak_traced(segwise_run)
    mem_sk = peak_traced(sklearn_run)
    fast_name, fast_t = min((("scikit-learn", t_sk), ("torchmetrics", t_tm)), key=lambda x: x[1])

    print(f"\nmean ROC AUC {np.mean(sw[0]):.6f}, mean AP {np.mean(sw[1]):.6f}, ECE {sw[2]:.6f} (segwise)")
    print(
        f"max |segwise - scikit-learn/numpy|: roc_auc {d_sk[0]:.1e}  ap {d_sk[1]:.1e}  ece {d_sk[2]:.1e}  "
        f"within {TOL_EXACT:g}: {ok_sk}"
    )
    print(
        f"max |segwise - torchmetrics|:       roc_auc {d_tm[0]:.1e}  ap {d_tm[1]:.1e}  ece {d_tm[2]:.1e}  "
        f"within {TOL_TORCH:g}: {ok_tm}"
    )
    print(f"\n[{mpix:.1f} Mpix x {C} classes: ROC AUC + AP + ECE, median of {args.repeats}]")
    fmt = " ".join
    for name, t, ts in (
        ("segwise ProbabilityAccumulator (per image)", t_sw, ts_sw),
        ("scikit-learn + numpy ECE", t_sk, ts_sk),
        ("torchmetrics (thresholds=None, exact)", t_tm, ts_tm),
    ):
        print(f"  {name:44s} {t:7.2f} s  {mpix / t:7.1f} Mpix/s  (runs: {fmt(f'{x:.2f}' for x in ts)})")
    print(
        f"  ratio segwise / faster peer ({fast_name}): {fast_t / t_sw:.1f}x   (target >= 10x: "
        f"{'met' if fast_t / t_sw >= 10 else 'NOT met'})"
    )
    print("\n[peak memory]")
    print(f"  segwise, {len(small)} images: {mem_sw_small:8.1f} MiB (tracemalloc)")
    print(f"  segwise, {n_img} images: {mem_sw:8.1f} MiB (tracemalloc)")
    print(
        f"  scikit-learn + numpy:    {mem_sk:8.1f} MiB (tracemalloc, on top of the {p_all.nbytes / 2**20:.0f} MiB "
        "concatenated float16 input)"
    )
    print(
        f"  torchmetrics:            {r_tm[3]:8.1f} MiB exact-mode AUROC state (the AP metric keeps the same "
        "again; torch allocations are not traced)"
    )
    return 0 if ok_sk and ok_tm else 1


if __name__ == "__main__":
    sys.exit(main())
