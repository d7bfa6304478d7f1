"""Evaluate a folder of predicted masks against a folder of ground-truth masks; compare folders.

This module owns evaluation: :class:`Evaluation` feeds each (prediction, ground truth) pair to the
pixel state and to the states of the chosen metric families (registered in
:mod:`segwise.metrics.families`) and assembles the result. ``segwise eval``
(:func:`evaluate_folders`), ``segwise predict --eval-gt`` and ``segwise compare-preds``
(:func:`compare_predictions`) go through it.

Pairing rule (also in docs/metrics.md, code in :mod:`segwise.data.pairing`): files are paired by
key. The key is the stem, or with ``match`` the first capture group of a regex searched in the
stem. Without ``match`` a prediction pairs with the ground truth of the same stem, or, failing
that, with the ground truth whose stem is the longest prefix of the prediction's stem followed by
``_``, ``-`` or ``.`` (so ``0001TP_008550_pred.png`` pairs with ``0001TP_008550.png``). ROI masks pair
with the ground truth by the same rule. Only mask files (.png, .bmp, .tif, .tiff, .gif) are
considered, and in a probabilities folder (``--probs``) only ``.npy`` files. Masks are read through
one :class:`~segwise.data.masks.MaskReader`; probabilities by :func:`read_probs`.

A ground-truth folder of label volumes (``.nii.gz``, ``.nrrd``, ``.mha``, ...) is evaluated case by
case, each volume one "image": see :mod:`segwise.evaluate_volumes`.
"""

from __future__ import annotations

import collections
import csv
import io
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import numpy as np

from segwise import __version__
from segwise.data.masks import MaskReader, check_same_size, mask_reader
from segwise.data.pairing import PAIRING_RULE, file_stem, keyed_files, pair_to
from segwise.data.readers import MASK_SUFFIXES, ClassTable, apply_roi, read_roi
from segwise.errors import DataError, InputError, some
from segwise.evaluate_volumes import (
    VOLUME_POLICY,
    case_fields,
    check_volume_options,
    folder_kind,
    load_volume_pair,
    suffixes_of,
    volume_workers,
)
from segwise.io_utils import atomic_write_text
from segwise.metrics import functional as F
from segwise.metrics.compare import compare_case_scores, compare_matrices
from segwise.metrics.confusion import ConfusionMatrix
from segwise.metrics.families import build_states, get_family, summary_lines
from segwise.metrics.probs import SUM_TOLERANCE
from segwise.metrics.scalar import CaseMetric, Metric, is_case_metric, parse_case_metric, parse_metric
from segwise.metrics.state import MetricState


