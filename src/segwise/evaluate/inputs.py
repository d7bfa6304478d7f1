"""Pairing and reading the inputs of an evaluation: ground-truth, prediction, probability, ROI and
extra-array files (the pairing rule is in the package docstring and :mod:`segwise.data.pairing`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segwise.data.masks import MaskReader, check_same_size
from segwise.data.pairing import PAIRING_RULE, keyed_files, pair_to
from segwise.data.readers import MASK_SUFFIXES, apply_roi, read_roi
from segwise.errors import DataError, InputError, some
from segwise.evaluate.volumes import (
    folder_kind,
    suffixes_of,
)
from segwise.metrics import functional as F
from segwise.metrics.probs import SUM_TOLERANCE


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


@dataclass(frozen=True)
class Pairing:
    """The ground-truth files and what pairs with each, by one rule (:data:`PAIRING_RULE`).

    Attributes:
        gts: ``{key: ground-truth file}`` of the paired ground truths, in ground-truth order.
        preds: ``{ground-truth file: prediction}`` (empty without a prediction folder).
        probs: ``{ground-truth file: probabilities .npy}`` (empty without a probabilities folder).
        missing: ground-truth files that lack a prediction or probabilities file.
        extra: prediction and probabilities files that pair with no ground truth.
    """

    gts: dict[str, Path]
    preds: dict[Path, Path]
    probs: dict[Path, Path]
    missing: list[Path]
    extra: list[Path]

    @property
    def pairs(self) -> list[tuple[Path, Path]]:
        """``(ground truth, prediction)`` in ground-truth order; without predictions the probabilities
        file stands in for the prediction (its argmax is the prediction)."""
        return [(g, self.preds.get(g) or self.probs[g]) for g in self.gts.values()]


def pair_inputs(
    gt_dir: Path, pred_dir: Path | None = None, probs_dir: Path | None = None, match: str | None = None
) -> Pairing:
    """Pair the ground-truth files of ``gt_dir`` with the predictions of ``pred_dir`` and the
    probabilities of ``probs_dir`` (at least one of the two), all by key (see the module docstring).

    Predictions and ground truth hold the same kind of files: 2-D masks, or label volumes (``.nii.gz``,
    ``.nrrd``, ``.mha``, ...); anything else is a :class:`DataError` that names both kinds. A ground
    truth is paired when every given folder has its file.
    """
    gt_dir = Path(gt_dir)
    if pred_dir is None and probs_dir is None:
        raise InputError("give a folder of predicted masks (--pred) or of probabilities (--probs).")
    sources: dict[str, dict[str, Path]] = {}
    if pred_dir is not None:
        gts, sources["pred"] = _same_kind_files(gt_dir, Path(pred_dir), "prediction", match)
    else:
        gts = _mask_files(gt_dir, "ground-truth", match)
    if probs_dir is not None:
        sources["probs"] = _probs_files(Path(probs_dir), match)
    matched: dict[str, dict[str, Path]] = {}
    extra: list[Path] = []
    for name, files in sources.items():
        matched[name], unpaired = pair_to(gts, files, prefix=match is None)
        extra += unpaired
    keys = [k for k in gts if all(k in by_gt for by_gt in matched.values())]

    def of(name: str) -> dict[Path, Path]:
        return {gts[k]: matched[name][k] for k in keys} if name in matched else {}

    return Pairing(
        gts={k: gts[k] for k in keys},
        preds=of("pred"),
        probs=of("probs"),
        missing=[gts[k] for k in gts if k not in set(keys)],
        extra=extra,
    )


def pair_files(
    gt_dir: Path, pred_dir: Path, match: str | None = None
) -> tuple[list[tuple[Path, Path]], list[Path], list[Path]]:
    """``(pairs, missing, extra)`` of ground-truth and prediction files (:func:`pair_inputs` without
    probabilities): pairs in ground-truth order, ground-truth files without a prediction, and
    prediction files without a ground truth."""
    pairing = pair_inputs(gt_dir, pred_dir, match=match)
    return pairing.pairs, pairing.missing, pairing.extra


PROBS_SUFFIXES = (".npy",)


def _probs_files(probs_dir: Path, match: str | None) -> dict[str, Path]:
    if not probs_dir.is_dir():
        raise DataError(f"probabilities folder {probs_dir} does not exist or is not a folder.")
    probs = keyed_files(probs_dir, PROBS_SUFFIXES, "probabilities", match)
    if not probs:
        raise DataError(
            f"probabilities folder {probs_dir} holds no .npy files; point --probs at the probs/ folder of "
            "segwise predict --save probs."
        )
    return probs


def read_probs(path: Path, num_classes: int, shape: tuple[int, ...]) -> np.ndarray:
    """Read and check one probabilities file: ``(C, H, W)`` floats summing to 1 over C
    (within ``probs.SUM_TOLERANCE``)."""
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
                f"{len(missing)} ground-truth files have no {name} array (<key>.npy) in {folder}: "
                f"{some(p.name for p in missing)}."
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
