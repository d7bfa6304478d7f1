"""Evaluating medical volumes: what :func:`segwise.evaluate.evaluate_folders` does differently when the
ground-truth folder holds label volumes (``.nii``, ``.nii.gz``, ``.nrrd``, ``.nhdr``, ``.mha``, ``.mhd``).

* One volume is one *case*: it is one "image" of the per-image scores (``per_image`` rows, the
  per-case matrices of ``--ci`` and ``compare-preds``), and the dataset-level confusion matrix sums
  voxels over all cases. Every pixel score is a voxel score.
* Ground truth and prediction of a case must lie on the same voxel grid: same shape, spacing within
  1e-4 relative, same origin and direction (:func:`~segwise.data.volumes.check_same_geometry`); an
  ROI volume too. Nothing is resampled.
* The slice-based families (``--boundary``, ``--regions``) and the 2-D per-image inputs
  (``--probs``, ``--uncertainty``) are refused with what to use instead (:func:`check_volume_options`).
* At most ``workers`` cases are read at a time (volumes are large); the default is one worker per
  core, at most :data:`DEFAULT_VOLUME_WORKERS`.

This module reads and checks; the evaluation loop is the one of :mod:`segwise.evaluate.core`, which
imports it (never the reverse).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from segwise.data.masks import MaskReader
from segwise.data.pairing import list_files
from segwise.data.readers import MASK_SUFFIXES, apply_roi
from segwise.data.volumes import VOLUME_SUFFIXES, Geometry, check_same_geometry, read_roi_volume
from segwise.errors import DataError, InputError
from segwise.metrics import functional as F
from segwise.metrics.families import registered_families

__all__ = [
    "DEFAULT_VOLUME_WORKERS",
    "VOLUME_POLICY",
    "case_fields",
    "check_volume_options",
    "folder_kind",
    "load_volume_pair",
    "suffixes_of",
    "volume_workers",
]

DEFAULT_VOLUME_WORKERS = 4

VOLUME_POLICY: dict[str, str] = {
    "volumes": "each volume is one case: 'pixel' scores are voxel scores from the confusion matrix summed over "
    "the voxels of all cases, and every per-image number (per_image rows, miou_per_image, --ci, compare-preds) "
    "is per case",
    "geometry": "ground truth, prediction and ROI of a case share shape, spacing (within 1e-4 relative), origin "
    "and direction; nothing is resampled",
    "volume_axes": "per-case shape and spacing are in array order (z, y, x); geometry holds the header's "
    "spacing, origin and direction in physical order (x, y, z)",
}


def suffixes_of(kind: Literal["images", "volumes"]) -> tuple[str, ...]:
    """The file suffixes of a folder of ``kind``."""
    return VOLUME_SUFFIXES if kind == "volumes" else MASK_SUFFIXES


def folder_kind(folder: str | os.PathLike[str], role: str) -> Literal["images", "volumes"]:
    """Whether ``folder`` holds label volumes or 2-D masks; a folder with both is a :class:`DataError`
    naming one file of each kind. A folder with neither counts as ``"images"`` (the 2-D path says
    what it expected).

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "case_001.nii.gz").write_bytes(b"")
        >>> folder_kind(d, "ground-truth")
        'volumes'
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{role} folder {folder} does not exist or is not a folder.")
    volumes = list_files(folder, VOLUME_SUFFIXES, role)
    if not volumes:
        return "images"
    images = list_files(folder, MASK_SUFFIXES, role)
    if images:
        raise DataError(
            f"{role} folder {folder} mixes label volumes ({_files(volumes)}) and 2-D masks ({_files(images)}); a "
            "folder is evaluated as one kind. Move one kind to its own folder."
        )
    return "volumes"


def _files(paths: Sequence[Path]) -> str:
    return f"{len(paths)} file{'s' if len(paths) != 1 else ''}, e.g. {paths[0].name}"


