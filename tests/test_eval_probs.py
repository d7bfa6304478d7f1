"""End to end: ``segwise predict --save probs`` -> ``segwise eval --probs`` equals re-statements computed
from the written .npy files and the ground truth (multi-class, ROI, binary), and bad files are named."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from segwise.cli import main
from segwise.data.readers import read_mask
from segwise.data.spec import DatasetSpec
from segwise.demo_data import make_shapes_dataset
from segwise.errors import DataError
from segwise.evaluate import evaluate_folders
from segwise.metrics import functional as F
from tests.infer.conftest import SPEC, make_checkpoint
from tests.metrics.test_probs import check, reference

IGNORE = 255


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    root = make_shapes_dataset(tmp_path_factory.mktemp("shapes"), num_images=4, height=40, width=56, seed=3)
    roi = root / "roi"
    roi.mkdir()
    for i, mask in enumerate(sorted((root / "masks").glob("*.png"))):
        inside = np.zeros((40, 56), np.uint8)
        inside[i : 30 + i, 5:50] = 255
        cv2.imwrite(str(roi / mask.name), inside)
    return root


@pytest.fixture(scope="module")
def predicted(shapes, tmp_path_factory) -> Path:
    ckpt = make_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt")
    out = tmp_path_factory.mktemp("pred")
    assert (
        main(
            [
                "predict",
                "--checkpoint",
                str(ckpt),
                "--input",
                str(shapes / "images"),
                "--out",
                str(out),
                "--save",
                "index,probs",
            ]
        )
        == 0
    )
    return out


def _load(shapes: Path, probs_dir: Path, roi: bool = False) -> tuple[list[np.ndarray], list[np.ndarray]]:
    ps, ts = [], []
    for mask in sorted((shapes / "masks").glob("*.png")):
        t = read_mask(mask).copy()
        if roi:
            t[read_mask(shapes / "roi" / mask.name) == 0] = IGNORE
        ps.append(np.load(probs_dir / f"{mask.stem}.npy"))
        ts.append(t)
    return ps, ts


def _pixels(ps, ts):
    p = np.concatenate([x.reshape(x.shape[0], -1).T for x in ps]).astype(np.float64)
    y = np.concatenate([t.reshape(-1) for t in ts]).astype(np.int64)
    return p[y != IGNORE], y[y != IGNORE]


@pytest.mark.parametrize("roi", [False, True])
def test_eval_probs_equals_restatements(shapes, predicted, tmp_path, roi):
    out = tmp_path / "r.json"
    args = [
        "eval",
        "--gt",
        str(shapes / "masks"),
        "--probs",
        str(predicted / "probs"),
        "--num-classes",
        "6",
        "--ignore-index",
        "255",
        "--json",
        str(out),
        "--workers",
        "1",
    ]
    assert main(args + (["--roi", str(shapes / "roi")] if roi else [])) == 0
    result = json.loads(out.read_text())
    ps, ts = _load(shapes, predicted / "probs", roi)
    assert all(p.dtype == np.float16 and p.shape == (6, 40, 56) for p in ps)
    check(result, reference(*_pixels(ps, ts)))
    cm = sum(F.confusion_matrix(p.argmax(0), t, 6, IGNORE) for p, t in zip(ps, ts, strict=True))
    assert result["confusion_matrix"] == np.asarray(cm).tolist()  # the argmax is the prediction
    assert result["source"]["probs"] == str(predicted / "probs") and result["source"]["pred"] is None
    assert len(result["calibration"]["count"]) == 15 and "probs_calibration" in result["policy"]


def test_pred_and_probs_together_and_calibration_bins(shapes, predicted):
    result = evaluate_folders(
        shapes / "masks",
        predicted / "index",
        num_classes=6,
        ignore_index=IGNORE,
        workers=1,
        probs_dir=predicted / "probs",
        family_options={"calibration_bins": 7},
    )
    assert result["source"]["pred"] == str(predicted / "index")
    assert result["calibration"]["bins"] == 7 and len(result["calibration"]["edges"]) == 8
    check(result, reference(*_pixels(*_load(shapes, predicted / "probs")), bins=7))


def test_binary_sensitivity_specificity_and_best_thresholds(shapes, tmp_path):
    spec = DatasetSpec(
        "bin", ("bg", "fg"), ((0, 0, 0), (255, 255, 255)), ignore_index=IGNORE, mean=SPEC.mean, std=SPEC.std
    )
    ckpt = make_checkpoint(tmp_path / "bin.pt", spec=spec, seed=1)
    gt = tmp_path / "gt"
    gt.mkdir()
    for mask in sorted((shapes / "masks").glob("*.png")):
        m = read_mask(mask)
        cv2.imwrite(str(gt / mask.name), np.where(m == IGNORE, IGNORE, m > 0).astype(np.uint8))
    out = tmp_path / "pred"
    assert (
        main(
            [
                "predict",
                "--checkpoint",
                str(ckpt),
                "--input",
                str(shapes / "images"),
                "--out",
                str(out),
                "--save",
                "probs",
            ]
        )
        == 0
    )
    r = evaluate_folders(gt, None, num_classes=2, ignore_index=IGNORE, workers=1, probs_dir=out / "probs")
    p, y = _pixels(*_load_gt(gt, out / "probs"))
    top = p.argmax(1)
    assert r["sensitivity"] == pytest.approx(((top == 1) & (y == 1)).sum() / (y == 1).sum())
    assert r["specificity"] == pytest.approx(((top == 0) & (y == 0)).sum() / (y == 0).sum())
    best = {}
    for t in np.unique(p[:, 1])[::-1]:
        hit = p[:, 1] >= t
        tp, fp, fn = (hit & (y == 1)).sum(), (hit & (y == 0)).sum(), (~hit & (y == 1)).sum()
        f1, j = 2 * tp / (2 * tp + fp + fn), tp / (y == 1).sum() - fp / (y == 0).sum()
        if "f1" not in best or f1 > best["f1"][0]:
            best["f1"] = (f1, t)
        if "youden" not in best or j > best["youden"][0]:
            best["youden"] = (j, t)
    assert r["best_threshold"]["f1"]["f1"] == pytest.approx(best["f1"][0], abs=1e-12)
    assert r["best_threshold"]["f1"]["threshold"] == best["f1"][1]
    assert r["best_threshold"]["youden"]["youden"] == pytest.approx(best["youden"][0], abs=1e-12)
    assert r["best_threshold"]["youden"]["threshold"] == best["youden"][1]


def _load_gt(gt: Path, probs_dir: Path):
    masks = sorted(gt.glob("*.png"))
    return [np.load(probs_dir / f"{m.stem}.npy") for m in masks], [read_mask(m) for m in masks]


def test_bad_probability_files_are_named(shapes, predicted, tmp_path):
    bad = tmp_path / "probs"
    bad.mkdir()
    stems = [m.stem for m in sorted((shapes / "masks").glob("*.png"))]
    for s in stems:
        np.save(bad / f"{s}.npy", np.load(predicted / "probs" / f"{s}.npy"))
    np.save(bad / f"{stems[1]}.npy", np.full((6, 40, 56), 0.5, np.float16))  # sums to 3
    with pytest.raises(DataError, match=rf"{stems[1]}\.npy.*not probabilities"):
        evaluate_folders(shapes / "masks", None, num_classes=6, ignore_index=IGNORE, workers=1, probs_dir=bad)
    np.save(bad / f"{stems[1]}.npy", np.full((5, 40, 56), 0.2, np.float16))
    with pytest.raises(DataError, match=rf"{stems[1]}\.npy.*\(6, H, W\)"):
        evaluate_folders(shapes / "masks", None, num_classes=6, ignore_index=IGNORE, workers=1, probs_dir=bad)
    np.save(bad / f"{stems[1]}.npy", np.full((6, 20, 56), 1 / 6, np.float16))
    with pytest.raises(DataError, match=rf"size mismatch.*{stems[1]}\.npy"):
        evaluate_folders(shapes / "masks", None, num_classes=6, ignore_index=IGNORE, workers=1, probs_dir=bad)


def test_predict_eval_gt_with_the_probs_family_equals_eval_probs(shapes, predicted, tmp_path):
    from segwise.infer import Predictor, predict_paths

    ckpt = make_checkpoint(tmp_path / "tiny.pt")  # the same seed as the module's checkpoint
    summary = predict_paths(
        Predictor.from_checkpoint(ckpt),
        shapes / "images",
        tmp_path / "out",
        save=["index"],
        eval_gt=shapes / "masks",
        families=["probs"],
    )
    separate = evaluate_folders(
        shapes / "masks", None, num_classes=6, ignore_index=IGNORE, workers=1, probs_dir=predicted / "probs"
    )
    assert summary.result is not None
    for key in ("roc_auc", "average_precision", "ece", "brier", "nll", "calibration"):
        assert summary.result[key] == separate[key], key
