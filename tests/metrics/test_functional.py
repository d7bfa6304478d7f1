"""segwise.metrics against an independent sklearn/numpy re-statement."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segwise.errors import InputError
from segwise.metrics import ConfusionMatrix, confusion_matrix, per_image_miou, scores_from_confusion
from tests.reference.pixel_metrics import reference_confusion, reference_scores

DTYPES = [np.uint8, np.int32, np.int64]


def _close(a, b):
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    return abs(a - b) < 1e-9


@st.composite
def label_maps(draw):
    num_classes = draw(st.sampled_from([1, 2, 3, 5, 11, 150]))
    shape = draw(st.sampled_from([(7,), (4, 5), (2, 6, 7), (3, 1, 4, 9)]))
    dtype = draw(st.sampled_from(DTYPES if num_classes < 250 else DTYPES[1:]))
    ignore_mode = draw(st.sampled_from(["none", "outside", "inside"]))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    hi = min(num_classes, 6) if draw(st.booleans()) else num_classes  # sometimes leave classes absent
    target = rng.integers(0, hi, shape)
    pred = np.where(rng.random(shape) < 0.6, target, rng.integers(0, num_classes, shape))
    ignore = None
    if ignore_mode == "outside":
        ignore = 255 if dtype == np.uint8 else -1
        target = np.where(rng.random(shape) < 0.2, ignore, target)
    elif ignore_mode == "inside":
        ignore = int(rng.integers(0, num_classes))
    return pred.astype(dtype), target.astype(dtype), num_classes, ignore


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(label_maps(), st.booleans())
def test_matches_reference(data, as_torch):
    pred, target, num_classes, ignore = data
    if as_torch:
        p_in, t_in = torch.from_numpy(pred.astype(np.int64)), torch.from_numpy(target.astype(np.int64))
    else:
        p_in, t_in = pred, target
    cm = confusion_matrix(p_in, t_in, num_classes, ignore_index=ignore)
    assert cm.dtype == np.int64 and cm.shape == (num_classes, num_classes)
    np.testing.assert_array_equal(cm, reference_confusion(pred, target, num_classes, ignore))

    got = scores_from_confusion(cm, ignore)
    ref = reference_scores(pred, target, num_classes, ignore)
    for key in ("pixel_accuracy", "miou", "mean_accuracy", "mean_dice", "fwiou"):
        assert _close(got[key], ref[key]), key
    if "kappa" in ref:
        assert _close(got["kappa"], ref["kappa"])
    assert got["absent_classes"] == ref["absent_classes"]
    for key, per_class in (
        ("iou", "iou"),
        ("accuracy", "accuracy"),
        ("precision", "precision"),
        ("dice", "dice"),
    ):
        for c in range(num_classes):
            expected = ref[per_class].get(c, float("nan"))
            assert _close(float(got[key][c]), expected), (key, c)
    for c, v in ref.get("sklearn_iou", {}).items():
        assert _close(float(got["iou"][c]), float(v))
    # every mean lies in [0, 1]
    for key in ("pixel_accuracy", "miou", "mean_accuracy", "mean_dice", "fwiou"):
        assert math.isnan(got[key]) or 0.0 <= got[key] <= 1.0


def test_scores_argmax_fused_matches_labels():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((3, 6, 17, 23)).astype(np.float32)
    target = rng.integers(0, 7, (3, 17, 23))  # 6 = ignore
    cm = confusion_matrix(scores, target, 6, ignore_index=6)
    np.testing.assert_array_equal(cm, reference_confusion(scores.argmax(1), target, 6, 6))
    cm_t = confusion_matrix(torch.from_numpy(scores), torch.from_numpy(target), 6, ignore_index=6)
    np.testing.assert_array_equal(cm, cm_t)
    big = rng.standard_normal((2, 4, 300, 301)).astype(np.float64)  # several blocks, float64
    tb = rng.integers(0, 4, (2, 300, 301))
    np.testing.assert_array_equal(confusion_matrix(big, tb, 4), reference_confusion(big.argmax(1), tb, 4))


def test_large_parallel_path_matches_bincount():
    rng = np.random.default_rng(1)
    t = rng.integers(0, 12, (4, 360, 480)).astype(np.uint8)
    p = np.where(rng.random(t.shape) < 0.8, t, rng.integers(0, 11, t.shape)).astype(np.uint8)
    p[p == 11] = 0
    cm = confusion_matrix(p, t, 11, ignore_index=11)
    keep = t != 11
    ref = np.bincount(t[keep].astype(np.int64) * 11 + p[keep], minlength=121).reshape(11, 11)
    np.testing.assert_array_equal(cm, ref)


def test_matches_torchmetrics():
    from torchmetrics.classification import MulticlassConfusionMatrix

    rng = np.random.default_rng(2)
    t = torch.from_numpy(rng.integers(0, 5, (2, 30, 40)))
    p = torch.from_numpy(rng.integers(0, 5, (2, 30, 40)))
    t[0, :5] = 255
    tm = MulticlassConfusionMatrix(num_classes=5, ignore_index=255)(p, t).numpy()
    np.testing.assert_array_equal(confusion_matrix(p, t, 5, ignore_index=255), tm)


def test_absent_and_false_positive_policy():
    # class 2: absent everywhere -> NaN; class 3: predicted only -> IoU 0, recall NaN
    t = np.array([0, 0, 1, 1])
    p = np.array([0, 3, 1, 1])
    s = scores_from_confusion(confusion_matrix(p, t, 4))
    assert s["absent_classes"] == [2]
    assert math.isnan(s["iou"][2]) and s["iou"][3] == 0.0 and math.isnan(s["accuracy"][3])
    assert s["miou"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert s["mean_accuracy"] == pytest.approx((0.5 + 1.0) / 2)


def test_ignore_index_inside_range_is_not_evaluated_but_counts_as_error():
    t = np.array([0, 0, 1, 2, 2])
    p = np.array([2, 0, 1, 2, 0])  # class 2 ignored: its gt pixels dropped, its prediction on 0 is an error
    s = scores_from_confusion(confusion_matrix(p, t, 3, ignore_index=2), ignore_index=2)
    assert s["ignored_classes"] == [2] and math.isnan(s["iou"][2])
    assert s["pixel_accuracy"] == pytest.approx(2 / 3)
    assert s["iou"][0] == pytest.approx(0.5) and s["miou"] == pytest.approx(0.75)


def test_per_image_miou_is_not_miou():
    a = np.array([[[1, 1], [1, 1]]]), np.array([[[1, 1], [1, 1]]])  # image 1: class 1 only, perfect
    t2, p2 = np.array([[[0, 0], [0, 1]]]), np.array([[[0, 1], [1, 1]]])
    state = ConfusionMatrix(2, per_image=True)
    state.update(*a)
    state.update(p2, t2)
    res = state.compute()
    img2 = (1 / 3 + 1 / 3) / 2
    assert res["miou_per_image"] == pytest.approx((1.0 + img2) / 2)
    assert res["miou"] != pytest.approx(res["miou_per_image"])
    assert per_image_miou(np.stack(state.image_matrices)) == pytest.approx(res["miou_per_image"])


# ConfusionMatrix's k updates, merge, pickle, state_dict, all_reduce and reset: test_contract.py


@pytest.mark.parametrize(
    ("pred", "target", "kwargs", "match"),
    [
        (np.zeros((2, 3), np.int64), np.zeros((3, 2), np.int64), {}, "shape mismatch"),
        (np.zeros((2, 1, 3, 3), np.int64), np.zeros((2, 3, 3), np.int64), {}, r"squeeze\(1\)"),
        (np.zeros((2, 3)), np.zeros((2, 3), np.int64), {}, "float `pred` must be class scores"),
        (np.zeros((2, 3), np.int64), np.zeros((2, 3), np.float32), {}, "argmax"),
        (np.zeros((0,), np.int64), np.zeros((0,), np.int64), {}, "empty"),
        (
            np.zeros((1, 4, 2, 2), np.float32),
            np.zeros((1, 2, 2), np.int64),
            {},
            "4 channels but num_classes=3",
        ),
        (np.zeros(4, np.int64), np.array([0, 7, 7, 255]), {"ignore_index": 255}, r"7 \(2 px\)"),
        (
            np.array([0, 9, 1, 1]),
            np.zeros(4, np.int64),
            {},
            r"`pred` holds class ids outside \[0, 3\): 9 \(1 px\)",
        ),
        (np.zeros(4, np.int64), np.zeros(4, np.int64), {"num_classes": 0}, "num_classes"),
        ([0, 1], np.zeros(2, np.int64), {}, "numpy array or torch tensor"),
    ],
)
def test_validation_errors(pred, target, kwargs, match):
    kwargs = {"num_classes": 3, **kwargs}
    with pytest.raises(InputError, match=match):
        confusion_matrix(pred, target, **kwargs)


def test_prediction_on_ignored_pixel_is_not_checked():
    # a bogus prediction where the target is ignored does not matter
    cm = confusion_matrix(np.array([0, 200]), np.array([0, 255]), 2, ignore_index=255)
    assert cm.sum() == 1


def test_worked_example_of_docs():
    """The worked example in docs/metrics.md."""
    t = np.array([[0, 0, 1], [1, 2, 255]])
    p = np.array([[0, 1, 1], [1, 2, 0]])
    cm = confusion_matrix(p, t, 3, ignore_index=255)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [0, 0, 1]]
    s = scores_from_confusion(cm)
    assert round(s["miou"], 4) == 0.7222 and s["pixel_accuracy"] == 0.8
    assert round(s["mean_accuracy"], 4) == 0.8333 and round(s["fwiou"], 4) == 0.6667
