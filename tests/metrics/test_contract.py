"""The metric-state contract (segwise.metrics.state.MetricState), checked once for every stateful
metric: k updates equal one pass, merged shards equal one pass, state_dict and pickle round trips,
all_reduce (no-op alone, a real reduction over 2 gloo processes), empty state, settings checks."""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch

from segwise.errors import InputError
from segwise.metrics import ConfusionMatrix
from segwise.metrics.boundary import BoundaryAccumulator
from segwise.metrics.families import build_states, registered_families
from segwise.metrics.probs import ProbabilityAccumulator
from segwise.metrics.regions import RegionAccumulator
from segwise.metrics.state import MetricState
from segwise.metrics.stats import BootstrapCI
from segwise.metrics.surface import SurfaceAccumulator
from segwise.metrics.uncertainty import UncertaintyAccumulator
from tests.reference.masks import blob_labels, perturb

C = 3  # classes; the ground truth also holds 3 (void: outside [0, 3), or a class of a 4-class state)
NAMES = ["a", "b", "c", "d"]


class ProbsFromLabels(ProbabilityAccumulator):
    """The probabilities state, fed with the cases' label maps turned into deterministic softmax maps."""

    def update(self, pred: Any, target: Any) -> None:
        labels = np.asarray(pred).astype(np.int64)
        h, w = labels.shape[-2:]
        yy, xx = np.mgrid[0:h, 0:w]
        logits = np.stack(
            [2.0 * (labels == c) + 0.7 * np.sin(c + 0.7 * yy + 1.3 * xx) for c in range(self.num_classes)]
        )
        logits = np.moveaxis(logits, 0, -3)  # (..., C, H, W)
        e = np.exp(logits - logits.max(axis=-3, keepdims=True))
        super().update((e / e.sum(axis=-3, keepdims=True)).astype(np.float16), target)


@dataclass(frozen=True)
class Case:
    make: Callable[[], MetricState]
    other: Callable[[], MetricState]  # different settings: must not merge
    num_classes: int = C


class _UncertaintyFromLabels(UncertaintyAccumulator):
    """The uncertainty state fed by ``update(pred, target)``: maps made from the labels (higher where
    wrong), so the shared contract cases can drive it."""

    def update(self, pred: Any, target: Any, uncertainty: Any = None) -> None:
        p, t = np.asarray(pred), np.asarray(target)
        ent = 0.2 + 0.5 * (p != t) + 0.05 * (t % 3)
        super().update(p, t, uncertainty=np.stack([ent, ent / 2], axis=-3))


class _SurfaceOfImages(SurfaceAccumulator):
    """The surface state fed with the shared cases' batches ``(N, H, W)``: one case per image (a 3D
    array given to SurfaceAccumulator itself is one volume)."""

    def update(self, pred: Any, target: Any, *, spacing: Any = None) -> None:
        p, t = np.asarray(pred), np.asarray(target)
        for pi, ti in zip(p[None] if t.ndim == 2 else p, t[None] if t.ndim == 2 else t, strict=True):
            super().update(pi, ti, spacing=spacing)


CASES = {
    "confusion": Case(lambda: ConfusionMatrix(C, C), lambda: ConfusionMatrix(C + 1, C)),
    "confusion_per_image": Case(
        lambda: ConfusionMatrix(C + 1, C, per_image=True),  # in-range ignore index: class 3 not evaluated
        lambda: ConfusionMatrix(C + 1, None, per_image=True),
        num_classes=C + 1,
    ),
    "boundary": Case(lambda: BoundaryAccumulator(C, C), lambda: BoundaryAccumulator(C, C, theta=2.0)),
    "boundary_in_range": Case(
        lambda: BoundaryAccumulator(C + 1, C, theta=1.5, d=2, trimap_widths=(1, 3)),
        lambda: BoundaryAccumulator(C + 1, C, theta=1.5, d=3, trimap_widths=(1, 3)),
        num_classes=C + 1,
    ),
    "regions": Case(lambda: RegionAccumulator(C, C), lambda: RegionAccumulator(C, C, connectivity=4)),
    "ci": Case(lambda: BootstrapCI(num_resamples=50, seed=1), lambda: BootstrapCI(num_resamples=50, seed=2)),
    "probs": Case(lambda: ProbsFromLabels(C, C), lambda: ProbsFromLabels(C, C, calibration_bins=10)),
    "uncertainty": Case(lambda: _UncertaintyFromLabels(C, C), lambda: _UncertaintyFromLabels(C, C, bins=64)),
    "surface": Case(
        lambda: _SurfaceOfImages(C, C, nsd_tolerance=(1, 2), spacing=(0.5, 2.0)),
        lambda: _SurfaceOfImages(C, C, nsd_tolerance=(1, 2), spacing=(0.5, 2.0), hd_mode="pooled"),
    ),
}