def check_volume_options(
    families: Iterable[str],
    probs_dir: str | os.PathLike[str] | None = None,
    inputs: Mapping[str, Any] | None = None,
    subject: str = "the ground truth holds volumes",
) -> None:
    """Refuse, with what to use instead, the families and inputs that do not apply to volumes
    (``families``: names, or a mapping keyed by them such as :attr:`Evaluation.states`).

    >>> check_volume_options(["ci"])
    >>> check_volume_options(["regions"])  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    segwise.errors.InputError: the ground truth holds volumes, but --regions (2-D connected components matched
    at IoU > 0.5) is defined on 2-D images; export the slices as 2-D masks to score objects per slice.
    The pixel (voxel) scores, --surface and --ci take volumes: name them instead of --all.
    """
    registry = registered_families()
    by_input = {i: f.name for f in registry.values() for i in f.inputs}
    wanted = (
        list(families)
        + (["probs"] if probs_dir is not None else [])
        + [by_input.get(i, i) for i in inputs or {}]
    )
    refused = [
        registry[name].volumes
        for name in dict.fromkeys(wanted)
        if name in registry and registry[name].volumes
    ]
    if refused:
        taking = [f.flag for f in registry.values() if f.flag and not f.volumes]  # --surface, --ci
        listed = " and ".join([", ".join(taking[:-1]), taking[-1]] if len(taking) > 1 else taking)
        raise InputError(
            f"{subject}, but "
            + "; ".join(refused)
            + f". The pixel (voxel) scores, {listed} take volumes: name them instead of --all."
        )


def volume_workers(workers: int) -> int:
    """Cases read at a time: ``workers``, or for 0 one per core, at most :data:`DEFAULT_VOLUME_WORKERS`."""
    return workers if workers > 0 else min(os.cpu_count() or 1, DEFAULT_VOLUME_WORKERS)


def load_volume_pair(
    gt_path: Path, pred_path: Path, reader: MaskReader, roi_path: Path | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[tuple[int, ...], Geometry]]:
    """Read one case (ground truth, prediction and ROI volumes), check that they share their geometry,
    and count its confusion matrix over all its voxels.

    Runs in a worker thread.

    Returns:
        ``(pred, target, matrix, (shape, geometry))``: the class ids ``(z, y, x)`` (the target with
        the ROI applied), the case's ``(C, C)`` matrix, and the shape and geometry of the ground truth.
    """
    target, geometry = reader.read_target_volume(gt_path)
    pred, pred_geometry = reader.read_prediction_volume(pred_path)
    check_same_geometry(gt_path, target.shape, geometry, pred_path, pred.shape, pred_geometry)
    ignore = reader.eval_ignore_index(roi_path is not None)
    if roi_path is not None:
        roi, roi_geometry = read_roi_volume(roi_path)
        check_same_geometry(gt_path, target.shape, geometry, roi_path, roi.shape, roi_geometry)
        target = apply_roi(target, roi, ignore, source=f"ground truth {gt_path} (ROI {roi_path})")
    try:
        matrix = F.confusion_matrix_serial(pred, target, reader.num_classes, ignore)
    except InputError as exc:
        advice = (
            ""
            if reader.pred_value_map is not None
            else " Predicted volumes are read as class ids; for other stored values pass --pred-value-map, "
            "e.g. 0:0,255:1."
        )
        raise DataError(f"{pred_path} vs {gt_path}: {exc}{advice}") from None
    return pred, target, matrix, (tuple(int(n) for n in target.shape), geometry)


def case_fields(shape: Sequence[int], geometry: Geometry) -> dict[str, Any]:
    """The volume fields of a case's ``per_image`` row: ``shape`` and ``spacing`` in array order
    ``(z, y, x)``, and the header's ``geometry`` (physical order ``(x, y, z)``).

    >>> g = Geometry((0.8, 0.8, 3.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    >>> case_fields((10, 32, 32), g)["spacing"]
    [3.0, 0.8, 0.8]
    """
    return {"shape": list(shape), "spacing": list(geometry.array_spacing), "geometry": geometry.to_dict()}
