"""Confusion-matrix throughput: segwise vs torchmetrics vs numpy bincount, side by side.

Run:  python benchmarks/bench_metrics.py [--camvid DIR] [--repeats 5]

1. In memory: the 233 CamVid test annotations (uint8) against perturbed predictions.
2. Float32 scores (N, C, H, W): segwise's fused argmax vs torch.argmax + torchmetrics / numpy.
3. End to end on folders: `segwise eval`'s evaluate_folders vs a plain loop of PIL decoding plus a
   torchmetrics update per image, and the installed CLI's wall time (start-up included).
All three implementations must agree on the counts; the script exits non-zero otherwise.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchmetrics.classification import MulticlassConfusionMatrix

from segwise.evaluate import evaluate_folders
from segwise.metrics import confusion_matrix

C, IGNORE = 11, 11


def best_of(fn, repeats):
    fn()  # warm-up (JIT compile, caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def perturb(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    p = np.where(t == IGNORE, 0, t)
    p = np.roll(p, 3, axis=-1)
    noise = rng.random(t.shape) < 0.1
    p[noise] = rng.integers(0, C, int(noise.sum()))
    return p.astype(np.uint8)


BASELINE_SCRIPT = """
import sys, numpy as np, torch
from pathlib import Path
from PIL import Image
from torchmetrics.classification import MulticlassConfusionMatrix
gt, pred = Path(sys.argv[1]), Path(sys.argv[2])
m = MulticlassConfusionMatrix(num_classes=11, ignore_index=11)
for f in sorted(gt.glob("*.png")):
    t = torch.from_numpy(np.asarray(Image.open(f)).astype(np.int64))
    p = torch.from_numpy(np.asarray(Image.open(pred / f.name)).astype(np.int64))
    m.update(p, t)
