"""Statistics over images: bootstrap confidence intervals and paired tests between prediction sets.

Everything here works on stored per-image numbers, never on images: the per-image confusion
matrices kept by ``ConfusionMatrix(per_image=True)`` and, for BF and Boundary IoU, the per-image
scores and counts kept by :class:`~segwise.metrics.boundary.BoundaryAccumulator`.

A resample is a weight vector over the N images (how often each image was drawn). The pixel
scores of a resample need only three ``(N, C)`` marginals of the per-image matrices (diagonal,
row sums, column sums), so B resamples cost one ``(B, N) @ (N, C)`` product per marginal and the
scores follow :func:`~segwise.metrics.functional.scores_from_confusion` exactly (same NaN policy).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from segwise.errors import InputError
from segwise.metrics.functional import evaluated_classes
from segwise.metrics.scalar import MatrixScore, parse_metric
from segwise.metrics.state import MetricState

__all__ = [
    "BootstrapCI",
    "Marginals",
    "bootstrap_ci",
    "bootstrap_weights",
    "holm",
    "paired_bootstrap",
    "paired_bootstrap_cases",
    "permutation_test",
    "permutation_test_cases",
    "resampled_scores",
]

_CHUNK = 512  # resamples per matrix product: memory stays O(chunk x C)
_PIXEL_KEYS = ("miou", "pixel_accuracy", "mean_accuracy")


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InputError(f"Expected argument `{name}` to be an integer >= {minimum}, but got {value!r}.")
    return int(value)


def _check_level(level: float) -> float:
    if isinstance(level, bool) or not isinstance(level, int | float | np.number) or not 0 < level < 1:
        raise InputError(f"Expected argument `level` in (0, 1) (e.g. 0.95), but got {level!r}.")
    return float(level)


def _stack_matrices(matrices: Any, name: str = "image_matrices") -> np.ndarray:
    if isinstance(matrices, list | tuple) and len(matrices) == 0:
        raise InputError(f"`{name}` is empty: bootstrap needs at least one image.")
    m = np.asarray(matrices)
    if m.ndim != 3 or m.shape[1] != m.shape[2] or m.shape[0] == 0:
        raise InputError(
            f"`{name}` must be per-image confusion matrices (N, C, C) with N >= 1, got {m.shape}."
        )
    if not np.issubdtype(m.dtype, np.integer):
        raise InputError(f"`{name}` must hold integer counts, got {m.dtype}.")
    return m.astype(np.int64, copy=False)


@dataclass(frozen=True)
class Marginals:
    """Per-image marginals of confusion matrices: true positives, ground-truth and predicted pixels.

    Shape:
        - tp, gt, pred: ``(N, C)`` float64 (exact integers)
    """

    tp: np.ndarray
    gt: np.ndarray
    pred: np.ndarray

    @classmethod
    def from_matrices(cls, matrices: Any) -> Marginals:
        m = _stack_matrices(matrices)
        return cls(
            tp=np.diagonal(m, axis1=1, axis2=2).astype(np.float64),
            gt=m.sum(axis=2).astype(np.float64),
            pred=m.sum(axis=1).astype(np.float64),
        )

    @property
    def num_images(self) -> int:
        return self.tp.shape[0]

    def weighted(self, weights: np.ndarray) -> Marginals:
        """Sums under image weights ``(B, N)``: marginals of B resampled datasets ``(B, C)``."""
        return Marginals(weights @ self.tp, weights @ self.gt, weights @ self.pred)


def _rowwise_nanmean(x: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(x)
    n = ok.sum(axis=1)
    s = np.where(ok, x, 0.0).sum(axis=1)
    out = np.full(x.shape[0], np.nan)
    np.divide(s, n, out=out, where=n > 0)
    return out


def resampled_scores(m: Marginals, ignore_index: int | None = None) -> dict[str, np.ndarray]:
    """Dataset-level scores of summed marginals ``(B, C)``, with the NaN policy of
    :func:`~segwise.metrics.functional.scores_from_confusion`.

    Returns:
        ``miou``, ``pixel_accuracy``, ``mean_accuracy``, ``mean_dice``, ``fwiou`` ``(B,)`` and the
        per-class ``iou``, ``dice``, ``precision``, ``recall`` ``(B, C)``.

    Example:
        >>> import numpy as np
        >>> cm = np.array([[[3, 1, 0], [0, 4, 0], [0, 0, 0]]])
        >>> s = resampled_scores(Marginals.from_matrices(cm))
        >>> round(float(s["miou"][0]), 4), s["precision"][0].round(4).tolist()
        (0.775, [1.0, 0.8, nan])
    """
    tp, gt, pr = m.tp, m.gt, m.pred
    ev = evaluated_classes(tp.shape[1], ignore_index)
    scored = ev & ~((gt == 0) & (pr == 0))
    union = gt + pr - tp
    iou = np.full(tp.shape, np.nan)
    np.divide(tp, union, out=iou, where=scored & (union > 0))
    dice = np.full(tp.shape, np.nan)
    np.divide(2 * tp, gt + pr, out=dice, where=scored & (gt + pr > 0))
    recall = np.full(tp.shape, np.nan)
    np.divide(tp, gt, out=recall, where=scored & (gt > 0))
    precision = np.full(tp.shape, np.nan)
    np.divide(tp, pr, out=precision, where=scored & (pr > 0))
    total = gt.sum(axis=1)
    pixel_accuracy = np.full(tp.shape[0], np.nan)
    np.divide(tp[:, ev].sum(axis=1), total, out=pixel_accuracy, where=total > 0)
    fwiou = np.full(tp.shape[0], np.nan)
    np.divide((gt * np.where(np.isnan(iou), 0.0, iou)).sum(axis=1), total, out=fwiou, where=total > 0)
    return {
        "miou": _rowwise_nanmean(iou),
        "pixel_accuracy": pixel_accuracy,
        "mean_accuracy": _rowwise_nanmean(recall),
        "mean_dice": _rowwise_nanmean(dice),
        "fwiou": fwiou,
        "iou": iou,
        "dice": dice,
        "precision": precision,
        "recall": recall,
    }


def bootstrap_weights(num_images: int, num_resamples: int, seed: int | np.random.SeedSequence) -> np.ndarray:
    """Resampling weights ``(B, N)``: how often each image is drawn in each of B resamples of N
    images drawn with replacement. Deterministic for a given seed.

    Example:
        >>> w = bootstrap_weights(5, 3, seed=0)
        >>> w.shape, w.sum(axis=1).tolist()
        ((3, 5), [5.0, 5.0, 5.0])
    """
    n = _check_int(num_images, "num_images", 1)
    b = _check_int(num_resamples, "num_resamples", 1)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(b, n))
    flat = (idx + (np.arange(b)[:, None] * n)).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)


def _interval(samples: np.ndarray, level: float) -> tuple[float, float]:
    s = samples[~np.isnan(samples)]
    if s.size == 0:
        return float("nan"), float("nan")
    alpha = 1.0 - level
    lo, hi = np.quantile(s, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def _interval_columns(samples: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    lows, highs = zip(*(_interval(samples[:, k], level) for k in range(samples.shape[1])), strict=True)
    return np.array(lows), np.array(highs)


def _biou_from_counts(inter: np.ndarray, union: np.ndarray, evaluated: np.ndarray) -> np.ndarray:
    per_class = np.full(inter.shape, np.nan)
    np.divide(inter, union, out=per_class, where=(union > 0) & evaluated)
    return _rowwise_nanmean(per_class)


def bootstrap_ci(
    image_matrices: Any,
    ignore_index: int | None = None,
    image_bf: Sequence[float] | np.ndarray | None = None,
    image_biou: np.ndarray | None = None,
    num_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    case_scores: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Percentile bootstrap confidence intervals, resampling images with replacement.

    Args:
        image_matrices: per-image confusion matrices ``(N, C, C)``.
        ignore_index: as for the pixel metrics (an in-range id is not evaluated).
        image_bf: per-image BF scores ``(N,)`` (NaN for images without a counted class); the
            resampled BF is the mean over the drawn images with a score.
        image_biou: per-image Boundary IoU counts ``(N, 2, C)`` (intersection, union); the
            resampled biou sums the drawn images' counts.
        num_resamples: number of bootstrap resamples B.
        seed: seed of the resampling.
        level: coverage of the intervals.
        case_scores: further per-image (per-case) scores ``{name: (N,)}`` with NaN where undefined,
            e.g. the surface family's ``mean_hd95``; each is resampled like ``image_bf`` (mean over
            the drawn cases where defined).

    Returns:
        dict with one entry per metric, ``{"estimate", "low", "high", "std"}`` (the estimate is the
        value on the full data), and ``level``, ``num_resamples``, ``seed``, ``num_images``.

    Shape:
        - image_matrices: ``(N, C, C)``; image_bf: ``(N,)``; image_biou: ``(N, 2, C)``

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(1)
        >>> mats = rng.integers(0, 50, size=(40, 3, 3))
        >>> ci = bootstrap_ci(mats, num_resamples=200, seed=0)
        >>> ci["miou"]["low"] < ci["miou"]["estimate"] < ci["miou"]["high"]
        True
    """
    marg = Marginals.from_matrices(image_matrices)
    b = _check_int(num_resamples, "num_resamples", 1)
    seed = _check_int(seed, "seed", 0)
    level = _check_level(level)
    n, c = marg.tp.shape
    ev = evaluated_classes(c, ignore_index)
    per_image: dict[str, np.ndarray] = {}
    for name, values in {**({"bf": image_bf} if image_bf is not None else {}), **(case_scores or {})}.items():
        per_image[name] = np.asarray(values, dtype=np.float64)
        if per_image[name].shape != (n,):
            raise InputError(
                f"`{name}` must have one score per image ({n},), got shape {per_image[name].shape}."
            )
    biou = None
    if image_biou is not None:
        biou = np.asarray(image_biou, dtype=np.float64)
        if biou.shape != (n, 2, c):
            raise InputError(
                f"`image_biou` must have shape {(n, 2, c)} (intersection, union), got {biou.shape}."
            )

    ones = np.ones((1, n))
    full = resampled_scores(marg.weighted(ones), ignore_index)
    estimates = {k: float(full[k][0]) for k in _PIXEL_KEYS}
    samples: dict[str, list[np.ndarray]] = {k: [] for k in _PIXEL_KEYS}
    defined = {name: ~np.isnan(v) for name, v in per_image.items()}
    for name, v in per_image.items():
        ok = defined[name]
        estimates[name] = float(np.where(ok, v, 0.0).sum() / ok.sum()) if ok.any() else float("nan")
        samples[name] = []
    if biou is not None:
        estimates["biou"] = float(_biou_from_counts(biou[:, 0].sum(0)[None], biou[:, 1].sum(0)[None], ev)[0])
        samples["biou"] = []
    weights = bootstrap_weights(n, b, seed)
    for start in range(0, b, _CHUNK):
        w = weights[start : start + _CHUNK]
        s = resampled_scores(marg.weighted(w), ignore_index)
        for k in _PIXEL_KEYS:
            samples[k].append(s[k])
        for name, v in per_image.items():  # mean over the drawn images where defined
            den = w @ defined[name]
            val = np.full(w.shape[0], np.nan)
            np.divide(w @ np.where(defined[name], v, 0.0), den, out=val, where=den > 0)
            samples[name].append(val)
        if biou is not None:
            samples["biou"].append(_biou_from_counts(w @ biou[:, 0], w @ biou[:, 1], ev))
    out: dict[str, Any] = {}
    for k, parts in samples.items():
        arr = np.concatenate(parts)
        lo, hi = _interval(arr, level)
        ok = arr[~np.isnan(arr)]
        out[k] = {
            "estimate": estimates[k],
            "low": lo,
            "high": hi,
            "std": float(ok.std(ddof=1)) if ok.size > 1 else float("nan"),
        }
    out.update(
        level=level, num_resamples=b, seed=seed, num_images=n, method="percentile bootstrap over images"
    )
    return out


