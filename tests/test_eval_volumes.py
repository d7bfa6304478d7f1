"""Medical label volumes through ``segwise eval`` / ``compare-preds`` and :func:`evaluate_folders`.

Synthetic volumes are written at run time with :func:`write_volume` (anisotropic spacing, NIfTI,
NRRD and MetaImage). Every score is checked against a numpy re-statement computed here from the
arrays that were written, voxel by voxel: IoU and Dice per class over all voxels of all cases
(dataset level) and per case.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from segwise.cli import main
from segwise.data.pairing import keyed_files, pair_inputs
from segwise.data.volumes import VOLUME_SUFFIXES, Geometry, write_volume
from segwise.errors import DataError, InputError
from segwise.evaluate import Evaluation, compare_predictions, evaluate_folders

C = 3
SPACING = (0.7, 0.9, 2.5)  # physical (x, y, z): anisotropic, thick slices
GEOMETRY = Geometry(spacing=SPACING, origin=(1.0, -2.0, 3.0), direction=(1, 0, 0, 0, 1, 0, 0, 0, 1))
# one case per format, of different shapes (z, y, x)
CASES = {
    "case_001": ((6, 10, 12), ".nii.gz"),
    "case_002": ((4, 9, 7), ".nrrd"),
    "case_003": ((5, 8, 8), ".mha"),
}


def _blobs(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """A label volume with a box of class 1 and a ball of class 2."""
    z, y, x = np.indices(shape)
    t = np.zeros(shape, np.uint8)
    t[1:-1, 2:6, 1:5] = 1
    cz, cy, cx = (s // 2 for s in shape)
    t[(z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= 4] = 2
    t[rng.random(shape) < 0.05] = rng.integers(0, C)
    return t


def _noisy(t: np.ndarray, rng: np.random.Generator, p: float = 0.2) -> np.ndarray:
    out = t.copy()
    flip = rng.random(t.shape) < p
    out[flip] = rng.integers(0, C, int(flip.sum()))
    return out


@pytest.fixture
def cases(tmp_path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{key: (gt, pred)}`` written to tmp_path/gt and tmp_path/pred, one format per case."""
    rng = np.random.default_rng(7)
    out = {}
    for key, (shape, suffix) in CASES.items():
        gt = _blobs(shape, rng)
        pred = _noisy(gt, rng)
        write_volume(tmp_path / "gt" / f"{key}{suffix}", gt, GEOMETRY)
        write_volume(tmp_path / "pred" / f"{key}{suffix}", pred, GEOMETRY)
        out[key] = (gt, pred)
    return out


# -- the independent re-statement --------------------------------------------------------------------


def _reference(pairs: list[tuple[np.ndarray, np.ndarray]], ignore: int | None = None) -> dict:
    """IoU and Dice per class over the voxels of all cases, and each case's mean IoU over the classes
    present in its ground truth or prediction: plain numpy over flattened voxels."""
    gts = np.concatenate([g.ravel() for g, _ in pairs]).astype(np.int64)
    preds = np.concatenate([p.ravel() for _, p in pairs]).astype(np.int64)
    valid = np.ones(gts.shape, bool) if ignore is None else gts != ignore
    iou, dice = [], []
    for c in range(C):
        g, p = (gts == c) & valid, (preds == c) & valid
        inter, union = int((g & p).sum()), int((g | p).sum())
        iou.append(inter / union if union else np.nan)
        dice.append(2 * inter / (g.sum() + p.sum()) if union else np.nan)
    per_case = []
    for g, p in pairs:
        v = np.ones(g.shape, bool) if ignore is None else g != ignore
        scores = []
        for c in range(C):
            gc, pc = (g == c) & v, (p == c) & v
            union = int((gc | pc).sum())
            if union:
                scores.append(int((gc & pc).sum()) / union)
        per_case.append(float(np.mean(scores)))
    return {"iou": iou, "dice": dice, "per_case": per_case, "voxels": int(valid.sum())}


def _check(result: dict, ref: dict) -> None:
    assert [r["iou"] for r in result["per_class"]] == pytest.approx(ref["iou"], nan_ok=True)
    assert [r["dice"] for r in result["per_class"]] == pytest.approx(ref["dice"], nan_ok=True)
    assert result["miou"] == pytest.approx(np.nanmean(ref["iou"]))
    assert result["mean_dice"] == pytest.approx(np.nanmean(ref["dice"]))
    assert [r["miou"] for r in result["per_image"]] == pytest.approx(ref["per_case"])
    assert result["miou_per_image"] == pytest.approx(np.mean(ref["per_case"]))
    assert result["num_pixels"] == ref["voxels"]


