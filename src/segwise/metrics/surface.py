"""Surface-distance metrics per case and class: Hausdorff distance, HD95, ASSD and normalised surface Dice.

Definitions (docs/metrics.md, "Surface distances", has them in full with a worked example). For
one case (a 2D image ``(H, W)`` or a volume ``(D, H, W)``) and one class c:

* **Masks.** ``A`` = voxels predicted c, ``B`` = voxels of ground truth c; voxels whose target is
  ``ignore_index`` are in neither.
* **Boundary.** ``∂A`` = voxels of A with a face neighbour (4 in 2D, 6 in 3D) outside A; the array
  border counts as outside. This is MONAI's ``get_mask_edges`` (``mask ^ binary_erosion(mask)``),
  the default of its ``compute_hausdorff_distance``, ``compute_average_surface_distance`` and
  ``compute_surface_dice``, and MedPy's.
* **Directed distances.** ``d(a, ∂B)`` for every ``a`` in ``∂A``: the exact Euclidean distance in
  physical units between voxel centres scaled by the spacing (array axis order); likewise from
  ``∂B`` to ``∂A``.
* ``hd`` = the largest directed distance of both directions.
* ``hd95`` (``hd_percentile`` 95): with ``hd_mode="max"`` (MONAI, DeepMind), the larger of the
  95th percentiles of the two directed distance sets; with ``"pooled"`` (MedPy), the 95th
  percentile of both sets together. Percentiles interpolate linearly (``np.percentile``, as
  ``torch.quantile`` in MONAI).
* ``assd`` = ``(Σ d(∂A→∂B) + Σ d(∂B→∂A)) / (|∂A| + |∂B|)``: the mean of all directed distances
  pooled, as MONAI's ``compute_average_surface_distance(symmetric=True)``.
* ``nsd@τ`` = ``(#{d(∂A→∂B) <= τ} + #{d(∂B→∂A) <= τ}) / (|∂A| + |∂B|)``, MONAI's
  ``compute_surface_dice`` (boundary voxels, not DeepMind's surfel areas).
* **Empty masks.** Both empty: every metric NaN. One empty: distances NaN (``empty_distance="nan"``)
  or the diagonal of the array in physical units (``"max"``); ``nsd`` 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np
from scipy.spatial import cKDTree

from segwise.errors import InputError, did_you_mean
from segwise.metrics import _surface_kernels as K
from segwise.metrics.functional import evaluated_classes
from segwise.metrics.state import MetricState

__all__ = [
    "EMPTY_CODES",
    "HD_MODES",
    "SurfaceAccumulator",
    "boundary_mask",
    "case_surface_metrics",
    "metric_names",
    "parse_spacing",
    "scores_from_distances",
    "surface_distances",
    "surface_metric_label",
]

HdMode = Literal["max", "pooled"]
EmptyDistance = Literal["nan", "max"]
HD_MODES: tuple[str, ...] = ("max", "pooled")
EMPTY_DISTANCES: tuple[str, ...] = ("nan", "max")
# per case and class: which masks are empty
EMPTY_CODES: tuple[str, ...] = ("none", "gt_empty", "pred_empty", "both_empty")
# how the surface metrics behave (written into the result's policy)
POLICY: dict[str, str] = {
    "surface_boundary": "boundary of a class mask = its voxels with a face neighbour (4 in 2D, 6 in 3D) outside "
    "the mask; the array border counts as outside (MONAI get_mask_edges, MedPy)",
    "surface_ignore": "voxels whose target is ignore_index belong to neither mask",
    "surface_distance": "exact Euclidean distance between voxel centres, scaled by the spacing (physical units)",
    "hd": "largest distance from a boundary voxel of one mask to the boundary of the other, both directions",
    "assd": "(sum of the distances from pred boundary to gt boundary + from gt boundary to pred boundary) / "
    "(number of pred + gt boundary voxels), as MONAI compute_average_surface_distance(symmetric=True)",
    "nsd": "(pred boundary voxels within tau of the gt boundary + gt boundary voxels within tau of the pred "
    "boundary) / (pred + gt boundary voxels), as MONAI compute_surface_dice",
    "percentile": "linear interpolation (np.percentile, as torch.quantile in MONAI)",
    "surface_empty": "both masks empty: every metric NaN (counted: empty.both_empty); one mask empty (counted: "
    "empty.gt_empty, empty.pred_empty): nsd 0, distances by empty_distance",
    "surface_aggregate": "per case, a metric's case score is the mean over the averaged classes (surface_background) "
    "where it is defined; the dataset value (mean_<metric>) is the mean of the case scores where defined, with their "
    "median and std; per class: mean, median and std over the cases where defined",
}
BACKGROUND_POLICY = {
    False: "class 0 (the background, whose boundary is mostly the array border) is left out of the means over "
    "classes (MONAI include_background=False, Metrics Reloaded); its per-class values are kept",
    True: "class 0 (the background) is included in the means over classes (include_background)",
}


# ----------------------------------------------------------------------------- validation


def _arg(name: str) -> str:
    """An argument by its Python and its command-line name: ``hd_mode`` (--hd-mode)."""
    return f"`{name}` (--{name.replace('_', '-')})"


def _check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise InputError(
            f"unknown {_arg(name)} {value!r}; {did_you_mean(str(value), choices)}valid: {', '.join(choices)}."
        )
    return str(value)


def _check_num_classes(num_classes: Any) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer) or num_classes < 1:
        raise InputError(f"Expected argument `num_classes` to be an integer >= 1, but got {num_classes!r}.")


def _check_percentile(p: Any) -> float:
    if isinstance(p, bool) or not isinstance(p, int | float | np.number) or not 0 <= p <= 100:
        raise InputError(f"Expected argument `hd_percentile` in [0, 100] (e.g. 95), but got {p!r}.")
    return float(p)


def _numbers(value: Any, name: str) -> tuple[float, ...]:
    """A tuple of floats from a number, a sequence or a comma-separated string ("1,2")."""
    items: Any = value.split(",") if isinstance(value, str) else value
    if isinstance(items, int | float | np.number):
        items = [items]
    try:
        out = tuple(float(v) for v in items)
    except (TypeError, ValueError):
        raise InputError(
            f"{_arg(name)} must be numbers separated by commas (e.g. 1,2), got {value!r}."
        ) from None
    if not out:
        raise InputError(f"{_arg(name)} is empty; give at least one number, e.g. 1.")
    return out


def check_tolerances(tolerance: Any) -> tuple[float, ...]:
    """NSD tolerances in physical units: finite, >= 0, distinct.

    >>> check_tolerances("1,2")
    (1.0, 2.0)
    """
    tols = _numbers(tolerance, "nsd_tolerance")
    if any(not (math.isfinite(t) and t >= 0) for t in tols) or len(set(tols)) != len(tols):
        raise InputError(
            f"{_arg('nsd_tolerance')} must be distinct finite distances >= 0 in physical units (e.g. 1,2), "
            f"got {tolerance!r}."
        )
    return tols


def parse_spacing(spacing: Any, name: str = "spacing") -> tuple[float, ...] | None:
    """Voxel spacing as given (``None`` stays ``None``): finite numbers > 0.

    >>> parse_spacing("0.7,0.7,2.5")
    (0.7, 0.7, 2.5)
    """
    if spacing is None:
        return None
    sp = _numbers(spacing, name)
    if any(not (math.isfinite(s) and s > 0) for s in sp):
        raise InputError(
            f"{_arg(name)} must be finite numbers > 0, one per axis (e.g. 0.8,0.8), got {spacing!r}."
        )
    return sp


def surface_metric_label(metric: str) -> str:
    """How a surface metric is shown: ``"hd95" -> "HD95"``, ``"nsd@1" -> "NSD@1"``."""
    return metric.upper() if not metric.startswith("nsd") else "NSD" + metric[3:]


def metric_names(hd_percentile: float = 95.0, nsd_tolerance: Sequence[float] = (1.0,)) -> list[str]:
    """The metric columns of a case, in order.

    >>> metric_names(95, (1, 2))
    ['hd', 'hd95', 'assd', 'nsd@1', 'nsd@2']
    """
    return ["hd", f"hd{hd_percentile:g}", "assd", *(f"nsd@{t:g}" for t in nsd_tolerance)]


# ----------------------------------------------------------------------------- functional core


def _as_labels(x: Any, name: str) -> np.ndarray:
    if type(x).__module__.startswith("torch"):
        x = x.detach().cpu().numpy()  # host copy: these metrics run on the CPU
    x = np.asarray(x)
    if x.dtype == np.bool_:
        x = x.view(np.uint8)
    if not np.issubdtype(x.dtype, np.integer):
        raise InputError(f"`{name}` must hold integer class ids (or a bool mask), got {x.dtype} {x.shape}.")
    return x


def _array_spacing(spacing: Any, ndim: int) -> np.ndarray:
    sp = parse_spacing(spacing)
    if sp is None:
        return np.ones(ndim)
    if len(sp) == 1:
        sp = sp * ndim
    if len(sp) != ndim:
        raise InputError(
            f"`spacing` has {len(sp)} values but the array has {ndim} axes; give one per axis in array order."
        )
    return np.array(sp, dtype=np.float64)


_Boundaries = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # labels, flags, offsets, points


def _boundaries(
    pred: Any, target: Any, num_classes: int, ignore_index: int | None
) -> tuple[_Boundaries, _Boundaries]:
    """Validated pair -> (prepared labels, boundary flags, per-class boundary points) of the
    prediction and of the target, as volumes ``(D, H, W)`` (depth 1 for an image)."""
    p, t = _as_labels(pred, "pred"), _as_labels(target, "target")
    if p.shape != t.shape:
        raise InputError(f"shape mismatch: `pred` {p.shape} and `target` {t.shape} must have the same shape.")
    if t.ndim not in (2, 3) or t.size == 0:
        raise InputError(
            f"`target` must be one non-empty image (H, W) or volume (D, H, W), got shape {t.shape}; "
            "add a batch one case at a time."
        )
    has_ignore = ignore_index is not None
    g, q, bad_t, bad_p = K.prepare(
        np.ascontiguousarray(p).ravel(),
        np.ascontiguousarray(t).ravel(),
        int(num_classes),
        np.int64(ignore_index if has_ignore else 0),
        has_ignore,
    )
    if bad_t:
        raise InputError(
            f"`target` holds {bad_t} voxels with values outside [0, {num_classes}) and not the ignore_index "
            f"({ignore_index}). Pass the right num_classes, or set ignore_index to the void label."
        )
    if bad_p:
        raise InputError(
            f"`pred` holds {bad_p} voxels (on non-ignored targets) with class ids outside [0, {num_classes})."
        )
    shape3 = t.shape if t.ndim == 3 else (1, *t.shape)
    out = []
    for lab in (q.reshape(shape3), g.reshape(shape3)):
        flags = K.boundary_flags(lab, t.ndim == 3)
        out.append((lab, flags, *K.collect(lab, flags, int(num_classes))))
    return out[0], out[1]


_STEPS: dict[tuple[float, ...], tuple[np.ndarray, np.ndarray]] = {}


def _steps(scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Voxel steps within 2 x the largest voxel side, sorted by physical length (cached per spacing)."""
    key = tuple(scale)
    if key not in _STEPS:
        radius = 2.0 * scale.max()
        reach = [0 if s == 0 else int(radius // s) for s in scale]
        grid = np.stack(np.meshgrid(*(np.arange(-r, r + 1) for r in reach), indexing="ij"), -1).reshape(-1, 3)
        length = np.sqrt(((grid * scale) ** 2).sum(1))
        keep = length <= radius
        order = np.argsort(length[keep], kind="stable")
        if len(_STEPS) > 32:
            _STEPS.clear()
        _STEPS[key] = (np.ascontiguousarray(grid[keep][order].astype(np.int32)), length[keep][order])
    return _STEPS[key]


def _directed(points: np.ndarray, other: _Boundaries, c: int, scale: np.ndarray) -> np.ndarray:
    """Distance from each point to the nearest boundary voxel of class c of the other map: a search
    of the nearby voxels (exact for distances up to its radius), a k-d tree for the rest."""
    lab, flags, offsets, all_points = other
    steps, lengths = _steps(scale)
    d = K.nearest_nearby(points, lab, flags, c, steps, lengths)
    far = d < 0
    if far.any():
        targets = all_points[offsets[c] : offsets[c + 1]] * scale
        tree = cKDTree(targets, leafsize=32, balanced_tree=False, compact_nodes=False)
        d[far] = tree.query(points[far] * scale, k=1)[0]
    return d


def _class_distances(
    pred: Any, target: Any, num_classes: int, ignore_index: int | None, spacing: Any
) -> Iterator[tuple[int, np.ndarray | None, np.ndarray | None]]:
    """Per class c: ``(c, d(∂A→∂B), d(∂B→∂A))``; ``None`` for the side whose mask is empty (the other
    side's distances are then ``inf``)."""
    pb, gb = _boundaries(pred, target, num_classes, ignore_index)
    ndim = np.ndim(target)
    scale = _array_spacing(spacing, ndim)
    if ndim == 2:  # points are (0, y, x)
        scale = np.array([0.0, *scale])
    for c in range(num_classes):
        a = pb[3][pb[2][c] : pb[2][c + 1]]
        b = gb[3][gb[2][c] : gb[2][c + 1]]
        if not len(a) or not len(b):
            yield (
                c,
                (np.full(len(a), np.inf) if len(a) else None),
                (np.full(len(b), np.inf) if len(b) else None),
            )
            continue
        yield c, _directed(a, gb, c, scale), _directed(b, pb, c, scale)


def boundary_mask(mask: Any) -> np.ndarray:
    """Boundary voxels of a binary mask: voxels of the mask with a face neighbour outside it (the
    array border counts as outside), as MONAI's ``get_mask_edges`` and MedPy.

    Shape:
        - mask: ``(H, W)`` or ``(D, H, W)``
        - output: same shape, bool

    Example:
        >>> m = np.zeros((5, 5), bool); m[1:4, 1:4] = True
        >>> boundary_mask(m).astype(int)[1:4, 1:4]
        array([[1, 1, 1],
               [1, 0, 1],
               [1, 1, 1]])
    """
    m = _as_labels(mask, "mask") != 0
    shape3 = m.shape if m.ndim == 3 else (1, *m.shape)
    lab = np.where(m, 1, -1).astype(np.int32).reshape(shape3)
    return K.boundary_flags(lab, m.ndim == 3).reshape(m.shape).astype(bool)


def surface_distances(pred_mask: Any, target_mask: Any, spacing: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Directed surface distances of two binary masks: from each boundary voxel of the prediction to
    the ground-truth boundary, and back (``inf`` when the other mask is empty).

    Args:
        pred_mask, target_mask: binary masks of the same shape ``(H, W)`` or ``(D, H, W)``.
        spacing: voxel size per axis in array order (a number for isotropic voxels); default 1.

    Returns:
        ``(d_pred_to_gt, d_gt_to_pred)``: float64 arrays with one distance per boundary voxel, in
        raster order of the voxels.

    Example:
        >>> a = np.zeros((7, 7), bool); a[1:6, 1:6] = True
        >>> b = np.zeros((7, 7), bool); b[2:5, 2:5] = True
        >>> d_ab, d_ba = surface_distances(a, b, spacing=(1.0, 2.0))
        >>> float(d_ab.max()), float(d_ba.max())   # corner (1,1) -> (2,2): sqrt(1 + 4)
        (2.23606797749979, 2.0)
    """
    p = (_as_labels(pred_mask, "pred_mask") != 0).view(np.uint8)
    t = (_as_labels(target_mask, "target_mask") != 0).view(np.uint8)
    empty = np.zeros(0)
    for c, d_ab, d_ba in _class_distances(p, t, 2, None, spacing):
        if c == 1:
            return (empty if d_ab is None else d_ab), (empty if d_ba is None else d_ba)
    raise AssertionError("unreachable")  # pragma: no cover


def scores_from_distances(
    d_ab: np.ndarray,
    d_ba: np.ndarray,
    hd_percentile: float = 95.0,
    hd_mode: HdMode = "max",
    nsd_tolerance: Sequence[float] = (1.0,),
) -> np.ndarray:
    """``hd``, the percentile HD, ``assd`` and ``nsd`` at each tolerance from two non-empty directed
    distance sets (see the module docstring).

    Shape:
        - output: ``(3 + T,)`` float64, in the order of :func:`metric_names`

    Example:
        >>> scores_from_distances(np.array([0.0, 1.0, 3.0]), np.array([0.0, 2.0]), 100, "max", (1.0,)).tolist()
        [3.0, 3.0, 1.2, 0.6]
    """
    both = np.concatenate([d_ab, d_ba])
    if hd_mode == "pooled":
        hdp = np.percentile(both, hd_percentile)
    else:
        hdp = max(np.percentile(d_ab, hd_percentile), np.percentile(d_ba, hd_percentile))
    nsd = [np.count_nonzero(both <= t) / both.size for t in nsd_tolerance]
    return np.array([both.max(), hdp, both.mean(), *nsd], dtype=np.float64)


def case_surface_metrics(
    pred: Any,
    target: Any,
    num_classes: int,
    ignore_index: int | None = None,
    spacing: Any = None,
    *,
    hd_percentile: float = 95.0,
    hd_mode: HdMode = "max",
    nsd_tolerance: Sequence[float] = (1.0,),
    empty_distance: EmptyDistance = "nan",
) -> dict[str, Any]:
    """Every surface metric of one case, per class, from one pass over its boundaries.

    Args:
        pred: predicted class ids ``(H, W)`` or ``(D, H, W)``.
        target: ground-truth class ids, same shape.
        num_classes: number of classes C (every class is computed).
        ignore_index: target value whose voxels belong to no class, in both maps.
        spacing: voxel size per axis in array order (``(sz, sy, sx)`` for a volume); default 1.
        hd_percentile: percentile of the robust Hausdorff distance (95).
        hd_mode: ``"max"`` (larger of the two directed percentiles) or ``"pooled"`` (MedPy).
        nsd_tolerance: NSD tolerances in the units of the spacing.
        empty_distance: ``"nan"`` or ``"max"`` (the array diagonal) for distances when one mask is empty.

    Returns:
        dict with ``names`` (:func:`metric_names`), ``values`` ``(C, 3 + T)`` float64 and ``empty``
        ``(C,)`` int8 (an index into :data:`EMPTY_CODES`).

    Example:
        >>> t = np.zeros((9, 9), int); t[2:7, 2:7] = 1
        >>> p = np.zeros((9, 9), int); p[3:6, 3:6] = 1
        >>> r = case_surface_metrics(p, t, 2, nsd_tolerance=(1,))
        >>> r["names"], r["values"][1].round(4).tolist()  # 4 corners at sqrt(2), 20 boundary voxels at 1
        (['hd', 'hd95', 'assd', 'nsd@1'], [1.4142, 1.4142, 1.069, 0.8333])
    """
    _check_num_classes(num_classes)
    hd_percentile = _check_percentile(hd_percentile)
    hd_mode = _check_choice(hd_mode, "hd_mode", HD_MODES)  # type: ignore[assignment]
    empty_distance = _check_choice(empty_distance, "empty_distance", EMPTY_DISTANCES)  # type: ignore[assignment]
    tols = check_tolerances(nsd_tolerance)
    names = metric_names(hd_percentile, tols)
    values = np.full((num_classes, len(names)), np.nan)
    empty = np.zeros(num_classes, dtype=np.int8)
    shape = np.shape(target)
    for c, d_ab, d_ba in _class_distances(pred, target, num_classes, ignore_index, spacing):
        if d_ab is not None and d_ba is not None:
            values[c] = scores_from_distances(d_ab, d_ba, hd_percentile, hd_mode, tols)  # type: ignore[arg-type]
            continue
        empty[c] = 3 if d_ab is None and d_ba is None else (1 if d_ba is None else 2)
        if empty[c] != 3:
            values[c, 3:] = 0.0
            if empty_distance == "max":
                values[c, :3] = float(
                    np.sqrt(np.sum((np.array(shape) * _array_spacing(spacing, len(shape))) ** 2))
                )
    return {"names": names, "values": values, "empty": empty}


# ----------------------------------------------------------------------------- the stateful metric


def _summary(values: np.ndarray) -> dict[str, Any]:
    """Mean, median and std (ddof 0) over the defined (non-NaN) values, and how many there are."""
    ok = values[~np.isnan(values)]
    if not ok.size:
        return {"mean": None, "median": None, "std": None, "cases": 0}
    return {
        "mean": float(ok.mean()),
        "median": float(np.median(ok)),
        "std": float(ok.std()),
        "cases": int(ok.size),
    }


def _none(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


class SurfaceAccumulator(MetricState):
    """Surface distances (HD, HD95, ASSD, NSD) per case and class over a dataset.

    Each :meth:`update` adds one case (an image ``(H, W)`` or a volume ``(D, H, W)``) and keeps its
    ``(C, 3 + T)`` metric values and which masks were empty: O(C) numbers per case. Follows the
    metric-state contract (:class:`~segwise.metrics.state.MetricState`).

    Args:
        num_classes: number of classes C.
        ignore_index: target value whose voxels belong to no class (in both maps).
        hd_mode: ``"max"`` (larger of the two directed percentiles; MONAI, DeepMind) or ``"pooled"``
            (percentile of both directions together; MedPy).
        hd_percentile: percentile of the robust Hausdorff distance (95 gives ``hd95``).
        nsd_tolerance: NSD tolerances in physical units (one ``nsd@τ`` per value).
        empty_distance: distances when exactly one mask is empty: ``"nan"`` (counted, left out of
            the means) or ``"max"`` (the array diagonal in physical units).
        spacing: default voxel size in **physical order** ``(x, y[, z])``, as ``--spacing`` takes it;
            reversed to array order. ``update(..., spacing=)`` (array order) overrides it; default 1.
        include_background: whether class 0 counts in the means over classes (``mean_<metric>``, the
            case scores). Default ``False``: the background's boundary is mostly the array border and
            its distances say little about the structures (MONAI ``include_background=False``). Its
            per-class values are reported either way; with one class it is always included.

    Example:
        >>> acc = SurfaceAccumulator(2, nsd_tolerance=(1.0,))
        >>> t = np.zeros((9, 9), int); t[2:7, 2:7] = 1
        >>> acc.update(t, t)
        >>> r = acc.result()
        >>> r["mean_hd95"], r["per_class"][1]["nsd@1"], r["policy"]["surface_background"][:31]
        (0.0, 1.0, 'class 0 (the background, whose ')
    """

    def __init__(
        self,
        num_classes: int,
        ignore_index: int | None = None,
        hd_mode: HdMode = "max",
        hd_percentile: float = 95.0,
        nsd_tolerance: Sequence[float] | str = (1.0,),
        empty_distance: EmptyDistance = "nan",
        spacing: Sequence[float] | str | None = None,
        include_background: bool = False,
    ) -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer) or num_classes < 1:
            raise InputError(
                f"Expected argument `num_classes` to be an integer >= 1, but got {num_classes!r}."
            )
        super().__init__()
        self.num_classes = int(num_classes)
        self.ignore_index = None if ignore_index is None else int(ignore_index)
        self.hd_mode = _check_choice(hd_mode, "hd_mode", HD_MODES)
        self.hd_percentile = _check_percentile(hd_percentile)
        self.nsd_tolerance = check_tolerances(nsd_tolerance)
        self.empty_distance = _check_choice(empty_distance, "empty_distance", EMPTY_DISTANCES)
        self.spacing = parse_spacing(spacing)
        self.names = metric_names(self.hd_percentile, self.nsd_tolerance)
        if not isinstance(include_background, bool | np.bool_):
            raise InputError(f"`include_background` must be True or False; got {include_background!r}.")
        self.include_background = bool(include_background)
        self._evaluated = evaluated_classes(self.num_classes, self.ignore_index)
        self._averaged = self._evaluated.copy()  # the classes of the means over classes
        if not self.include_background and self.num_classes > 1:
            self._averaged[0] = False
        self.case_values: list[np.ndarray]
        self.case_empty: list[np.ndarray]
        self.spacings_used: set[tuple[float, ...]]
        self.add_state("case_values", [], "cat")  # (C, 3 + T) per case
        self.add_state("case_empty", [], "cat")  # (C,) int8 per case: index into EMPTY_CODES
        self.add_state("spacings_used", set(), "union")  # in array order

    def settings(self) -> dict[str, Any]:
        return {
            "num_classes": self.num_classes,
            "ignore_index": self.ignore_index,
            "hd_mode": self.hd_mode,
            "hd_percentile": self.hd_percentile,
            "nsd_tolerance": self.nsd_tolerance,
            "empty_distance": self.empty_distance,
            "spacing": self.spacing,
            "include_background": self.include_background,
        }

    def update(self, pred: Any, target: Any, *, spacing: Sequence[float] | None = None) -> None:
        """Add one case: class ids ``(H, W)`` or ``(D, H, W)``; ``spacing`` in array axis order
        (default: the accumulator's ``spacing`` reversed, else 1)."""
        ndim = np.ndim(target)
        if spacing is None and self.spacing is not None:
            if len(self.spacing) not in (1, ndim):
                raise InputError(
                    f"`spacing` {self.spacing} (x, y[, z]) has {len(self.spacing)} values but the case has "
                    f"{ndim} axes {np.shape(target)}; give one value per axis."
                )
            spacing = self.spacing[::-1]
        sp = tuple(float(s) for s in _array_spacing(spacing, ndim))
        r = case_surface_metrics(
            pred,
            target,
            self.num_classes,
            self.ignore_index,
            sp,
            hd_percentile=self.hd_percentile,
            hd_mode=self.hd_mode,
            nsd_tolerance=self.nsd_tolerance,
            empty_distance=self.empty_distance,  # type: ignore[arg-type]
        )
        self.case_values.append(r["values"])
        self.case_empty.append(r["empty"])
        self.spacings_used.add(sp)

    @property
    def num_cases(self) -> int:
        return len(self.case_values)

    def values(self) -> np.ndarray:
        """``(N, C, 3 + T)`` float64: every metric of every case and class (NaN where undefined)."""
        if not self.case_values:
            return np.zeros((0, self.num_classes, len(self.names)))
        return np.stack(self.case_values)

    def case_scores(self) -> dict[str, np.ndarray]:
        """Per metric ``mean_<name>``: ``(N,)`` case scores, the mean over the averaged classes (the
        evaluated ones, without the background unless ``include_background``) where the metric is
        defined (NaN when none is); what the bootstrap and compare-preds resample."""
        v = self.values()[:, self._averaged, :]
        out = {}
        for j, name in enumerate(self.names):
            col = v[:, :, j]
            ok = ~np.isnan(col)
            n = ok.sum(axis=1)
            mean = np.full(len(col), np.nan)
            np.divide(np.where(ok, col, 0.0).sum(axis=1), n, out=mean, where=n > 0)
            out[f"mean_{name}"] = mean
        return out

    def policy(self) -> dict[str, Any]:
        pol: dict[str, Any] = dict(POLICY)
        pol.update(
            hd_mode=self.hd_mode,
            hd_percentile=self.hd_percentile,
            nsd_tolerance=list(self.nsd_tolerance),
            empty_distance=self.empty_distance
            if self.empty_distance == "nan"
            else "max: the array diagonal sqrt(sum((shape_i * spacing_i)^2)) in physical units",
            surface_spacing=[list(s) for s in sorted(self.spacings_used)],
            surface_background=BACKGROUND_POLICY[self.include_background or self.num_classes == 1],
        )
        pol["surface_units"] = (
            "pixels/voxels (no spacing given)"
            if all(set(s) == {1.0} for s in self.spacings_used)
            else "physical units of the spacing"
        )
        return pol

    def result(self, state: Any = None, class_names: Sequence[str] | None = None) -> dict[str, Any]:
        """The keys merged into the evaluation result: ``mean_<metric>`` (e.g. ``mean_hd95``),
        ``surface`` (per metric mean, median, std over cases; per-class summaries; empty-mask
        counts; per-case values) and ``per_class`` rows. ``state`` and ``class_names`` are not needed."""
        values = self.values()
        empty = np.stack(self.case_empty) if self.case_empty else np.zeros((0, self.num_classes), np.int8)
        scores = self.case_scores()
        per_class: list[dict[str, Any]] = [{} for _ in range(self.num_classes)]
        class_summary: dict[str, Any] = {}
        for j, name in enumerate(self.names):
            sums = [_summary(values[:, k, j]) for k in range(self.num_classes)]
            for k, s in enumerate(sums):
                per_class[k][name] = s["mean"] if self._evaluated[k] else None
            class_summary[name] = {key: [s[key] for s in sums] for key in ("mean", "median", "std", "cases")}
        counts = {code: (empty == i).sum(axis=0).astype(int).tolist() for i, code in enumerate(EMPTY_CODES)}
        counts.pop("none")
        out: dict[str, Any] = {f"mean_{n}": _summary(scores[f"mean_{n}"])["mean"] for n in self.names}
        out["surface"] = {
            "metrics": list(self.names),
            "num_cases": self.num_cases,
            "scores": {n: _summary(scores[f"mean_{n}"]) for n in self.names},
            "case_scores": {n: [_none(x) for x in scores[f"mean_{n}"]] for n in self.names},
            "per_class": class_summary,
            "empty": counts,
            "per_case": [[[_none(x) for x in row] for row in case] for case in values],
            "per_case_empty": [[EMPTY_CODES[e] for e in case] for case in empty],
        }
        out["per_class"] = per_class
        out["policy"] = self.policy()
        return out

    def __repr__(self) -> str:
        return (
            f"SurfaceAccumulator(num_classes={self.num_classes}, ignore_index={self.ignore_index}, "
            f"cases={self.num_cases})"
        )
