"""Boundary metrics speed: segwise against a straightforward per-image, per-class implementation.

The peer is what one writes from the definitions with scipy.ndimage: per image and class, the 4-
neighbour boundary by binary erosion, two Euclidean distance transforms for BF, and a zero-padded
3x3 binary erosion applied d times for Boundary IoU. Both run on the same in-memory label maps
(the CamVid test annotations and perturbed copies of them as predictions); decoding is not timed.
The script checks that both give the same per-image, per-class numbers, then prints the timings
and the ratio, and times all boundary + region metrics (BF, Boundary IoU, trimap, objects) over
the whole set.

    python benchmarks/bench_boundary.py [--camvid PATH] [--limit N] [--repeat 3]
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

from segwise.metrics.boundary import BoundaryAccumulator, boundary_f1, boundary_iou
from segwise.metrics.regions import RegionAccumulator

NUM_CLASSES, VOID = 11, 11


def load(root: Path, limit: int | None) -> list[np.ndarray]:
    files = sorted((root / "testannot").glob("*.png"))[:limit]
    if not files:
        raise SystemExit(f"no annotations under {root / 'testannot'}; pass --camvid or set SEGWISE_CAMVID")
    return [np.array(Image.open(f)) for f in files]


def perturb(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """A plausible prediction: shifted by up to 3 px, a few boxes of a wrong class, void filled."""
    h, w = t.shape
    p = np.roll(np.where(t == VOID, 3, t), tuple(rng.integers(-3, 4, 2)), axis=(0, 1))
    for _ in range(6):
        y, x = rng.integers(0, h), rng.integers(0, w)
        p[y : y + rng.integers(4, 40), x : x + rng.integers(4, 60)] = rng.integers(0, NUM_CLASSES)
    return p.astype(np.uint8)


# ----------------------------------------------------------------------------- the scipy peer

CROSS = ndi.generate_binary_structure(2, 1)
SQUARE = np.ones((3, 3), bool)


def _boundary(mask: np.ndarray) -> np.ndarray:
    # pixels of the mask with a 4-neighbour outside it; outside the image does not count
    return mask & ~ndi.binary_erosion(mask, CROSS, border_value=1)


def _bf_class(g: np.ndarray, p: np.ndarray, theta: float) -> float:
    if not (g.any() and p.any()):
        return 0.0
    gb, pb = _boundary(g), _boundary(p)
    if not gb.any() and not pb.any():
        return 1.0
    if not gb.any() or not pb.any():
        return 0.0
    precision = float((ndi.distance_transform_edt(~gb)[pb] <= theta).mean())
    recall = float((ndi.distance_transform_edt(~pb)[gb] <= theta).mean())
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _biou_region(mask: np.ndarray, d: int) -> np.ndarray:
    eroded = ndi.binary_erosion(np.pad(mask, 1), SQUARE, iterations=d)[1:-1, 1:-1]
    return mask & ~eroded


def peer_image(p: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    h, w = t.shape
    theta = 0.0075 * math.hypot(h, w)
    d = max(1, int(round(0.02 * math.hypot(h, w))))
    valid = t != VOID
    bf = np.full(NUM_CLASSES, np.nan)
    inter = np.zeros(NUM_CLASSES, np.int64)
    union = np.zeros(NUM_CLASSES, np.int64)
    for c in range(NUM_CLASSES):
        g, q = (t == c) & valid, (p == c) & valid
        if not (g.any() or q.any()):
            continue
        bf[c] = _bf_class(g, q, theta)
        gr, qr = _biou_region(g, d), _biou_region(q, d)
        inter[c] = np.sum(gr & qr)
        union[c] = np.sum(gr | qr)
    return bf, inter, union


# ----------------------------------------------------------------------------- segwise


def segwise_image(p: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    bf = boundary_f1(p, t, NUM_CLASSES, VOID)["per_class"]
    b = boundary_iou(p, t, NUM_CLASSES, VOID)
    return bf, b["intersection"], b["union"]


def timed(fn, preds, gts, repeat: int) -> tuple[float, list]:
    best, out = math.inf, []
    for _ in range(repeat):
        start = time.perf_counter()
        out = [fn(p, t) for p, t in zip(preds, gts, strict=True)]
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    default = os.environ.get("SEGWISE_CAMVID") or str(
        Path(__file__).resolve().parents[2] / "shared/data/camvid"
    )
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--camvid", default=default)
    ap.add_argument("--limit", type=int, default=None, help="only the first N annotations")
    ap.add_argument("--repeat", type=int, default=3, help="segwise timings: best of N (the peer runs once)")
    args = ap.parse_args()

    gts = load(Path(args.camvid), args.limit)
    rng = np.random.default_rng(0)
    preds = [perturb(rng, t) for t in gts]
    n = len(gts)
    print(
        f"{n} CamVid test annotations, {gts[0].shape[1]}x{gts[0].shape[0]}, {NUM_CLASSES} classes, void={VOID}"
    )

    segwise_image(preds[0], gts[0])  # compile / load the numba kernels outside the timing
    t_seg, seg = timed(segwise_image, preds, gts, args.repeat)
    t_peer, peer = timed(peer_image, preds, gts, 1)
    for (bf_s, i_s, u_s), (bf_p, i_p, u_p) in zip(seg, peer, strict=True):
        np.testing.assert_allclose(bf_s, bf_p, rtol=0, atol=1e-12, equal_nan=True)
        np.testing.assert_array_equal(i_s, i_p)
        np.testing.assert_array_equal(u_s, u_p)
    bf_mean = np.mean([np.nanmean(bf) for bf, _, _ in seg])
    inter = sum(i for _, i, _ in seg)
    union = sum(u for _, _, u in seg)
    print(
        f"results equal: per-image, per-class BF and Boundary IoU counts (BF {bf_mean:.4f}, "
        f"Boundary IoU {np.mean(inter / union):.4f})"
    )
    print(f"BF + Boundary IoU   segwise {t_seg:7.2f} s ({1000 * t_seg / n:6.1f} ms/image)")
    print(f"                    scipy   {t_peer:7.2f} s ({1000 * t_peer / n:6.1f} ms/image)")
    print(f"                    ratio   {t_peer / t_seg:7.1f}x faster")

    def everything() -> float:
        boundary = BoundaryAccumulator(NUM_CLASSES, VOID)
        regions = RegionAccumulator(NUM_CLASSES, VOID)
        start = time.perf_counter()
        for p, t in zip(preds, gts, strict=True):
            boundary.update(p, t)
            regions.update(p, t)
        boundary.result()
        regions.result()
        return time.perf_counter() - start

    t_all = min(everything() for _ in range(args.repeat))
    print(
        f"all boundary + region metrics (BF, Boundary IoU, trimap x6, objects) on {n} images: {t_all:.2f} s"
    )


if __name__ == "__main__":
    main()
