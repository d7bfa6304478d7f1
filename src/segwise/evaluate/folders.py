"""Evaluating folders: ``segwise eval`` (:func:`evaluate_folders`), per-image scores, and ``segwise
compare-preds`` (:func:`compare_predictions`)."""

from __future__ import annotations

import collections
import dataclasses
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segwise.data.masks import MaskReader, mask_reader
from segwise.data.pairing import PAIRING_RULE, file_stem
from segwise.data.readers import ClassTable
from segwise.errors import DataError, InputError, did_you_mean, some
from segwise.evaluate.core import Evaluation
from segwise.evaluate.inputs import _load_pair_and_arrays, pair_arrays, pair_inputs, pair_roi
from segwise.evaluate.volumes import (
    VOLUME_POLICY,
    case_fields,
    check_volume_options,
    folder_kind,
    load_volume_pair,
    volume_workers,
)
from segwise.metrics import functional as F
from segwise.metrics.compare import compare_case_scores, compare_matrices
from segwise.metrics.scalar import CaseScore, MatrixScore, is_case_metric, parse_case_metric, parse_metric
from segwise.version import __version__


def _bounded_map(
    fn: Callable[..., Any], items: Sequence[tuple[Any, ...]], workers: int, in_flight: int | None = None
) -> Iterator[Any]:
    """``map`` over a thread pool, in order, with at most ``in_flight`` (default ``2 * workers``)
    results in flight."""
    limit = in_flight or 2 * workers
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: collections.deque[Future[Any]] = collections.deque()
        it = iter(items)
        for args in it:
            pending.append(pool.submit(fn, *args))
            if len(pending) >= limit:
                break
        while pending:
            result = pending.popleft().result()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.submit(fn, *nxt))
            yield result


@dataclass(frozen=True)
class EvalOptions:
    """Everything :func:`evaluate_folders` takes besides the two folders, in four groups. Build one
    and pass it (``compare_predictions`` reuses one for every folder), or pass its fields by keyword.

    How masks are read (or a ready ``reader``):
        num_classes: number of evaluated classes C (optional when ``spec``, ``classes`` or
            ``value_map`` gives it).
        ignore_index: ground-truth value that is not counted.
        classes: class table CSV (``id,name,r,g,b``): names the classes and decodes colour-coded masks.
        spec: a DatasetSpec or ``spec.json`` that says how ground-truth masks are stored.
        value_map: ``"0:0,255:1"`` or a dict: stored ground-truth values -> class ids.
        pred_value_map: the same for predictions not stored as class ids.
        reader: a ready :class:`MaskReader` (instead of the options above).
        class_names: names of the classes (default: from the spec or ``classes``, else the ids).

    Which other files pair with the ground truth (by the pairing rule, or by ``match``):
        probs_dir: folder of class probabilities ``<stem>.npy`` ``(C, H, W)`` (``segwise predict --save
            probs``): adds the ``probs`` family. Without a prediction folder their argmax is the
            prediction of the pixel scores.
        roi_dir: folder of region-of-interest masks: pixels where they are 0 are not evaluated.
        inputs: folders of the extra per-image arrays the families need, by input name, e.g.
            ``{"uncertainty": "out/uncertainty"}``: one ``<key>.npy`` per ground truth.
        match: pairing regex (first capture group = key) for every folder.
        allow_missing: skip unpaired files with a warning instead of raising.

    What is scored:
        families: optional metric families (:mod:`segwise.metrics.families`: ``boundary``,
            ``regions``, ``surface``, ``ci``, ...), built with the evaluation's ignore index.
        family_options: their options, e.g. ``{"bf_theta": 2.0, "resamples": 500, "seed": 1}`` or
            ``{"spacing": (0.8, 0.8), "nsd_tolerance": (1, 2)}`` (surface; spacing in physical x, y order).
        accumulators: extra metric states (:class:`~segwise.metrics.state.MetricState`); each gets
            ``update(pred, target)`` per image in ground-truth order, then ``result(state,
            class_names)`` whose dict is merged into the result. With an ROI they must be built with
            :meth:`MaskReader.eval_ignore_index` as ignore index. Prefer ``families``.

    How it runs:
        workers: decoding threads; 0 means one per core (for volumes at most 4 cases in flight).
        warn: called with warning messages (also those of the result's ``warnings``).
        keep_matrices: also return the ``(N, C, C)`` per-image matrices as ``image_matrices`` (a
            numpy array, not JSON: pop it before writing the result).
    """

    num_classes: int | None = None
    ignore_index: int | None = None
    classes: str | os.PathLike[str] | None = None
    spec: Any = None
    value_map: str | Mapping[int, int] | None = None
    pred_value_map: str | Mapping[int, int] | None = None
    reader: MaskReader | None = None
    class_names: Sequence[str] | None = None
    probs_dir: str | os.PathLike[str] | None = None
    roi_dir: str | os.PathLike[str] | None = None
    inputs: Mapping[str, str | os.PathLike[str]] | None = None
    match: str | None = None
    allow_missing: bool = False
    families: Iterable[str] = ()
    family_options: Mapping[str, Any] | None = None
    accumulators: Iterable[Any] = ()
    workers: int = 0
    warn: Callable[[str], None] = print
    keep_matrices: bool = False

    def build_reader(self) -> MaskReader:
        """The given ``reader``, or one built from the reading options."""
        if self.reader is not None:
            return self.reader
        if isinstance(self.classes, ClassTable):
            raise InputError("pass the class table as a CSV path, or build a MaskReader.")
        return mask_reader(
            num_classes=self.num_classes,
            classes=self.classes,
            spec=self.spec,
            value_map=self.value_map,
            ignore_index=self.ignore_index,
            pred_value_map=self.pred_value_map,
        )