def paired_bootstrap(
    matrices_a: Any,
    matrices_b: Any,
    ignore_index: int | None = None,
    num_resamples: int = 1000,
    seed: int | np.random.SeedSequence = 0,
    level: float = 0.95,
    metric: str | MatrixScore | None = None,
) -> dict[str, Any]:
    """Paired bootstrap of ``B - A`` differences: both prediction sets are scored on the same
    resampled images.

    Args:
        matrices_a, matrices_b: per-image confusion matrices ``(N, C, C)`` of the two sets, same
            images in the same order.
        ignore_index: as for the pixel metrics.
        num_resamples: number of resamples B.
        seed: seed of the resampling (:func:`bootstrap_weights`).
        level: coverage of the intervals.
        metric: also bootstrap this score (a name for :func:`~segwise.metrics.scalar.parse_metric`,
            classes by id), from the same resamples.

    Returns:
        dict with ``miou``, ``pixel_accuracy``, ``mean_accuracy`` differences, each
        ``{"estimate", "low", "high"}``, and ``iou`` per class: ``{"estimate", "low", "high"}``
        arrays ``(C,)`` (NaN where a class is absent from one set's result). With ``metric``, also
        ``metric``: ``{"name", "estimate", "low", "high", "undefined_resamples"}``, where
        ``undefined_resamples`` counts the resamples whose difference is undefined (NaN) and is left
        out of the interval.

    Example:
        >>> import numpy as np
        >>> a = np.stack([np.array([[5, 1], [1, 5]])] * 30)
        >>> r = paired_bootstrap(a, a, num_resamples=50)
        >>> r["miou"]["estimate"], r["miou"]["low"], r["miou"]["high"]
        (0.0, 0.0, 0.0)
        >>> r = paired_bootstrap(a, a, num_resamples=50, metric="recall:1")
        >>> r["metric"]["name"], r["metric"]["estimate"], r["metric"]["undefined_resamples"]
        ('recall:1', 0.0, 0)
    """
    ma, mb = _paired_marginals(matrices_a, matrices_b)
    b = _check_int(num_resamples, "num_resamples", 1)
    level = _check_level(level)
    n, c = ma.tp.shape
    chosen = None if metric is None else parse_metric(metric, c, ignore_index)
    ones = np.ones((1, n))
    sa, sb = (
        resampled_scores(ma.weighted(ones), ignore_index),
        resampled_scores(mb.weighted(ones), ignore_index),
    )
    weights = bootstrap_weights(n, b, seed)
    deltas: dict[str, list[np.ndarray]] = {k: [] for k in (*_PIXEL_KEYS, "iou")}
    chosen_deltas: list[np.ndarray] = []
    for start in range(0, b, _CHUNK):
        w = weights[start : start + _CHUNK]
        ra = resampled_scores(ma.weighted(w), ignore_index)
        rb = resampled_scores(mb.weighted(w), ignore_index)
        for k in deltas:
            deltas[k].append(rb[k] - ra[k])
        if chosen is not None:
            chosen_deltas.append(chosen.select(rb) - chosen.select(ra))
    out: dict[str, Any] = {}
    for k in _PIXEL_KEYS:
        lo, hi = _interval(np.concatenate(deltas[k]), level)
        out[k] = {"estimate": float(sb[k][0] - sa[k][0]), "low": lo, "high": hi}
    lo_c, hi_c = _interval_columns(np.concatenate(deltas["iou"]), level)
    out["iou"] = {"estimate": sb["iou"][0] - sa["iou"][0], "low": lo_c, "high": hi_c}
    if chosen is not None:
        samples = np.concatenate(chosen_deltas)
        lo, hi = _interval(samples, level)
        out["metric"] = {
            "name": chosen.name,
            "estimate": float(chosen.select(sb)[0] - chosen.select(sa)[0]),
            "low": lo,
            "high": hi,
            "undefined_resamples": int(np.isnan(samples).sum()),
        }
    return out