def _images(seed: int = 7, n: int = 5) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    ts = [blob_labels(rng, 24, 30, C + 1, cell=4).astype(np.uint8) for _ in range(n)]
    ps = [perturb(rng, np.where(t == C, 0, t), C).astype(np.uint8) for t in ts]
    return ps, ts


PS, TS = _images()


def _pixel(case: Case, k: slice = slice(None)) -> ConfusionMatrix:
    """The evaluation's pixel state on the same images (what BootstrapCI reads)."""
    pixel = ConfusionMatrix(case.num_classes, C, per_image=True)
    for p, t in zip(PS[k], TS[k], strict=True):
        pixel.update(p, t)
    return pixel


def _one_pass(case: Case) -> MetricState:
    m = case.make()
    m.update(np.stack(PS), np.stack(TS))  # the concatenation of every image, one batch
    return m


def _plain(x: Any) -> Any:
    """A comparable form: arrays and sets as lists, NaN as a marker."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, set):
        return sorted(x)
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    if isinstance(x, float | np.floating) and math.isnan(x):
        return "nan"
    return x.item() if isinstance(x, np.generic) else x


def _assert_same(a: Any, b: Any, where: str = "") -> None:
    a, b = _plain(a), _plain(b)
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):  # sums in another order: equal to rounding
        assert a == pytest.approx(b, rel=1e-12, abs=1e-12), where
    else:
        assert a == b, where


def _result(m: MetricState, case: Case) -> dict[str, Any]:
    return m.result(_pixel(case), NAMES[: case.num_classes])


def _assert_equal_states(a: MetricState, b: MetricState, case: Case) -> None:
    _assert_same(a.state_dict(), b.state_dict(), "state_dict")
    _assert_same(_result(a, case), _result(b, case), "result")


@pytest.fixture(params=list(CASES), ids=list(CASES))
def case(request) -> Case:
    return CASES[request.param]


def test_every_family_state_follows_the_contract():
    states = build_states([n for n in registered_families() if n != "pixel"], C, C)
    assert list(states) == list(registered_families())
    for name, state in states.items():
        assert isinstance(state, MetricState), name
        for method in ("update", "merge", "state_dict", "load_state_dict", "all_reduce", "reset", "result"):
            assert callable(getattr(state, method)), (name, method)


def test_k_updates_equal_one_pass(case):
    one = _one_pass(case)
    per_image = case.make()
    for p, t in zip(PS, TS, strict=True):
        per_image.update(p, t)
    batches = case.make()
    batches.update(np.stack(PS[:2]), np.stack(TS[:2]))
    batches.update(torch.from_numpy(np.stack(PS[2:])), torch.from_numpy(np.stack(TS[2:])))  # tensors too
    _assert_equal_states(per_image, one, case)
    _assert_equal_states(batches, one, case)
    if isinstance(one, ConfusionMatrix) and one.per_image:
        assert one.num_images == per_image.num_images == 5
        for a, b in zip(one.image_matrices, per_image.image_matrices, strict=True):
            np.testing.assert_array_equal(a, b)


def test_merge_of_shards_equals_one_pass(case):
    one = _one_pass(case)
    shards = []
    for k in (slice(0, 2), slice(2, 3), slice(3, 5)):
        s = case.make()
        s.update(np.stack(PS[k]), np.stack(TS[k]))
        shards.append(s)
    before = [s.state_dict() for s in shards]
    merged = shards[0].merge(shards[1]).merge(pickle.loads(pickle.dumps(shards[2])))  # another process's
    assert merged is shards[0]
    _assert_equal_states(merged, one, case)
    for s, state in zip(shards[1:], before[1:], strict=True):
        _assert_same(s.state_dict(), state, "merge leaves the other state unchanged")
    with pytest.raises(InputError, match="cannot merge"):
        case.make().merge(case.other())
    with pytest.raises(InputError, match="cannot merge"):
        case.make().merge(object())  # type: ignore[arg-type]


def test_state_dict_and_pickle_round_trip(case):
    one = _one_pass(case)
    state = one.state_dict()
    restored = case.make()
    restored.load_state_dict(state)
    _assert_equal_states(restored, one, case)
    _assert_equal_states(pickle.loads(pickle.dumps(one)), one, case)
    _assert_equal_states(pickle.loads(pickle.dumps(restored)), one, case)
    one.update(PS[0], TS[0])  # the state dict is a copy
    again = case.make()
    again.load_state_dict(state)
    _assert_equal_states(again, restored, case)
    with pytest.raises(InputError):
        case.other().load_state_dict(state)


def test_confusion_matrix_per_image_setting():
    """Merging needs the same per_image; a state dict brings its own per_image along."""
    with pytest.raises(InputError, match="cannot merge"):
        ConfusionMatrix(C, C, per_image=True).merge(ConfusionMatrix(C, C))
    one = _one_pass(CASES["confusion_per_image"])
    plain = ConfusionMatrix(C + 1, C)
    plain.load_state_dict(one.state_dict())
    assert plain.per_image and plain.num_images == 5
    np.testing.assert_array_equal(plain.matrix, one.matrix)


def test_all_reduce_without_process_group_is_a_no_op(case):
    one = _one_pass(case)
    before = one.state_dict()
    one.all_reduce()
    _assert_same(one.state_dict(), before)


def test_empty_state(case):
    fresh = case.make()
    used = _one_pass(case)
    used.reset()
    _assert_same(used.state_dict(), fresh.state_dict(), "reset")
    one = _one_pass(case)
    _assert_equal_states(_one_pass(case).merge(fresh), one, case)  # merging an empty state changes nothing
    _assert_equal_states(case.make().merge(one), one, case)
    if isinstance(fresh, BootstrapCI):  # nothing to resample: a clear error, not NaN
        with pytest.raises(InputError, match="per-image confusion matrices"):
            fresh.result(ConfusionMatrix(case.num_classes, C, per_image=True))
        return
    result = fresh.result(None, NAMES[: case.num_classes])
    flat = _plain(result)
    assert flat  # defined: NaN (null) scores, zero counts
    if isinstance(fresh, ConfusionMatrix):
        assert result["num_pixels"] == 0 and result["miou"] is None and result["num_images"] == 0
    elif isinstance(fresh, BoundaryAccumulator):
        assert math.isnan(result["bf"]) and math.isnan(result["biou"])
    elif isinstance(fresh, ProbabilityAccumulator):
        assert result["probs_pixels"] == 0 and result["ece"] is None and result["roc_auc"] == [None] * C
    elif isinstance(fresh, SurfaceAccumulator):
        assert result["surface"]["num_cases"] == 0 and result["mean_hd95"] is None
    elif isinstance(fresh, UncertaintyAccumulator):
        assert result["uncertainty"]["pixels"] == 0 and result["uncertainty"]["aurc"] is None
    else:
        assert result["objects"]["tp"] == 0 and math.isnan(result["objects"]["f1"])


# ----------------------------------------------------------------------------- 2 processes (gloo)


def _ranked_states(rank: int, world_size: int, store: str, out: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world_size)
    try:
        k = slice(0, 3) if rank == 0 else slice(3, 5)  # shards of different sizes
        states = {}
        for name, case in CASES.items():
            m = case.make()
            m.update(np.stack(PS[k]), np.stack(TS[k]))
            m.all_reduce()
            states[name] = m.state_dict()
        with open(f"{out}.{rank}", "wb") as fh:
            pickle.dump(states, fh)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_all_reduce_over_two_gloo_processes_equals_one_pass(tmp_path):
    import torch.multiprocessing as mp

    out = tmp_path / "states"
    mp.spawn(_ranked_states, args=(2, str(tmp_path / "store"), str(out)), nprocs=2, join=True)
    for rank in (0, 1):
        with open(f"{out}.{rank}", "rb") as fh:
            states = pickle.load(fh)
        for name, case in CASES.items():
            reduced = case.make()
            reduced.load_state_dict(states[name])
            _assert_equal_states(reduced, _one_pass(case), case)
