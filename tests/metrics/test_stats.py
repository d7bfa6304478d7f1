"""Bootstrap confidence intervals: vectorised resampling against a per-resample loop over
scores_from_confusion, and BootstrapCI wired to the evaluation state."""

from __future__ import annotations

import numpy as np
import pytest

from segwise.errors import InputError
from segwise.metrics import ConfusionMatrix, scores_from_confusion
from segwise.metrics.boundary import BoundaryAccumulator
from segwise.metrics.stats import (
    BootstrapCI,
    Marginals,
    bootstrap_ci,
    bootstrap_weights,
    holm,
    resampled_scores,
)
from tests.reference.masks import blob_labels, perturb
from tests.reference.stats_reference import bootstrap_samples, draw_indices, percentile_interval


def _random_matrices(rng, n, c, absent=(), ignore=None):
    m = rng.integers(0, 30, size=(n, c, c))
    m[:, :, :] *= rng.random((n, c, 1)) < 0.7  # some classes missing from some images
    for k in absent:
        m[:, k, :] = 0
        m[:, :, k] = 0
    if ignore is not None:
        m[:, ignore, :] = 0  # ground-truth pixels of the ignored class are never counted
    return m


@pytest.mark.parametrize("ignore", [None, 2])
def test_resampled_scores_equal_scalar_scores(ignore):
    rng = np.random.default_rng(0)
    mats = _random_matrices(rng, 40, 5, absent=(4,), ignore=ignore)
    mats[0] = 0  # an image without pixels
    w = bootstrap_weights(40, 25, seed=1)
    got = resampled_scores(Marginals.from_matrices(mats).weighted(w), ignore)
    for b in range(25):
        summed = np.tensordot(w[b], mats, axes=1).astype(np.int64)
        want = scores_from_confusion(summed, ignore)
        for k in ("miou", "pixel_accuracy", "mean_accuracy"):
            assert got[k][b] == pytest.approx(want[k], nan_ok=True)
        np.testing.assert_allclose(got["iou"][b], want["iou"], equal_nan=True)


def test_bootstrap_weights_are_the_documented_draws():
    w = bootstrap_weights(7, 50, seed=3)
    idx = draw_indices(7, 50, 3)
    for b in range(50):
        np.testing.assert_array_equal(w[b], np.bincount(idx[b], minlength=7))
    np.testing.assert_array_equal(w, bootstrap_weights(7, 50, seed=3))
    assert not np.array_equal(w, bootstrap_weights(7, 50, seed=4))


@pytest.mark.parametrize("ignore", [None, 1])
def test_bootstrap_ci_matches_loop_reference(ignore):
    rng = np.random.default_rng(5)
    n, c = 30, 4
    mats = _random_matrices(rng, n, c, ignore=ignore)
    bf = rng.random(n)
    bf[[3, 7]] = np.nan  # images without a counted class
    biou = rng.integers(0, 50, size=(n, 2, c))
    biou[:, 1] += biou[:, 0]  # union >= intersection
    biou[:, :, 3] = 0  # a class with no boundary region anywhere
    ci = bootstrap_ci(mats, ignore, image_bf=bf, image_biou=biou, num_resamples=300, seed=9, level=0.9)
    samples = bootstrap_samples(mats, ignore, draw_indices(n, 300, 9), bf, biou)
    for k in ("miou", "pixel_accuracy", "mean_accuracy", "bf", "biou"):
        lo, hi = percentile_interval(samples[k], 0.9)
        assert ci[k]["low"] == pytest.approx(lo, abs=1e-12) and ci[k]["high"] == pytest.approx(
            hi, abs=1e-12
        ), k
    full = scores_from_confusion(mats.sum(0), ignore)
    assert ci["miou"]["estimate"] == pytest.approx(full["miou"])
    assert ci["bf"]["estimate"] == pytest.approx(np.nanmean(bf))
    assert ci["num_resamples"] == 300 and ci["seed"] == 9 and ci["level"] == 0.9 and ci["num_images"] == n


def test_interval_behaviour():
    rng = np.random.default_rng(6)
    small = _random_matrices(rng, 10, 3)
    large = np.concatenate([small] * 10)
    a = bootstrap_ci(small, num_resamples=400)
    b = bootstrap_ci(large, num_resamples=400)
    width = lambda ci: ci["miou"]["high"] - ci["miou"]["low"]  # noqa: E731
    assert width(b) < width(a)  # ten times the images: a narrower interval
    assert a["miou"]["low"] <= a["miou"]["estimate"] <= a["miou"]["high"]
    same = np.stack([small[0]] * 20)
    c = bootstrap_ci(same, num_resamples=50)
    assert c["miou"]["low"] == c["miou"]["high"] == pytest.approx(c["miou"]["estimate"])
    one = bootstrap_ci(small[:1], num_resamples=10)
    assert one["miou"]["low"] == one["miou"]["high"]


def test_bootstrap_ci_from_an_evaluation_state():
    rng = np.random.default_rng(8)
    state = ConfusionMatrix(3, ignore_index=3, per_image=True)
    boundary = BoundaryAccumulator(3, ignore_index=3)
    for _ in range(12):
        t = blob_labels(rng, 20, 24, 4)
        p = perturb(rng, np.where(t == 3, 0, t), 3)
        state.update(p, t)
        boundary.update(p, t)
    res = BootstrapCI(num_resamples=200, seed=1, boundary=boundary).result(state, None)
    ci = res["ci"]
    assert set(ci) >= {"miou", "pixel_accuracy", "mean_accuracy", "bf", "biou"}
    assert ci["miou"]["estimate"] == pytest.approx(state.compute()["miou"])
    assert ci["bf"]["estimate"] == pytest.approx(boundary.result()["bf"])
    assert ci["biou"]["estimate"] == pytest.approx(boundary.result()["biou"])
    assert res["policy"]["ci_num_resamples"] == 200 and res["policy"]["ci_seed"] == 1
    again = BootstrapCI(num_resamples=200, seed=1, boundary=boundary).result(state, None)
    assert again["ci"] == ci  # seeded: the same intervals
    without = BootstrapCI(num_resamples=200).result(state, None)["ci"]
    assert "bf" not in without


def test_bootstrap_ci_errors():
    with pytest.raises(InputError, match="per_image=True"):
        BootstrapCI().result(ConfusionMatrix(2, per_image=True), None)
    state = ConfusionMatrix(2, per_image=True)
    state.update(np.zeros((3, 3), int), np.zeros((3, 3), int))
    boundary = BoundaryAccumulator(2)
    with pytest.raises(InputError, match="saw 0 images"):
        BootstrapCI(boundary=boundary).result(state, None)
    with pytest.raises(InputError, match="num_resamples"):
        BootstrapCI(num_resamples=0)
    with pytest.raises(InputError, match="level"):
        BootstrapCI(level=95)
    with pytest.raises(InputError, match=r"\(N, C, C\)"):
        bootstrap_ci(np.zeros((3, 3), int))
    with pytest.raises(InputError, match="one score per image"):
        bootstrap_ci(np.zeros((2, 3, 3), int), image_bf=[0.5])
    with pytest.raises(InputError, match="integer counts"):
        bootstrap_ci(np.zeros((2, 3, 3)))


def test_holm():
    assert holm([0.01, 0.04, 0.03]) == [0.03, 0.06, 0.06]
    assert holm([0.5]) == [0.5]
    assert holm([0.6, 0.9]) == [1.0, 1.0]
