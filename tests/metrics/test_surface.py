"""Surface distances (segwise.metrics.surface) against MONAI, MedPy and DeepMind's surface_distance, and
against distances known exactly (concentric squares and cubes): boundaries, HD, HD95 (max and pooled),
ASSD, NSD, anisotropic spacing, 2D and 3D, empty masks, the ignore index, argument checks."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from medpy.metric import binary as medpy
from monai.metrics import (
    compute_average_surface_distance,
    compute_hausdorff_distance,
    compute_surface_dice,
)
from monai.metrics.utils import get_mask_edges
from scipy.ndimage import binary_erosion

from segwise.errors import InputError
from segwise.metrics.surface import (
    SurfaceAccumulator,
    boundary_mask,
    case_surface_metrics,
    surface_distances,
)
from tests.reference.masks import blob_labels, perturb

TOLS = (1.0, 2.0)


def _blobs3d(rng, shape, num_classes, cell=3):
    coarse = rng.integers(0, num_classes, tuple(s // cell + 2 for s in shape))
    lab = coarse.repeat(cell, 0).repeat(cell, 1).repeat(cell, 2)[: shape[0], : shape[1], : shape[2]]
    return lab.copy()


def _monai(pred, target, num_classes, spacing):
    """MONAI's four metrics per class (include_background=True): rows hd, hd95, assd, nsd@1, nsd@2."""
    p = torch.from_numpy(np.stack([pred == c for c in range(num_classes)])[None].astype(np.float32))
    t = torch.from_numpy(np.stack([target == c for c in range(num_classes)])[None].astype(np.float32))
    sp = list(spacing)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = [
            compute_hausdorff_distance(p, t, include_background=True, spacing=sp),
            compute_hausdorff_distance(p, t, include_background=True, percentile=95, spacing=sp),
            compute_average_surface_distance(p, t, include_background=True, symmetric=True, spacing=sp),
            *(
                compute_surface_dice(p, t, [tol] * num_classes, include_background=True, spacing=sp)
                for tol in TOLS
            ),
        ]
    return torch.cat(rows).numpy().astype(np.float64).T  # (C, 5)


def _present(pred, target, num_classes):
    return [c for c in range(num_classes) if (pred == c).any() and (target == c).any()]


# ----------------------------------------------------------------------------- boundaries


@pytest.mark.parametrize("shape", [(17, 23), (6, 11, 9)])
def test_boundary_is_monai_edges_with_the_border_as_outside(shape):
    rng = np.random.default_rng(0)
    for _ in range(5):
        mask = rng.random(shape) < 0.6  # touches the array border everywhere
        ours = boundary_mask(mask)
        np.testing.assert_array_equal(ours, mask ^ binary_erosion(mask))  # MONAI and MedPy: border_value=0
        edges, _ = get_mask_edges(mask, mask, crop=False, always_return_as_numpy=True)
        np.testing.assert_array_equal(ours, edges)
        edges_cropped, _ = get_mask_edges(mask, mask, crop=True, always_return_as_numpy=True)
        assert edges_cropped.sum() == ours.sum()  # MONAI's crop pads 1 voxel of background: same edges


# ----------------------------------------------------------------------------- against MONAI


@pytest.mark.parametrize("seed", range(4))
def test_matches_monai_2d_anisotropic(seed):
    rng = np.random.default_rng(seed)
    t = blob_labels(rng, 40, 52, 4, cell=6, noise=0.01)
    p = perturb(rng, t, 4)
    spacing = (0.7, 1.9)
    ours = case_surface_metrics(p, t, 4, spacing=spacing, nsd_tolerance=TOLS)["values"]
    ref = _monai(p, t, 4, spacing)
    for c in _present(p, t, 4):
        np.testing.assert_allclose(ours[c], ref[c], atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("seed", range(3))
def test_matches_monai_3d_anisotropic(seed):
    rng = np.random.default_rng(seed)
    t = _blobs3d(rng, (9, 20, 18), 3)
    p = np.where(rng.random(t.shape) < 0.05, rng.integers(0, 3, t.shape), np.roll(t, 1, axis=1))
    spacing = (2.5, 0.7, 0.8)
    ours = case_surface_metrics(p, t, 3, spacing=spacing, nsd_tolerance=TOLS)["values"]
    ref = _monai(p, t, 3, spacing)
    for c in _present(p, t, 3):
        np.testing.assert_allclose(ours[c], ref[c], atol=1e-4, rtol=1e-5)


def _ellipsoid(shape, centre, radii):
    grid = np.indices(shape, dtype=np.float64)
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii, strict=True)) <= 1


