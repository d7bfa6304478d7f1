"""`segwise train --auto` against a plain practitioner's script, same data, same budget, one run.

Run:  python benchmarks/bench_auto.py --minutes 5 [--sets vessels,cvc,hippocampus,camvid] [--work DIR]

For each development set (``../shared/data``, each with a README; the synthetic vessels of
``examples/synthetic_vessels.py``) the script prepares one folder of images, masks and
``splits/{train,val,test}.txt`` that both sides read, then, one after the other on this machine:

* **segwise**: ``segwise data init`` + ``segwise train --auto ROOT --minutes M`` + ``segwise predict``
  on the test split (CamVid: the built-in ``camvid`` dataset; hippocampus: the NIfTI volumes
  themselves, split by case, predicted as label volumes);
* **peer**: ``benchmarks/peer_train.py`` (PyTorch + smp, no segwise import) with the same budget
  (hippocampus: the axial slices as z-scored ``.npy`` files, as a user would write them).

Both sides' test predictions are scored here by one numpy function (a pooled confusion matrix over
every labelled test pixel, or voxel): mIoU for CamVid, foreground Dice (F1) for the binary sets, the
Dice of each structure for the hippocampus. The wall time of each side is measured from the start
of its commands to their exit (``train --auto`` and ``predict``; the peer's one script).

Splits: vessels 40 / 8 / 12 images; cvc-dev by sequence (1-9 train, 10-11 val, 12-15 test);
hippocampus by case (the first 100 cases train, 20 val, the last 36 test); CamVid its own.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def _write_split(root: Path, splits: dict[str, list[str]]) -> None:
    (root / "splits").mkdir(parents=True, exist_ok=True)
    for name, stems in splits.items():
        (root / "splits" / f"{name}.txt").write_text("\n".join(stems) + "\n")


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not dst.exists():
        dst.symlink_to(src.resolve())


def _ids_png(mask: np.ndarray, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask.astype(np.uint8)).save(dst)


def prep_vessels(work: Path) -> dict:
    raw = work / "raw"
    if not raw.exists():
        subprocess.run(
            [
                sys.executable,
                str(REPO / "examples" / "synthetic_vessels.py"),
                str(raw),
                "--n",
                "60",
                "--size",
                "192",
                "--seed",
                "0",
            ],
            check=True,
        )
    root = work / "data"
    stems = [f"{i:02d}" for i in range(60)]
    for s in stems:
        _link(raw / "images" / f"{s}_image.png", root / "images" / f"{s}.png")
        _ids_png(
            np.asarray(Image.open(raw / "masks" / f"{s}_vessels.png")) > 127, root / "masks" / f"{s}.png"
        )
    _write_split(root, {"train": stems[:40], "val": stems[40:48], "test": stems[48:]})
    return {"root": root, "peer": root, "classes": 2, "metric": "dice1"}


def prep_cvc(work: Path) -> dict:
    src = SHARED / "cvc-dev"
    root = work / "data"
    seq = {
        row["frame"]: int(row["sequence"]) for row in csv.DictReader((src / "frame_to_sequence.csv").open())
    }
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for frame, s in sorted(seq.items(), key=lambda kv: int(kv[0])):
        _link(src / "images" / f"{frame}.png", root / "images" / f"{frame}.png")
        _ids_png(
            np.asarray(Image.open(src / "masks" / f"{frame}.png")) > 127, root / "masks" / f"{frame}.png"
        )
        splits["train" if s <= 9 else "val" if s <= 11 else "test"].append(frame)
    _write_split(root, splits)
    return {"root": root, "peer": root, "classes": 2, "metric": "dice1"}


def prep_camvid(work: Path) -> dict:
    src = Path(os.environ.get("SEGWISE_CAMVID", SHARED / "camvid"))
    os.environ["SEGWISE_CAMVID"] = str(src)  # `train --auto camvid` reads it
    peer = work / "peer"
    splits: dict[str, list[str]] = {}
    for split in ("train", "val", "test"):
        stems = sorted(p.stem for p in (src / split).glob("*.png"))
        splits[split] = stems
        for s in stems:
            _link(src / split / f"{s}.png", peer / "images" / f"{s}.png")
            if not (peer / "masks" / f"{s}.png").exists():
                m = np.asarray(Image.open(src / f"{split}annot" / f"{s}.png")).copy()
                m[m == 11] = 255
                _ids_png(m, peer / "masks" / f"{s}.png")
    _write_split(peer, splits)
    return {"root": "camvid", "peer": peer, "classes": 11, "metric": "miou"}


def prep_hippocampus(work: Path) -> dict:
    import SimpleITK as sitk

    src = SHARED / "hippocampus-dev"
    cases = sorted(p.name[: -len(".nii.gz")] for p in (src / "labelsTr").glob("*.nii.gz"))
    train, val, test = cases[:100], cases[100:120], cases[120:]
    root, peer = work / "data", work / "peer"
    for c in cases:
        for sub in ("imagesTr", "labelsTr"):
            dst = (work / "test" if c in test else root) / sub / f"{c}.nii.gz"
            _link(src / sub / f"{c}.nii.gz", dst)
    _write_split(root, {"train": train, "val": val})
    slices: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for split, names in (("train", train), ("val", val), ("test", test)):
        for c in names:
            image = sitk.GetArrayFromImage(sitk.ReadImage(str(src / "imagesTr" / f"{c}.nii.gz"))).astype(
                np.float32
            )
            label = sitk.GetArrayFromImage(sitk.ReadImage(str(src / "labelsTr" / f"{c}.nii.gz"))).astype(
                np.uint8
            )
            image = (image - image.mean()) / (image.std() + 1e-6)  # per-volume z-score
            for z in range(image.shape[0]):
                stem = f"{c}_{z:03d}"
                (peer / "images").mkdir(parents=True, exist_ok=True)
                np.save(peer / "images" / f"{stem}.npy", image[z])
                _ids_png(label[z], peer / "masks" / f"{stem}.png")
                slices[split].append(stem)
    _write_split(peer, slices)
    return {
        "root": root,
        "peer": peer,
        "classes": 3,
        "metric": "dice12",
        "test_cases": test,
        "test_dir": work / "test",
    }


SETS = {"vessels": prep_vessels, "cvc": prep_cvc, "hippocampus": prep_hippocampus, "camvid": prep_camvid}


def pooled_scores(pairs, classes: int) -> dict[str, float]:
    """IoU and Dice of each class from one confusion matrix over every labelled pixel of all pairs
    (ground truth 255 ignored)."""
    cm = np.zeros((classes, classes), np.int64)
    for gt, pred in pairs:
        keep = gt < classes
        cm += np.bincount(classes * gt[keep].astype(np.int64) + pred[keep], minlength=classes**2).reshape(
            classes, -1
        )
    tp = np.diag(cm).astype(float)
    fp, fn = cm.sum(0) - tp, cm.sum(1) - tp
    iou = tp / np.maximum(tp + fp + fn, 1)
    dice = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    present = cm.sum(1) > 0
    return {
        "miou": float(iou[present].mean()),
        **{f"iou{c}": float(iou[c]) for c in range(classes)},
        **{f"dice{c}": float(dice[c]) for c in range(classes)},
    }


def headline(scores: dict[str, float], metric: str) -> float:
    if metric == "dice12":
        return (scores["dice1"] + scores["dice2"]) / 2
    return scores[metric]


def run(cmd: list[str], log: Path) -> float:
    t0 = time.perf_counter()
    with log.open("a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed ({proc.returncode}); see {log}")
    return time.perf_counter() - t0


def bench_set(name: str, minutes: float, work: Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    info = SETS[name](work)
    log = work / f"log-{minutes:g}.txt"
    segwise = [sys.executable, "-m", "segwise"]
    out, peer_out = work / f"auto-{minutes:g}", work / f"peer-{minutes:g}"
    # segwise: data init (checks the folder, writes spec.json), --auto, predict the test split
    if info["root"] != "camvid":
        init = [
            *segwise,
            "data",
            "init",
            str(info["root"]),
            "--images",
            "imagesTr" if name == "hippocampus" else "images",
            "--masks",
            "labelsTr" if name == "hippocampus" else "masks",
            "--force",
        ]
        run(init + (["--modality", "mri"] if name == "hippocampus" else []), log)
    auto_wall = run(
        [*segwise, "train", "--auto", str(info["root"]), "--minutes", f"{minutes:g}", "--out", str(out)], log
    )
    if name == "hippocampus":
        test_input = info["test_dir"] / "imagesTr"
    elif name == "camvid":
        test_input = Path(info["peer"]) / "test-images"
        for s in (Path(info["peer"]) / "splits" / "test.txt").read_text().split():
            _link(Path(info["peer"]) / "images" / f"{s}.png", test_input / f"{s}.png")
    else:
        test_input = work / "test-images"
        for s in (Path(info["root"]) / "splits" / "test.txt").read_text().split():
            _link(Path(info["root"]) / "images" / f"{s}.png", test_input / f"{s}.png")
    predict_wall = run(
        [
            *segwise,
            "predict",
            "--checkpoint",
            str(out / "run" / "best.pt"),
            "--input",
            str(test_input),
            "--out",
            str(out / "test"),
            "--save",
            "index",
        ],
        log,
    )
    peer_wall = run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "peer_train.py"),
            str(info["peer"]),
            "--classes",
            str(info["classes"]),
            "--minutes",
            f"{minutes:g}",
            "--out",
            str(peer_out),
        ],
        log,
    )
    # score both sides on the same labelled pixels
    auto_pairs, peer_pairs = [], []
    if name == "hippocampus":
        import SimpleITK as sitk

        for c in info["test_cases"]:
            gt = sitk.GetArrayFromImage(
                sitk.ReadImage(str(info["test_dir"] / "labelsTr" / f"{c}.nii.gz"))
            ).astype(int)
            auto = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "test" / "index" / f"{c}.nii.gz"))).astype(
                int
            )
            auto_pairs.append((gt, auto))
            for z in range(gt.shape[0]):
                peer_pairs.append((gt[z], np.asarray(Image.open(peer_out / f"{c}_{z:03d}.png")).astype(int)))
    else:
        masks = Path(info["peer"]) / "masks"
        for s in (Path(info["peer"]) / "splits" / "test.txt").read_text().split():
            gt = np.asarray(Image.open(masks / f"{s}.png")).astype(int)
            auto_pairs.append((gt, np.asarray(Image.open(out / "test" / "index" / f"{s}.png")).astype(int)))
            peer_pairs.append((gt, np.asarray(Image.open(peer_out / f"{s}.png")).astype(int)))
    auto_s, peer_s = pooled_scores(auto_pairs, info["classes"]), pooled_scores(peer_pairs, info["classes"])
    return {
        "set": name,
        "minutes": minutes,
        "metric": info["metric"],
        "auto": headline(auto_s, info["metric"]),
        "peer": headline(peer_s, info["metric"]),
        "auto_scores": auto_s,
        "peer_scores": peer_s,
        "auto_train_wall_s": auto_wall,
        "auto_predict_wall_s": predict_wall,
        "peer_wall_s": peer_wall,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--sets", default="vessels,cvc,hippocampus,camvid")
    ap.add_argument("--work", type=Path, default=REPO.parent / "bench_auto")
    args = ap.parse_args()
    rows = []
    for name in args.sets.split(","):
        r = bench_set(name, args.minutes, args.work / name)
        rows.append(r)
        extra = (
            f" (anterior {r['auto_scores']['dice1']:.3f} / posterior {r['auto_scores']['dice2']:.3f} vs "
            f"{r['peer_scores']['dice1']:.3f} / {r['peer_scores']['dice2']:.3f})"
            if r["metric"] == "dice12"
            else ""
        )
        print(
            f"{name:12s} {args.minutes:g} min  {r['metric']:6s}  --auto {r['auto']:.3f} "
            f"(train {r['auto_train_wall_s']:.0f} s "
            f"= {r['auto_train_wall_s'] / 60 / args.minutes:.0%} of the budget)  peer {r['peer']:.3f} "
            f"({r['peer_wall_s']:.0f} s)  difference {r['auto'] - r['peer']:+.3f}{extra}",
            flush=True,
        )
    out = args.work / f"bench_auto-{args.minutes:g}min.json"
    out.write_text(json.dumps(rows, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