def _paired_marginals(matrices_a: Any, matrices_b: Any) -> tuple[Marginals, Marginals]:
    a = _stack_matrices(matrices_a, "matrices_a")
    b = _stack_matrices(matrices_b, "matrices_b")
    if a.shape != b.shape:
        raise InputError(
            f"paired comparison needs the same images and classes: matrices_a {a.shape} vs matrices_b {b.shape}."
        )
    if not np.array_equal(a.sum(axis=2), b.sum(axis=2)):
        bad = int(np.flatnonzero((a.sum(axis=2) != b.sum(axis=2)).any(axis=1))[0])
        raise InputError(
            f"paired comparison needs the same ground truth, but image {bad} has different ground-truth "
            "class counts in the two sets: pair the prediction sets with the same ground-truth files, "
            "in the same order."
        )
    return Marginals.from_matrices(a), Marginals.from_matrices(b)


def permutation_test(
    matrices_a: Any,
    matrices_b: Any,
    ignore_index: int | None = None,
    num_permutations: int = 10000,
    seed: int | np.random.SeedSequence = 0,
    metric: str | MatrixScore = "miou",
) -> float:
    """Two-sided paired permutation test of "A and B score the same" for a dataset-level metric.

    Under the null hypothesis the labels A and B of each image are exchangeable, so each
    permutation swaps the two predictions of every image with probability 1/2 and recomputes
    ``metric(B*) - metric(A*)`` from the swapped, summed matrices. The p-value is
    ``(1 + #{|delta*| >= |delta|}) / (R + 1)``, never 0. A permutation whose difference is undefined
    (e.g. ``precision:K`` when a swapped set never predicts K) counts as extreme (conservative); the
    p-value is NaN when the observed difference is undefined.

    Args:
        matrices_a, matrices_b: per-image confusion matrices ``(N, C, C)``, paired.
        ignore_index: as for the pixel metrics.
        num_permutations: R.
        seed: seed of the swaps.
        metric: a name for :func:`~segwise.metrics.scalar.parse_metric` (classes by id), e.g.
            ``"miou"``, ``"iou:1"``, ``"dice:1"``, or a :class:`~segwise.metrics.scalar.MatrixScore`.

    Example:
        >>> import numpy as np
        >>> a = np.stack([np.array([[5, 1], [1, 5]])] * 30)
        >>> permutation_test(a, a, num_permutations=99)
        1.0
        >>> permutation_test(a, a, num_permutations=99, metric="dice:1")
        1.0
    """
    ma, mb = _paired_marginals(matrices_a, matrices_b)
    chosen = parse_metric(metric, ma.tp.shape[1], ignore_index)
    r = _check_int(num_permutations, "num_permutations", 1)
    n = ma.num_images
    ones = np.ones((1, n))
    observed = float(
        chosen.select(resampled_scores(mb.weighted(ones), ignore_index))[0]
        - chosen.select(resampled_scores(ma.weighted(ones), ignore_index))[0]
    )
    if np.isnan(observed):
        return float("nan")
    rng = np.random.default_rng(seed)
    diff = Marginals(ma.tp - mb.tp, ma.gt - mb.gt, ma.pred - mb.pred)
    tot_a, tot_b = ma.weighted(ones), mb.weighted(ones)
    extreme = 0
    tol = 1e-12 * max(1.0, abs(observed))
    for start in range(0, r, _CHUNK):
        swap = rng.integers(0, 2, size=(min(_CHUNK, r - start), n)).astype(np.float64)
        d = diff.weighted(swap)  # images whose predictions are swapped move A - B from A* to B*
        a_star = Marginals(tot_a.tp - d.tp, tot_a.gt - d.gt, tot_a.pred - d.pred)
        b_star = Marginals(tot_b.tp + d.tp, tot_b.gt + d.gt, tot_b.pred + d.pred)
        delta = chosen.select(resampled_scores(b_star, ignore_index)) - chosen.select(
            resampled_scores(a_star, ignore_index)
        )
        extreme += int(np.sum(np.isnan(delta) | (np.abs(delta) >= abs(observed) - tol)))
    return (1 + extreme) / (r + 1)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1).

    Example:
        >>> holm([0.01, 0.04, 0.03])
        [0.03, 0.06, 0.06]
    """
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.size
    order = np.argsort(p, kind="stable")
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return [round(float(x), 15) for x in adj]


class BootstrapCI(MetricState):
    """Bootstrap confidence intervals as an evaluation accumulator.

    It reads the per-image confusion matrices of the evaluation state and, when ``boundary`` (a
    :class:`~segwise.metrics.boundary.BoundaryAccumulator` that saw the same images) is given, its
    per-image BF scores and Boundary IoU counts. Its own ``update`` does nothing: it follows the
    metric-state contract (:class:`~segwise.metrics.state.MetricState`) with an empty state, so
    ``merge``, ``state_dict`` and ``all_reduce`` only check or carry its settings.

    Args:
        num_resamples: bootstrap resamples (default 1000).
        seed: seed of the resampling (default 0).
        level: interval coverage (default 0.95).
        boundary: the boundary accumulator whose per-image scores to resample, if any.
        surface: the :class:`~segwise.metrics.surface.SurfaceAccumulator` whose per-case scores
            (``case_scores()``: ``mean_hd95`` etc.) to resample, if any.

    Example:
        >>> import numpy as np
        >>> from segwise.metrics import ConfusionMatrix
        >>> state = ConfusionMatrix(2, per_image=True)
        >>> rng = np.random.default_rng(0)
        >>> for _ in range(20):
        ...     t = rng.integers(0, 2, (8, 8)); p = np.where(rng.random((8, 8)) < 0.8, t, 1 - t)
        ...     state.update(p, t)
        >>> ci = BootstrapCI(num_resamples=100).result(state)["ci"]
        >>> sorted(k for k in ci if isinstance(ci[k], dict))
        ['mean_accuracy', 'miou', 'pixel_accuracy']
    """

    def __init__(
        self,
        num_resamples: int = 1000,
        seed: int = 0,
        level: float = 0.95,
        boundary: Any | None = None,
        surface: Any | None = None,
    ) -> None:
        super().__init__()
        self.num_resamples = _check_int(num_resamples, "num_resamples", 1)
        self.seed = _check_int(seed, "seed", 0)
        self.level = _check_level(level)
        self.boundary = boundary
        self.surface = surface

    def settings(self) -> dict[str, Any]:
        return {"num_resamples": self.num_resamples, "seed": self.seed, "level": self.level}

    def update(self, pred: Any, target: Any) -> None:
        """Nothing to do: the intervals come from state kept by the other accumulators."""

    def policy(self) -> dict[str, Any]:
        return {
            "ci_method": "percentile bootstrap: images resampled with replacement; pixel scores recomputed from "
            "the summed per-image confusion matrices, BF as the mean of the drawn images' scores, biou from "
            "the summed per-image boundary counts"
            + (
                ", surface means (mean_hd95, ...) as the mean of the drawn cases' scores where defined"
                if self.surface is not None
                else ""
            ),
            "ci_num_resamples": self.num_resamples,
            "ci_seed": self.seed,
            "ci_level": self.level,
        }

    def result(self, state: Any, class_names: Sequence[str] | None = None) -> dict[str, Any]:
        """``{"ci": ..., "policy": ...}`` from ``state.image_matrices`` (a per-image ConfusionMatrix)."""
        mats = getattr(state, "image_matrices", None)
        if not mats:
            raise InputError(
                "BootstrapCI needs per-image confusion matrices: evaluate with ConfusionMatrix(..., "
                "per_image=True) and at least one image."
            )
        image_bf = image_biou = None
        if self.boundary is not None:
            if self.boundary.num_images != len(mats):
                raise InputError(
                    f"the boundary accumulator saw {self.boundary.num_images} images but the confusion state "
                    f"has {len(mats)}; pass BootstrapCI the boundary accumulator of the same evaluation."
                )
            image_bf = np.array(self.boundary.image_bf, dtype=np.float64)
            image_biou = self.boundary.per_image_biou_counts()
        case_scores = None
        if self.surface is not None:
            if self.surface.num_cases != len(mats):
                raise InputError(
                    f"the surface accumulator saw {self.surface.num_cases} cases but the confusion state has "
                    f"{len(mats)}; pass BootstrapCI the surface accumulator of the same evaluation."
                )
            case_scores = self.surface.case_scores()
        ci = bootstrap_ci(
            np.stack(mats),
            getattr(state, "ignore_index", None),
            image_bf=image_bf,
            image_biou=image_biou,
            num_resamples=self.num_resamples,
            seed=self.seed,
            level=self.level,
            case_scores=case_scores,
        )
        return {"ci": ci, "policy": self.policy()}

    def __repr__(self) -> str:
        return f"BootstrapCI(num_resamples={self.num_resamples}, seed={self.seed}, level={self.level})"


def _defined_means(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``(B,)`` weighted means of ``values (N,)`` over the entries that are not NaN (NaN when none is drawn)."""
    ok = ~np.isnan(values)
    den = weights @ ok
    out = np.full(weights.shape[0], np.nan)
    np.divide(weights @ np.where(ok, values, 0.0), den, out=out, where=den > 0)
    return out