def test_matches_monai_on_far_apart_ellipsoids():
    """Distances beyond the nearby search (k-d tree path) and objects touching the border."""
    shape = (12, 40, 44)
    t = _ellipsoid(shape, (5, 12, 12), (4, 9, 10)).astype(np.uint8)
    t[:, 35:, 40:] = 1  # touches the border
    p = _ellipsoid(shape, (7, 30, 28), (5, 7, 12)).astype(np.uint8)
    spacing = (3.0, 0.5, 0.9)
    ours = case_surface_metrics(p, t, 2, spacing=spacing, nsd_tolerance=TOLS)["values"]
    np.testing.assert_allclose(ours, _monai(p, t, 2, spacing), atol=1e-4, rtol=1e-5)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    shape=st.tuples(st.integers(1, 6), st.integers(2, 12), st.integers(2, 12)),
    spacing=st.tuples(*[st.floats(0.3, 3.0)] * 3),
)
def test_matches_monai_on_random_volumes(seed, shape, spacing):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 3, shape)
    p = np.where(rng.random(shape) < 0.3, rng.integers(0, 3, shape), t)
    ours = case_surface_metrics(p, t, 3, spacing=spacing, nsd_tolerance=TOLS)["values"]
    ref = _monai(p, t, 3, spacing)
    for c in _present(p, t, 3):
        np.testing.assert_allclose(ours[c], ref[c], atol=1e-4, rtol=1e-5)


# ----------------------------------------------------------------------------- exact distances


@pytest.mark.parametrize("spacing", [(1.0, 1.0), (0.5, 2.0)])
def test_concentric_squares_are_known_exactly(spacing):
    sy, sx = spacing
    outer = np.zeros((20, 20), bool)
    outer[2:18, 2:18] = True
    inner = np.zeros((20, 20), bool)
    inner[5:15, 5:15] = True  # 3 voxels inside on every side
    d_out, d_in = surface_distances(outer, inner, spacing)
    corner = math.hypot(3 * sy, 3 * sx)
    assert d_out.max() == pytest.approx(corner)  # outer corner -> inner corner
    # an inner edge voxel at i in 5..14 is 3 voxels from its outer edge, i - 2 and 17 - i from the two others
    edge = [min(3 * a, min(i - 2, 17 - i) * b) for a, b in ((sy, sx), (sx, sy)) for i in range(5, 15)]
    assert d_in.max() == pytest.approx(max(edge))
    r = case_surface_metrics(outer.astype(int), inner.astype(int), 2, spacing=spacing, hd_percentile=100)
    assert r["values"][1][:2].tolist() == pytest.approx([corner, corner])


def test_concentric_cubes_are_known_exactly_and_match_deepmind_hd():
    import surface_distance as deepmind

    spacing = (2.0, 0.5, 0.75)
    outer = np.zeros((14, 14, 14), bool)
    outer[2:12, 2:12, 2:12] = True
    inner = np.zeros_like(outer)
    inner[4:10, 4:10, 4:10] = True  # 2 voxels inside on every side
    corner = math.sqrt(sum((2 * s) ** 2 for s in spacing))
    d_out, d_in = surface_distances(outer, inner, spacing)
    assert d_out.max() == pytest.approx(corner)
    assert d_in.min() == pytest.approx(2 * min(spacing))  # straight across along the finest axis
    dm = deepmind.compute_surface_distances(inner, outer, spacing)  # (gt, pred)
    assert deepmind.compute_robust_hausdorff(dm, 100) == pytest.approx(corner)  # surfels: same maximum here


# ----------------------------------------------------------------------------- MedPy (pooled)


@pytest.mark.parametrize("seed", range(3))
def test_pooled_mode_is_medpy(seed):
    rng = np.random.default_rng(seed)
    t = _blobs3d(rng, (7, 16, 15), 2, cell=4)
    p = np.roll(t, (1, 2), axis=(0, 2))
    p[rng.random(t.shape) < 0.03] = 1
    spacing = (1.5, 0.6, 0.9)
    r = case_surface_metrics(p, t, 2, spacing=spacing, hd_mode="pooled")["values"][1]
    assert r[0] == pytest.approx(medpy.hd(p == 1, t == 1, voxelspacing=spacing))
    assert r[1] == pytest.approx(medpy.hd95(p == 1, t == 1, voxelspacing=spacing))
    # MedPy 0.5's assd is the mean of both directions' distances pooled, as MONAI's and ours (MedPy 0.4
    # averaged the two directed means); its asd is one directed mean
    assert r[2] == pytest.approx(medpy.assd(p == 1, t == 1, voxelspacing=spacing))
    d_ab, _ = surface_distances(p == 1, t == 1, spacing)
    assert d_ab.mean() == pytest.approx(medpy.asd(p == 1, t == 1, voxelspacing=spacing))


def test_hd_modes_differ_as_defined():
    d_ab, d_ba = np.arange(100.0), np.zeros(10)
    from segwise.metrics.surface import scores_from_distances

    assert scores_from_distances(d_ab, d_ba, 95, "max")[1] == pytest.approx(np.percentile(d_ab, 95))
    assert scores_from_distances(d_ab, d_ba, 95, "pooled")[1] == pytest.approx(
        np.percentile(np.concatenate([d_ab, d_ba]), 95)
    )


# ----------------------------------------------------------------------------- empty masks, ignore