def _eval(tmp_path: Path, *extra: str, gt: str = "gt", pred: str = "pred") -> list[str]:
    return ["eval", "--gt", str(tmp_path / gt), "--pred", str(tmp_path / pred), "--workers", "2", *extra]


def _run_json(args: list[str], out: Path) -> dict:
    assert main([*args, "--json", str(out)]) == 0
    return json.loads(out.read_text())


# -- scores ------------------------------------------------------------------------------------------


def test_each_volume_is_one_case_and_scores_equal_the_reference(cases, tmp_path):
    result = evaluate_folders(tmp_path / "gt", tmp_path / "pred", num_classes=C, workers=2)
    _check(result, _reference(list(cases.values())))
    assert result["num_images"] == len(CASES)  # one case per volume, not one image per slice
    assert [r["name"] for r in result["per_image"]] == list(CASES)
    assert [r["gt"] for r in result["per_image"]] == [k + s for k, (_, s) in CASES.items()]
    row = result["per_image"][0]
    assert row["shape"] == [6, 10, 12]
    assert row["spacing"] == pytest.approx([2.5, 0.9, 0.7])  # array order (z, y, x), as the shape
    assert row["geometry"]["spacing"] == pytest.approx(list(SPACING))  # the header's (x, y, z)
    assert row["geometry"]["origin"] == pytest.approx([1.0, -2.0, 3.0])
    assert "voxel" in result["policy"]["volumes"] and "case" in result["policy"]["volumes"]
    assert result["source"]["kind"] == "volumes"


def test_cli_eval_writes_json(cases, tmp_path, capsys):
    result = _run_json(_eval(tmp_path, "--num-classes", str(C)), tmp_path / "out.json")
    _check(result, _reference(list(cases.values())))
    out = capsys.readouterr().out
    assert "3 cases (volumes)" in out and "evaluated voxels" in out and "mIoU per case" in out


def test_ci_resamples_cases(cases, tmp_path):
    result = _run_json(
        _eval(tmp_path, "--num-classes", "3", "--ci", "--resamples", "200"), tmp_path / "r.json"
    )
    ci = result["ci"]
    assert ci["num_resamples"] == 200
    assert ci["miou"]["low"] <= result["miou"] <= ci["miou"]["high"]


def test_ignore_index(cases, tmp_path):
    rng = np.random.default_rng(3)
    pairs = []
    for key, (gt, pred) in cases.items():
        gt = gt.copy()
        gt[rng.random(gt.shape) < 0.1] = 255
        write_volume(tmp_path / "gt_ign" / f"{key}.nii.gz", gt, GEOMETRY)
        write_volume(tmp_path / "pred_ign" / f"{key}.nii.gz", pred, GEOMETRY)
        pairs.append((gt, pred))
    args = _eval(tmp_path, "--num-classes", "3", "--ignore-index", "255", gt="gt_ign", pred="pred_ign")
    _check(_run_json(args, tmp_path / "r.json"), _reference(pairs, ignore=255))


def test_value_maps(cases, tmp_path):
    stored = np.array([0, 100, 200], np.uint8)  # ground truth stored as 0/100/200, predictions as 0/1/2 + 10
    for key, (gt, pred) in cases.items():
        write_volume(tmp_path / "gt_v" / f"{key}.nrrd", stored[gt], GEOMETRY)
        write_volume(tmp_path / "pred_v" / f"{key}.nrrd", (pred + 10).astype(np.uint8), GEOMETRY)
    args = _eval(
        tmp_path,
        "--value-map",
        "0:0,100:1,200:2",
        "--pred-value-map",
        "10:0,11:1,12:2",
        gt="gt_v",
        pred="pred_v",
    )
    result = _run_json(args, tmp_path / "r.json")
    _check(result, _reference(list(cases.values())))
    assert result["spec"]["value_map"] == [[0, 0], [100, 1], [200, 2]]


