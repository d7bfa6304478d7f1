"""ProbabilityAccumulator against scikit-learn and plain numpy re-statements on the same pixels."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from segwise.errors import InputError
from segwise.metrics.probs import NLL_EPS, ProbabilityAccumulator

IGNORE = 255


def random_probs(rng: np.random.Generator, c: int, h: int, w: int, labels: np.ndarray) -> np.ndarray:
    """float16 softmax maps, informative about ``labels`` (so scores are neither perfect nor random)."""
    logits = rng.normal(size=(c, h, w)) + 1.5 * (np.arange(c)[:, None, None] == labels[None])
    e = np.exp(logits - logits.max(0))
    return (e / e.sum(0)).astype(np.float16)


def make_images(seed: int, c: int, n: int = 4, absent: int | None = None):
    rng = np.random.default_rng(seed)
    ps, ts = [], []
    for _ in range(n):
        h, w = rng.integers(10, 30, size=2)
        t = rng.integers(0, c, size=(h, w))
        if absent is not None:
            t[t == absent] = (absent + 1) % c
        ps.append(random_probs(rng, c, h, w, t))
        t = t.astype(np.uint8)
        t[rng.random((h, w)) < 0.1] = IGNORE  # ignored pixels (or outside an ROI)
        ts.append(t)
    return ps, ts


def pixels(ps, ts) -> tuple[np.ndarray, np.ndarray]:
    """Valid pixels: probabilities (n, C) float64 and labels (n,)."""
    p = np.concatenate([x.reshape(x.shape[0], -1).T for x in ps]).astype(np.float64)
    y = np.concatenate([t.reshape(-1) for t in ts]).astype(np.int64)
    keep = y != IGNORE
    return p[keep], y[keep]


def ece_reference(conf: np.ndarray, hit: np.ndarray, bins: int) -> tuple[float, float]:
    """ECE and MCE, written out bin by bin."""
    ece, mce = 0.0, 0.0
    edges = np.linspace(0, 1, bins + 1)
    for b in range(bins):
        inside = (conf >= edges[b]) & ((conf < edges[b + 1]) if b < bins - 1 else (conf <= 1))
        if inside.any():
            gap = abs(hit[inside].mean() - conf[inside].mean())
            ece += gap * inside.mean()
            mce = max(mce, gap)
    return ece, mce


def reference(p: np.ndarray, y: np.ndarray, bins: int = 15) -> dict:
    c = p.shape[1]
    onehot = np.eye(c)[y]
    conf, top = p.max(1), p.argmax(1)
    ece, mce = ece_reference(conf, (top == y).astype(float), bins)
    classwise = np.mean([ece_reference(p[:, k], onehot[:, k], bins)[0] for k in range(c)])
    auc = [
        roc_auc_score(onehot[:, k], p[:, k]) if 0 < onehot[:, k].sum() < len(y) else None for k in range(c)
    ]
    ap = [
        average_precision_score(onehot[:, k], p[:, k]) if onehot[:, k].sum() > 0 else None for k in range(c)
    ]
    return {
        "ece": ece,
        "mce": mce,
        "classwise_ece": classwise,
        "brier": ((p - onehot) ** 2).sum(1).mean(),
        "nll": -np.log(np.clip(p[np.arange(len(y)), y], NLL_EPS, None)).mean(),
        "roc_auc": auc,
        "average_precision": ap,
    }


def check(result: dict, ref: dict) -> None:
    for key in ("ece", "mce", "classwise_ece", "brier", "nll"):
        assert result[key] == pytest.approx(ref[key], abs=1e-6), key
    for key in ("roc_auc", "average_precision"):
        for got, want in zip(result[key], ref[key], strict=True):
            assert (got is None) == (want is None), key
            if want is not None:
                assert got == pytest.approx(want, abs=1e-3), key
    defined = [a for a in ref["roc_auc"] if a is not None]
    assert result["mean_roc_auc"] == pytest.approx(np.mean(defined), abs=1e-3)


@pytest.mark.parametrize("c", [2, 4])
def test_scores_match_sklearn_and_numpy(c):
    ps, ts = make_images(0, c)
    acc = ProbabilityAccumulator(c, IGNORE)
    for p, t in zip(ps, ts, strict=True):
        acc.update(p, t)
    result = acc.result()
    check(result, reference(*pixels(ps, ts)))
    cal = result["calibration"]
    assert sum(cal["count"]) == result["probs_pixels"] == len(pixels(ps, ts)[1])
    assert len(cal["edges"]) == 16 and len(cal["confidence"]) == 15


def test_float16_scores_are_exact():
    """float16 scores: the histograms lose nothing, AUC and AP equal sklearn's to rounding."""
    ps, ts = make_images(1, 3)
    acc = ProbabilityAccumulator(3, IGNORE)
    for p, t in zip(ps, ts, strict=True):
        acc.update(p, t)
    ref = reference(*pixels(ps, ts))
    np.testing.assert_allclose(acc.result()["roc_auc"], ref["roc_auc"], atol=1e-12)
    np.testing.assert_allclose(acc.result()["average_precision"], ref["average_precision"], atol=1e-12)


