"""`compare-preds --metric NAME`: metric names, their scores of summed matrices, the paired bootstrap
and permutation test of any metric against loop / exact-enumeration references, the default
metric's unchanged numbers, undefined metrics, and the CLI end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segwise.cli import main
from segwise.errors import InputError
from segwise.metrics.compare import compare_matrices
from segwise.metrics.scalar import MatrixScore, parse_metric
from segwise.metrics.stats import Marginals, paired_bootstrap, permutation_test, resampled_scores
from tests.metrics.matrix_sets import pair_sets
from tests.reference.scalar_reference import (
    bootstrap_deltas,
    exact_permutation_p_of,
    metric_from_confusion,
    metric_from_pixels,
)
from tests.reference.stats_reference import draw_indices, percentile_interval

ALL_NAMES = [
    "miou",
    "pixel_accuracy",
    "mean_accuracy",
    "mean_dice",
    "fwiou",
    *(f"{k}:{c}" for k in ("iou", "dice", "precision", "recall") for c in range(4)),
]


def _random_matrices(rng, n, c, ignore_index=None):
    """Per-image matrices with sparse entries: classes absent from some images, predicted-only classes."""
    mats = rng.integers(0, 30, size=(n, c, c)) * (rng.random((n, c, c)) < 0.4)
    if ignore_index is not None and 0 <= ignore_index < c:
        mats[:, ignore_index, :] = 0  # ignored ground-truth pixels are never counted
    return mats.astype(np.int64)


# --------------------------------------------------------------------------- names


def test_parse_metric_names_aliases_and_classes():
    names = ["Background", "Vessel", "void"]
    assert parse_metric("miou", names) == MatrixScore("miou")
    assert parse_metric(" mIoU ", names).name == "miou"
    assert parse_metric("F1:vessel", names) == MatrixScore("dice", 1, "Vessel")
    assert parse_metric("dice:1", names) == parse_metric("f1:1", names)
    assert parse_metric("precision: background ", names).name == "precision:0"
    assert parse_metric("recall:1", names).label == "recall of class 1 'Vessel'"
    assert parse_metric("iou:1", 3).label == "IoU of class 1"  # classes named by their ids
    assert parse_metric(parse_metric("iou:vessel", names), names).name == "iou:1"
    for key in ("pixel_accuracy", "mean_accuracy", "mean_dice", "fwiou"):
        assert parse_metric(key.upper(), names).name == key


@pytest.mark.parametrize(
    "name, match",
    [
        ("miuo", r"unknown metric 'miuo'; did you mean 'miou'\? valid: miou .*recall:K"),
        ("precison:1", r"did you mean 'precision:K'"),
        ("iou", r"needs a class: iou:K .* e\.g\. iou:1; for the mean over classes use miou"),
        ("dice:", r"needs a class.*mean_dice"),
        ("miou:1", r"takes no class; for one class use iou:K"),
        ("iou:3", r"class id 3 is out of range; valid ids \(of 3 classes\): 0 'Background', 1 'Vessel'"),
        ("iou:-1", r"class id -1 is out of range"),
        ("iou:2", r"class 2 is the ignore index, which is not evaluated; choose one of 0 'Background', 1"),
        ("iou:VOID", r"class 2 'VOID' is the ignore index"),
        ("iou:vesel", r"no class is named 'vesel' \(did you mean 'vessel'\?\); valid classes \(id or name\)"),
        (3, r"Expected argument `metric` to be a metric name .* but got 3 \(int\)"),
    ],
)
def test_parse_metric_errors(name, match):
    with pytest.raises(InputError, match=match):
        parse_metric(name, ["Background", "Vessel", "void"], ignore_index=2)


def test_parse_metric_ambiguous_name_and_many_classes():
    with pytest.raises(
        InputError, match=r"matches several classes \(0 'Road', 1 'road'\); give the class id"
    ):
        parse_metric("iou:ROAD", ["Road", "road"])
    with pytest.raises(InputError, match=r"valid ids \(of 150 classes\): 0\.\.149 except 3\."):
        parse_metric("iou:150", 150, ignore_index=3)


# --------------------------------------------------------------------------- scores of summed matrices


@pytest.mark.parametrize("ignore_index", [None, 2, 255])
def test_every_metric_of_summed_marginals_matches_the_reference(ignore_index):
    rng = np.random.default_rng(ignore_index or 0)
    mats = _random_matrices(rng, 12, 4, ignore_index)
    mats[:, 3, :] = 0
    mats[:4, :, 3] = 0  # class 3: predicted in a few images only (FP-only)
    weights = rng.integers(0, 3, size=(6, 12)).astype(float)
    weights[0] = 0
    weights[0, 5] = 1  # one image only
    scores = resampled_scores(Marginals.from_matrices(mats).weighted(weights), ignore_index)
    for name in ALL_NAMES:
        if name.endswith(f":{ignore_index}"):
            continue
        metric = parse_metric(name, 4, ignore_index)
        got = metric.select(scores)
        summed = [np.tensordot(w, mats, axes=1).astype(np.int64) for w in weights]
        want = [metric_from_pixels(m, name, ignore_index) for m in summed]
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, equal_nan=True, err_msg=name)
        # the fast scalar re-statement used by the loops below agrees with sklearn on pixels
        fast = [metric_from_confusion(m, name, ignore_index) for m in summed]
        np.testing.assert_allclose(fast, want, rtol=1e-12, atol=1e-12, equal_nan=True, err_msg=name)


# --------------------------------------------------------------------------- bootstrap and permutation test


@pytest.mark.parametrize("name", ["dice:1", "iou:2", "precision:2", "recall:0", "mean_dice", "fwiou"])
def test_paired_bootstrap_of_a_metric_matches_the_loop_reference(name):
    rng = np.random.default_rng(3)
    a, b = pair_sets(rng, 15, c=3)
    # class 2 only in images 0-2, in the ground truth and the predictions: many resamples miss it
    for m in (a, b):
        m[3:, 2, :] = 0
        for k in range(2):
            m[3:, k, k] += m[3:, k, 2]
            m[3:, k, 2] = 0
    r = paired_bootstrap(a, b, num_resamples=300, seed=4, level=0.9, metric=name)["metric"]
    deltas = bootstrap_deltas(a, b, draw_indices(15, 300, 4), name)
    lo, hi = percentile_interval(deltas, 0.9)
    assert r["name"] == name
    assert r["low"] == pytest.approx(lo, abs=1e-12) and r["high"] == pytest.approx(hi, abs=1e-12)
    assert r["undefined_resamples"] == int(np.isnan(deltas).sum())
    full = metric_from_pixels(b.sum(0), name) - metric_from_pixels(a.sum(0), name)
    assert r["estimate"] == pytest.approx(full, abs=1e-12)
    if name.endswith(":2"):
        assert r["undefined_resamples"] > 0  # resamples without images 0-2 have no class 2 at all


@pytest.mark.parametrize("name", ["dice:1", "precision:0", "recall:2", "pixel_accuracy"])
def test_permutation_test_of_a_metric_approaches_exact_enumeration(name):
    rng = np.random.default_rng(8)
    a, b = pair_sets(rng, 9, noise_a=0.3, noise_b=0.24)
    exact = exact_permutation_p_of(a, b, name)
    assert permutation_test(a, b, num_permutations=20000, seed=1, metric=name) == pytest.approx(
        exact, abs=0.015
    )


def test_p_value_refers_to_the_chosen_metric():
    """B makes exactly as many errors as A in every image (same pixel accuracy) but more of them on
    the background, so its vessel F1 is higher in every image."""
    rng = np.random.default_rng(9)
    n = 30
    gt = rng.integers(200, 300, size=(n, 2))
    a = np.zeros((n, 2, 2), np.int64)
    b = np.zeros((n, 2, 2), np.int64)
    for i, (g0, g1) in enumerate(gt):
        wa0, wa1, wb1 = round(0.05 * g0), round(0.30 * g1), round(0.15 * g1)
        wb0 = wa0 + wa1 - wb1
        a[i] = [[g0 - wa0, wa0], [wa1, g1 - wa1]]
        b[i] = [[g0 - wb0, wb0], [wb1, g1 - wb1]]
    kw = {"class_names": ["background", "vessel"], "num_resamples": 200, "num_permutations": 999}
    by_f1 = compare_matrices([a, b], ["A", "B"], metric="f1:vessel", **kw)["comparisons"][0]
    assert by_f1["p_value"] == pytest.approx(1 / 1000) and by_f1["significant"]
    assert by_f1["delta"]["low"] > 0 and by_f1["delta_pixel_accuracy"]["estimate"] == 0
    assert by_f1["verdict"].startswith("B vs A: Dice/F1 of class 1 'vessel' ")
    by_pa = compare_matrices([a, b], ["A", "B"], metric="pixel_accuracy", **kw)["comparisons"][0]
    assert by_pa["p_value"] == 1.0 and not by_pa["significant"]
    assert exact_permutation_p_of(a[:10], b[:10], "pixel_accuracy") == 1.0
    assert exact_permutation_p_of(a[:10], b[:10], "dice:1") == pytest.approx(2 / 2**10)


def test_identical_candidate_has_p_value_one():
    rng = np.random.default_rng(10)
    a, _ = pair_sets(rng, 20)
    r = compare_matrices(
        [a, a.copy()], ["A", "A2"], metric="recall:2", num_resamples=100, num_permutations=99
    )
    cmp = r["comparisons"][0]
    assert cmp["p_value"] == 1.0 and not cmp["significant"]
    assert cmp["delta"] == {"estimate": 0.0, "low": 0.0, "high": 0.0}


# --------------------------------------------------------------------------- compare_matrices


def test_default_metric_gives_the_old_numbers():
    """Numbers of compare_matrices before --metric existed (same inputs, seed 7), to the last bit."""
    rng = np.random.default_rng(11)
    a, b = pair_sets(rng, 20, noise_a=0.25, noise_b=0.2)
    c = a.copy()
    c[:, 0, 0] -= 3
    c[:, 0, 2] += 3
    r = compare_matrices([a, b, c], ["A", "B", "C"], num_resamples=300, num_permutations=499, seed=7)
    ab, ac = r["comparisons"]
    assert ab["delta_miou"] == {
        "estimate": 0.04373416462540014,
        "low": 0.019356261200313633,
        "high": 0.0723347775479279,
    }
    assert ab["delta_pixel_accuracy"] == {
        "estimate": 0.032411067193675924,
        "low": 0.01408705019896754,
        "high": 0.053797192398570476,
    }
    assert (ab["p_value"], ab["p_value_adjusted"], ac["p_value"], ac["p_value_adjusted"]) == (
        0.014,
        0.014,
        0.002,
        0.004,
    )
    assert ab["verdict"] == (
        "B vs A: mIoU 66.80% vs 62.43%, Δ = +4.37 points (95% CI +1.94 to +7.23), p = 0.014: "
        "significant at α = 0.05"
    )
    assert ac["verdict"] == (
        "C vs A: mIoU 59.35% vs 62.43%, Δ = -3.08 points (95% CI -3.38 to -2.77), p = 0.004 "
        "(Holm-adjusted): significant at α = 0.05"
    )
    assert [row["low"] for row in ac["per_class"]] == [-0.06681894784617616, 0.0, -0.03661045110005436]
    # the generic keys repeat the mIoU ones
    assert ab["metric"] == r["metric"] == r["policy"]["metric"] == "miou" and ab["metric_label"] == "mIoU"
    assert ab["delta"] == ab["delta_miou"] and ab["undefined_resamples"] == 0
    assert (ab["value_baseline"], ab["value_candidate"]) == (ab["miou_baseline"], ab["miou_candidate"])
    assert "delta mIoU" in r["policy"]["test"]


def test_compare_matrices_keys_for_a_class_metric():
    rng = np.random.default_rng(12)
    a, b = pair_sets(rng, 25, c=3, noise_a=0.3, noise_b=0.1)
    names = ["bg", "vessel", "wall"]
    r = compare_matrices(
        [a, b, a.copy()],
        ["A", "B", "A2"],
        class_names=names,
        metric="IoU:Wall",
        num_resamples=200,
        num_permutations=999,
        seed=2,
    )
    assert r["metric"] == "iou:2" and r["metric_label"] == "IoU of class 2 'wall'"
    assert r["policy"]["metric"] == "iou:2"
    assert r["policy"]["metric_definition"] == (
        "iou:2: TP / (TP + FP + FN) of class 2 'wall', from the summed confusion matrix of the images"
    )
    assert "delta IoU of class 2 'wall'" in r["policy"]["test"]
    want = [metric_from_pixels(m.sum(0), "iou:2") for m in (a, b, a)]
    assert [p["value"] for p in r["predictions"]] == pytest.approx(want)
    better, same = r["comparisons"]
    assert better["value_baseline"] == pytest.approx(want[0]) and better["value_candidate"] == pytest.approx(
        want[1]
    )
    assert better["delta"]["estimate"] == pytest.approx(want[1] - want[0])
    assert better["delta"]["low"] > 0 and better["significant"]
    assert better["p_value_adjusted"] == pytest.approx(2 / 1000)  # Holm over the two candidates
    assert better["verdict"].startswith("B vs A: IoU of class 2 'wall' ")
    assert f"{100 * want[1]:.2f}% vs {100 * want[0]:.2f}%" in better["verdict"]
    assert not same["significant"] and same["p_value"] == 1.0
    # whatever the metric, the mIoU keys and the per-class Δ IoU table stay
    assert better["delta_miou"]["estimate"] == pytest.approx(
        metric_from_pixels(b.sum(0), "miou") - metric_from_pixels(a.sum(0), "miou")
    )
    assert len(better["per_class"]) == 3


def test_undefined_metric_is_reported_not_scored():
    rng = np.random.default_rng(13)
    a, b = pair_sets(rng, 12, c=2)
    pad = np.zeros((12, 3, 3), np.int64)
    a3, b3 = pad.copy(), pad.copy()
    a3[:, :2, :2], b3[:, :2, :2] = a, b  # class 2: no ground truth and never predicted
    r = compare_matrices(
        [a3, b3],
        ["A", "B"],
        class_names=["bg", "fg", "rare"],
        metric="dice:rare",
        num_resamples=50,
        num_permutations=99,
    )
    cmp = r["comparisons"][0]
    assert cmp["value_baseline"] is None and cmp["value_candidate"] is None
    assert cmp["delta"] == {"estimate": None, "low": None, "high": None}
    assert cmp["p_value"] is None and cmp["p_value_adjusted"] is None and not cmp["significant"]
    assert cmp["verdict"] == (
        "B vs A: Dice/F1 of class 2 'rare' is undefined for A and B (class 2 'rare' has no ground-truth or "
        "predicted pixels in any image), so there is no difference to test"
    )
    # only the candidate predicts class 1 at all: the baseline's precision of class 1 is undefined
    a2 = a.copy()
    a2[:, 0, 0] += a2[:, 0, 1]
    a2[:, 1, 0] += a2[:, 1, 1]
    a2[:, :, 1] = 0
    r = compare_matrices([a2, b], ["A", "B"], metric="precision:1", num_resamples=50, num_permutations=99)
    cmp = r["comparisons"][0]
    assert cmp["value_baseline"] is None and cmp["value_candidate"] == pytest.approx(
        metric_from_pixels(b.sum(0), "precision:1")
    )
    assert (
        "precision of class 1 is undefined for A (class 1 is never predicted in any image)" in cmp["verdict"]
    )


# --------------------------------------------------------------------------- CLI


def _write(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.astype(np.uint8)).save(path)


@pytest.fixture
def vessels(tmp_path):
    """Binary masks (0 background, 1 vessel): 'thin' misses a vessel border, 'thick' hardly any."""
    rng = np.random.default_rng(14)
    yy, xx = np.mgrid[:24, :32]
    for i in range(8):
        t = (np.abs(yy - (8 + 2 * i % 9) - 0.3 * xx) < 3).astype(np.uint8)
        _write(tmp_path / "gt" / f"im{i}.png", t)
        thin = (np.abs(yy - (8 + 2 * i % 9) - 0.3 * xx) < 1.5).astype(np.uint8)
        _write(tmp_path / "thin" / f"im{i}.png", thin)
        _write(tmp_path / "thick" / f"im{i}.png", np.where(rng.random(t.shape) < 0.02, 1 - t, t))
    (tmp_path / "classes.csv").write_text("id,name,r,g,b\n0,background,0,0,0\n1,vessel,255,255,255\n")
    return tmp_path


def test_compare_preds_cli_metric(vessels, capsys):
    out = vessels / "cmp.json"
    code = main(
        [
            "compare-preds",
            "--gt",
            str(vessels / "gt"),
            "--pred",
            str(vessels / "thin"),
            "--pred",
            str(vessels / "thick"),
            "--num-classes",
            "2",
            "--classes",
            str(vessels / "classes.csv"),
            "--metric",
            "f1:Vessel",
            "--resamples",
            "100",
            "--permutations",
            "199",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "compared metric: dice:1: 2 TP / (2 TP + FP + FN) of class 1 'vessel'" in text
    assert "thick vs thin: Dice/F1 of class 1 'vessel' " in text and "per-class Δ IoU" in text
    res = json.loads(out.read_text())
    assert res["metric"] == "dice:1" and res["policy"]["metric"] == "dice:1"
    cmp = res["comparisons"][0]
    assert cmp["metric"] == "dice:1" and cmp["delta"]["estimate"] > 0 and cmp["p_value"] < 0.05
    assert {"delta_miou", "miou_baseline", "per_class"} <= set(cmp)


def test_compare_preds_cli_bad_metric_fails_before_reading_images(vessels, capsys):
    (vessels / "thick" / "im0.png").unlink()  # would fail the pairing, but the metric is checked first
    code = main(
        [
            "compare-preds",
            "--gt",
            str(vessels / "gt"),
            "--pred",
            str(vessels / "thin"),
            "--pred",
            str(vessels / "thick"),
            "--num-classes",
            "2",
            "--classes",
            str(vessels / "classes.csv"),
            "--metric",
            "iou:vesel",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "no class is named 'vesel' (did you mean 'vessel'?)" in err
    assert "no prediction" not in err