def test_roi_volumes(cases, tmp_path):
    pairs = []
    for key, (gt, pred) in cases.items():
        roi = np.zeros(gt.shape, np.uint8)
        roi[1:-1, 1:-1, 1:] = 1
        _, suffix = CASES[key]
        write_volume(tmp_path / "roi" / f"{key}{suffix}", roi, GEOMETRY)
        pairs.append((np.where(roi > 0, gt, 255), pred))
    result = _run_json(
        _eval(tmp_path, "--num-classes", "3", "--roi", str(tmp_path / "roi")), tmp_path / "r.json"
    )
    _check(result, _reference(pairs, ignore=255))
    assert result["per_image"][0]["roi"] == "case_001.nii.gz"


def test_roi_on_another_grid_is_refused(cases, tmp_path, capsys):
    for key, (gt, _) in cases.items():
        write_volume(tmp_path / "roi" / f"{key}.nii.gz", np.ones(gt.shape[:2] + (3,), np.uint8), GEOMETRY)
    assert main(_eval(tmp_path, "--num-classes", "3", "--roi", str(tmp_path / "roi"))) == 2
    err = capsys.readouterr().err
    assert "do not share their geometry" in err and "case_001.nii.gz" in err and "Traceback" not in err


def test_float_label_maps_with_whole_values_are_read_and_fractions_refused(cases, tmp_path, capsys):
    for key, (gt, pred) in cases.items():
        write_volume(tmp_path / "gt_f" / f"{key}.nii.gz", gt.astype(np.float32), GEOMETRY)
        write_volume(tmp_path / "pred_f" / f"{key}.nii.gz", pred.astype(np.float32) * 0.5, GEOMETRY)
    write_volume(tmp_path / "pred_w" / "x.nii.gz", np.zeros((2, 2, 2), np.float32), GEOMETRY)
    ok = evaluate_folders(
        tmp_path / "gt_f", tmp_path / "pred", num_classes=C, workers=1, match=r"^(case_\d+)"
    )
    _check(ok, _reference(list(cases.values())))
    assert main(_eval(tmp_path, "--num-classes", "3", gt="gt_f", pred="pred_f")) == 2
    err = capsys.readouterr().err
    assert "non-integer values" in err and "pred_f" in err and "argmax" in err


# -- pairing -----------------------------------------------------------------------------------------


def test_double_suffix_keys_and_nnunet_names(tmp_path):
    for name in ("case_001.nii.gz", "case_002.nii", "case_003.mha", "case_004.nrrd", "notes.txt"):
        (tmp_path / "labels" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "labels" / name).write_bytes(b"")
    labels = keyed_files(tmp_path / "labels", VOLUME_SUFFIXES, "label")
    assert sorted(labels) == ["case_001", "case_002", "case_003", "case_004"]
    images = [
        tmp_path / "imagesTr" / n
        for n in ("case_001_0000.nii.gz", "case_001_0001.nii.gz", "case_009_0000.nii.gz")
    ]
    pairs, missing = pair_inputs(images, labels)
    assert pairs == {images[0]: labels["case_001"], images[1]: labels["case_001"]}
    assert missing == ["case_009_0000.nii.gz"]


def test_nnunet_label_folders_pair_out_of_the_box(tmp_path):
    """nnU-Net/MSD: labelsTr/<case>.nii.gz and the predictions <case>.nii.gz of nnUNetv2_predict."""
    rng = np.random.default_rng(1)
    pairs = []
    for key in ("la_003", "la_004"):
        gt = _blobs((4, 10, 10), rng)
        pred = _noisy(gt, rng)
        write_volume(tmp_path / "labelsTr" / f"{key}.nii.gz", gt, GEOMETRY)
        write_volume(tmp_path / "predictions" / f"{key}.nii.gz", pred, GEOMETRY)
        pairs.append((gt, pred))
    (tmp_path / "predictions" / "plans.json").write_text("{}")  # what nnU-Net writes next to them
    result = evaluate_folders(tmp_path / "labelsTr", tmp_path / "predictions", num_classes=C, workers=1)
    _check(result, _reference(pairs))
    assert [r["name"] for r in result["per_image"]] == ["la_003", "la_004"]


