"""``segwise eval --surface`` and ``compare-preds --metric hd95`` on small synthetic PNG folders: the
result equals the functional core image by image, the per-case CSV holds every row, bad options
exit 2 naming the option."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from segwise.cli import main
from segwise.metrics.surface import case_surface_metrics

H, W = 32, 40
SPACING_XY = (0.5, 2.0)  # --spacing x,y: width 0.5, height 2.0 -> array order (2.0, 0.5)


def _disk(cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("surface")
    for name in ("gt", "good", "bad"):
        (root / name).mkdir()
    for i in range(5):
        gt = np.zeros((H, W), np.uint8)
        gt[_disk(14 + i, 15, 7)] = 1
        gt[_disk(20, 30, 4 + i % 2)] = 2
        good = np.zeros_like(gt)
        good[_disk(15 + i, 15, 7)] = 1
        good[_disk(20, 31, 4)] = 2
        bad = np.zeros_like(gt)
        bad[_disk(17 + i, 18, 6)] = 1
        if i != 2:  # image 2: class 2 missed by the bad prediction
            bad[_disk(22, 27, 5)] = 2
        for name, mask in (("gt", gt), ("good", good), ("bad", bad)):
            cv2.imwrite(str(root / name / f"img{i}.png"), mask)
    return root


def _read(folder: Path) -> list[np.ndarray]:
    return [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted(folder.glob("*.png"))]


def test_eval_surface_json_and_per_case_csv(folders, tmp_path):
    out, per_case = tmp_path / "out.json", tmp_path / "cases.csv"
    argv = [
        "eval",
        "--gt",
        str(folders / "gt"),
        "--pred",
        str(folders / "bad"),
        "--num-classes",
        "3",
        "--surface",
        "--nsd-tolerance",
        "1,2",
        "--spacing",
        "0.5,2",
        "--per-case",
        str(per_case),
        "--json",
        str(out),
        "--ci",
        "--resamples",
        "50",
    ]
    assert main(argv) == 0
    result = json.loads(out.read_text())
    expected = [
        case_surface_metrics(p, t, 3, spacing=SPACING_XY[::-1], nsd_tolerance=(1, 2))
        for p, t in zip(_read(folders / "bad"), _read(folders / "gt"), strict=True)
    ]
    values = np.stack([e["values"] for e in expected])
    got = np.array(result["surface"]["per_case"], dtype=np.float64)
    np.testing.assert_allclose(got, values, rtol=1e-12)
    assert result["surface"]["metrics"] == ["hd", "hd95", "assd", "nsd@1", "nsd@2"]
    assert result["surface"]["empty"]["pred_empty"] == [0, 0, 1]
    case_mean = np.nanmean(values[:, 1:, 1], axis=1)  # classes 1..2: the background is left out by default
    assert result["mean_hd95"] == pytest.approx(case_mean.mean())
    assert result["policy"]["surface_background"].startswith("class 0 (the background, whose boundary")
    assert result["surface"]["scores"]["hd95"]["median"] == pytest.approx(np.median(case_mean))
    assert result["per_class"][2]["hd95"] == pytest.approx(np.nanmean(values[:, 2, 1]))
    assert result["ci"]["mean_hd95"]["low"] <= result["mean_hd95"] <= result["ci"]["mean_hd95"]["high"]
    assert result["policy"]["hd_mode"] == "max" and result["policy"]["surface_spacing"] == [[2.0, 0.5]]
    rows = list(csv.DictReader(per_case.open()))
    assert len(rows) == 5 * 3
    assert set(rows[0]) == {
        "case",
        "class_id",
        "class",
        "iou",
        "dice",
        "hd",
        "hd95",
        "assd",
        "nsd@1",
        "nsd@2",
        "empty",
    }
    missed = next(r for r in rows if r["case"] == "img2" and r["class_id"] == "2")
    assert missed["hd"] == "" and missed["nsd@1"] == "0.0" and missed["empty"] == "pred_empty"
    assert missed["iou"] == "0.0"


def test_empty_distance_max_uses_the_diagonal(folders, tmp_path):
    out = tmp_path / "out.json"
    assert (
        main(
            [
                "eval",
                "--gt",
                str(folders / "gt"),
                "--pred",
                str(folders / "bad"),
                "--num-classes",
                "3",
                "--surface",
                "--empty-distance",
                "max",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    result = json.loads(out.read_text())
    assert result["surface"]["per_case"][2][2][:3] == [pytest.approx(np.hypot(H, W))] * 3


def test_compare_preds_on_hd95(folders, tmp_path):
    out = tmp_path / "cmp.json"
    argv = [
        "compare-preds",
        "--gt",
        str(folders / "gt"),
        "--pred",
        str(folders / "bad"),
        "--pred",
        str(folders / "good"),
        "--num-classes",
        "3",
        "--metric",
        "hd95",
        "--permutations",
        "200",
        "--resamples",
        "200",
        "--json",
        str(out),
    ]
    assert main(argv) == 0
    r = json.loads(out.read_text())
    cmp = r["comparisons"][0]
    assert (
        r["metric"] == "hd95" and cmp["delta"]["estimate"] < 0
    )  # lower is better: good has smaller distances
    bad = [
        case_surface_metrics(p, t, 3)["values"]
        for p, t in zip(_read(folders / "bad"), _read(folders / "gt"), strict=True)
    ]
    assert cmp["value_baseline"] == pytest.approx(np.mean([np.nanmean(v[1:, 1]) for v in bad]))


@pytest.mark.parametrize(
    ("option", "value", "named"),
    [
        ("--spacing", "1,x", "--spacing"),
        ("--nsd-tolerance", "-1", "--nsd-tolerance"),
        ("--hd-mode", "foo", "--hd-mode"),
        ("--empty-distance", "zero", "--empty-distance"),
        ("--spacing", "1,1,1", "spacing"),
    ],
)
def test_bad_surface_options_exit_2_naming_the_option(folders, capsys, option, value, named):
    rc = main(
        [
            "eval",
            "--gt",
            str(folders / "gt"),
            "--pred",
            str(folders / "good"),
            "--num-classes",
            "3",
            "--surface",
            option,
            value,
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and named in err and "Traceback" not in err


def test_per_case_csv_without_surface_has_pixel_scores(folders, tmp_path):
    per_case = tmp_path / "cases.csv"
    assert (
        main(
            [
                "eval",
                "--gt",
                str(folders / "gt"),
                "--pred",
                str(folders / "good"),
                "--num-classes",
                "3",
                "--per-case",
                str(per_case),
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(per_case.open()))
    assert len(rows) == 15 and list(rows[0]) == ["case", "class_id", "class", "iou", "dice"]
    t, p = (cv2.imread(str(folders / d / "img0.png"), cv2.IMREAD_UNCHANGED) for d in ("gt", "good"))
    inter, union = ((t == 1) & (p == 1)).sum(), ((t == 1) | (p == 1)).sum()
    row = next(r for r in rows if r["case"] == "img0" and r["class_id"] == "1")
    assert float(row["iou"]) == pytest.approx(inter / union)
    assert float(row["dice"]) == pytest.approx(2 * inter / (union + inter))


def test_compare_preds_on_nsd_of_one_class_higher_is_better(folders, tmp_path):
    out = tmp_path / "cmp.json"
    argv = [
        "compare-preds",
        "--gt",
        str(folders / "gt"),
        "--pred",
        str(folders / "bad"),
        "--pred",
        str(folders / "good"),
        "--num-classes",
        "3",
        "--metric",
        "nsd@2:1",
        "--spacing",
        "0.5,2",
        "--permutations",
        "99",
        "--resamples",
        "100",
        "--json",
        str(out),
    ]
    assert main(argv) == 0
    r = json.loads(out.read_text())
    cmp = r["comparisons"][0]
    assert r["metric"] == "nsd@2:1" and r["policy"]["lower_is_better"] is False
    good = [
        case_surface_metrics(p, t, 3, spacing=SPACING_XY[::-1], nsd_tolerance=(2,))["values"][1, 3]
        for p, t in zip(_read(folders / "good"), _read(folders / "gt"), strict=True)
    ]
    assert cmp["value_candidate"] == pytest.approx(np.mean(good))
    assert cmp["delta"]["estimate"] > 0


def test_the_report_shows_surface_metrics_per_class_and_as_cards(folders, tmp_path):
    out, report = tmp_path / "out.json", tmp_path / "report.html"
    assert (
        main(
            [
                "eval",
                "--gt",
                str(folders / "gt"),
                "--pred",
                str(folders / "bad"),
                "--num-classes",
                "3",
                "--surface",
                "--spacing",
                "0.5,2",
                "--json",
                str(out),
                "--report",
                str(report),
            ]
        )
        == 0
    )
    result = json.loads(out.read_text())
    html = report.read_text()
    for title in ("HD (mm)", "HD95 (mm)", "ASSD (mm)", "NSD@1"):
        assert f">{title}<" in html, title  # a column of the per-class table
    assert f"{result['mean_hd95']:.2f}" in html and f"{result['per_class'][2]['hd95']:.2f}" in html
    assert f"{100 * result['mean_nsd@1']:.2f}" in html


def test_include_background_counts_class_0_in_the_surface_means(folders, tmp_path):
    """The background's boundary is mostly the array border: left out of the means by default
    (MONAI include_background=False), counted with --include-background; per class it is always there."""
    out = tmp_path / "r.json"
    argv = ["eval", "--gt", str(folders / "gt"), "--pred", str(folders / "bad"), "--num-classes", "3"]
    assert main([*argv, "--surface", "--include-background", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    values = np.array(result["surface"]["per_case"], dtype=np.float64)
    assert result["mean_hd95"] == pytest.approx(np.nanmean(values[:, :, 1], axis=1).mean())
    assert "included" in result["policy"]["surface_background"]
    assert main([*argv, "--surface", "--json", str(out)]) == 0
    default = json.loads(out.read_text())
    assert default["mean_hd95"] == pytest.approx(np.nanmean(values[:, 1:, 1], axis=1).mean())
    assert default["per_class"][0]["hd95"] == result["per_class"][0]["hd95"] is not None