def test_empty_mask_policy():
    t = np.zeros((10, 12), int)
    t[2:5, 2:5] = 1
    p = np.zeros_like(t)  # class 1 missed; class 2 in neither; class 3 only predicted
    p[6:9, 6:9] = 3
    r = case_surface_metrics(p, t, 4)
    v, empty = r["values"], r["empty"]
    assert empty.tolist() == [0, 2, 3, 1]  # none, pred_empty, both_empty, gt_empty
    assert np.isnan(v[1, :3]).all() and v[1, 3] == 0.0
    assert np.isnan(v[2]).all()
    assert np.isnan(v[3, :3]).all() and v[3, 3] == 0.0
    spacing = (2.0, 0.5)
    r = case_surface_metrics(p, t, 4, spacing=spacing, empty_distance="max")
    diagonal = math.hypot(10 * 2.0, 12 * 0.5)
    assert r["values"][1, :3].tolist() == pytest.approx([diagonal] * 3)
    assert np.isnan(r["values"][2]).all()


def test_accumulator_counts_empty_cases_and_leaves_them_out_of_means():
    acc = SurfaceAccumulator(3, nsd_tolerance=(1.0,))
    t = np.zeros((10, 10), int)
    t[2:6, 2:6] = 1
    acc.update(t, t)
    p = np.zeros_like(t)
    acc.update(p, t)  # class 1 missed: distances NaN, nsd 0
    r = acc.result()
    assert r["surface"]["empty"] == {"gt_empty": [0, 0, 0], "pred_empty": [0, 1, 0], "both_empty": [0, 0, 2]}
    assert r["per_class"][1]["hd"] == 0.0 and r["per_class"][1]["nsd@1"] == 0.5
    assert r["surface"]["per_class"]["hd"]["cases"] == [2, 1, 0]
    assert r["per_class"][2]["hd"] is None


def test_ignored_voxels_are_in_neither_mask():
    t = np.zeros((12, 12), int)
    t[3:9, 3:9] = 1
    t[:, 10:] = 255
    p = t.copy()
    p[:, 10:] = 1  # predicted class 1 on ignored voxels: not read
    r = case_surface_metrics(p, t, 2, ignore_index=255)["values"]
    assert r[:, :3].tolist() == [[0.0] * 3] * 2


def test_2d_spacing_is_physical_x_y():
    rng = np.random.default_rng(5)
    t = blob_labels(rng, 30, 40, 3, cell=5, noise=0.0)
    p = perturb(rng, t, 3)
    acc = SurfaceAccumulator(3, spacing=(0.5, 2.0))  # x (width) 0.5, y (height) 2.0
    acc.update(p, t)
    direct = case_surface_metrics(p, t, 3, spacing=(2.0, 0.5))["values"]
    np.testing.assert_array_equal(acc.values()[0], direct)
    acc2 = SurfaceAccumulator(3, spacing=(0.5, 2.0))
    acc2.update(p, t, spacing=(1.0, 1.0))  # array-order spacing of the case wins
    np.testing.assert_array_equal(acc2.values()[0], case_surface_metrics(p, t, 3)["values"])


def test_volume_through_the_evaluation_with_spacing():
    from segwise.evaluate import Evaluation

    rng = np.random.default_rng(2)
    t = _blobs3d(rng, (6, 14, 12), 3)
    p = np.roll(t, 1, axis=2)
    ev = Evaluation(3, families=["surface"], options={"nsd_tolerance": (1.0, 2.0)})
    ev.add(p, t, spacing=(2.5, 0.7, 0.7))
    got = np.array(ev.result()["surface"]["per_case"][0], dtype=np.float64)
    want = case_surface_metrics(p, t, 3, spacing=(2.5, 0.7, 0.7), nsd_tolerance=TOLS)["values"]
    np.testing.assert_allclose(got, want)


# ----------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"hd_mode": "foo"}, "--hd-mode"),
        ({"nsd_tolerance": "-1"}, "--nsd-tolerance"),
        ({"nsd_tolerance": "1,1"}, "--nsd-tolerance"),
        ({"spacing": "1,x"}, "--spacing"),
        ({"spacing": (1.0, 0.0)}, "--spacing"),
        ({"empty_distance": "inf"}, "--empty-distance"),
        ({"hd_percentile": 101}, "hd_percentile"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, named):
    with pytest.raises(InputError, match=named):
        SurfaceAccumulator(2, **kwargs)


def test_bad_inputs():
    t = np.zeros((5, 5), int)
    with pytest.raises(InputError, match="shape mismatch"):
        case_surface_metrics(t, np.zeros((5, 6), int), 2)
    with pytest.raises(InputError, match="one non-empty image"):
        case_surface_metrics(np.zeros((2, 2, 2, 2), int), np.zeros((2, 2, 2, 2), int), 2)
    with pytest.raises(InputError, match="outside"):
        case_surface_metrics(t, t + 5, 2)
    with pytest.raises(InputError, match="axes"):
        case_surface_metrics(t, t, 2, spacing=(1.0, 1.0, 1.0))
    with pytest.raises(InputError, match="integer class ids"):
        case_surface_metrics(t.astype(float), t, 2)