def test_match(cases, tmp_path):
    for key, (gt, pred) in cases.items():
        n = key.split("_")[1]
        write_volume(tmp_path / "gt_m" / f"gt_{n}.nii.gz", gt, GEOMETRY)
        write_volume(tmp_path / "pred_m" / f"{n}_seg.mha", pred, GEOMETRY)
    result = _run_json(
        _eval(tmp_path, "--num-classes", "3", "--match", r"(\d{3})", gt="gt_m", pred="pred_m"),
        tmp_path / "r.json",
    )
    _check(result, _reference(list(cases.values())))
    assert [r["pred"] for r in result["per_image"]] == ["001_seg.mha", "002_seg.mha", "003_seg.mha"]


def test_missing_prediction_is_named(cases, tmp_path, capsys):
    (tmp_path / "pred" / "case_002.nrrd").unlink()
    assert main(_eval(tmp_path, "--num-classes", "3")) == 2
    err = capsys.readouterr().err
    assert "case_002.nrrd" in err and "--allow-missing" in err


# -- refused input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "spacing", "what"),
    [((6, 10, 11), SPACING, "shape (6, 10, 12) vs (6, 10, 11)"), ((6, 10, 12), (0.7, 0.9, 3.0), "spacing")],
)
def test_geometry_mismatch_is_refused_naming_both_files(cases, tmp_path, capsys, shape, spacing, what):
    bad = Geometry(spacing=spacing, origin=GEOMETRY.origin, direction=GEOMETRY.direction)
    write_volume(tmp_path / "pred" / "case_001.nii.gz", np.zeros(shape, np.uint8), bad)
    rc = main(_eval(tmp_path, "--num-classes", "3"))
    err = capsys.readouterr().err
    assert rc == 2
    assert (
        str(tmp_path / "gt" / "case_001.nii.gz") in err and str(tmp_path / "pred" / "case_001.nii.gz") in err
    )
    assert what in err and "resample" in err and "Traceback" not in err


def test_spacing_within_tolerance_is_accepted(cases, tmp_path):
    near = Geometry(
        spacing=(0.7, 0.9, 2.5 * (1 + 2e-5)), origin=GEOMETRY.origin, direction=GEOMETRY.direction
    )
    gt, pred = cases["case_001"]
    write_volume(tmp_path / "pred" / "case_001.nii.gz", pred, near)
    _check(
        evaluate_folders(tmp_path / "gt", tmp_path / "pred", num_classes=C, workers=1),
        _reference(list(cases.values())),
    )


def test_mixed_folder_is_refused(cases, tmp_path, capsys):
    from PIL import Image

    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "gt" / "slice.png")
    rc = main(_eval(tmp_path, "--num-classes", "3"))
    err = capsys.readouterr().err
    assert rc == 2 and "mixes label volumes" in err and "slice.png" in err and "case_001.nii.gz" in err


def test_volumes_against_images_are_refused(cases, tmp_path, capsys):
    from PIL import Image

    (tmp_path / "png").mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "png" / "case_001.png")
    rc = main(_eval(tmp_path, "--num-classes", "3", pred="png"))
    err = capsys.readouterr().err
    assert rc == 2 and "holds label volumes" in err and "case_001.png" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("flag", "hint"), [("--boundary", "--surface"), ("--regions", "slices"), ("--all", "--surface")]
)
def test_slice_families_are_refused_with_what_to_use(cases, tmp_path, capsys, flag, hint):
    rc = main(_eval(tmp_path, "--num-classes", "3", flag))
    err = capsys.readouterr().err
    assert rc == 2 and "holds volumes" in err and hint in err and "Traceback" not in err


def test_spacing_must_match_the_case():
    ev = Evaluation(2)
    t = np.zeros((2, 3, 4), np.uint8)
    ev.add(t, t, spacing=(2.5, 1.0, 1.0))  # accepted: the pixel scores do not need it
    with pytest.raises(InputError, match="one voxel size per array axis"):
        ev.add(t, t, spacing=(1.0, 1.0))
    assert ev.pixel.num_images == 1


# -- compare-preds ------------------------------------------------------------------------------------


