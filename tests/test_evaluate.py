"""`segwise eval` and segwise.evaluate: pairing, formats, bad input, result file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segwise.cli import main
from segwise.errors import DataError
from segwise.evaluate import evaluate_folders, pair_files
from tests.reference.pixel_metrics import reference_confusion, reference_scores

COLORS = [(0, 0, 0), (255, 0, 0), (0, 255, 0)]


def _save(path: Path, arr: np.ndarray, mode: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode=mode).save(path) if mode else Image.fromarray(arr).save(path)


@pytest.fixture
def folders(tmp_path):
    rng = np.random.default_rng(0)
    gts, preds = [], []
    for i in range(4):
        t = rng.integers(0, 4, (12, 15)).astype(np.uint8)  # 3 = ignore
        p = np.where(rng.random(t.shape) < 0.7, t, rng.integers(0, 3, t.shape)).astype(np.uint8)
        p[p == 3] = 0
        _save(tmp_path / "gt" / f"img_{i}.png", t)
        _save(tmp_path / "pred" / f"img_{i}_pred.png", p)
        gts.append(t)
        preds.append(p)
    return tmp_path, np.stack(gts), np.stack(preds)


def test_result_matches_reference_and_has_every_key(folders):
    root, gts, preds = folders
    res = evaluate_folders(root / "gt", root / "pred", num_classes=3, ignore_index=3)
    np.testing.assert_array_equal(np.array(res["confusion_matrix"]), reference_confusion(preds, gts, 3, 3))
    ref = reference_scores(preds, gts, 3, 3)
    assert res["miou"] == pytest.approx(ref["miou"]) and res["pixel_accuracy"] == pytest.approx(
        ref["pixel_accuracy"]
    )
    assert res["num_images"] == 4 and res["num_pixels"] == int((gts != 3).sum())
    for key in (
        "pixel_accuracy",
        "mean_accuracy",
        "miou",
        "mean_dice",
        "fwiou",
        "kappa",
        "miou_per_image",
        "per_class",
        "confusion_matrix",
        "absent_classes",
        "ignore_index",
        "num_images",
        "num_pixels",
        "policy",
    ):
        assert key in res, key
    assert set(res["per_class"][0]) >= {
        "id",
        "name",
        "iou",
        "accuracy",
        "precision",
        "recall",
        "dice",
        "gt_pixels",
        "pred_pixels",
    }
    assert "pairing" in res["policy"] and "absent_classes" in res["policy"]


def test_cli_writes_json_and_csv_with_nan_as_null(folders, tmp_path, capsys):
    root, *_ = folders
    out = tmp_path / "out" / "r.json"
    rc = main(
        [
            "eval",
            "--gt",
            str(root / "gt"),
            "--pred",
            str(root / "pred"),
            "--num-classes",
            "5",
            "--ignore-index",
            "3",
            "--json",
            str(out),
            "--csv",
            str(tmp_path / "r.csv"),
        ]
    )
    assert rc == 0
    res = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert res["absent_classes"] == [4] and res["per_class"][4]["iou"] is None
    assert res["ignored_classes"] == [3] and res["per_class"][3]["iou"] is None
    assert "mIoU" in capsys.readouterr().out
    lines = (tmp_path / "r.csv").read_text().splitlines()
    assert lines[0].startswith("id,name,iou") and len(lines) == 6


def test_pairing_rule(tmp_path):
    for name in ["a.png", "a_1.png", "b.png"]:
        _save(tmp_path / "gt" / name, np.zeros((2, 2), np.uint8))
    for name in ["a.png", "a_1_pred.png", "b-mask.png", "zzz.png"]:
        _save(tmp_path / "pred" / name, np.zeros((2, 2), np.uint8))
    pairs, missing, extra = pair_files(tmp_path / "gt", tmp_path / "pred")
    assert [(g.name, p.name) for g, p in pairs] == [
        ("a.png", "a.png"),
        ("a_1.png", "a_1_pred.png"),
        ("b.png", "b-mask.png"),
    ]
    assert missing == [] and [p.name for p in extra] == ["zzz.png"]


def test_missing_and_extra_files_fail_unless_allowed(folders, capsys):
    root, *_ = folders
    (root / "pred" / "img_0_pred.png").unlink()
    _save(root / "pred" / "stray.png", np.zeros((12, 15), np.uint8))
    args = [
        "eval",
        "--gt",
        str(root / "gt"),
        "--pred",
        str(root / "pred"),
        "--num-classes",
        "3",
        "--ignore-index",
        "3",
    ]
    assert main([*args, "--json", str(root / "r.json")]) == 2
    err = capsys.readouterr().err
    assert "img_0.png" in err and "stray.png" in err and "--allow-missing" in err
    assert not (root / "r.json").exists()
    assert main([*args, "--allow-missing"]) == 0
    assert "skipped" in capsys.readouterr().err


def test_size_mismatch_names_both_files(folders):
    root, *_ = folders
    _save(root / "pred" / "img_2_pred.png", np.zeros((10, 15), np.uint8))
    with pytest.raises(DataError, match=r"img_2_pred.png is 15x10.*img_2.png is 15x12"):
        evaluate_folders(root / "gt", root / "pred", num_classes=3, ignore_index=3)


def test_corrupt_image_names_the_file(folders):
    root, *_ = folders
    data = (root / "pred" / "img_1_pred.png").read_bytes()
    (root / "pred" / "img_1_pred.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="img_1_pred.png"):
        evaluate_folders(root / "gt", root / "pred", num_classes=3, ignore_index=3)


def test_empty_and_missing_folders(tmp_path):
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    with pytest.raises(DataError, match="no mask files"):
        evaluate_folders(tmp_path / "gt", tmp_path / "pred", num_classes=2)
    with pytest.raises(DataError, match="does not exist"):
        evaluate_folders(tmp_path / "nope", tmp_path / "pred", num_classes=2)


def test_label_out_of_range_names_files_and_values(folders):
    root, *_ = folders
    # the ground-truth file is named, with the values it holds and a fix that keeps every class
    with pytest.raises(
        DataError, match=r"gt/img_\d.png: values outside the classes 0..2 and no ignore index: 3"
    ):
        evaluate_folders(root / "gt", root / "pred", num_classes=3)  # 3 appears, no ignore index


def test_palette_and_16bit_masks(tmp_path):
    t = np.array([[0, 1], [2, 300]], np.uint16)  # 300 = ignore, needs 16 bits
    p = np.array([[0, 1], [1, 0]], np.uint8)
    Image.fromarray(t).save(tmp_path / "gt.png")
    assert Image.open(tmp_path / "gt.png").mode.startswith("I")
    pal = Image.fromarray(p, mode="P")
    pal.putpalette([0, 0, 0, 200, 10, 10, 10, 200, 10] + [0] * (256 * 3 - 9))
    (tmp_path / "g").mkdir()
    (tmp_path / "p").mkdir()
    shutil.move(tmp_path / "gt.png", tmp_path / "g" / "x.png")
    pal.save(tmp_path / "p" / "x.png")
    res = evaluate_folders(tmp_path / "g", tmp_path / "p", num_classes=3, ignore_index=300)
    assert res["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 1, 0]]


def test_rgb_masks_with_class_table(tmp_path):
    table = tmp_path / "classes.csv"
    table.write_text("id,name,r,g,b\n0,bg,0,0,0\n1,red,255,0,0\n2,green,0,255,0\n")
    ids = np.array([[0, 1, 2], [2, 1, 0]])
    rgb = np.array(COLORS, np.uint8)[ids]
    _save(tmp_path / "g" / "m.png", rgb)
    _save(tmp_path / "p" / "m.png", rgb)
    res = evaluate_folders(tmp_path / "g", tmp_path / "p", num_classes=3, classes=table)
    assert res["miou"] == 1.0 and [r["name"] for r in res["per_class"]] == ["bg", "red", "green"]
    bad = rgb.copy()
    bad[0, 0] = (1, 2, 3)
    _save(tmp_path / "p" / "m.png", bad)
    with pytest.raises(DataError, match=r"colours not in the class table: \(1,2,3\): 1 px"):
        evaluate_folders(tmp_path / "g", tmp_path / "p", num_classes=3, classes=table)
    with pytest.raises(DataError, match="--classes"):
        evaluate_folders(tmp_path / "g", tmp_path / "p", num_classes=3)


def test_installed_console_script(folders, tmp_path):
    root, *_ = folders
    exe = Path(sys.executable).parent / "segwise"
    out = subprocess.run(
        [
            str(exe),
            "eval",
            "--gt",
            str(root / "gt"),
            "--pred",
            str(tmp_path / "missing"),
            "--num-classes",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "does not exist" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.camvid
def test_camvid_segnet_protocol(camvid_root, tmp_path):
    """G, C and mIoU on a few CamVid test masks match a direct re-statement of the SegNet protocol."""
    rng = np.random.default_rng(0)
    files = sorted((camvid_root / "testannot").glob("*.png"))[:6]
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    gts, preds = [], []
    for f in files:
        t = np.array(Image.open(f))
        p = np.roll(np.where(t == 11, 0, t), 4, axis=1).astype(np.uint8)
        noise = rng.random(t.shape) < 0.05
        p[noise] = rng.integers(0, 11, noise.sum())
        shutil.copy(f, tmp_path / "gt" / f.name)
        Image.fromarray(p).save(tmp_path / "pred" / f.name)
        gts.append(t)
        preds.append(p)
    res = evaluate_folders(tmp_path / "gt", tmp_path / "pred", num_classes=11, ignore_index=11)
    t, p = np.stack(gts), np.stack(preds)
    valid = t != 11
    g = (p[valid] == t[valid]).mean()
    class_acc = [((p == c) & (t == c)).sum() / (t == c).sum() for c in range(11) if (t == c).any()]
    ious = []
    for c in range(11):
        inter = ((p == c) & (t == c) & valid).sum()
        union = (((p == c) & valid) | (t == c)).sum()
        if union:
            ious.append(inter / union)
    assert res["pixel_accuracy"] == pytest.approx(g, abs=1e-12)
    assert res["mean_accuracy"] == pytest.approx(np.mean(class_acc), abs=1e-12)
    assert res["miou"] == pytest.approx(np.mean(ious), abs=1e-12)


def test_atomic_outputs_get_normal_permissions(tmp_path):
    import os

    from segwise.io_utils import atomic_write_text

    mask = os.umask(0)
    os.umask(mask)
    atomic_write_text(tmp_path / "x.txt", "hi")
    assert (tmp_path / "x.txt").stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600


# ----------------------------------------------------------------------------- regression: the family pipeline

GOLDEN = Path(__file__).parent / "golden"


def _golden_folders(root: Path) -> Path:
    """Three classes, a void band (255) and two shifted prediction sets: what the golden results
    in tests/golden were computed on (with segwise eval / compare-preds before the family registry)."""
    for i in range(6):
        t = np.zeros((40, 50), np.uint8)
        t[5:20, 5:25] = 1
        t[22:35, 20 + i : 40 + i] = 2
        t[0:3, :] = 255
        p = np.roll(t, i % 3, axis=1).copy()
        p[p == 255] = 0
        q = np.roll(t, 1, axis=0).copy()
        q[q == 255] = 1
        _save(root / "gt" / f"im{i}.png", t)
        _save(root / "pred" / f"im{i}.png", p)
        _save(root / "pred2" / f"im{i}.png", q)
    return root


def _assert_like_golden(new, old, where="result"):
    """Same keys in the same order, same values; floats equal to rounding."""
    if isinstance(old, dict):
        assert isinstance(new, dict) and list(new) == list(old), where
        for k in old:
            _assert_like_golden(new[k], old[k], f"{where}.{k}")
    elif isinstance(old, list):
        assert isinstance(new, list) and len(new) == len(old), where
        for i, (a, b) in enumerate(zip(new, old, strict=True)):
            _assert_like_golden(a, b, f"{where}[{i}]")
    elif isinstance(old, float):
        assert new == pytest.approx(old, rel=1e-9, abs=1e-12), where
    else:
        assert new == old, where


GOLDEN_RUNS = {
    "eval_all.json": (
        ["eval", "--num-classes", "3", "--ignore-index", "255", "--all", "--resamples", "100"],
        """mIoU: 92.23%  [88.60%, 96.03%] (95% CI, 100 resamples)
        pixel accuracy: 96.97%  [95.46%, 98.49%] (95% CI, 100 resamples)
        mean accuracy: 95.94%  [93.91%, 97.97%] (95% CI, 100 resamples)
        BF: 73.87%  [61.27%, 86.93%]   Boundary IoU: 63.02%  [49.94%, 79.47%]
        trimap mIoU: 1px 80.89%, 2px 85.99%, 4px 90.24%, 8px 91.98%, 16px 92.21%, 32px 92.23%
        objects: F1 100.00%, SQ 92.45%, PQ 92.45% (TP 18, FP 0, FN 0; means over classes)""",
    ),
    "eval_all_in_range_ignore.json": (
        [
            "eval",
            "--num-classes",
            "4",
            "--ignore-index",
            "3",
            "--value-map",
            "0:0,1:1,2:2,255:3",
            "--all",
            "--resamples",
            "50",
            "--bf-theta",
            "2",
            "--biou-d",
            "1",
            "--seed",
            "3",
        ],
        """not evaluated (ignore index): [3]
        pixels with ground truth 3 are ignored
        mIoU: 92.23%  [88.60%, 96.03%] (95% CI, 50 resamples)
        pixel accuracy: 96.97%  [95.46%, 98.49%] (95% CI, 50 resamples)
        mean accuracy: 95.94%  [93.91%, 97.97%] (95% CI, 50 resamples)
        BF: 100.00%  [100.00%, 100.00%]   Boundary IoU: 63.02%  [51.48%, 79.47%]""",
    ),
    "compare_preds.json": (
        [
            "compare-preds",
            "--num-classes",
            "3",
            "--ignore-index",
            "255",
            "--resamples",
            "100",
            "--permutations",
            "99",
        ],
        "pred2 vs pred: mIoU 83.87% vs 92.23%, Δ = -8.36 points (95% CI -13.46 to -4.10), p = 0.04: "
        "significant at α = 0.05",
    ),
}


@pytest.mark.parametrize("golden", list(GOLDEN_RUNS))
def test_cli_results_match_the_golden_results(golden, tmp_path, capsys):
    """`eval --all` and `compare-preds` write the same JSON and print the same summary lines as
    before the metric families moved into segwise.metrics.families (version and paths aside)."""
    root = _golden_folders(tmp_path / "data")
    args, lines = GOLDEN_RUNS[golden]
    preds = ["--pred", str(root / "pred")] + (
        ["--pred", str(root / "pred2")] if args[0] == "compare-preds" else []
    )
    out = tmp_path / "out.json"
    assert main([*args, "--gt", str(root / "gt"), *preds, "--json", str(out)]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    for line in lines.splitlines():
        assert " ".join(line.split()) in printed, line
    new = json.loads(out.read_text())
    assert new.pop("segwise_version")
    old = json.loads((GOLDEN / golden).read_text().replace("{root}", str(root)))
    _assert_like_golden(new, old)
