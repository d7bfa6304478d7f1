"""Paired comparison of prediction sets: paired bootstrap and permutation test against loop and
exact-enumeration references; `segwise compare-preds` and `segwise eval --all` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segwise.cli import main
from segwise.errors import InputError
from segwise.evaluate import compare_predictions
from segwise.metrics import scores_from_confusion
from segwise.metrics.compare import compare_matrices
from segwise.metrics.stats import paired_bootstrap, permutation_test
from tests.metrics.matrix_sets import pair_sets
from tests.reference.masks import blob_labels, perturb
from tests.reference.stats_reference import draw_indices, exact_permutation_p, percentile_interval


def test_paired_bootstrap_matches_loop_reference():
    rng = np.random.default_rng(0)
    a, b = pair_sets(rng, 25)
    r = paired_bootstrap(a, b, num_resamples=300, seed=4, level=0.9)
    idx = draw_indices(25, 300, 4)
    deltas = [
        scores_from_confusion(b[row].sum(0))["miou"] - scores_from_confusion(a[row].sum(0))["miou"]
        for row in idx
    ]
    lo, hi = percentile_interval(deltas, 0.9)
    assert r["miou"]["low"] == pytest.approx(lo, abs=1e-12) and r["miou"]["high"] == pytest.approx(
        hi, abs=1e-12
    )
    full = scores_from_confusion(b.sum(0))["miou"] - scores_from_confusion(a.sum(0))["miou"]
    assert r["miou"]["estimate"] == pytest.approx(full)
    per_class = np.array(
        [
            scores_from_confusion(b[row].sum(0))["iou"] - scores_from_confusion(a[row].sum(0))["iou"]
            for row in idx
        ]
    )
    assert r["iou"]["low"][1] == pytest.approx(percentile_interval(per_class[:, 1], 0.9)[0], abs=1e-12)


@pytest.mark.parametrize("seed, noise_b", [(1, 0.28), (2, 0.2), (3, 0.3)])
def test_permutation_test_approaches_exact_enumeration(seed, noise_b):
    rng = np.random.default_rng(seed)
    a, b = pair_sets(rng, 9, noise_a=0.3, noise_b=noise_b)
    exact = exact_permutation_p(a, b)
    mc = permutation_test(a, b, num_permutations=20000, seed=seed)
    assert mc == pytest.approx(exact, abs=0.015)


def test_permutation_test_extremes():
    rng = np.random.default_rng(4)
    a, b = pair_sets(rng, 40, noise_a=0.4, noise_b=0.05)
    assert permutation_test(a, b, num_permutations=199) == pytest.approx(1 / 200)
    assert permutation_test(a, a, num_permutations=199) == 1.0
    # symmetric: swapping the roles gives the same two-sided p-value
    assert permutation_test(b, a, num_permutations=500, seed=2) == permutation_test(
        a, b, num_permutations=500, seed=2
    )


def test_compare_matrices_verdicts_and_holm():
    rng = np.random.default_rng(5)
    a, b = pair_sets(rng, 30, noise_a=0.3, noise_b=0.1)
    same = compare_matrices([a, a.copy()], ["A", "A2"], num_resamples=100, num_permutations=99)
    cmp = same["comparisons"][0]
    assert cmp["delta_miou"]["estimate"] == 0 and cmp["p_value"] == 1.0 and not cmp["significant"]
    assert "not significant at α = 0.05" in cmp["verdict"]
    diff = compare_matrices([a, b, a.copy()], ["A", "B", "A2"], num_resamples=200, num_permutations=999)
    better, equal = diff["comparisons"]
    assert better["significant"] and better["delta_miou"]["low"] > 0
    assert better["p_value_adjusted"] == pytest.approx(2 / 1000)  # Holm: 2 x the smallest p-value
    assert "B vs A" in better["verdict"] and "significant at α = 0.05" in better["verdict"]
    assert not equal["significant"]
    assert [row["delta"] for row in better["per_class"]] == pytest.approx(
        (scores_from_confusion(b.sum(0))["iou"] - scores_from_confusion(a.sum(0))["iou"]).tolist()
    )
    assert diff["policy"]["alpha"] == 0.05 and diff["policy"]["num_permutations"] == 999


def test_compare_needs_the_same_ground_truth():
    rng = np.random.default_rng(6)
    a, b = pair_sets(rng, 10)
    b2 = b.copy()
    b2[3, 0, 0] += 5  # image 3 now has more ground-truth pixels of class 0
    with pytest.raises(InputError, match="image 3"):
        compare_matrices([a, b2], ["A", "B"])
    with pytest.raises(InputError, match="at least two"):
        compare_matrices([a], ["A"])
    with pytest.raises(InputError, match="alpha"):
        compare_matrices([a, b], ["A", "B"], alpha=5)


# --------------------------------------------------------------------------- folders and CLI


def _write(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.astype(np.uint8)).save(path)


@pytest.fixture
def three_sets(tmp_path):
    rng = np.random.default_rng(7)
    for i in range(8):
        t = blob_labels(rng, 24, 32, 4, cell=4)  # 3 = void
        clean = np.where(t == 3, 0, t)
        _write(tmp_path / "gt" / f"im{i}.png", t)
        _write(tmp_path / "good" / f"im{i}.png", np.where(rng.random(t.shape) < 0.05, 0, clean))
        _write(tmp_path / "bad" / f"im{i}.png", perturb(rng, clean, 3, shift=2, boxes=4))
    return tmp_path


def test_compare_predictions_on_folders(three_sets):
    r = compare_predictions(
        three_sets / "gt",
        [three_sets / "bad", three_sets / "good"],
        num_classes=3,
        ignore_index=3,
        num_resamples=200,
        num_permutations=999,
    )
    assert r["num_images"] == 8 and [p["name"] for p in r["predictions"]] == ["bad", "good"]
    cmp = r["comparisons"][0]
    assert cmp["delta_miou"]["estimate"] > 0 and cmp["significant"]
    assert r["predictions"][1]["miou"] - r["predictions"][0]["miou"] == pytest.approx(
        cmp["delta_miou"]["estimate"]
    )


def test_compare_preds_cli(three_sets, capsys):
    out = three_sets / "cmp.json"
    code = main(
        [
            "compare-preds",
            "--gt",
            str(three_sets / "gt"),
            "--pred",
            str(three_sets / "bad"),
            "--pred",
            str(three_sets / "good"),
            "--num-classes",
            "3",
            "--ignore-index",
            "3",
            "--resamples",
            "100",
            "--permutations",
            "199",
            "--seed",
            "3",
            "--alpha",
            "0.01",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "good vs bad" in text and "α = 0.01" in text
    res = json.loads(out.read_text())
    assert res["kind"] == "segwise.compare_result" and res["policy"]["seed"] == 3
    assert len(res["comparisons"][0]["per_class"]) == 3


def test_compare_preds_cli_errors(three_sets, capsys):
    (three_sets / "good" / "im0.png").unlink()
    code = main(
        [
            "compare-preds",
            "--gt",
            str(three_sets / "gt"),
            "--pred",
            str(three_sets / "bad"),
            "--pred",
            str(three_sets / "good"),
            "--num-classes",
            "3",
            "--ignore-index",
            "3",
        ]
    )
    assert code == 2 and "no prediction" in capsys.readouterr().err
    code = main(
        [
            "compare-preds",
            "--gt",
            str(three_sets / "gt"),
            "--pred",
            str(three_sets / "bad"),
            "--num-classes",
            "3",
        ]
    )
    assert code == 2 and "at least two" in capsys.readouterr().err


def test_eval_cli_all_adds_every_key(three_sets, capsys):
    out = three_sets / "eval.json"
    code = main(
        [
            "eval",
            "--gt",
            str(three_sets / "gt"),
            "--pred",
            str(three_sets / "bad"),
            "--num-classes",
            "3",
            "--ignore-index",
            "3",
            "--all",
            "--bf-theta",
            "2",
            "--biou-d",
            "3",
            "--resamples",
            "50",
            "--seed",
            "5",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "BF:" in text and "objects:" in text and "95% CI" in text
    res = json.loads(out.read_text())
    for key in ("bf", "biou", "trimap", "objects", "ci"):
        assert key in res, key
    assert set(res["ci"]) >= {"miou", "pixel_accuracy", "mean_accuracy", "bf", "biou"}
    for row in res["per_class"]:
        assert {"bf", "biou", "object_f1", "pq", "iou"} <= set(row)
    pol = res["policy"]
    assert (
        pol["bf_theta"] == 2 and pol["biou_d"] == 3 and pol["ci_num_resamples"] == 50 and pol["ci_seed"] == 5
    )
    assert pol["objects_connectivity"] == 8 and pol["objects_iou_threshold"] == 0.5
    only_boundary = main(
        [
            "eval",
            "--gt",
            str(three_sets / "gt"),
            "--pred",
            str(three_sets / "bad"),
            "--num-classes",
            "3",
            "--ignore-index",
            "3",
            "--boundary",
            "--json",
            str(out),
        ]
    )
    assert only_boundary == 0
    res = json.loads(out.read_text())
    assert "bf" in res and "objects" not in res and "ci" not in res
