"""Boundary F1, Boundary IoU and trimap: hand-computed masks and independent references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segwise.errors import InputError
from segwise.metrics.boundary import (
    BoundaryAccumulator,
    bf_theta,
    biou_d,
    boundary_f1,
    boundary_iou,
    class_boundaries,
    trimap,
)
from tests.reference import boundary_reference as ref
from tests.reference.masks import blob_labels, perturb
from tests.reference.pixel_metrics import reference_scores


def _square(h=8, w=8, top=2, left=2, size=4, cls=1):
    lab = np.zeros((h, w), np.int64)
    lab[top : top + size, left : left + size] = cls
    return lab


# --------------------------------------------------------------------------- hand-computed masks


def test_shifted_square_bf_by_hand():
    t, p = _square(), _square(left=3)
    exact = boundary_f1(p, t, 2, theta=0.5)
    # square: 6 of its 12 perimeter pixels coincide; background: 6 of the 16 pixels of its inner ring
    assert exact["per_class"].tolist() == [0.375, 0.5]
    assert exact["precision"].tolist() == [0.375, 0.5] and exact["recall"].tolist() == [0.375, 0.5]
    assert exact["bf"] == pytest.approx(0.4375)
    # at theta = 1 every boundary pixel has a partner one pixel away
    assert boundary_f1(p, t, 2, theta=1)["per_class"].tolist() == [1.0, 1.0]


def test_shifted_square_boundary_iou_by_hand():
    t, p = _square(), _square(left=3)
    r = boundary_iou(p, t, 2, d=1)
    # square: perimeters of 12 px overlap in 6; background: the image border ring (28 px) plus the
    # ring around each square (20 px; the shifted one loses 6 px to the border ring) overlap in 38
    assert r["intersection"].tolist() == [38, 6]
    assert r["union"].tolist() == [48 + 42 - 38, 18]
    assert r["per_class"][1] == pytest.approx(1 / 3)
    assert r["biou"] == pytest.approx((38 / 52 + 1 / 3) / 2)


def test_thin_line():
    t = np.zeros((9, 9), np.int64)
    t[4, 1:8] = 1
    p = np.roll(t, 1, axis=0)  # one row lower
    assert boundary_f1(p, t, 2, theta=1)["per_class"].tolist() == [1.0, 1.0]
    assert boundary_f1(p, t, 2, theta=0.5)["per_class"].tolist() == [0.0, 0.0]
    r = boundary_iou(p, t, 2, d=1)
    assert r["per_class"][1] == 0.0 and r["union"][1] == 14  # a 1-px line is all boundary region
    # band of width 0: the boundary pixels themselves (the line and its 4-neighbours, 7 + 16 px)
    tri = trimap(p, t, 2, widths=(0,))
    assert tri["num_pixels"] == [23]


def test_empty_prediction():
    t, p = _square(), np.zeros((8, 8), np.int64)
    r = boundary_f1(p, t, 2, theta=2)
    # the square is missed (F1 0); the background has no boundary in the prediction (F1 0)
    assert r["per_class"].tolist() == [0.0, 0.0] and r["bf"] == 0.0
    b = boundary_iou(p, t, 2, d=1)
    assert b["per_class"][1] == 0.0 and b["intersection"][1] == 0


def test_class_only_in_prediction_present_vs_gt_average():
    t = _square(10, 10, 1, 1, 3, cls=2)
    p = t.copy()
    p[6:9, 6:9] = 1  # class 1 predicted, absent from the ground truth
    present = boundary_f1(p, t, 3, theta=1)
    gt_only = boundary_f1(p, t, 3, theta=1, average="gt")
    assert present["per_class"][1] == 0.0 and np.isnan(gt_only["per_class"][1])
    assert present["per_class"][2] == gt_only["per_class"][2] == 1.0
    assert present["bf"] < gt_only["bf"]
    assert boundary_iou(p, t, 3, d=1)["per_class"][1] == 0.0


def test_touching_objects_have_a_shared_boundary():
    t = np.zeros((6, 8), np.int64)
    t[1:5, 1:4] = 1
    t[1:5, 4:7] = 2  # touches class 1 along a column
    b = class_boundaries(t)
    assert b[2, 3] and b[2, 4]  # both sides of the contact are boundary pixels of their class
    r = boundary_f1(t, t, 3, theta=0.5)
    assert r["per_class"].tolist() == [1.0, 1.0, 1.0]
    merged = t.copy()
    merged[merged == 2] = 1  # the prediction merges the two objects
    m = boundary_f1(merged, t, 3, theta=0.5)
    assert m["per_class"][2] == 0.0 and 0 < m["per_class"][1] < 1


def test_uniform_image_and_image_edge():
    t = np.ones((5, 5), np.int64)
    r = boundary_f1(t, t, 2)
    assert r["per_class"][1] == 1.0 and np.isnan(r["per_class"][0])  # no boundary anywhere: 1
    # Boundary IoU counts the image edge as boundary (zero padding), BF does not
    assert boundary_iou(t, t, 2, d=1)["union"].tolist() == [0, 16]
    assert not class_boundaries(t).any()


def test_defaults_follow_the_image_diagonal():
    assert bf_theta(360, 480) == pytest.approx(4.5)
    assert biou_d(360, 480) == 12 and biou_d(3, 4) == 1 and biou_d(1000, 2000) == 45
    t = blob_labels(np.random.default_rng(0), 36, 48, 3, cell=6)
    assert boundary_f1(t, t, 3)["theta"] == pytest.approx(0.45)
    assert boundary_iou(t, t, 3)["d"] == 1


# --------------------------------------------------------------------------- ignore policy


def test_predictions_on_ignored_pixels_are_never_read():
    rng = np.random.default_rng(3)
    t = blob_labels(rng, 30, 40, 4)  # 3 = ignore
    p = t.copy()
    p[t == 3] = rng.integers(0, 3, int((t == 3).sum()))
    acc = BoundaryAccumulator(3, ignore_index=3, theta=2, d=2)
    acc.update(p, t)
    r = acc.result()
    assert r["bf"] == 1.0 and r["biou"] == 1.0 and all(a == 1.0 for a in r["trimap"]["pixel_accuracy"])
    q = perturb(rng, np.where(t == 3, 0, t), 3)
    q2 = q.copy()
    q2[t == 3] = (q[t == 3] + 1) % 3
    for fn in (lambda x: boundary_f1(x, t, 3, 3, theta=2), lambda x: boundary_iou(x, t, 3, 3, d=2)):
        a, b = fn(q), fn(q2)
        np.testing.assert_array_equal(a["per_class"], b["per_class"])


def test_in_range_ignore_index_is_not_scored():
    rng = np.random.default_rng(4)
    t = blob_labels(rng, 20, 20, 3)
    p = perturb(rng, t, 3)
    r = boundary_f1(p, t, 3, ignore_index=1, theta=1.5)
    assert np.isnan(r["per_class"][1])
    per_class, score = ref.bf_image(p, t, 3, ignore_index=1, theta=1.5)
    np.testing.assert_allclose(r["per_class"], per_class, equal_nan=True)
    assert np.isnan(boundary_iou(p, t, 3, ignore_index=1, d=1)["per_class"][1])


# --------------------------------------------------------------------------- references on random masks


@pytest.mark.parametrize("seed", range(12))
def test_bf_matches_brute_force_nearest_distance(seed):
    rng = np.random.default_rng(seed)
    c = int(rng.integers(2, 5))
    h, w = (int(x) for x in rng.integers(4, 28, 2))
    t = blob_labels(rng, h, w, c + (seed % 2), cell=int(rng.integers(2, 6)))
    p = perturb(rng, np.where(t >= c, 0, t), c)
    ignore = c if seed % 2 else None
    theta = [None, 0.5, 1.0, 1.5, 2.0, 3.2][seed % 6]
    for average in ("present", "gt"):
        r = boundary_f1(p, t, c, ignore_index=ignore, theta=theta, average=average)
        per_class, score = ref.bf_image(p, t, c, ignore, theta, average, method="brute")
        np.testing.assert_allclose(r["per_class"], per_class, equal_nan=True, atol=1e-12)
        assert (np.isnan(score) and np.isnan(r["bf"])) or r["bf"] == pytest.approx(score)


@pytest.mark.parametrize("seed", range(10))
def test_boundary_iou_matches_reference_algorithm(seed):
    rng = np.random.default_rng(100 + seed)
    c = int(rng.integers(2, 5))
    h, w = (int(x) for x in rng.integers(3, 60, 2))
    t = blob_labels(rng, h, w, c + 1, cell=int(rng.integers(2, 9)))
    p = perturb(rng, np.where(t == c, 0, t), c)
    ignore = c if seed % 2 else None
    if ignore is None:
        t[t == c] = 0
    d = [None, 1, 2, 3, 5][seed % 5]
    r = boundary_iou(p, t, c, ignore_index=ignore, d=d)
    inter, union = ref.biou_counts(p, t, c, ignore, d)
    np.testing.assert_array_equal(r["intersection"], inter)
    np.testing.assert_array_equal(r["union"], union)


@pytest.mark.parametrize("seed", range(6))
def test_trimap_matches_scipy_distance_transform(seed):
    rng = np.random.default_rng(200 + seed)
    c = 3
    t = blob_labels(rng, 40, 50, c + 1, cell=5)
    p = perturb(rng, np.where(t == c, 0, t), c)
    widths = (0, 1, 2.5, 4, 8)
    r = trimap(p, t, c, ignore_index=c, widths=widths)
    cms = ref.trimap_confusions(p, t, c, c, widths)
    np.testing.assert_array_equal(r["confusion"], cms)
    band = ref.trimap_confusions(p, t, c, c, (4,))[0]
    assert band.sum() > 0
    # scores of a band = pixel metrics of the band's pixels
    rows = np.repeat(np.arange(c), c)
    cols = np.tile(np.arange(c), c)
    tt = np.repeat(rows, band.ravel())
    pp = np.repeat(cols, band.ravel())
    assert r["miou"][3] == pytest.approx(reference_scores(pp, tt, c)["miou"])


def test_random_masks_without_structure_and_single_rows():
    rng = np.random.default_rng(7)
    for shape in ((1, 1), (1, 9), (9, 1), (2, 2), (5, 7)):
        t = rng.integers(0, 3, shape)
        p = rng.integers(0, 3, shape)
        r = boundary_f1(p, t, 3, theta=1)
        np.testing.assert_allclose(r["per_class"], ref.bf_image(p, t, 3, theta=1)[0], equal_nan=True)
        inter, union = ref.biou_counts(p, t, 3, None, 1)
        np.testing.assert_array_equal(boundary_iou(p, t, 3, d=1)["union"], union)


# --------------------------------------------------------------------------- accumulator


def _dataset(seed=11, n=5, c=3):
    rng = np.random.default_rng(seed)
    ts = [blob_labels(rng, 24, 30, c + 1, cell=4) for _ in range(n)]
    ps = [perturb(rng, np.where(t == c, 0, t), c) for t in ts]
    return ps, ts


def test_accumulator_matches_per_image_references():
    ps, ts = _dataset()
    acc = BoundaryAccumulator(3, ignore_index=3, theta=1.5, d=2, trimap_widths=(1, 3))
    for p, t in zip(ps, ts, strict=True):
        acc.update(p, t)
    r = acc.result()
    refs = [ref.bf_image(p, t, 3, 3, 1.5, method="edt") for p, t in zip(ps, ts, strict=True)]
    assert r["bf"] == pytest.approx(np.mean([s for _, s in refs]))
    per_class = np.nanmean(np.stack([pc for pc, _ in refs]), axis=0)
    assert [row["bf"] for row in r["per_class"]] == pytest.approx(per_class.tolist())
    counts = [ref.biou_counts(p, t, 3, 3, 2) for p, t in zip(ps, ts, strict=True)]
    inter = sum(i for i, _ in counts)
    union = sum(u for _, u in counts)
    assert [row["biou"] for row in r["per_class"]] == pytest.approx((inter / union).tolist())
    assert r["biou"] == pytest.approx(np.mean(inter / union))
    tri = sum(ref.trimap_confusions(p, t, 3, 3, (1, 3)) for p, t in zip(ps, ts, strict=True))
    np.testing.assert_array_equal(acc.trimap_matrices, tri)
    assert r["policy"]["bf_theta"] == 1.5 and r["policy"]["biou_d"] == 2
    assert r["policy"]["trimap_widths"] == [1, 3]


def test_accumulator_takes_tensor_batches_and_records_theta():
    # k updates, merge, pickle and state_dict: tests/metrics/test_contract.py
    ps, ts = _dataset(seed=12, n=6)
    one = BoundaryAccumulator(3, 3)
    for p, t in zip(ps, ts, strict=True):
        one.update(p, t)
    batched = BoundaryAccumulator(3, 3)
    batched.update(np.stack(ps[:4]), np.stack(ts[:4]))
    batched.update(torch.from_numpy(np.stack(ps[4:])), torch.from_numpy(np.stack(ts[4:])))
    assert batched.num_images == one.num_images == 6
    a, b = one.result(), batched.result()
    assert a["bf"] == b["bf"] and a["biou"] == b["biou"] and a["trimap"] == b["trimap"]
    assert a["policy"]["bf_theta_px"] == [pytest.approx(bf_theta(24, 30), abs=1e-6)]


def test_accumulator_empty_and_all_ignored():
    acc = BoundaryAccumulator(2, ignore_index=9)
    r = acc.result()
    assert np.isnan(r["bf"]) and np.isnan(r["biou"])
    t = np.full((4, 4), 9)
    acc.update(np.zeros((4, 4), int), t)
    r = acc.result()
    assert np.isnan(r["bf"]) and acc.image_bf == [pytest.approx(float("nan"), nan_ok=True)]
    assert r["trimap"]["num_pixels"] == [0] * 6


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: boundary_f1(np.zeros((3, 3)), np.zeros((3, 3), int), 2), "integer class ids"),
        (lambda: boundary_f1(np.zeros((3, 4), int), np.zeros((3, 3), int), 2), "shape mismatch"),
        (lambda: boundary_f1(np.zeros((2, 3, 3), int), np.zeros((2, 3, 3), int), 2), "one label map"),
        (lambda: boundary_f1(np.zeros(3, int), np.zeros(3, int), 2), r"\(H, W\)"),
        (lambda: boundary_f1(np.full((3, 3), 5), np.zeros((3, 3), int), 2), "`pred` holds 9 pixels"),
        (lambda: boundary_iou(np.zeros((3, 3), int), np.full((3, 3), 7), 2), "ignore_index"),
        (lambda: boundary_f1(np.zeros((3, 3), int), np.zeros((3, 3), int), 2, theta=0), "theta"),
        (lambda: boundary_iou(np.zeros((3, 3), int), np.zeros((3, 3), int), 2, d=0.5), "`d`"),
        (
            lambda: boundary_f1(np.zeros((3, 3), int), np.zeros((3, 3), int), 2, average="all"),
            "valid: present",
        ),
        (lambda: BoundaryAccumulator(2, bf_average="gts"), "did you mean 'gt'"),
        (lambda: trimap(np.zeros((3, 3), int), np.zeros((3, 3), int), 2, widths=(4, 2)), "ascending"),
        (lambda: BoundaryAccumulator(0), "num_classes"),
        (lambda: boundary_f1([[0]], [[0]], 2), "numpy array"),
    ],
)
def test_bad_input_is_named(call, match):
    with pytest.raises(InputError, match=match):
        call()


# --------------------------------------------------------------------------- CamVid


@pytest.mark.camvid
def test_camvid_annotations_match_scipy_reference(camvid_root):
    from PIL import Image

    files = sorted((camvid_root / "testannot").glob("*.png"))[:2]
    rng = np.random.default_rng(0)
    for f in files:
        t = np.array(Image.open(f))
        p = perturb(rng, np.where(t == 11, 0, t), 11, shift=3, boxes=4)
        r = boundary_f1(p, t, 11, ignore_index=11)
        per_class, _ = ref.bf_image(p, t, 11, 11, method="edt")
        np.testing.assert_allclose(r["per_class"], per_class, equal_nan=True, atol=1e-12)
        inter, union = ref.biou_counts(p, t, 11, 11)
        b = boundary_iou(p, t, 11, ignore_index=11)
        np.testing.assert_array_equal(b["intersection"], inter[:11])
        np.testing.assert_array_equal(b["union"], union[:11])