class Evaluation:
    """The evaluation of one prediction set: the pixel state and the chosen families' states, fed
    image by image, then one result.

    Args:
        num_classes: number of evaluated classes C.
        ignore_index: ground-truth value that is not counted (with an ROI, the value outside it).
        families: optional metric families to add (names in :mod:`segwise.metrics.families`,
            e.g. ``("boundary", "ci")``); the pixel scores are always evaluated.
        options: options of those families, e.g. ``{"bf_theta": 2.0, "resamples": 500}``.
        accumulators: further ready :class:`~segwise.metrics.state.MetricState` objects (anything
            with ``update(pred, target)`` and ``result(state, class_names)``), fed after the families.

    Example:
        >>> ev = Evaluation(2, families=["regions"])
        >>> t = np.zeros((6, 6), np.uint8); t[1:4, 1:4] = 1
        >>> ev.add(t, t)
        >>> r = ev.result(["bg", "square"])
        >>> r["miou"], r["objects"]["pq"]
        (1.0, 1.0)
    """

    def __init__(
        self,
        num_classes: int,
        ignore_index: int | None = None,
        families: Iterable[str] = (),
        options: Mapping[str, Any] | None = None,
        accumulators: Iterable[Any] = (),
    ) -> None:
        self.states: dict[str, MetricState] = build_states(families, num_classes, ignore_index, options)
        self.pixel = cast(ConfusionMatrix, self.states["pixel"])
        labels = [name for name in self.states if name != "pixel" and get_family(name).needs == "labels"]
        self.accumulators: list[Any] = [self.states[name] for name in labels]
        # the extra per-image arrays each accumulator takes (its family's ``inputs``), by position
        self.accumulator_inputs: list[tuple[str, ...]] = [get_family(name).inputs for name in labels]
        # whether it takes the voxel spacing (its family's ``geometry``), by position
        self.accumulator_geometry: list[bool] = [get_family(name).geometry for name in labels]
        self.accumulators += list(accumulators)
        self.accumulator_geometry += [False] * (len(self.accumulators) - len(self.accumulator_geometry))
        self.accumulator_inputs += [()] * (len(self.accumulators) - len(self.accumulator_inputs))
        self.probs_states: list[MetricState] = [
            s for name, s in self.states.items() if get_family(name).needs == "probs"
        ]

    @property
    def inputs(self) -> tuple[str, ...]:
        """Names of the extra per-image arrays the chosen families need (see :meth:`add`)."""
        return tuple(dict.fromkeys(n for names in self.accumulator_inputs for n in names))

    def add(
        self,
        pred: np.ndarray,
        target: np.ndarray,
        matrix: np.ndarray | None = None,
        probs: np.ndarray | None = None,
        inputs: Mapping[str, np.ndarray] | None = None,
        spacing: Sequence[float] | None = None,
    ) -> None:
        """Add one image: predicted class ids and ground truth ``(H, W)`` (ROI already applied), its
        confusion matrix when it was counted already (e.g. in a worker thread), the class
        probabilities ``(C, H, W)`` when a family needs them (``probs``), and the extra arrays of the
        families that declare ``inputs`` (e.g. ``{"uncertainty": (2, H, W) array}``).

        A volume is added the same way, as one case: class ids ``(D, H, W)`` and ``spacing``, the
        voxel size in array order ``(z, y, x)`` (one value per axis), forwarded to the families that
        declare ``geometry`` (the surface family; ``None`` lets them use their ``spacing`` option,
        else 1); the pixel scores count voxels and do not need it. The 2-D families (boundary,
        regions, probs, uncertainty) refuse a volume rather than take its slices for a batch of images."""
        if np.ndim(target) == 3:
            check_volume_options(self.states, subject=f"the case {np.shape(target)} is a volume")
        if spacing is not None and len(spacing) != np.ndim(target):
            raise InputError(
                f"`spacing` has {len(spacing)} values but the case has {np.ndim(target)} axes "
                f"{tuple(np.shape(target))}; give one voxel size per array axis, in array order (z, y, x)."
            )
        if matrix is None:  # serial kernel: safe from any thread, and callers keep the cores busy
            matrix = F.confusion_matrix_serial(pred, target, self.pixel.num_classes, self.pixel.ignore_index)
        self.pixel.add_matrix(matrix)
        inputs = inputs or {}
        for acc, names, geometry in zip(
            self.accumulators, self.accumulator_inputs, self.accumulator_geometry, strict=True
        ):
            missing = [n for n in names if n not in inputs]
            if missing:
                raise InputError(
                    f"{type(acc).__name__} needs the per-image input {missing[0]!r}; pass "
                    f"Evaluation.add(..., inputs={{{missing[0]!r}: array}}) (segwise eval --{missing[0]} DIR)."
                )
            kwargs: dict[str, Any] = {n: inputs[n] for n in names}
            if geometry:
                kwargs["spacing"] = spacing
            acc.update(pred, target, **kwargs)
        if self.probs_states and probs is None:
            raise InputError("the probs family needs the class probabilities of every image: pass probs=.")
        for state in self.probs_states:
            state.update(probs, target)

    def result(
        self, class_names: Sequence[str] | None = None, extra_policy: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The result dict (see :func:`segwise.metrics.build_result`) with every family's keys."""
        result = self.pixel.result(None, class_names)
        result["policy"].update(extra_policy or {})
        for acc in [*self.accumulators, *self.probs_states]:
            _merge(result, acc.result(self.pixel, result["class_names"]))
        return result


def _mask_files(
    folder: Path, role: str, match: str | None = None, suffixes: Sequence[str] = MASK_SUFFIXES
) -> dict[str, Path]:
    if not folder.is_dir():
        raise DataError(f"{role} folder {folder} does not exist or is not a folder.")
    files = keyed_files(folder, suffixes, role, match)
    if not files:
        raise DataError(
            f"{role} folder {folder} holds no mask files ({', '.join(suffixes)}); point it at the "
            "folder of masks."
        )
    return files


def _same_kind_files(
    gt_dir: Path, other_dir: Path, role: str, match: str | None = None
) -> tuple[dict[str, Path], dict[str, Path]]:
    """The keyed files of a ground-truth folder and of a folder paired with it (predictions, ROI),
    which must hold the same kind of files: 2-D masks or label volumes."""
    kind = folder_kind(gt_dir, "ground-truth")
    other_kind = folder_kind(other_dir, role)
    gts = _mask_files(gt_dir, "ground-truth", match, suffixes_of(kind))
    if other_kind != kind:
        found = keyed_files(other_dir, suffixes_of(other_kind), role, None)
        holds = "label volumes" if other_kind == "volumes" else "2-D masks"
        holds = f"{holds} (e.g. {next(iter(found.values())).name})" if found else "no label volumes"
        raise DataError(
            f"the ground truth {gt_dir} holds {'label volumes' if kind == 'volumes' else '2-D masks'} (e.g. "
            f"{next(iter(gts.values())).name}) but the {role} folder {other_dir} holds {holds}; both must hold "
            f"{', '.join(suffixes_of(kind))} files."
        )
    return gts, _mask_files(other_dir, role, match, suffixes_of(kind))


def pair_files(
    gt_dir: Path, pred_dir: Path, match: str | None = None
) -> tuple[list[tuple[Path, Path]], list[Path], list[Path]]:
    """Pair ground-truth and prediction files by key (see the module docstring).

    Both folders hold 2-D masks, or both label volumes (``.nii.gz``, ``.nrrd``, ``.mha``, ...);
    anything else is a :class:`DataError` that names both kinds.

    Returns:
        ``(pairs, missing, extra)``: pairs in ground-truth order, ground-truth files without a
        prediction, and prediction files without a ground truth.
    """
    gts, preds = _same_kind_files(Path(gt_dir), Path(pred_dir), "prediction", match)
    by_gt, extra = pair_to(gts, preds, prefix=match is None)
    pairs = [(gts[k], by_gt[k]) for k in gts if k in by_gt]
    missing = [gts[k] for k in gts if k not in by_gt]
    return pairs, missing, extra


PROBS_SUFFIXES = (".npy",)


def pair_probs(
    gt_files: Sequence[Path], probs_dir: Path, match: str | None = None
) -> tuple[dict[Path, Path], list[Path]]:
    """The probabilities file (``.npy``) of each ground-truth file, by the pairing rule of predictions.

    Returns:
        ``({gt path: probs path}, probs files that pair with no ground truth)``.
    """
    if not Path(probs_dir).is_dir():
        raise DataError(f"probabilities folder {probs_dir} does not exist or is not a folder.")
    probs = keyed_files(Path(probs_dir), PROBS_SUFFIXES, "probabilities", match)
    if not probs:
        raise DataError(
            f"probabilities folder {probs_dir} holds no .npy files; point --probs at the probs/ folder of "
            "segwise predict --save probs."
        )
    gts = keyed_files(Path(gt_files[0]).parent, MASK_SUFFIXES, "ground-truth", match) if gt_files else {}
    by_gt, extra = pair_to(gts, probs, prefix=match is None)
    key_of = {path: key for key, path in gts.items()}
    return {g: by_gt[key_of[g]] for g in gt_files if key_of[g] in by_gt}, extra


def read_probs(path: Path, num_classes: int, shape: tuple[int, ...]) -> np.ndarray:
    """Read and check one probabilities file: ``(C, H, W)`` floats summing to 1 over C (within ``probs.SUM_TOLERANCE``)."""
    try:
        probs = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(
            f"cannot read probabilities {path}: {exc}. Write them with np.save (C, H, W)."
        ) from None
    if not isinstance(probs, np.ndarray) or not np.issubdtype(probs.dtype, np.floating):
        raise DataError(
            f"probabilities {path} must be a float array (C, H, W); got {getattr(probs, 'dtype', probs)}."
        )
    if probs.ndim != 3 or probs.shape[0] != num_classes:
        raise DataError(
            f"probabilities {path} have shape {probs.shape}; expected ({num_classes}, H, W): one map per class."
        )
    check_same_size(
        probs.shape,
        tuple(shape),
        f"probability file {path}",
        "the ground truth",
        "Predict at the ground truth's size.",
    )
    total = probs.astype(np.float32).sum(axis=0)
    low, high = float(np.min(probs)), float(np.max(probs))
    if (
        not np.isfinite(total).all()
        or low < 0
        or high > 1 + SUM_TOLERANCE
        or np.abs(total - 1).max() > SUM_TOLERANCE
    ):
        worst = float(np.nanmax(np.abs(total - 1))) if np.isfinite(total).any() else float("nan")
        raise DataError(
            f"probabilities {path} are not probabilities: values in [{low:g}, {high:g}], sums over classes off 1 by "
            f"up to {worst:g} (tolerance {SUM_TOLERANCE:g}). Save softmax outputs, not logits."
        )
    return probs


def load_probs_pair(
    gt_path: Path, pred_path: Path | None, probs_path: Path, reader: MaskReader, roi_path: Path | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Like :func:`load_pair`, with the probabilities; without ``pred_path`` the prediction is their argmax."""
    if pred_path is not None:
        pred, target, cm = load_pair(gt_path, pred_path, reader, roi_path)
        return pred, target, cm, read_probs(probs_path, reader.num_classes, target.shape)
    target = reader.read_target(gt_path)
    probs = read_probs(probs_path, reader.num_classes, target.shape)
    pred = probs.argmax(axis=0).astype(np.uint8 if reader.num_classes <= 256 else np.uint16)
    target, cm = _count_in_roi(pred, target, reader, gt_path, roi_path, f"{probs_path} vs {gt_path}")
    return pred, target, cm, probs


def pair_roi(gt_files: Sequence[Path], roi_dir: Path, match: str | None = None) -> dict[Path, Path]:
    """The ROI mask (or ROI volume) of each ground-truth file (same pairing rule); every file must have one."""
    if not gt_files:
        return {}
    gts, rois = _same_kind_files(Path(gt_files[0]).parent, Path(roi_dir), "ROI mask", match)
    by_gt, _ = pair_to(gts, rois, prefix=match is None)  # extra ROI files (e.g. of other splits) are fine
    key_of = {path: key for key, path in gts.items()}
    missing = [g.name for g in gt_files if key_of[g] not in by_gt]
    if missing:
        raise DataError(
            f"{len(missing)} ground-truth files have no ROI mask in {roi_dir}: {some(Path(m).name for m in missing)}. "
            f"ROI masks pair with the ground truth like predictions do ({PAIRING_RULE}); pass --match REGEX when "
            "the names differ."
        )
    return {g: by_gt[key_of[g]] for g in gt_files}


def pair_arrays(
    gts: Mapping[str, Path],
    needed: Sequence[str],
    folders: Mapping[str, str | os.PathLike[str]],
    match: str | None = None,
) -> dict[str, dict[Path, Path]]:
    """For each needed input name, ``{ground-truth file: <key>.npy}`` from its folder, for the
    ground truths ``gts`` (``{key: file}``), paired like the predictions; a missing folder or file
    raises :class:`DataError`."""
    unused = [n for n in folders if n not in needed]
    if unused:
        raise InputError(f"no evaluated metric family takes the input {unused[0]!r}; needed: {list(needed)}.")
    out: dict[str, dict[Path, Path]] = {}
    for name in needed:
        if name not in folders:
            raise InputError(f"the {name} metrics need a folder of per-image arrays: pass --{name} DIR.")
        folder = Path(folders[name])
        if not folder.is_dir():
            raise DataError(f"{name} folder {folder} does not exist or is not a folder.")
        by_gt, _ = pair_to(gts, keyed_files(folder, (".npy",), name, match), prefix=match is None)
        missing = [g for k, g in gts.items() if k not in by_gt]
        if missing:
            raise DataError(
                f"{len(missing)} ground-truth files have no {name} array (<key>.npy) in {folder}: {some(p.name for p in missing)}."
            )
        out[name] = {g: by_gt[k] for k, g in gts.items()}
    return out


def _load_pair_and_arrays(
    gt_path: Path,
    pred_path: Path | None,
    reader: MaskReader,
    roi_path: Path | None,
    arrays: Mapping[str, Path],
    probs_path: Path | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, dict[str, np.ndarray]]:
    probs: np.ndarray | None = None
    if probs_path is None:
        assert pred_path is not None
        pred, target, cm = load_pair(gt_path, pred_path, reader, roi_path)
    else:
        pred, target, cm, probs = load_probs_pair(gt_path, pred_path, probs_path, reader, roi_path)
    loaded = {}
    for name, path in arrays.items():
        a = np.load(path, allow_pickle=False)
        check_same_size(
            a.shape,
            target.shape,
            f"{name} array {path}",
            f"ground truth {gt_path}",
            "Write it at the ground truth's size.",
        )
        loaded[name] = a
    return pred, target, cm, probs, loaded


def _pred_advice(reader: MaskReader, pred: np.ndarray, roi: bool) -> str:
    # segwise predict --roi writes the ROI ignore value (255) outside the ROI: that needs --roi, not a map
    value = reader.eval_ignore_index(True)
    outside = (
        f" Predictions of segwise predict --roi hold {value} outside the ROI: evaluate them with the same --roi."
        if not roi and (pred == value).any()
        else ""
    )
    if reader.pred_value_map is not None:
        return outside
    return outside + (
        " Predictions are read as class ids (what segwise predict writes to index/); for predictions stored "
        "otherwise, e.g. as 0/255, pass --pred-value-map 0:0,255:1."
    )


def load_pair(
    gt_path: Path, pred_path: Path, reader: MaskReader, roi_path: Path | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode one pair (and its ROI) and count its confusion matrix.

    Runs in a worker thread: the decoders and the serial kernel release the GIL.
    """
    target = reader.read_target(gt_path)
    pred = reader.read_prediction(pred_path)
    check_same_size(
        pred.shape,
        target.shape,
        f"prediction {pred_path}",
        f"ground truth {gt_path}",
        "Predict at the ground truth's size.",
    )

    def advice() -> str:  # only on an error: it scans the prediction
        return _pred_advice(reader, pred, roi_path is not None)

    target, cm = _count_in_roi(pred, target, reader, gt_path, roi_path, f"{pred_path} vs {gt_path}", advice)
    return pred, target, cm


def _count_in_roi(
    pred: np.ndarray,
    target: np.ndarray,
    reader: MaskReader,
    gt_path: Path,
    roi_path: Path | None,
    what: str,
    advice: Callable[[], str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The target with the ROI applied (outside: the ignore value) and the image's confusion matrix."""
    ignore = reader.eval_ignore_index(roi_path is not None)
    if roi_path is not None:
        target = apply_roi(
            target, read_roi(roi_path), ignore, source=f"ground truth {gt_path} (ROI {roi_path})"
        )
    try:
        return target, F.confusion_matrix_serial(pred, target, reader.num_classes, ignore)
    except InputError as exc:
        raise DataError(f"{what}: {exc}{advice() if advice else ''}") from None


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


def evaluate_folders(
    gt_dir: str | os.PathLike[str],
    pred_dir: str | os.PathLike[str] | None,
    num_classes: int | None = None,
    ignore_index: int | None = None,
    classes: str | os.PathLike[str] | ClassTable | None = None,
    allow_missing: bool = False,
    workers: int = 0,
    warn: Callable[[str], None] = print,
    accumulators: Iterable[Any] = (),
    class_names: Sequence[str] | None = None,
    *,
    spec: Any = None,
    value_map: str | Mapping[int, int] | None = None,
    pred_value_map: str | Mapping[int, int] | None = None,
    roi_dir: str | os.PathLike[str] | None = None,
    match: str | None = None,
    reader: MaskReader | None = None,
    keep_matrices: bool = False,
    families: Iterable[str] = (),
    family_options: Mapping[str, Any] | None = None,
    probs_dir: str | os.PathLike[str] | None = None,
    inputs: Mapping[str, str | os.PathLike[str]] | None = None,
) -> dict[str, Any]:
    """Evaluate every prediction mask in ``pred_dir`` against its ground truth in ``gt_dir``.

    Masks are decoded in parallel threads; memory stays O(C²) per image plus a few decoded images.
    A ground-truth folder of label volumes (``.nii.gz``, ``.nrrd``, ``.mha``, ...) is evaluated case
    by case, one volume per "image", in voxels (:mod:`segwise.evaluate_volumes`, docs/volumes.md).

    Args:
        gt_dir, pred_dir: folders of masks, or of label volumes.
        num_classes: number of evaluated classes C (optional when ``spec``, ``classes`` or
            ``value_map`` gives it).
        ignore_index: ground-truth value that is not counted.
        classes: class table CSV (``id,name,r,g,b``) or a :class:`ClassTable`: names the classes and
            decodes colour-coded masks.
        allow_missing: skip unpaired files with a warning instead of raising.
        workers: decoding threads; 0 means one per core (for volumes at most 4; at most ``workers`` cases in flight).
        warn: called with warning messages (also those of the result's ``warnings``).
        accumulators: extra metric states (:class:`~segwise.metrics.state.MetricState`); each gets
            ``update(pred, target)`` per image in ground-truth order, then ``result(state,
            class_names)`` whose dict is merged into the result. With an ROI they must be built with
            :meth:`MaskReader.eval_ignore_index` as ignore index. Prefer ``families``.
        class_names: names of the classes (default: from the spec or ``classes``, else the ids).
        spec: a DatasetSpec or ``spec.json`` that says how ground-truth masks are stored.
        value_map: ``"0:0,255:1"`` or a dict: stored ground-truth values -> class ids.
        pred_value_map: the same for predictions not stored as class ids.
        roi_dir: folder of region-of-interest masks: pixels where they are 0 are not evaluated.
        match: pairing regex (first capture group = key) for ground truth, predictions and ROI.
        reader: a ready :class:`MaskReader` (instead of the options above).
        keep_matrices: also return the ``(N, C, C)`` per-image matrices as ``image_matrices`` (a
            numpy array, not JSON: pop it before writing the result).
        families: optional metric families (:mod:`segwise.metrics.families`: ``boundary``,
            ``regions``, ``surface``, ``ci``), built with the evaluation's ignore index.
        family_options: their options, e.g. ``{"bf_theta": 2.0, "resamples": 500, "seed": 1}`` or
            ``{"spacing": (0.8, 0.8), "nsd_tolerance": (1, 2)}`` (surface; spacing in physical x, y order).
        probs_dir: folder of class probabilities ``<stem>.npy`` ``(C, H, W)`` (``segwise predict --save
            probs``), paired like predictions: adds the ``probs`` family. Without ``pred_dir`` their
            argmax is the prediction of the pixel scores.
        inputs: folders of the extra per-image arrays the families need, by input name, e.g.
            ``{"uncertainty": "out/uncertainty"}``: one ``<key>.npy`` per ground truth, paired like
            the predictions.

    Returns:
        The result dict (see :func:`segwise.metrics.build_result`), with ``source`` and ``skipped``.
    """
    if reader is None:
        if isinstance(classes, ClassTable):
            raise InputError("pass the class table as a CSV path, or build a MaskReader.")
        reader = mask_reader(
            num_classes=num_classes, classes=classes, spec=spec, value_map=value_map, ignore_index=ignore_index,
            pred_value_map=pred_value_map,
        )  # fmt: skip
    names = list(class_names) if class_names is not None else list(reader.spec.class_names)
    ignore = reader.eval_ignore_index(roi_dir is not None)
    if pred_dir is None and probs_dir is None:
        raise InputError("give a folder of predicted masks (--pred) or of probabilities (--probs).")
    families = list(families)
    if probs_dir is not None and "probs" not in families:
        families.append("probs")
    if probs_dir is None and "probs" in families:
        raise InputError("the probs family needs a folder of probabilities (--probs DIR).")
    volumes = folder_kind(Path(gt_dir), "ground-truth") == "volumes"
    if volumes:
        check_volume_options(families, probs_dir, inputs, f"the ground truth {gt_dir} holds volumes")
    evaluation = Evaluation(reader.num_classes, ignore, families, family_options, accumulators)
    probs_of: dict[Path, Path] = {}
    if pred_dir is not None:
        pairs, missing, extra = pair_files(Path(gt_dir), Path(pred_dir), match)
    else:
        gts = _mask_files(Path(gt_dir), "ground-truth", match)
        probs_of, extra = pair_probs(list(gts.values()), Path(probs_dir), match)  # type: ignore[arg-type]
        pairs = [(g, probs_of[g]) for g in gts.values() if g in probs_of]
        missing = [g for g in gts.values() if g not in probs_of]
    if pred_dir is not None and probs_dir is not None:
        probs_of, extra_probs = pair_probs([g for g, _ in pairs], Path(probs_dir), match)
        extra = extra + extra_probs
        missing = missing + [g for g, _ in pairs if g not in probs_of]
        pairs = [(g, p) for g, p in pairs if g in probs_of]
    problems = []
    if missing:
        problems.append(
            f"{len(missing)} ground-truth files have no prediction: {some(p.name for p in missing)}"
        )
    if extra:
        problems.append(f"{len(extra)} prediction files have no ground truth: {some(p.name for p in extra)}")
    if problems and not allow_missing:
        raise DataError(
            "; ".join(problems)
            + f". Fix the folders, pass --match REGEX when names differ ({PAIRING_RULE}), or "
            "pass --allow-missing to skip them."
        )
    for p in problems:
        warn(p + " (skipped)")
    if not pairs:
        raise DataError(f"no prediction in {pred_dir} pairs with a ground truth in {gt_dir}; {PAIRING_RULE}.")
    rois = pair_roi([g for g, _ in pairs], Path(roi_dir), match) if roi_dir is not None else {}
    cases: list[dict[str, Any]] = []
    if volumes:  # one case at a time per worker: volumes are large
        workers = volume_workers(workers)
        for pred, target, cm, (shape, geometry) in _bounded_map(
            load_volume_pair, [(g, p, reader, rois.get(g)) for g, p in pairs], workers, in_flight=workers
        ):
            evaluation.add(pred, target, cm, spacing=geometry.array_spacing)
            cases.append(case_fields(shape, geometry))
    else:
        paired = {g for g, _ in pairs}
        gt_keys = {k: g for k, g in _mask_files(Path(gt_dir), "ground-truth", match).items() if g in paired}
        extra_files = pair_arrays(gt_keys, evaluation.inputs, inputs or {}, match)
        workers = workers or os.cpu_count() or 1
        args = [
            (
                g, None if pred_dir is None else p, reader, rois.get(g),
                {n: files[g] for n, files in extra_files.items()}, probs_of.get(g),
            )
            for g, p in pairs
        ]  # fmt: skip
        for pred, target, cm, probs, arrays in _bounded_map(_load_pair_and_arrays, args, workers):
            evaluation.add(pred, target, cm, probs=probs, inputs=arrays)

    policy: dict[str, Any] = {
        "pairing": PAIRING_RULE + (f"; --match '{match}'" if match else ""),
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
    for name, folder in (inputs or {}).items():  # e.g. the uncertainty maps
        result["source"][name] = str(folder)
    if match is not None:  # the report finds each input image by this key
        result["source"]["match"] = match
    result["spec"] = reader.spec.to_dict()
    result["per_image"] = per_image_scores(
        state.image_matrices, [file_stem(g) for g, _ in pairs], ignore,
        gt_files=[g.name for g, _ in pairs], pred_files=[p.name for _, p in pairs],
        roi_files=[rois[g].name for g, _ in pairs] if rois else None,
    )  # fmt: skip
    for row, case in zip(result["per_image"], cases, strict=False):  # volumes: one row per case
        row.update(case)
    result["skipped"] = {
        "missing_predictions": [p.name for p in missing],
        "extra_predictions": [p.name for p in extra],
    }
    for message in result["warnings"]:
        warn(message)
    if keep_matrices:
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
    num_classes: int | None = None,
    ignore_index: int | None = None,
    classes: Any = None,
    num_resamples: int = 1000,
    num_permutations: int = 10000,
    seed: int = 0,
    alpha: float = 0.05,
    workers: int = 0,
    warn: Callable[[str], None] = print,
    metric: str | Metric | CaseMetric = "miou",
    *,
    spec: Any = None,
    value_map: Any = None,
    roi_dir: str | os.PathLike[str] | None = None,
    match: str | None = None,
    reader: Any = None,
    family_options: Mapping[str, Any] | None = None,
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
    pred_paths = [Path(p) for p in pred_dirs]
    if len(pred_paths) < 2:
        raise InputError(f"compare-preds needs at least two --pred folders, got {len(pred_paths)}.")
    names = _names(pred_paths)
    if reader is None:
        reader = mask_reader(
            num_classes=num_classes,
            classes=classes,
            spec=spec,
            value_map=value_map,
            ignore_index=ignore_index,
        )
    ignore = reader.eval_ignore_index(roi_dir is not None)
    class_list = list(reader.spec.class_names)
    case_metric = None
    families: list[str] = []
    options = dict(family_options or {})
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
            gt_dir, path, allow_missing=False, workers=workers, warn=warn, reader=reader, roi_dir=roi_dir,
            match=match, keep_matrices=True, families=families, family_options=options,
        )  # fmt: skip
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


def _case_scores(result: Mapping[str, Any], metric: CaseMetric) -> np.ndarray:
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


def _merge(result: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if key == "per_class":
            for row, add in zip(result["per_class"], value, strict=True):
                row.update(add)
        elif key == "policy":
            result["policy"].update(value)
        else:
            result[key] = value


def _fmt(x: float | None, pct: bool = True) -> str:
    if x is None:
        return "–"
    return f"{100 * x:.2f}" if pct else f"{x:.4f}"


def print_result(result: dict[str, Any], console: Any) -> None:
    """Print the per-class table and the summary rows (percentages) with rich."""
    from rich.table import Table

    volumes = (result.get("source") or {}).get("kind") == "volumes"
    images, pixels, px = ("cases (volumes)", "voxels", "vox") if volumes else ("images", "pixels", "px")
    table = Table(title=f"{result['num_images']} {images}, {result['num_pixels']:,} evaluated {pixels}")
    for col in ("id", "class", "IoU %", "Acc %", "Prec %", "Dice %", f"GT {px}", f"pred {px}"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for row in result["per_class"]:
        table.add_row(
            str(row["id"]),
            row["name"],
            _fmt(row["iou"]),
            _fmt(row["accuracy"]),
            _fmt(row["precision"]),
            _fmt(row["dice"]),
            f"{row['gt_pixels']:,}",
            f"{row['pred_pixels']:,}",
        )
    console.print(table)
    summary = Table(title="summary (dataset-level unless named)")
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    for label, key in (
        ("mIoU", "miou"),
        ("voxel accuracy" if volumes else "pixel accuracy", "pixel_accuracy"),
        ("mean accuracy", "mean_accuracy"),
        ("mean Dice", "mean_dice"),
        ("fwIoU", "fwiou"),
        ("mIoU per case" if volumes else "mIoU per image", "miou_per_image"),
    ):
        summary.add_row(label, _fmt(result[key]) + " %")
    summary.add_row("kappa", _fmt(result["kappa"], pct=False))
    console.print(summary)
    if result["num_classes"] == 2:  # binary tasks are published with the foreground's scores
        fg = result["per_class"][1]
        console.print(
            f"foreground (class 1 {fg['name']!r}): IoU {_fmt(fg['iou'])} %, Dice/F1 {_fmt(fg['dice'])} %, "
            f"precision {_fmt(fg['precision'])} %, recall (sensitivity) {_fmt(fg['recall'])} %, "
            f"specificity {_fmt(result['per_class'][0]['recall'])} %",
            highlight=False,
        )
    notes = []
    if result["absent_classes"]:
        notes.append(f"absent classes (NaN, left out of means): {result['absent_classes']}")
    if result.get("ignored_classes"):
        notes.append(f"not evaluated (ignore index): {result['ignored_classes']}")
    if result.get("policy", {}).get("roi"):
        notes.append(f"ROI: {result['policy']['roi']}")
    elif result["ignore_index"] is not None:
        spec = result.get("spec") or {}
        mapped = (
            f" (after the value map {dict(map(tuple, spec['value_map']))} of the stored values)"
            if spec.get("mask_encoding") == "value_map" and spec.get("value_map")
            else ""
        )
        notes.append(f"pixels with ground truth {result['ignore_index']} are ignored{mapped}")
    for note in notes:
        console.print(f"[dim]{note}[/]")
    for line in summary_lines(result):  # the other families' scores (boundary, objects, intervals)
        console.print(line)


def write_csv(path: str | os.PathLike[str], result: dict[str, Any]) -> None:
    """Write the per-class table as CSV (empty cells for NaN), atomically."""
    buf = io.StringIO()
    cols = ["id", "name", "iou", "accuracy", "precision", "recall", "dice", "gt_pixels", "pred_pixels"]
    writer = csv.writer(buf)
    writer.writerow(cols)
    for row in result["per_class"]:
        writer.writerow(["" if row[c] is None else row[c] for c in cols])
    atomic_write_text(path, buf.getvalue())


def write_per_case(path: str | os.PathLike[str], result: dict[str, Any], image_matrices: Any) -> None:
    """Write one CSV row per image (case) and class, atomically: ``case``, ``class_id``, ``class``,
    the image's ``iou`` and ``dice`` of the class (empty when it has no ground-truth or predicted pixel),
    and with the surface family every surface metric (``hd``, ``hd95``, ``assd``, ``nsd@τ``; empty
    when undefined) and ``empty`` (``none``, ``gt_empty``, ``pred_empty``, ``both_empty``).

    ``image_matrices``: the ``(N, C, C)`` per-image confusion matrices of the result
    (``evaluate_folders(..., keep_matrices=True)``), in the order of ``result["per_image"]``.
    """
    mats = np.asarray(image_matrices, dtype=np.int64)
    cases = [row["name"] for row in result["per_image"]]
    if mats.ndim != 3 or len(mats) != len(cases):
        raise InputError(
            f"write_per_case needs one (C, C) matrix per image: got {mats.shape} for {len(cases)} images; "
            "evaluate with keep_matrices=True."
        )
    iou = F.per_image_iou(mats, result.get("ignore_index"))
    dice = F.per_image_dice(mats, result.get("ignore_index"))
    surface = result.get("surface")
    names = surface["metrics"] if surface else []
    evaluated = F.evaluated_classes(mats.shape[1], result.get("ignore_index"))
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["case", "class_id", "class", "iou", "dice", *names, *(["empty"] if surface else [])])

    def cell(x: float | None) -> Any:
        return "" if x is None or x != x else x

    for i, case in enumerate(cases):
        for k, class_name in enumerate(result["class_names"]):
            if not evaluated[k]:
                continue
            row = [case, k, class_name, cell(iou[i, k]), cell(dice[i, k])]
            if surface:
                row += [cell(x) for x in surface["per_case"][i][k]]
                row.append(surface["per_case_empty"][i][k])
            writer.writerow(row)
    atomic_write_text(path, buf.getvalue())