def test_float32_scores_within_the_bound():
    rng = np.random.default_rng(5)
    t = rng.integers(0, 3, size=(40, 50))
    p = random_probs(rng, 3, 40, 50, t).astype(np.float32)
    p = p / p.sum(0)
    acc = ProbabilityAccumulator(3)
    acc.update(p, t)
    ref = reference(p.reshape(3, -1).T.astype(np.float64), t.reshape(-1))
    check(acc.result(), ref)


def test_absent_class_is_null_and_left_out_of_means():
    ps, ts = make_images(2, 4, absent=2)
    acc = ProbabilityAccumulator(4, IGNORE, calibration_bins=10)
    acc.update(np.stack(ps[:1]), np.stack(ts[:1]))
    for p, t in zip(ps[1:], ts[1:], strict=True):
        acc.update(p, t)
    result = acc.result()
    assert result["roc_auc"][2] is None and result["average_precision"][2] is None
    check(result, reference(*pixels(ps, ts), bins=10))
    assert result["mean_average_precision"] == pytest.approx(
        np.mean([a for i, a in enumerate(result["average_precision"]) if i != 2])
    )


def test_roi_is_the_ignore_value():
    """Pixels outside an ROI arrive as the ignore value: the same as leaving them out."""
    ps, ts = make_images(3, 3, n=1)
    roi = np.zeros(ts[0].shape, bool)
    roi[2:, 3:] = True
    inside = ProbabilityAccumulator(3, IGNORE)
    inside.update(ps[0], np.where(roi, ts[0], IGNORE))
    crop = ProbabilityAccumulator(3, IGNORE)
    crop.update(ps[0][:, 2:, 3:], ts[0][2:, 3:])
    assert inside.result() == crop.result()


def test_binary_scores_against_a_threshold_sweep():
    ps, ts = make_images(4, 2, n=3)
    acc = ProbabilityAccumulator(2, IGNORE)
    for p, t in zip(ps, ts, strict=True):
        acc.update(p, t)
    r = acc.result()
    p, y = pixels(ps, ts)
    top = p.argmax(1)
    assert r["sensitivity"] == pytest.approx(((top == 1) & (y == 1)).sum() / (y == 1).sum())
    assert r["specificity"] == pytest.approx(((top == 0) & (y == 0)).sum() / (y == 0).sum())
    best_f1, best_j = None, None
    for t in np.unique(p[:, 1])[::-1]:  # high to low: the first maximum is the highest threshold
        hit = p[:, 1] >= t
        tp, fp = (hit & (y == 1)).sum(), (hit & (y == 0)).sum()
        fn, tn = ((~hit) & (y == 1)).sum(), ((~hit) & (y == 0)).sum()
        f1 = 2 * tp / (2 * tp + fp + fn)
        j = tp / (tp + fn) - fp / (fp + tn)
        row = {"threshold": t, "precision": tp / (tp + fp), "recall": tp / (tp + fn), "f1": f1}
        if best_f1 is None or f1 > best_f1["f1"]:
            best_f1 = row
        if best_j is None or j > best_j[0]:
            best_j = (j, row)
    got = r["best_threshold"]
    for key in ("threshold", "precision", "recall", "f1"):
        assert got["f1"][key] == pytest.approx(best_f1[key], abs=1e-12), key
        assert got["youden"][key] == pytest.approx(best_j[1][key], abs=1e-12), key
    assert got["youden"]["youden"] == pytest.approx(best_j[0], abs=1e-12)


def test_bad_input_is_a_clear_error():
    acc = ProbabilityAccumulator(3)
    with pytest.raises(InputError, match="C=3"):
        acc.update(np.zeros((2, 4, 4), np.float32), np.zeros((4, 4), np.uint8))
    with pytest.raises(InputError, match="class ids"):
        acc.update(np.full((3, 4, 4), 1 / 3, np.float32), np.full((4, 4), 7, np.uint8))
    with pytest.raises(InputError, match="calibration_bins"):
        ProbabilityAccumulator(3, calibration_bins=0)


def test_in_range_ignore_index_is_not_a_class():
    ps, ts = make_images(6, 4, n=2)
    ts = [np.where(t == IGNORE, 3, np.minimum(t, 2)).astype(np.uint8) for t in ts]  # class 3: the void value
    acc = ProbabilityAccumulator(4, 3)
    for p, t in zip(ps, ts, strict=True):
        acc.update(p, t)
    r = acc.result()
    p, y = (
        np.concatenate([x.reshape(4, -1).T for x in ps]).astype(np.float64),
        np.concatenate([t.reshape(-1) for t in ts]),
    )
    p, y = p[y != 3], y[y != 3]
    ref = reference(p, y)
    assert r["roc_auc"][3] is None and r["average_precision"][3] is None
    per_class = [ece_reference(p[:, k], (y == k).astype(float), 15)[0] for k in range(3)]
    assert r["classwise_ece"] == pytest.approx(np.mean(per_class), abs=1e-6)
    assert r["ece"] == pytest.approx(ref["ece"], abs=1e-6) and r["nll"] == pytest.approx(ref["nll"], abs=1e-6)