def test_compare_preds_on_volumes(cases, tmp_path):
    rng = np.random.default_rng(11)
    worse = []
    for key, (gt, _) in cases.items():
        p = _noisy(gt, rng, 0.5)
        write_volume(tmp_path / "pred_b" / f"{key}{CASES[key][1]}", p, GEOMETRY)
        worse.append((gt, p))
    out = tmp_path / "cmp.json"
    args = [
        "compare-preds",
        "--gt",
        str(tmp_path / "gt"),
        "--pred",
        str(tmp_path / "pred"),
        "--pred",
        str(tmp_path / "pred_b"),
        "--num-classes",
        "3",
        "--resamples",
        "200",
        "--permutations",
        "200",
    ]
    assert main([*args, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["num_images"] == len(CASES)
    a, b = result["predictions"]
    assert a["miou"] == pytest.approx(np.nanmean(_reference(list(cases.values()))["iou"]))
    assert b["miou"] == pytest.approx(np.nanmean(_reference(worse)["iou"]))
    assert result["comparisons"][0]["delta"]["estimate"] == pytest.approx(b["miou"] - a["miou"])
    assert "case" in result["policy"]["volumes"]


def test_compare_predictions_api_refuses_a_mismatched_case(cases, tmp_path):
    write_volume(tmp_path / "pred_b" / "case_001.nii.gz", np.zeros((6, 10, 12), np.uint8), GEOMETRY)
    write_volume(tmp_path / "pred_b" / "case_002.nrrd", np.zeros((4, 9, 8), np.uint8), GEOMETRY)
    write_volume(tmp_path / "pred_b" / "case_003.mha", np.zeros((5, 8, 8), np.uint8), GEOMETRY)
    with pytest.raises(DataError, match=r"case_002\.nrrd and .*case_002\.nrrd do not share their geometry"):
        compare_predictions(
            tmp_path / "gt", [tmp_path / "pred", tmp_path / "pred_b"], num_classes=C, workers=1
        )


def test_report_of_volumes_says_why_there_is_no_gallery(cases, tmp_path):
    result = _run_json(
        _eval(tmp_path, "--num-classes", "3", "--report", str(tmp_path / "r.html")), tmp_path / "r.json"
    )
    html = (tmp_path / "r.html").read_text()
    assert "cases are volumes" in html and "cannot decode" not in html
    assert result["num_images"] == len(CASES)


def test_classes_table_names_the_classes_of_volumes(cases, tmp_path):
    (tmp_path / "classes.csv").write_text(
        "id,name,r,g,b\n0,background,0,0,0\n1,liver,255,0,0\n2,tumour,0,255,0\n"
    )
    result = _run_json(_eval(tmp_path, "--classes", str(tmp_path / "classes.csv")), tmp_path / "r.json")
    assert result["class_names"] == ["background", "liver", "tumour"]
    _check(result, _reference(list(cases.values())))


def test_rgb_spec_is_refused_for_volumes(cases, tmp_path, capsys):
    from segwise.data.spec import make_spec

    spec = make_spec("x", num_classes=3).replace(mask_encoding="rgb")
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec.to_dict()))
    assert main(_eval(tmp_path, "--spec", str(spec_path))) == 2
    err = capsys.readouterr().err
    assert "colour-coded" in err and "case_001.nii.gz" in err and "--value-map" in err


def test_at_most_workers_cases_are_in_flight(cases, tmp_path, monkeypatch):
    """Volumes are large: a case is read only when one of the ``workers`` slots is free."""
    import threading

    import segwise.evaluate.folders as ev

    started: list[str] = []
    consumed = 0
    most = 0
    lock = threading.Lock()
    real = ev.load_volume_pair

    def counting(gt_path, *args):
        nonlocal most
        with lock:
            started.append(gt_path.name)
            most = max(most, len(started) - consumed)
        return real(gt_path, *args)

    class Counting(Evaluation):
        def add(self, *args, **kwargs):
            nonlocal consumed
            with lock:
                consumed += 1
            super().add(*args, **kwargs)

    monkeypatch.setattr(ev, "load_volume_pair", counting)
    monkeypatch.setattr(ev, "Evaluation", Counting)
    evaluate_folders(tmp_path / "gt", tmp_path / "pred", num_classes=C, workers=2)
    assert len(started) == len(CASES) and most <= 2


def test_evaluation_api_refuses_a_volume_for_the_2d_families():
    t = np.zeros((2, 6, 6), np.uint8)
    with pytest.raises(InputError, match="--boundary .* 2-D images"):
        Evaluation(2, families=["boundary"]).add(t, t, spacing=(3.0, 1.0, 1.0))
    ev = Evaluation(2, families=["ci", "regions"])
    ev.add(t[0], t[0])  # a 2-D image is fine
    with pytest.raises(InputError, match="--regions"):
        ev.add(t, t)