print(m.compute().sum())
"""


def run_timed(cmd: list[str]) -> tuple[float, str]:
    """Wall time of a subprocess, and its peak RSS when GNU time is available."""
    gnu_time = Path("/usr/bin/time")
    if gnu_time.exists():
        cmd = [str(gnu_time), "-f", "%M", *cmd]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    peak = f"{int(out.stderr.strip().splitlines()[-1]) / 1024:.0f} MB" if gnu_time.exists() else "n/a"
    return elapsed, peak


def _burn(n: int) -> int:
    s = 0
    for i in range(n):
        s += i * i
    return s


def effective_cores() -> float:
    """How many cores two busy processes really get right now (vCPUs may be shared on the host)."""
    import multiprocessing as mp

    n = 5_000_000
    t0 = time.perf_counter()
    _burn(n)
    one = time.perf_counter() - t0
    t0 = time.perf_counter()
    with mp.Pool(2) as pool:
        pool.map(_burn, [n, n])
    two = time.perf_counter() - t0
    return 2 * one / two


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get(
        "SEGWISE_CAMVID", str(Path(__file__).resolve().parents[1].parent / "shared/data/camvid")
    )
    ap.add_argument("--camvid", default=default)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    files = sorted(Path(args.camvid, "testannot").glob("*.png"))
    if not files:
        print(f"no CamVid test annotations under {args.camvid}; set SEGWISE_CAMVID", file=sys.stderr)
        return 2
    rng = np.random.default_rng(0)
    target = np.stack([np.asarray(Image.open(f)) for f in files])
    pred = perturb(target, rng)
    mpix = target.size / 1e6
    print(
        f"{len(files)} CamVid test masks, {target.shape[1]}x{target.shape[2]}, {mpix:.1f} Mpix, "
        f"{torch.get_num_threads()} torch threads, {os.cpu_count()} cores, "
        f"{effective_cores():.2f} effectively available to 2 busy processes"
    )

    # 1. uint8 label maps in memory
    t_sw, cm_sw = best_of(lambda: confusion_matrix(pred, target, C, ignore_index=IGNORE), args.repeats)
    pt, tt = torch.from_numpy(pred), torch.from_numpy(target)

    def tm_run():
        m = MulticlassConfusionMatrix(num_classes=C, ignore_index=IGNORE)
        m.update(pt, tt)
        return m.compute().numpy()

    t_tm, cm_tm = best_of(tm_run, max(1, args.repeats // 2))

    def np_run():
        keep = target != IGNORE
        idx = target[keep].astype(np.int64) * C + pred[keep]
        return np.bincount(idx, minlength=C * C).reshape(C, C)

    t_np, cm_np = best_of(np_run, args.repeats)
    ok = np.array_equal(cm_sw, cm_tm) and np.array_equal(cm_sw, cm_np)
    print("\n[uint8 label maps, in memory]")
    for name, t in (
        ("segwise", t_sw),
        ("torchmetrics MulticlassConfusionMatrix", t_tm),
        ("numpy bincount", t_np),
    ):
        print(f"  {name:40s} {mpix / t:9.1f} Mpix/s")
    print(
        f"  ratio segwise / torchmetrics: {t_tm / t_sw:.1f}x   segwise / numpy: {t_np / t_sw:.1f}x   counts equal: {ok}"
    )

    # 2. float32 scores (N, C, H, W), argmax fused
    n = 16
    scores = rng.standard_normal((n, C, *target.shape[1:]), dtype=np.float32)
    ts = target[:n]
    smpix = ts.size / 1e6
    t_sw2, cm_sw2 = best_of(lambda: confusion_matrix(scores, ts, C, ignore_index=IGNORE), args.repeats)
    sc_t, ts_t = torch.from_numpy(scores), torch.from_numpy(ts)

    def tm_scores():
        m = MulticlassConfusionMatrix(num_classes=C, ignore_index=IGNORE)
        m.update(sc_t.argmax(1), ts_t)
        return m.compute().numpy()

    t_tm2, cm_tm2 = best_of(tm_scores, max(1, args.repeats // 2))

    def np_scores():
        a = scores.argmax(1)
        keep = ts != IGNORE
        return np.bincount(ts[keep].astype(np.int64) * C + a[keep], minlength=C * C).reshape(C, C)

    t_np2, cm_np2 = best_of(np_scores, args.repeats)
    ok2 = np.array_equal(cm_sw2, cm_tm2) and np.array_equal(cm_sw2, cm_np2)
    print(f"\n[float32 scores ({n}, {C}, H, W), argmax + confusion]")
    for name, t in (
        ("segwise (fused argmax)", t_sw2),
        ("torch argmax + torchmetrics", t_tm2),
        ("numpy argmax + bincount", t_np2),
    ):
        print(f"  {name:40s} {smpix / t:9.1f} Mpix/s")
    print(
        f"  ratio segwise / torchmetrics: {t_tm2 / t_sw2:.1f}x   "
        f"segwise / numpy: {t_np2 / t_sw2:.1f}x   counts equal: {ok2}"
    )

    # 3. end to end on folders
    with tempfile.TemporaryDirectory() as tmp:
        pred_dir = Path(tmp, "pred")
        pred_dir.mkdir()
        for f, p in zip(files, pred, strict=True):
            Image.fromarray(p).save(pred_dir / f.name)
        gt_dir = Path(args.camvid, "testannot")

        def segwise_folders():
            return evaluate_folders(gt_dir, pred_dir, num_classes=C, ignore_index=IGNORE)

        def baseline_folders():
            m = MulticlassConfusionMatrix(num_classes=C, ignore_index=IGNORE)
            for f in files:
                t = torch.from_numpy(np.asarray(Image.open(f)).astype(np.int64))
                p = torch.from_numpy(np.asarray(Image.open(pred_dir / f.name)).astype(np.int64))
                m.update(p, t)
            return m.compute().numpy()

        t_e2e, res = best_of(segwise_folders, 3)
        t_base, cm_base = best_of(baseline_folders, 2)
        ok3 = np.array_equal(np.array(res["confusion_matrix"]), cm_base)
        exe = Path(sys.executable).parent / "segwise"
        cmd = [
            str(exe),
            "eval",
            "--gt",
            str(gt_dir),
            "--pred",
            str(pred_dir),
            "--num-classes",
            str(C),
            "--ignore-index",
            str(IGNORE),
            "--json",
            str(Path(tmp, "r.json")),
        ]
        subprocess.run(cmd, check=True, capture_output=True)  # warm numba's on-disk cache
        t_cli, peak_mb = run_timed(cmd)
        t_base_proc, _ = run_timed([sys.executable, "-c", BASELINE_SCRIPT, str(gt_dir), str(pred_dir)])
    print(f"\n[end to end: {len(files)} prediction PNGs vs ground truth PNGs]")
    print(f"  segwise evaluate_folders (parallel decode)  {t_e2e:6.2f} s  {len(files) / t_e2e:7.1f} img/s")
    print(f"  PIL loop + torchmetrics                     {t_base:6.2f} s  {len(files) / t_base:7.1f} img/s")
    print(f"  ratio: {t_base / t_e2e:.1f}x   counts equal: {ok3}")
    print(
        f"  as processes, start-up included: `segwise eval` {t_cli:.2f} s vs baseline script {t_base_proc:.2f} s: "
        f"{t_base_proc / t_cli:.1f}x; peak RSS of `segwise eval`: {peak_mb}"
    )
    return 0 if ok and ok2 and ok3 else 1


if __name__ == "__main__":
    sys.exit(main())
