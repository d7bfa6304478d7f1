"""Object metrics: connected components, one-to-one matching at IoU > 0.5, PQ; hand-computed and
against a scipy.ndimage.label + full IoU matrix reference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from segwise.errors import InputError
from segwise.metrics.regions import RegionAccumulator, connected_components, match_objects, object_scores
from tests.reference.masks import blob_labels, perturb
from tests.reference.region_reference import object_counts


def _class_counts(counts, c):
    return counts[:, c].sum(axis=1).tolist()  # TP, FP, FN, IoU sum


def test_shifted_square():
    t = np.zeros((10, 10), np.int64)
    t[2:6, 2:6] = 1
    p = np.roll(t, 1, axis=1)  # IoU 12 / 20 = 0.6: matched
    assert _class_counts(match_objects(p, t, 2), 1) == [1, 0, 0, pytest.approx(0.6)]
    p2 = np.roll(t, 2, axis=1)  # IoU 8 / 24: no match, one miss and one spurious object
    assert _class_counts(match_objects(p2, t, 2), 1) == [0, 1, 1, 0]
    s = object_scores(match_objects(p, t, 2))
    assert s["f1"][1] == 1.0 and s["sq"][1] == pytest.approx(0.6) and s["pq"][1] == pytest.approx(0.6)


def test_thin_line_is_one_object_and_a_shift_misses_it():
    t = np.zeros((9, 9), np.int64)
    t[4, 1:8] = 1
    ids, classes, sizes = connected_components(t)
    assert classes.tolist() == [0, 1] and sizes.tolist() == [74, 7]  # background wraps around the line
    p = np.roll(t, 1, axis=0)
    assert _class_counts(match_objects(p, t, 2), 1) == [0, 1, 1, 0]
    assert _class_counts(match_objects(t, t, 2), 1) == [1, 0, 0, 1.0]


def test_empty_prediction():
    t = np.zeros((12, 12), np.int64)
    t[1:4, 1:4] = 1
    t[6:10, 6:10] = 1
    counts = match_objects(np.zeros_like(t), t, 2)
    assert _class_counts(counts, 1) == [0, 0, 2, 0]
    s = object_scores(counts)
    assert np.isnan(s["precision"][1]) and s["recall"][1] == 0 and s["f1"][1] == 0 and s["pq"][1] == 0
    assert np.isnan(s["sq"][1])
    # the background grows from 119 to 144 px: IoU 119/144 > 0.5, matched
    assert _class_counts(counts, 0) == [1, 0, 0, pytest.approx(119 / 144)]


def test_class_only_in_prediction():
    t = np.zeros((8, 8), np.int64)
    p = t.copy()
    p[2:4, 2:4] = 2
    s = object_scores(match_objects(p, t, 3))
    assert s["tp"][2] == 0 and s["fp"][2] == 1 and s["fn"][2] == 0
    assert s["precision"][2] == 0 and np.isnan(s["recall"][2]) and s["f1"][2] == 0 and s["pq"][2] == 0
    assert np.isnan(s["f1"][1])  # absent everywhere: left out of the means
    assert s["mean_f1"] == pytest.approx((1 + 0) / 2)


def test_touching_objects_and_connectivity():
    t = np.zeros((8, 8), np.int64)
    t[1:4, 1:4] = 1
    t[4:7, 4:7] = 1  # touches the first square at one corner
    assert len(connected_components(t, connectivity=8)[1]) == 2  # one square pair + background
    assert len(connected_components(t, connectivity=4)[1]) == 3  # two squares + background
    p = t.copy()
    p[4:7, 4:7] = 0  # predict only the first square
    eight = match_objects(p, t, 2, connectivity=8)
    four = match_objects(p, t, 2, connectivity=4)
    assert _class_counts(eight, 1) == [0, 1, 1, 0]  # one 18-px object, covered 9/18: IoU 0.5 is not > 0.5
    assert _class_counts(four, 1) == [1, 0, 1, 1.0]
    side = np.zeros((6, 8), np.int64)
    side[1:5, 1:4] = 1
    side[1:5, 4:7] = 2  # two classes side by side: two objects
    assert sorted(connected_components(side)[1].tolist()) == [0, 1, 2]


def test_size_bins():
    t = np.zeros((120, 120), np.int64)
    t[0:10, 0:10] = 1  # small (100 px)
    t[20:60, 20:60] = 1  # medium (1600 px)
    t[20:120, 70:120] = 2  # large (5000 px, above the medium limit set below)
    counts = match_objects(t, t, 3, size_bins=(32 * 32, 4096))
    assert counts[0, 1].tolist() == [1, 1, 0] and counts[0, 2].tolist() == [0, 0, 1]
    acc = RegionAccumulator(3)
    acc.update(t, t)
    by_size = acc.result()["objects"]["by_size"]
    # default limits 32^2 and 96^2: the strip (5000 px) and the background (7700 px) are medium
    assert [by_size[k]["tp"] for k in ("small", "medium", "large")] == [1, 3, 0]


def test_ignored_pixels_belong_to_no_object():
    t = np.zeros((6, 9), np.int64)
    t[1:5, 1:8] = 1
    t[:, 4] = 9  # an ignored column splits the object in two
    ids, classes, _ = connected_components(t, ignore_index=9)
    assert (ids[:, 4] == -1).all() and classes.tolist().count(1) == 2
    p = t.copy()
    p[:, 4] = 1  # whatever is predicted there is not read
    counts = match_objects(p, t, 2, ignore_index=9)
    assert _class_counts(counts, 1) == [2, 0, 0, 2.0]


@pytest.mark.parametrize("seed", range(10))
def test_matches_scipy_reference(seed):
    rng = np.random.default_rng(300 + seed)
    c = int(rng.integers(2, 5))
    h, w = (int(x) for x in rng.integers(3, 40, 2))
    t = blob_labels(rng, h, w, c + 1, cell=int(rng.integers(2, 7)), noise=0.02)
    p = perturb(rng, np.where(t == c, 0, t), c, shift=1)
    ignore = c if seed % 2 else None
    if ignore is None:
        t[t == c] = 0
    connectivity = 8 if seed % 3 else 4
    threshold = [0.5, 0.5, 0.7][seed % 3]
    got = match_objects(p, t, c, ignore, connectivity, threshold, size_bins=(20, 200))
    want = object_counts(p, t, c, ignore, connectivity, threshold, small=20, medium=200)
    np.testing.assert_allclose(got, want, atol=1e-12)


@pytest.mark.parametrize("connectivity", [4, 8])
def test_components_match_scipy_label(connectivity):
    rng = np.random.default_rng(connectivity)
    lab = blob_labels(rng, 50, 70, 4, cell=3, noise=0.1)
    ids, classes, sizes = connected_components(lab, connectivity=connectivity)
    structure = np.ones((3, 3)) if connectivity == 8 else None
    for c in range(4):
        ref, n = ndi.label(lab == c, structure=structure)
        assert (classes == c).sum() == n
        # same partition: each reference component maps to exactly one of ours, and back
        pairs = {(int(a), int(b)) for a, b in zip(ref[lab == c], ids[lab == c], strict=True)}
        assert len(pairs) == n == len({b for _, b in pairs})
    assert sizes.sum() == lab.size and (np.bincount(ids.ravel()) == sizes).all()


def test_accumulator_equals_reference():
    # k updates, merge, pickle and state_dict: tests/metrics/test_contract.py
    rng = np.random.default_rng(5)
    ts = [blob_labels(rng, 20, 25, 3) for _ in range(5)]
    ps = [perturb(rng, t, 3, shift=1) for t in ts]
    one = RegionAccumulator(3)
    for p, t in zip(ps, ts, strict=True):
        one.update(p, t)
    ref = sum(object_counts(p, t, 3) for p, t in zip(ps, ts, strict=True))
    np.testing.assert_allclose(one.counts, ref, atol=1e-12)
    r = one.result()
    s = object_scores(ref)
    assert [row["object_f1"] for row in r["per_class"]] == pytest.approx(s["f1"].tolist())
    assert [row["pq"] for row in r["per_class"]] == pytest.approx(s["pq"].tolist())
    assert r["objects"]["pq"] == pytest.approx(np.nanmean(s["pq"]))
    assert r["policy"]["objects_connectivity"] == 8 and r["policy"]["objects_iou_threshold"] == 0.5


def test_in_range_ignore_index_is_not_scored():
    t = np.zeros((6, 6), np.int64)
    t[1:3, 1:3] = 1
    p = t.copy()
    p[4:6, 4:6] = 1
    s = object_scores(match_objects(p, t, 2, ignore_index=1), ignore_index=1)
    assert np.isnan(s["f1"][1]) and s["tp"][1] == 0


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: RegionAccumulator(2, connectivity=6), "4 or 8"),
        (lambda: RegionAccumulator(2, iou_threshold=0.3), r"\[0.5, 1\)"),
        (lambda: RegionAccumulator(2, size_bins=(100, 10)), "small_max < medium_max"),
        (lambda: match_objects(np.zeros((2, 2)), np.zeros((2, 2), int), 2), "integer class ids"),
        (lambda: connected_components(np.zeros((2, 2, 2), int)), r"\(H, W\)"),
        (lambda: object_scores(np.zeros((3, 2))), r"\(4, C\)"),
    ],
)
def test_bad_input_is_named(call, match):
    with pytest.raises(InputError, match=match):
        call()
