"""The uncertainty family against sklearn / numpy re-statements, and through Evaluation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from segwise.errors import InputError
from segwise.evaluate import Evaluation
from segwise.metrics.families import select_families
from segwise.metrics.uncertainty import COVERAGES, UncertaintyAccumulator

C = 3


def _data(seed: int = 0, n: int = 4, h: int = 20, w: int = 24):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, C, (n, h, w)).astype(np.uint8)
    t[:, 0, :3] = 255  # void
    wrong = rng.random((n, h, w)) < 0.3
    p = np.where(wrong, (t.astype(int) + 1) % C, t).astype(np.uint8)
    # uncertainty correlated with errors, in [0, log C]
    ent = np.clip(rng.normal(0.4 + 0.4 * wrong, 0.2), 0, math.log(C))
    mi = np.clip(rng.normal(0.1 + 0.05 * wrong, 0.1), 0, math.log(C))
    return p, t, np.stack([ent, mi], 1)


def _reference_risk(u: np.ndarray, wrong: np.ndarray, coverage: float) -> float:
    """Sort by uncertainty; ties share their group's mean error; partial group counted pro rata."""
    order = np.argsort(u, kind="stable")
    u, wrong = u[order], wrong[order].astype(float)
    k = coverage * len(u)
    values, starts = np.unique(u, return_index=True)
    ends = np.append(starts[1:], len(u))
    errors = 0.0
    for s, e in zip(starts, ends, strict=True):
        take = min(e, k) - s
        if take <= 0:
            break
        errors += wrong[s:e].mean() * take
    return errors / k


def test_auroc_matches_sklearn_and_mi_too():
    p, t, u = _data()
    acc = UncertaintyAccumulator(C, 255)
    acc.update(p, t, uncertainty=u)
    r = acc.result()["uncertainty"]
    valid = t != 255
    wrong = (p != t)[valid]
    for m, key in enumerate(("error_auroc_entropy", "error_auroc_mi")):
        ref = roc_auc_score(wrong, u[:, m][valid])
        assert r[key] == pytest.approx(ref, abs=1e-3)
    assert r["error_auroc_entropy"] > 0.8
    assert r["pixels"] == valid.sum() and r["wrong_pixels"] == wrong.sum()


def test_constant_uncertainty_gives_half():
    p, t, u = _data(1)
    acc = UncertaintyAccumulator(C, 255)
    acc.update(p, t, uncertainty=np.full_like(u, 0.5))
    r = acc.result()["uncertainty"]
    assert r["error_auroc_entropy"] == pytest.approx(0.5) and r["error_auroc_mi"] == pytest.approx(0.5)
    err = (p != t)[t != 255].mean()
    assert r["risk_coverage"]["risk"] == pytest.approx([err] * 10)
    assert r["aurc"] == pytest.approx(err)


def test_risk_coverage_exact_on_bin_grid():
    bins = 64
    p, t, _ = _data(2)
    rng = np.random.default_rng(3)
    grid = (np.arange(bins) + 0.5) * math.log(C) / bins  # values at bin centres: no binning error
    u = grid[rng.integers(0, bins, (p.shape[0], 2, *p.shape[1:]))]
    acc = UncertaintyAccumulator(C, 255, bins=bins)
    for i in range(len(p)):  # one image at a time
        acc.update(p[i], t[i], uncertainty=u[i])
    r = acc.result()["uncertainty"]
    valid = t != 255
    ent, wrong = u[:, 0][valid], (p != t)[valid]
    ref = [_reference_risk(ent, wrong, c) for c in COVERAGES]
    np.testing.assert_allclose(r["risk_coverage"]["risk"], ref, rtol=1e-12)
    assert r["risk_coverage"]["coverage"] == list(COVERAGES)
    # AURC: the integral equals Geifman's discrete mean over k/n up to O(log n / n)
    n = len(ent)
    order = np.argsort(ent, kind="stable")
    geifman = np.mean(np.cumsum(wrong[order]) / np.arange(1, n + 1))
    assert r["aurc"] == pytest.approx(geifman, abs=0.02)
    auroc = roc_auc_score(wrong, ent)
    assert r["error_auroc_entropy"] == pytest.approx(auroc, abs=1e-12)


def test_needs_the_maps_and_checks_their_shape():
    acc = UncertaintyAccumulator(C, 255)
    t = np.zeros((4, 5), np.uint8)
    with pytest.raises(InputError, match="uncertainty"):
        acc.update(t, t)
    with pytest.raises(InputError, match=r"\(2, H, W\)"):
        acc.update(t, t, uncertainty=np.zeros((4, 5)))


def test_empty_and_all_right_give_null():
    acc = UncertaintyAccumulator(C, 255)
    assert acc.result()["uncertainty"]["aurc"] is None
    t = np.zeros((4, 5), np.uint8)
    acc.update(t, t, uncertainty=np.zeros((2, 4, 5)))
    r = acc.result()["uncertainty"]
    assert r["error_auroc_entropy"] is None and r["aurc"] == 0.0


def test_evaluation_passes_the_declared_input_and_all_skips_the_family():
    assert "uncertainty" not in select_families({}, everything=True)
    p, t, u = _data()
    ev = Evaluation(C, 255, families=["uncertainty"])
    assert ev.inputs == ("uncertainty",)
    with pytest.raises(InputError, match="--uncertainty DIR"):
        ev.add(p[0], t[0])
    for i in range(len(p)):
        ev.add(p[i], t[i], inputs={"uncertainty": u[i]})
    r = ev.result()
    assert r["uncertainty"]["error_auroc_entropy"] > 0.8 and "risk_coverage" in r["policy"]


def test_eval_cli_pairs_npy_maps_like_predictions(tmp_path, capsys):
    import json

    from PIL import Image

    from segwise.cli import main

    p, t, u = _data(4)
    for d in ("gt", "pred", "unc"):
        (tmp_path / d).mkdir()
    for i in range(len(p)):
        Image.fromarray(t[i]).save(tmp_path / "gt" / f"im{i}.png")
        Image.fromarray(p[i]).save(tmp_path / "pred" / f"im{i}.png")
        np.save(tmp_path / "unc" / f"im{i}.npy", u[i].astype(np.float16))
    out = tmp_path / "r.json"
    args = [
        "eval",
        "--gt",
        str(tmp_path / "gt"),
        "--pred",
        str(tmp_path / "pred"),
        "--num-classes",
        "3",
        "--ignore-index",
        "255",
        "--json",
        str(out),
    ]
    assert main([*args, "--uncertainty", str(tmp_path / "unc")]) == 0
    full = json.loads(out.read_text())
    r = full["uncertainty"]
    assert full["source"]["uncertainty"] == str(tmp_path / "unc")
    assert r["error_auroc_entropy"] > 0.8 and len(r["risk_coverage"]["risk"]) == 10
    assert "error AUROC entropy" in capsys.readouterr().out
    (tmp_path / "unc" / "im0.npy").unlink()
    assert main([*args, "--uncertainty", str(tmp_path / "unc")]) != 0
    assert "no uncertainty array" in capsys.readouterr().err
