"""Paired comparison of prediction sets on the same ground truth (``segwise compare-preds``).

The statistics, from per-image confusion matrices; reading the folders is
:func:`segwise.evaluate.compare_predictions`.

Every prediction set is scored image by image against the same ground truth; the first set is the
baseline and every other set is compared with it on one chosen metric (``metric``: mIoU by
default, or any name :func:`~segwise.metrics.scalar.parse_metric` accepts, e.g. ``iou:1``,
``dice:vessel``, ``pixel_accuracy``):

* Δ metric (candidate minus baseline) with a paired bootstrap confidence interval at level 1 - α
  (both sets are scored on the same resampled images);
* a two-sided paired permutation test of Δ metric (the two predictions of each image swapped at
  random under the null hypothesis);
* Δ mIoU, Δ pixel accuracy, Δ mean accuracy and per-class Δ IoU with paired bootstrap intervals,
  whatever the chosen metric;
* a verdict: significant when the p-value (Holm-adjusted when there are several candidates) is
  below α.

The score of a set of images is always computed from the summed confusion matrix of those images.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from segwise.errors import InputError
from segwise.metrics import stats
from segwise.metrics.scalar import CaseScore, MatrixScore, parse_metric

__all__ = ["compare_case_scores", "compare_matrices", "format_verdict"]


def _check_alpha(alpha: float) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, int | float | np.number) or not 0 < alpha < 1:
        raise InputError(f"Expected argument `alpha` in (0, 1) (e.g. 0.05), but got {alpha!r}.")
    return float(alpha)


def _f(x: Any) -> float | None:
    x = float(x)
    return None if np.isnan(x) else x


def format_verdict(comparison: dict[str, Any], alpha: float) -> str:
    """One line: the difference of the compared metric, its interval, the p-value and whether it is
    significant; or why the metric is undefined.

    ``comparison`` is an entry of ``compare_matrices(...)["comparisons"]``. Without the generic keys
    (``metric_label``, ``value_*``, ``delta``) it reads the mIoU keys.

    Example:
        >>> c = {"baseline": "A", "candidate": "B", "miou_baseline": 0.60, "miou_candidate": 0.62,
        ...      "delta_miou": {"estimate": 0.02, "low": 0.005, "high": 0.035}, "p_value": 0.004,
        ...      "p_value_adjusted": 0.004, "significant": True, "level": 0.95}
        >>> format_verdict(c, 0.05)
        'B vs A: mIoU 62.00% vs 60.00%, Δ = +2.00 points (95% CI +0.50 to +3.50), p = 0.004: significant at α = 0.05'
        >>> c.update(metric_label="IoU of class 1 'vessel'", value_baseline=0.698, value_candidate=0.712,
        ...          delta={"estimate": 0.014, "low": -0.002, "high": 0.03}, p_value=0.09, p_value_adjusted=0.09,
        ...          significant=False)
        >>> format_verdict(c, 0.05)  # doctest: +NORMALIZE_WHITESPACE
        "B vs A: IoU of class 1 'vessel' 71.20% vs 69.80%, Δ = +1.40 points (95% CI -0.20 to +3.00), p = 0.09:
        not significant at α = 0.05 (the difference may be noise)"
        >>> c.update(value_baseline=None, undefined_when="class 1 'vessel' is never predicted in any image")
        >>> format_verdict(c, 0.05)  # doctest: +NORMALIZE_WHITESPACE
        "B vs A: IoU of class 1 'vessel' is undefined for A (class 1 'vessel' is never predicted in any image),
        so there is no difference to test"
    """
    label = comparison.get("metric_label", "mIoU")
    d = comparison.get("delta", comparison["delta_miou"])
    base = comparison.get("value_baseline", comparison.get("miou_baseline"))
    cand = comparison.get("value_candidate", comparison.get("miou_candidate"))

    def pts(x: float | None) -> str:
        return "n/a" if x is None or np.isnan(x) else f"{100 * x:+.2f}"

    def pct(x: float | None) -> str:
        return "n/a" if x is None or np.isnan(x) else f"{100 * x:.2f}%"

    head = f"{comparison['candidate']} vs {comparison['baseline']}: {label}"
    undefined = [
        comparison[who] for who, v in (("baseline", base), ("candidate", cand)) if v is None or np.isnan(v)
    ]
    if undefined:
        why = comparison.get("undefined_when")
        return (
            f"{head} is undefined for {' and '.join(undefined)}{f' ({why})' if why else ''}, "
            "so there is no difference to test"
        )
    p = comparison["p_value_adjusted"]
    p_txt = "n/a" if p is None else f"{p:.3g}"
    holm = " (Holm-adjusted)" if comparison["p_value_adjusted"] != comparison["p_value"] else ""
    level = round(100 * comparison["level"], 1)
    level_txt = f"{level:g}%"
    left_out = comparison.get("undefined_resamples") or 0
    note = f"; Δ undefined in {left_out} resamples, left out" if left_out else ""
    verdict = (
        f"significant at α = {alpha:g}"
        if comparison["significant"]
        else f"not significant at α = {alpha:g} (the difference may be noise)"
    )
    return (
        f"{head} {pct(cand)} vs {pct(base)}, Δ = {pts(d['estimate'])} points ({level_txt} CI {pts(d['low'])} "
        f"to {pts(d['high'])}{note}), p = {p_txt}{holm}: {verdict}"
    )


def compare_matrices(
    matrices: Sequence[Any],
    names: Sequence[str],
    ignore_index: int | None = None,
    class_names: Sequence[str] | None = None,
    num_resamples: int = 1000,
    num_permutations: int = 10000,
    seed: int = 0,
    alpha: float = 0.05,
    metric: str | MatrixScore = "miou",
) -> dict[str, Any]:
    """Compare prediction sets from their per-image confusion matrices (same images, same order).

    Args:
        matrices: one ``(N, C, C)`` stack of per-image matrices per prediction set; the first is
            the baseline.
        names: a name per prediction set.
        ignore_index: as for the pixel metrics.
        class_names: names of the C classes.
        num_resamples: paired bootstrap resamples.
        num_permutations: permutations of the paired test.
        seed: seed of both (the same draws for every comparison, whatever the metric).
        alpha: significance level; the intervals have level 1 - alpha.
        metric: the compared score: ``miou`` (default), ``pixel_accuracy``, ``mean_accuracy``,
            ``mean_dice``, ``fwiou``, or ``iou:K``, ``dice:K`` (= ``f1:K``), ``precision:K``,
            ``recall:K`` with K a class id or name (see :func:`~segwise.metrics.scalar.parse_metric`).
            The p-value, ``significant`` and the verdict refer to it.

    Returns:
        dict with ``metric`` (canonical name, e.g. ``"iou:1"``) and ``metric_label`` (e.g.
        ``"IoU of class 1 'vessel'"``), ``predictions`` (scores of each set, ``value`` = the chosen
        metric), ``comparisons`` and ``policy`` (with ``metric`` and ``metric_definition``). Each
        comparison holds, for the chosen metric, ``metric``, ``metric_label``, ``value_baseline``,
        ``value_candidate``, ``delta`` (``{"estimate", "low", "high"}``), ``undefined_resamples``
        (resamples whose Δ is undefined, left out of the interval), ``undefined_when``,
        ``p_value``, ``p_value_adjusted``, ``significant`` and the ``verdict`` line; and, whatever the
        metric, ``miou_baseline``, ``miou_candidate``, ``delta_miou``, ``delta_pixel_accuracy``,
        ``delta_mean_accuracy`` and the ``per_class`` Δ IoU rows. Values that are undefined are
        ``None``.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> gt = rng.integers(50, 100, size=(30, 2))
        >>> a = np.stack([[[g[0] - 10, 10], [10, g[1] - 10]] for g in gt])   # 10 px wrong per class
        >>> b = np.stack([[[g[0] - 2, 2], [2, g[1] - 2]] for g in gt])       # 2 px wrong per class
        >>> r = compare_matrices([a, b], ["A", "B"], num_permutations=999)
        >>> r["comparisons"][0]["significant"], r["comparisons"][0]["p_value"]
        (True, 0.001)
        >>> r = compare_matrices([a, b], ["A", "B"], class_names=["bg", "vessel"], metric="f1:Vessel",
        ...                      num_permutations=999)
        >>> r["metric"], r["comparisons"][0]["metric_label"], r["comparisons"][0]["p_value"]
        ('dice:1', "Dice/F1 of class 1 'vessel'", 0.001)
    """
    alpha = _check_alpha(alpha)
    if len(matrices) < 2 or len(names) != len(matrices):
        raise InputError(
            f"compare needs at least two prediction sets and one name per set; got {len(matrices)} sets and "
            f"{len(names)} names."
        )
    stacks = [stats._stack_matrices(m, f"matrices[{i}]") for i, m in enumerate(matrices)]
    c = stacks[0].shape[1]
    cls_names = list(class_names) if class_names is not None else [str(k) for k in range(c)]
    if len(cls_names) != c:
        raise InputError(f"`class_names` has {len(cls_names)} names for {c} classes.")
    chosen = parse_metric(metric, cls_names, ignore_index)
    ones = np.ones((1, stacks[0].shape[0]))
    predictions = []
    full_scores = []
    for name, m in zip(names, stacks, strict=True):
        s = stats.resampled_scores(stats.Marginals.from_matrices(m).weighted(ones), ignore_index)
        full_scores.append(s)
        predictions.append(
            {
                "name": name,
                **{k: _f(s[k][0]) for k in ("miou", "pixel_accuracy", "mean_accuracy")},
                "iou": [_f(x) for x in s["iou"][0]],
                "value": _f(chosen.select(s)[0]),
            }
        )
    boot_seed, perm_seed = np.random.SeedSequence(seed).spawn(2)
    comparisons = []
    for i in range(1, len(stacks)):
        boot = stats.paired_bootstrap(
            stacks[0], stacks[i], ignore_index, num_resamples, boot_seed, 1 - alpha, metric=chosen
        )
        p = stats.permutation_test(stacks[0], stacks[i], ignore_index, num_permutations, perm_seed, chosen)
        per_class = [
            {
                "id": k,
                "name": cls_names[k],
                "iou_baseline": _f(full_scores[0]["iou"][0, k]),
                "iou_candidate": _f(full_scores[i]["iou"][0, k]),
                "delta": _f(boot["iou"]["estimate"][k]),
                "low": _f(boot["iou"]["low"][k]),
                "high": _f(boot["iou"]["high"][k]),
            }
            for k in range(c)
        ]
        comparisons.append(
            {
                "baseline": names[0],
                "candidate": names[i],
                "metric": chosen.name,
                "metric_label": chosen.label,
                "value_baseline": predictions[0]["value"],
                "value_candidate": predictions[i]["value"],
                "delta": {k: _f(boot["metric"][k]) for k in ("estimate", "low", "high")},
                "undefined_resamples": boot["metric"]["undefined_resamples"],
                "undefined_when": chosen.undefined_when,
                "miou_baseline": predictions[0]["miou"],
                "miou_candidate": predictions[i]["miou"],
                "delta_miou": {k: _f(v) for k, v in boot["miou"].items()},
                "delta_pixel_accuracy": {k: _f(v) for k, v in boot["pixel_accuracy"].items()},
                "delta_mean_accuracy": {k: _f(v) for k, v in boot["mean_accuracy"].items()},
                "p_value": _f(p),
                "level": 1 - alpha,
                "per_class": per_class,
            }
        )
    raw = [cmp["p_value"] for cmp in comparisons]
    adjusted = stats.holm([1.0 if x is None else x for x in raw]) if len(raw) > 1 else raw
    for cmp, p_adj in zip(comparisons, adjusted, strict=True):
        cmp["p_value_adjusted"] = None if cmp["p_value"] is None else p_adj
        cmp["significant"] = cmp["p_value_adjusted"] is not None and cmp["p_value_adjusted"] < alpha
        cmp["verdict"] = format_verdict(cmp, alpha)
    return {
        "kind": "segwise.compare_result",
        "num_images": int(stacks[0].shape[0]),
        "num_classes": c,
        "class_names": cls_names,
        "metric": chosen.name,
        "metric_label": chosen.label,
        "predictions": predictions,
        "comparisons": comparisons,
        "policy": {
            "baseline": "the first prediction set; every other set is compared with it (delta = candidate - baseline)",
            "metric": chosen.name,
            "metric_definition": chosen.definition,
            "ci": "paired percentile bootstrap over images: both sets scored on the same resampled images; "
            "resamples where the delta is undefined are left out (undefined_resamples)",
            "test": f"two-sided paired permutation test of delta {chosen.label}: each image's two predictions "
            "swapped with probability 1/2; p = (1 + #|delta*| >= |delta|) / (R + 1), an undefined delta* "
            "counting as extreme",
            "multiple_comparisons": "Holm-Bonferroni over the candidates when there are more than one",
            "num_resamples": int(num_resamples),
            "num_permutations": int(num_permutations),
            "seed": int(seed),
            "alpha": alpha,
            "level": 1 - alpha,
            "ignore_index": ignore_index,
        },
    }


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def compare_case_scores(
    comparison: dict[str, Any],
    scores: Sequence[Any],
    metric: CaseScore,
    num_resamples: int = 1000,
    num_permutations: int = 10000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Put a per-case metric (e.g. HD95, :class:`~segwise.metrics.scalar.CaseScore`) in the place of the
    compared metric of a :func:`compare_matrices` result, in place, and return it.

    ``scores`` holds one ``(N,)`` array of case scores per prediction set (NaN where undefined), in
    the order of the comparison's prediction sets. Δ (candidate minus baseline) gets a paired
    bootstrap interval over cases, the p-value a paired permutation test over cases, Holm-adjusted
    over the candidates; lower is better for distances (the verdict says which set is better).

    Example:
        >>> a = np.stack([np.array([[5, 1], [1, 5]])] * 20)
        >>> r = compare_matrices([a, a], ["A", "B"], num_resamples=20, num_permutations=99)
        >>> hd = np.linspace(2, 4, 20)
        >>> r = compare_case_scores(r, [hd, hd - 1], CaseScore("hd95"), num_resamples=50, num_permutations=99)
        >>> r["comparisons"][0]["verdict"]  # doctest: +NORMALIZE_WHITESPACE
        'B vs A: mean HD95 2 vs 3, Δ = -1 (95% CI -1 to -1), p = 0.01: significant at α = 0.05
        (B is better: lower is better)'
    """
    alpha = _check_alpha(alpha)
    arrays = [np.asarray(s, dtype=np.float64) for s in scores]
    if len(arrays) != len(comparison["predictions"]):
        raise InputError(
            f"{len(arrays)} score arrays for {len(comparison['predictions'])} prediction sets; give one per set."
        )
    boot_seed, perm_seed = np.random.SeedSequence(seed).spawn(2)
    for row, values in zip(comparison["predictions"], arrays, strict=True):
        ok = ~np.isnan(values)
        row["value"] = _f(values[ok].mean()) if ok.any() else None
    comparisons = comparison["comparisons"]
    for i, cmp in enumerate(comparisons, start=1):
        boot = stats.paired_bootstrap_cases(arrays[0], arrays[i], num_resamples, boot_seed, 1 - alpha)
        cmp.update(
            metric=metric.name,
            metric_label=metric.label,
            value_baseline=comparison["predictions"][0]["value"],
            value_candidate=comparison["predictions"][i]["value"],
            delta={k: _f(boot[k]) for k in ("estimate", "low", "high")},
            undefined_resamples=boot["undefined_resamples"],
            undefined_when=metric.undefined_when,
            p_value=_f(stats.permutation_test_cases(arrays[0], arrays[i], num_permutations, perm_seed)),
        )
    raw = [cmp["p_value"] for cmp in comparisons]
    adjusted = stats.holm([1.0 if x is None else x for x in raw]) if len(raw) > 1 else raw
    for cmp, p_adj in zip(comparisons, adjusted, strict=True):
        cmp["p_value_adjusted"] = None if cmp["p_value"] is None else p_adj
        cmp["significant"] = cmp["p_value_adjusted"] is not None and cmp["p_value_adjusted"] < alpha
        cmp["verdict"] = _case_verdict(cmp, metric, alpha)
    comparison.update(metric=metric.name, metric_label=metric.label)
    comparison["policy"].update(
        metric=metric.name,
        metric_definition=metric.definition,
        lower_is_better=metric.lower_is_better,
        ci="paired percentile bootstrap over cases: both sets scored (mean over the drawn cases where defined) on "
        "the same resampled cases; resamples where the delta is undefined are left out (undefined_resamples)",
        test=f"two-sided paired permutation test of delta {metric.label}: each case's two scores swapped with "
        "probability 1/2; p = (1 + #|delta*| >= |delta|) / (R + 1), an undefined delta* counting as extreme",
    )
    return comparison