def test_unreadable_volume_is_named(cases, tmp_path, capsys):
    (tmp_path / "pred" / "case_003.mha").write_bytes(b"not a MetaImage")
    assert main(_eval(tmp_path, "--num-classes", "3")) == 2
    err = capsys.readouterr().err
    assert "cannot read volume" in err and "case_003.mha" in err and "Traceback" not in err


def test_empty_prediction_folder_is_named(cases, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(_eval(tmp_path, "--num-classes", "3", pred="empty")) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "empty") in err and ".nii.gz" in err and "Traceback" not in err


def test_cli_surface_on_nifti_equals_monai_with_the_header_spacing(tmp_path):
    """`segwise eval --surface` on anisotropic NIfTI volumes: every per-case value equals MONAI's
    functions given the spacing read from the header; a missed class is counted, not dropped."""
    import warnings

    import torch
    from monai.metrics import (
        compute_average_surface_distance,
        compute_hausdorff_distance,
        compute_surface_dice,
    )

    rng = np.random.default_rng(3)
    g = Geometry(spacing=(0.7, 0.8, 2.5), origin=(0.0, 0.0, 0.0), direction=(1, 0, 0, 0, 1, 0, 0, 0, 1))
    z, y, x = np.mgrid[:16, :32, :40]
    pairs = []
    for i in range(3):
        gt = np.zeros((16, 32, 40), np.uint8)
        gt[((z - 8) * 2.5) ** 2 + ((y - 16) * 0.8) ** 2 + ((x - 20) * 0.7) ** 2 < (7 + i) ** 2] = 1
        gt[((z - 4) * 2.5) ** 2 + ((y - 6) * 0.8) ** 2 + ((x - 8) * 0.7) ** 2 < 16] = 2
        pred = gt.copy()
        pred[rng.random(gt.shape) < 0.01] = 1
        pred[:, :, :2] = 0
        if i == 2:
            pred[pred == 2] = 0  # class 2 missed in the last case
        write_volume(tmp_path / "gt" / f"case{i}.nii.gz", gt, g)
        write_volume(tmp_path / "pred" / f"case{i}.nii.gz", pred, g)
        pairs.append((gt, pred))
    out = tmp_path / "r.json"
    rc = main(
        [
            "eval",
            "--gt",
            str(tmp_path / "gt"),
            "--pred",
            str(tmp_path / "pred"),
            "--num-classes",
            "3",
            "--surface",
            "--nsd-tolerance",
            "1,2",
            "--json",
            str(out),
        ]
    )
    assert rc == 0
    surface = json.loads(out.read_text())["surface"]
    assert surface["metrics"] == ["hd", "hd95", "assd", "nsd@1", "nsd@2"]
    assert surface["empty"]["pred_empty"] == [0, 0, 1]
    sp = tuple(float(s) for s in np.float32([2.5, 0.8, 0.7]))  # NIfTI stores the spacing as float32
    for (gt, pred), case in zip(pairs, surface["per_case"], strict=True):
        p = torch.from_numpy(np.eye(3, dtype=np.float32)[pred].transpose(3, 0, 1, 2)[None])
        t = torch.from_numpy(np.eye(3, dtype=np.float32)[gt].transpose(3, 0, 1, 2)[None])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = [
                compute_hausdorff_distance(p, t, include_background=True, spacing=sp)[0],
                compute_hausdorff_distance(p, t, include_background=True, percentile=95, spacing=sp)[0],
                compute_average_surface_distance(p, t, include_background=True, symmetric=True, spacing=sp)[
                    0
                ],
                compute_surface_dice(p, t, [1.0] * 3, include_background=True, spacing=sp)[0],
                compute_surface_dice(p, t, [2.0] * 3, include_background=True, spacing=sp)[0],
            ]
        for c in range(3):
            for k, tol in enumerate((1e-4, 1e-3, 1e-4, 1e-6, 1e-6)):  # hd95: MONAI's float32 quantile rank
                ours, theirs = case[c][k], float(ref[k][c])
                if pred.max() < c or not (pred == c).any():  # a missed class: NaN distances, NSD 0
                    assert (ours is None) if k < 3 else ours == 0.0
                else:
                    assert ours == pytest.approx(theirs, abs=tol), (c, k)