def _options(options: EvalOptions | None, fields: Mapping[str, Any]) -> EvalOptions:
    known = [f.name for f in dataclasses.fields(EvalOptions)]
    unknown = [k for k in fields if k not in known]
    if unknown:
        raise InputError(
            f"evaluate_folders got an unknown option {unknown[0]!r}; {did_you_mean(unknown[0], known)}"
            f"options: {', '.join(known)}."
        )
    return dataclasses.replace(options or EvalOptions(), **fields)


def evaluate_folders(
    gt_dir: str | os.PathLike[str],
    pred_dir: str | os.PathLike[str] | None = None,
    options: EvalOptions | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Evaluate every prediction mask in ``pred_dir`` against its ground truth in ``gt_dir``.

    Masks are decoded in parallel threads; memory stays O(C²) per image plus a few decoded images.
    A ground-truth folder of label volumes (``.nii.gz``, ``.nrrd``, ``.mha``, ...) is evaluated case
    by case, one volume per "image", in voxels (:mod:`segwise.evaluate.volumes`, docs/volumes.md).

    Args:
        gt_dir, pred_dir: folders of masks, or of label volumes (``pred_dir`` may be ``None`` with
            ``probs_dir``).
        options: an :class:`EvalOptions`; ``fields`` (its field names, e.g. ``num_classes=3``,
            ``families=["boundary"]``) replace its values.

    Example:
        ``evaluate_folders("labels", "pred", num_classes=3, ignore_index=255, families=["ci"])``

    Returns:
        The result dict (see :func:`segwise.metrics.build_result`), with ``source`` and ``skipped``.
    """
    o = _options(options, fields)
    reader = o.build_reader()
    roi_dir, probs_dir, warn = o.roi_dir, o.probs_dir, o.warn
    names = list(o.class_names) if o.class_names is not None else list(reader.spec.class_names)
    ignore = reader.eval_ignore_index(roi_dir is not None)
    families = list(o.families)
    if probs_dir is not None and "probs" not in families:
        families.append("probs")
    if probs_dir is None and "probs" in families:
        raise InputError("the probs family needs a folder of probabilities (--probs DIR).")
    if pred_dir is None and probs_dir is None:
        raise InputError("give a folder of predicted masks (--pred) or of probabilities (--probs).")
    volumes = folder_kind(Path(gt_dir), "ground-truth") == "volumes"
    if volumes:
        check_volume_options(families, probs_dir, o.inputs, f"the ground truth {gt_dir} holds volumes")
    pairing = pair_inputs(
        Path(gt_dir),
        None if pred_dir is None else Path(pred_dir),
        None if probs_dir is None else Path(probs_dir),
        o.match,
    )
    evaluation = Evaluation(reader.num_classes, ignore, families, o.family_options, o.accumulators)
    pairs, missing, extra = pairing.pairs, pairing.missing, pairing.extra
    problems = []
    if missing:
        problems.append(
            f"{len(missing)} ground-truth files have no prediction: {some(p.name for p in missing)}"
        )
    if extra:
        problems.append(f"{len(extra)} prediction files have no ground truth: {some(p.name for p in extra)}")
    if problems and not o.allow_missing:
        raise DataError(
            "; ".join(problems)
            + f". Fix the folders, pass --match REGEX when names differ ({PAIRING_RULE}), or "
            "pass --allow-missing to skip them."
        )
    for p in problems:
        warn(p + " (skipped)")
    if not pairs:
        raise DataError(f"no prediction in {pred_dir} pairs with a ground truth in {gt_dir}; {PAIRING_RULE}.")
    rois = pair_roi([g for g, _ in pairs], Path(roi_dir), o.match) if roi_dir is not None else {}
    cases: list[dict[str, Any]] = []
    if volumes:  # one case at a time per worker: volumes are large
        workers = volume_workers(o.workers)
        for pred, target, cm, (shape, geometry) in _bounded_map(
            load_volume_pair, [(g, p, reader, rois.get(g)) for g, p in pairs], workers, in_flight=workers
        ):
            evaluation.add(pred, target, cm, spacing=geometry.array_spacing)
            cases.append(case_fields(shape, geometry))
    else:
        extra_files = pair_arrays(pairing.gts, evaluation.inputs, o.inputs or {}, o.match)
        args = [
            (
                g,
                pairing.preds.get(g),
                reader,
                rois.get(g),
                {n: files[g] for n, files in extra_files.items()},
                pairing.probs.get(g),
            )
            for g, _ in pairs
        ]
        for pred, target, cm, probs, arrays in _bounded_map(
            _load_pair_and_arrays, args, o.workers or os.cpu_count() or 1
        ):
            evaluation.add(pred, target, cm, probs=probs, inputs=arrays)

    policy: dict[str, Any] = {
        "pairing": PAIRING_RULE + (f"; --match '{o.match}'" if o.match else ""),
        **reader.policy(),
        **(VOLUME_POLICY if volumes else {}),
    }
    if roi_dir is not None:
        policy["roi"] = (
            f"only pixels where the ROI mask ({roi_dir}) is non-zero are evaluated; the others count as the "
            f"ignore value {ignore}"
        )
    result = evaluation.result(names, extra_policy=policy)
    state = evaluation.pixel
    result["source"] = {"gt": str(gt_dir), "pred": None if pred_dir is None else str(pred_dir)}
    if volumes:
        result["source"]["kind"] = "volumes"
    if probs_dir is not None:
        result["source"]["probs"] = str(probs_dir)
    if roi_dir is not None:
        result["source"]["roi"] = str(roi_dir)
    for name, folder in (o.inputs or {}).items():  # e.g. the uncertainty maps
        result["source"][name] = str(folder)
    if o.match is not None:  # the report finds each input image by this key
        result["source"]["match"] = o.match
    result["spec"] = reader.spec.to_dict()
    result["per_image"] = per_image_scores(
        state.image_matrices,
        [file_stem(g) for g, _ in pairs],
        ignore,
        gt_files=[g.name for g, _ in pairs],
        pred_files=[p.name for _, p in pairs],
        roi_files=[rois[g].name for g, _ in pairs] if rois else None,
    )
    for row, case in zip(result["per_image"], cases, strict=False):  # volumes: one row per case
        row.update(case)
    result["skipped"] = {
        "missing_predictions": [p.name for p in missing],
        "extra_predictions": [p.name for p in extra],
    }
    for message in result["warnings"]:
        warn(message)
    if o.keep_matrices:
        result["image_matrices"] = np.stack(state.image_matrices)
    return result


def per_image_scores(
    matrices: Sequence[np.ndarray],
    names: Sequence[str],
    ignore_index: int | None = None,
    gt_files: Sequence[str] | None = None,
    pred_files: Sequence[str] | None = None,
    roi_files: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """The result's ``per_image`` list: each image's name, mIoU and (optionally) the names of its
    ground-truth, prediction and ROI files.

    An image's mIoU is the mean IoU over the classes present in its ground truth or prediction
    (``None`` when it has no valid pixel). The report ranks images by it (worst-k / best-k).

    >>> per_image_scores([np.array([[2, 0], [1, 1]])], ["a"])
    [{'name': 'a', 'miou': 0.5833333333333333}]
    """
    if len(matrices) != len(names):
        raise InputError(
            f"{len(matrices)} per-image matrices but {len(names)} names; give one name per image."
        )
    if not len(matrices):
        return []
    iou = F.per_image_iou(np.stack(matrices), ignore_index)
    rows: list[dict[str, Any]] = []
    for i, name in enumerate(names):
        valid = iou[i][~np.isnan(iou[i])]
        row: dict[str, Any] = {"name": str(name), "miou": float(valid.mean()) if valid.size else None}
        if gt_files is not None:
            row["gt"] = str(gt_files[i])
        if pred_files is not None:
            row["pred"] = str(pred_files[i])
        if roi_files is not None:
            row["roi"] = str(roi_files[i])
        rows.append(row)
    return rows


def _names(pred_dirs: Sequence[Path]) -> list[str]:
    names = [p.name or str(p) for p in pred_dirs]
    if len(set(names)) < len(names):
        names = [str(p) for p in pred_dirs]
    if len(set(names)) < len(names):
        raise InputError(f"the same prediction folder is given twice: {[str(p) for p in pred_dirs]}.")
    return names


def compare_predictions(
    gt_dir: str | os.PathLike[str],
    pred_dirs: Sequence[str | os.PathLike[str]],
    metric: str | MatrixScore | CaseScore = "miou",
    *,
    num_resamples: int = 1000,
    num_permutations: int = 10000,
    seed: int = 0,
    alpha: float = 0.05,
    options: EvalOptions | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Evaluate several prediction folders on one ground-truth folder and compare them pairwise
    with the first on ``metric`` (see :func:`~segwise.metrics.compare.compare_matrices`).

    Every folder must hold a prediction for every ground-truth file (the pairing rule of
    ``segwise eval``, with ``match``), so that the sets are compared on the same images. Label
    volumes are compared case by case (one volume is one resampled unit). Masks
    are read as for ``segwise eval`` (``spec``, ``value_map``, ``classes`` or a ready ``reader``),
    inside the ROI masks of ``roi_dir`` when given.

    A surface metric (``hd95``, ``assd``, ``nsd@1``, ``hd95:K``, see
    :func:`~segwise.metrics.scalar.parse_case_metric`) is compared over cases (paired, lower is better
    for distances); ``family_options`` then holds the surface family's options (``spacing``,
    ``hd_mode``, ``empty_distance``); the metric's tolerance or percentile is set from its name.
    """
    o = _options(options, fields)
    pred_paths = [Path(p) for p in pred_dirs]
    if len(pred_paths) < 2:
        raise InputError(f"compare-preds needs at least two --pred folders, got {len(pred_paths)}.")
    names = _names(pred_paths)
    reader, roi_dir, warn = o.build_reader(), o.roi_dir, o.warn
    ignore = reader.eval_ignore_index(roi_dir is not None)
    class_list = list(reader.spec.class_names)
    case_metric = None
    families: list[str] = []
    options = dict(o.family_options or {})
    if is_case_metric(metric):  # before reading images
        case_metric = parse_case_metric(metric, class_list, reader.ignore_index)
        families = ["surface"]
        if case_metric.tolerance is not None:
            options["nsd_tolerance"] = (case_metric.tolerance,)
        if case_metric.percentile is not None:
            options["hd_percentile"] = case_metric.percentile
    else:
        metric = parse_metric(metric, class_list, reader.ignore_index)
    stacks, case_scores = [], []
    volumes = False
    class_names = None
    for path in pred_paths:
        res = evaluate_folders(
            gt_dir,
            path,
            o,
            allow_missing=False,
            warn=warn,
            reader=reader,
            keep_matrices=True,
            families=families,
            family_options=options,
        )
        class_names = res["class_names"]
        volumes = res["source"].get("kind") == "volumes"
        stacks.append(res.pop("image_matrices"))
        if case_metric is not None:
            case_scores.append(_case_scores(res, case_metric))
        warn = _quiet  # the ground truth's warnings are the same for every folder: say them once
    out = compare_matrices(
        stacks,
        names,
        ignore_index=ignore,
        class_names=class_names,
        num_resamples=num_resamples,
        num_permutations=num_permutations,
        seed=seed,
        alpha=alpha,
        metric="miou" if case_metric is not None else metric,
    )
    if case_metric is not None:
        compare_case_scores(out, case_scores, case_metric, num_resamples, num_permutations, seed, alpha)
    for row, path in zip(out["predictions"], pred_paths, strict=True):
        row["path"] = str(path)
    out["policy"].update(reader.policy())
    if volumes:  # the resampled units are cases, the counted ones voxels
        out["policy"].update(VOLUME_POLICY)
    if roi_dir is not None:
        out["policy"]["roi"] = f"only pixels where the ROI mask ({roi_dir}) is non-zero are compared"
    return {"kind": out.pop("kind"), "segwise_version": __version__, "gt": str(gt_dir), **out}


def _case_scores(result: Mapping[str, Any], metric: CaseScore) -> np.ndarray:
    """``(N,)`` case scores of a surface metric from an evaluation result (NaN where undefined)."""
    surface = result["surface"]
    column = surface["metrics"].index(metric.key)
    if metric.class_id is None:  # the per-case mean over evaluated classes, as mean_<metric>
        return np.array([np.nan if x is None else x for x in surface["case_scores"][metric.key]])
    return np.array(
        [
            np.nan if case[metric.class_id][column] is None else case[metric.class_id][column]
            for case in surface["per_case"]
        ]
    )


def _quiet(message: str) -> None:
    pass