def _case_verdict(cmp: dict[str, Any], metric: CaseScore, alpha: float) -> str:
    head = f"{cmp['candidate']} vs {cmp['baseline']}: {metric.label}"
    base, cand, d = cmp["value_baseline"], cmp["value_candidate"], cmp["delta"]
    if base is None or cand is None:
        who = [cmp[k] for k, v in (("baseline", base), ("candidate", cand)) if v is None]
        return (
            f"{head} is undefined for {' and '.join(who)} ({metric.undefined_when}), "
            "so there is no difference to test"
        )
    p = cmp["p_value_adjusted"]
    better = cmp["candidate"] if (d["estimate"] < 0) == metric.lower_is_better else cmp["baseline"]
    rule = "lower is better" if metric.lower_is_better else "higher is better"
    verdict = (
        f"significant at α = {alpha:g} ({better} is better: {rule})"
        if cmp["significant"]
        else f"not significant at α = {alpha:g} (the difference may be noise)"
    )
    return (
        f"{head} {_num(cand)} vs {_num(base)}, Δ = {d['estimate']:+.4g} ({100 * cmp['level']:g}% CI "
        f"{_num(d['low'])} to {_num(d['high'])}), p = {'n/a' if p is None else f'{p:.3g}'}: {verdict}"
    )
