"""Your own data, end to end through the CLI: a retina-like binary folder (DRIVE names, 0/255 GIF
ground truth, field-of-view ROI masks) evaluated, compared and predicted with --value-map, --roi and
--match. Every number is checked against a re-statement computed here from the raw files with PIL
and sklearn, on the ROI pixels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    jaccard_score,
    precision_score,
    recall_score,
)

from segwise.cli import main
from segwise.data.spec import DatasetSpec

MATCH = r"^(\d+)_"
IDS = ("21", "22", "23")
H, W = 20, 24


def _save(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def _l(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("L"))


def _disc(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (yy - (h - 1) / 2) ** 2 + (xx - (w - 1) / 2) ** 2 <= (min(h, w) / 2 - 1) ** 2


def _predictions(root: Path, name: str, flip: float, seed: int, *, stored_0_255: bool = False) -> Path:
    """Class ids 0/1 inside the FOV with a share ``flip`` of wrong pixels, 255 outside (what segwise
    predict --roi writes); or, with ``stored_0_255``, 0/255 everywhere (0 outside)."""
    rng = np.random.default_rng(seed)
    for i in IDS:
        gt = _l(root / "gt" / f"{i}_manual1.gif") > 0
        inside = _l(root / "fov" / f"{i}_training_mask.gif") > 0
        pred = (gt ^ (rng.random(gt.shape) < flip)).astype(np.uint8)
        out = np.where(inside, 255 * pred, 0) if stored_0_255 else np.where(inside, pred, 255)
        _save(root / name / f"{i}_training.png", out.astype(np.uint8))
    return root / name


@pytest.fixture
def retina(tmp_path) -> Path:
    """images/NN_training.tif (RGB), gt/NN_manual1.gif (0/255), fov/NN_training_mask.gif (0/255 disc),
    pred/NN_training.png (class ids, 255 outside the FOV)."""
    rng = np.random.default_rng(0)
    fov = np.where(_disc(H, W), 255, 0).astype(np.uint8)
    for k, i in enumerate(IDS):
        _save(tmp_path / "images" / f"{i}_training.tif", rng.integers(0, 256, (H, W, 3), dtype=np.uint8))
        gt = np.where(rng.random((H, W)) < 0.25 + 0.1 * k, 255, 0).astype(np.uint8)
        gt[0, :5] = 255  # a vessel outside the field of view: not evaluated
        _save(tmp_path / "gt" / f"{i}_manual1.gif", gt)
        _save(tmp_path / "fov" / f"{i}_training_mask.gif", fov)
    _predictions(tmp_path, "pred", 0.15, 1)
    return tmp_path


def _roi_pixels(root: Path, pred_dir: Path, pred_classes=lambda a: a) -> tuple[np.ndarray, np.ndarray]:
    """(ground truth, prediction) class ids of the ROI pixels of every image, from the raw files."""
    t, p = [], []
    for i in IDS:
        inside = _l(root / "fov" / f"{i}_training_mask.gif") > 0
        gt = (_l(root / "gt" / f"{i}_manual1.gif") > 0).astype(np.int64)
        with Image.open(pred_dir / f"{i}_training.png") as img:
            pred = pred_classes(np.asarray(img).astype(np.int64))
        t.append(gt[inside])
        p.append(pred[inside])
    return np.concatenate(t), np.concatenate(p)


def _reference(t: np.ndarray, p: np.ndarray) -> dict:
    """The scores from sklearn; undefined ones (0/0) are NaN."""
    opts = {"labels": [0, 1], "average": None, "zero_division": np.nan}
    iou = jaccard_score(t, p, labels=[0, 1], average=None)  # both classes occur in t here
    recall = recall_score(t, p, **opts)
    return {
        "confusion_matrix": confusion_matrix(t, p, labels=[0, 1]),
        "iou": iou,
        "dice": f1_score(t, p, **opts),
        "precision": precision_score(t, p, **opts),
        "recall": recall,
        "pixel_accuracy": accuracy_score(t, p),
        "miou": iou.mean(),
        "mean_accuracy": recall.mean(),
        "fwiou": float(np.sum(np.bincount(t, minlength=2) / t.size * iou)),
    }


def _same(value: float | None, ref: float) -> bool:
    """A result value (None when undefined) equals the reference (NaN when undefined) to 1e-9."""
    return np.isnan(ref) if value is None else value == pytest.approx(ref, abs=1e-9)


def _check(result: dict, ref: dict) -> None:
    np.testing.assert_array_equal(np.array(result["confusion_matrix"]), ref["confusion_matrix"])
    for c in (0, 1):
        row = result["per_class"][c]
        for key in ("iou", "dice", "precision", "recall"):
            assert _same(row[key], ref[key][c]), (c, key, row[key], ref[key][c])
        assert _same(row["accuracy"], ref["recall"][c])
    for key in ("pixel_accuracy", "miou", "mean_accuracy", "fwiou"):
        assert result[key] == pytest.approx(ref[key], abs=1e-9), key
    assert result["num_pixels"] == int(ref["confusion_matrix"].sum())


def _eval(root: Path, *extra: str, pred: str = "pred") -> list[str]:
    return [
        "eval",
        "--gt",
        str(root / "gt"),
        "--pred",
        str(root / pred),
        "--match",
        MATCH,
        "--workers",
        "1",
        *extra,
    ]


def _run_json(args: list[str], out: Path) -> dict:
    rc = main([*args, "--json", str(out)])
    assert rc == 0
    return json.loads(out.read_text())


# -- eval -------------------------------------------------------------------------------------------


def test_eval_with_value_map_roi_and_match_equals_the_reference(retina, tmp_path, capsys):
    res = _run_json(
        _eval(retina, "--value-map", "0:0,255:1", "--roi", str(retina / "fov")), tmp_path / "r.json"
    )
    ref = _reference(*_roi_pixels(retina, retina / "pred"))
    _check(res, ref)
    assert res["num_images"] == 3 and res["num_classes"] == 2  # --num-classes from the value map
    assert "ROI" in res["policy"]["roi"] and str(retina / "fov") in res["policy"]["roi"]
    assert res["spec"]["mask_encoding"] == "value_map" and res["spec"]["value_map"] == [[0, 0], [255, 1]]
    assert res["warnings"] == [] and res["source"]["roi"] == str(retina / "fov")
    assert [r["gt"] for r in res["per_image"]] == [f"{i}_manual1.gif" for i in IDS]
    assert "error" not in capsys.readouterr().err


def test_num_classes_may_be_given_too(retina, tmp_path):
    args = _eval(retina, "--value-map", "0:0,255:1", "--roi", str(retina / "fov"), "--num-classes", "2")
    _check(_run_json(args, tmp_path / "r.json"), _reference(*_roi_pixels(retina, retina / "pred")))


def test_without_roi_the_255_outside_the_fov_is_an_error(retina, capsys):
    rc = main(_eval(retina, "--value-map", "0:0,255:1"))
    err = capsys.readouterr().err
    assert rc == 2
    assert "Traceback" not in err and "error:" in err
    assert "255" in err and "21_training.png" in err and "the same --roi" in err


def test_ignore_index_255_on_0_255_ground_truth_warns_that_class_1_has_no_pixel(retina, tmp_path, capsys):
    """The old trap: --ignore-index 255 on masks stored as 0/255 leaves out every vessel pixel."""
    args = _eval(retina, "--num-classes", "2", "--ignore-index", "255", "--roi", str(retina / "fov"))
    res = _run_json(args, tmp_path / "r.json")
    assert len(res["warnings"]) == 1 and res["warnings"][0].startswith("class 1 ")
    assert "no ground-truth pixel" in res["warnings"][0] and "--value-map" in res["warnings"][0]
    assert res["per_class"][1]["gt_pixels"] == 0
    err = capsys.readouterr().err
    assert "warning" in err and "class 1 (1) has no ground-truth pixel" in err


def test_ignore_index_255_on_0_255_png_ground_truth_warns_too(retina, tmp_path, capsys):
    for i in IDS:
        _save(retina / "gt_png" / f"{i}_manual1.png", _l(retina / "gt" / f"{i}_manual1.gif"))
    args = [
        "eval",
        "--gt",
        str(retina / "gt_png"),
        "--pred",
        str(retina / "pred"),
        "--match",
        MATCH,
        "--num-classes",
        "2",
        "--ignore-index",
        "255",
        "--roi",
        str(retina / "fov"),
    ]
    res = _run_json(args, tmp_path / "r.json")
    assert len(res["warnings"]) == 1 and res["warnings"][0].startswith("class 1 ")
    assert "class 1 (1) has no ground-truth pixel" in capsys.readouterr().err


def test_spec_file_gives_the_same_numbers_as_the_value_map(retina, tmp_path):
    spec = DatasetSpec(
        "retina", ("background", "vessel"), mask_encoding="value_map", value_map=((0, 0), (255, 1))
    )
    (tmp_path / "spec.json").write_text(spec.to_json())
    roi = ("--roi", str(retina / "fov"))
    by_spec = _run_json(_eval(retina, "--spec", str(tmp_path / "spec.json"), *roi), tmp_path / "a.json")
    by_map = _run_json(_eval(retina, "--value-map", "0:0,255:1", *roi), tmp_path / "b.json")
    for key in ("confusion_matrix", "miou", "pixel_accuracy", "mean_accuracy", "fwiou", "mean_dice"):
        assert by_spec[key] == by_map[key], key
    assert by_spec["class_names"] == ["background", "vessel"]
    _check(by_spec, _reference(*_roi_pixels(retina, retina / "pred")))


def test_spec_and_a_conflicting_num_classes(retina, tmp_path, capsys):
    spec = DatasetSpec(
        "retina", ("background", "vessel"), mask_encoding="value_map", value_map=((0, 0), (255, 1))
    )
    (tmp_path / "spec.json").write_text(spec.to_json())
    rc = main(
        _eval(
            retina, "--spec", str(tmp_path / "spec.json"), "--num-classes", "3", "--roi", str(retina / "fov")
        )
    )
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert "--num-classes 3 disagrees" in err and "2 classes" in err


def test_a_ground_truth_without_roi_is_listed(retina, capsys):
    (retina / "fov" / "22_training_mask.gif").unlink()
    rc = main(_eval(retina, "--value-map", "0:0,255:1", "--roi", str(retina / "fov")))
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert "22_manual1.gif" in err and "ROI" in err and "21_manual1.gif" not in err


def test_pred_value_map_reads_predictions_stored_as_0_255(retina, tmp_path):
    pred = _predictions(retina, "pred255", 0.2, 3, stored_0_255=True)
    args = _eval(
        retina,
        "--value-map",
        "0:0,255:1",
        "--pred-value-map",
        "0:0,255:1",
        "--roi",
        str(retina / "fov"),
        pred="pred255",
    )
    res = _run_json(args, tmp_path / "r.json")
    _check(res, _reference(*_roi_pixels(retina, pred, lambda a: (a > 0).astype(np.int64))))
    assert "255" in res["policy"]["prediction_masks"]


# -- compare-preds ------------------------------------------------------------------------------------


def test_compare_preds_dice_of_class_1_in_the_roi(retina, tmp_path):
    other = _predictions(retina, "pred_b", 0.05, 7)
    out = tmp_path / "cmp.json"
    rc = main(
        [
            "compare-preds",
            "--gt",
            str(retina / "gt"),
            "--pred",
            str(retina / "pred"),
            "--pred",
            str(other),
            "--value-map",
            "0:0,255:1",
            "--roi",
            str(retina / "fov"),
            "--match",
            MATCH,
            "--metric",
            "dice:1",
            "--resamples",
            "50",
            "--permutations",
            "99",
            "--workers",
            "1",
            "--json",
            str(out),
        ]
    )
    assert rc == 0
    res = json.loads(out.read_text())
    want = [f1_score(*_roi_pixels(retina, d), pos_label=1) for d in (retina / "pred", other)]
    assert res["metric"] == "dice:1" and res["num_images"] == 3
    assert [p["value"] for p in res["predictions"]] == pytest.approx(want, abs=1e-9)
    cmp = res["comparisons"][0]
    assert cmp["value_baseline"] == pytest.approx(want[0], abs=1e-9)
    assert cmp["value_candidate"] == pytest.approx(want[1], abs=1e-9)
    assert cmp["delta"]["estimate"] == pytest.approx(want[1] - want[0], abs=1e-9)


# -- predict ------------------------------------------------------------------------------------------


def test_predict_with_roi_match_and_eval_gt(retina, tmp_path):
    from segwise.data.readers import read_image
    from segwise.infer import Predictor
    from tests.infer.conftest import make_checkpoint

    spec = DatasetSpec(
        "retina",
        ("background", "vessel"),
        ignore_index=255,
        mask_encoding="value_map",
        value_map=((0, 0), (255, 1)),
        mean=(0.5,) * 3,
        std=(0.25,) * 3,
    )
    ckpt = make_checkpoint(tmp_path / "tiny.pt", spec, seed=6)  # seed 6 predicts both classes here
    out = tmp_path / "out"
    rc = main(
        [
            "predict",
            "--checkpoint",
            str(ckpt),
            "--input",
            str(retina / "images"),
            "--out",
            str(out),
            "--save",
            "index",
            "--roi",
            str(retina / "fov"),
            "--match",
            MATCH,
            "--eval-gt",
            str(retina / "gt"),
        ]
    )
    assert rc == 0
    assert sorted(p.name for p in (out / "index").iterdir()) == [f"{i}_training.png" for i in IDS]
    predictor = Predictor.from_checkpoint(ckpt)
    for i in IDS:
        index = _l(out / "index" / f"{i}_training.png")
        inside = _l(retina / "fov" / f"{i}_training_mask.gif") > 0
        assert (index[~inside] == 255).all()
        model = predictor.predict(read_image(retina / "images" / f"{i}_training.tif")).index
        np.testing.assert_array_equal(index[inside], model[inside])
    res = json.loads((out / "eval.json").read_text())
    t, p = _roi_pixels(retina, out / "index")
    assert set(np.unique(p).tolist()) == {0, 1}  # a test of both classes, not of a constant model
    _check(res, _reference(t, p))
    assert "roi" in res["policy"] and res["num_images"] == 3


def test_predict_roi_missing_for_an_input(retina, tmp_path, capsys):
    from tests.infer.conftest import make_checkpoint

    spec = DatasetSpec("retina", ("background", "vessel"), ignore_index=255)
    ckpt = make_checkpoint(tmp_path / "tiny.pt", spec)
    (retina / "fov" / "23_training_mask.gif").unlink()
    rc = main(
        [
            "predict",
            "--checkpoint",
            str(ckpt),
            "--input",
            str(retina / "images"),
            "--out",
            str(tmp_path / "out"),
            "--roi",
            str(retina / "fov"),
            "--match",
            MATCH,
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err and "23_training.tif" in err