def _paired_cases(scores_a: Any, scores_b: Any) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(scores_a, dtype=np.float64), np.asarray(scores_b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or a.size == 0:
        raise InputError(
            f"paired comparison needs one score per case for the same cases: got {a.shape} and {b.shape}."
        )
    return a, b


def paired_bootstrap_cases(
    scores_a: Any,
    scores_b: Any,
    num_resamples: int = 1000,
    seed: int | np.random.SeedSequence = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Paired bootstrap of ``mean(B) - mean(A)`` for per-case scores (e.g. a case's HD95), each mean
    over the drawn cases where the score is defined (not NaN).

    Returns:
        ``{"estimate", "low", "high", "undefined_resamples"}``.

    Example:
        >>> a = np.array([3.0, 4.0, np.nan, 5.0]); b = a - 1
        >>> r = paired_bootstrap_cases(a, b, num_resamples=50)
        >>> r["estimate"], round(r["low"], 9), round(r["high"], 9)
        (-1.0, -1.0, -1.0)
    """
    a, b = _paired_cases(scores_a, scores_b)
    level = _check_level(level)
    ones = np.ones((1, a.size))
    w = bootstrap_weights(a.size, _check_int(num_resamples, "num_resamples", 1), seed)
    samples = _defined_means(w, b) - _defined_means(w, a)
    lo, hi = _interval(samples, level)
    estimate = float(_defined_means(ones, b)[0] - _defined_means(ones, a)[0])
    return {"estimate": estimate, "low": lo, "high": hi, "undefined_resamples": int(np.isnan(samples).sum())}


def permutation_test_cases(
    scores_a: Any, scores_b: Any, num_permutations: int = 10000, seed: int | np.random.SeedSequence = 0
) -> float:
    """Two-sided paired permutation test of ``mean(B) - mean(A)`` for per-case scores: each case's two
    scores are swapped with probability 1/2; ``p = (1 + #{|delta*| >= |delta|}) / (R + 1)``, an
    undefined delta* counting as extreme; NaN when the observed delta is undefined.

    Example:
        >>> a = np.arange(20.0); permutation_test_cases(a, a + 5, num_permutations=99)
        0.01
    """
    a, b = _paired_cases(scores_a, scores_b)
    r = _check_int(num_permutations, "num_permutations", 1)
    ones = np.ones((1, a.size))
    observed = float(_defined_means(ones, b)[0] - _defined_means(ones, a)[0])
    if np.isnan(observed):
        return float("nan")
    rng = np.random.default_rng(seed)
    tol = 1e-12 * max(1.0, abs(observed))
    extreme = 0
    for start in range(0, r, _CHUNK):
        swap = rng.integers(0, 2, size=(min(_CHUNK, r - start), a.size)).astype(bool)
        a_star, b_star = np.where(swap, b, a), np.where(swap, a, b)
        ok_a, ok_b = ~np.isnan(a_star), ~np.isnan(b_star)
        with np.errstate(invalid="ignore", divide="ignore"):
            delta = np.where(ok_b, b_star, 0).sum(1) / ok_b.sum(1) - np.where(ok_a, a_star, 0).sum(
                1
            ) / ok_a.sum(1)
        extreme += int(np.sum(np.isnan(delta) | (np.abs(delta) >= abs(observed) - tol)))
    return (1 + extreme) / (r + 1)
