"""Predicting volumes with a model trained on their slices (the ``volumes`` dataset).

The checkpoint's spec carries the :class:`~segwise.data.spec.VolumeSlicing` it was trained with
(axis, 2.5D context, modality, CT window, channels), so a volume is cut and scaled exactly as in
training: each case is read (``case_0000``, ``case_0001``, ... as channels), scaled as a whole,
predicted slice by slice along the trained axis (whole slices in batches, with the predictor's TTA;
with a smaller tile or MC dropout each slice goes through the :class:`~segwise.infer.predict.Predictor`), and the
class ids are written as ``OUT/index/<case>.nii.gz`` with the geometry (spacing, origin, direction)
of the case's first channel: the folder that ``segwise eval`` reads.

Only the ``index`` output exists for volumes: ``color`` and ``overlay`` (2D pictures) are skipped,
and ``probs`` / ``uncertainty`` are refused.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from segwise.data.slices import VolumeCase, group_channels, read_case_image, slice_stack
from segwise.data.spec import DatasetSpec
from segwise.data.volumes import VOLUME_SUFFIXES, is_volume, volume_stem, write_volume
from segwise.errors import DataError, InputError
from segwise.infer.files import PredictSummary
from segwise.infer.predict import Predictor, to_input, tta_probabilities
from segwise.io_utils import check_writable_dir

__all__ = ["VOLUME_SAVE", "is_volume_input", "list_volume_cases", "predict_volume", "predict_volumes"]

VOLUME_SAVE = ("index",)
SKIPPED_SAVE = ("color", "overlay")  # 2D pictures: not written for volumes


def is_volume_input(path: str | os.PathLike[str]) -> bool:
    """Whether ``--input`` is a volume file or a folder holding volume files."""
    path = Path(path)
    if path.is_file():
        return is_volume(path)
    return path.is_dir() and any(p.is_file() and is_volume(p) for p in path.iterdir())


def list_volume_cases(path: str | os.PathLike[str], channels: int = 1) -> list[VolumeCase]:
    """The cases of a volume file or folder: ``case_0000``, ``case_0001`` ... group into one case.

    A single file is one case (with ``channels`` > 1, give the folder or the ``_0000`` file: its
    siblings ``_0001`` ... are picked up).
    """
    path = Path(path)
    if path.is_file():
        if not is_volume(path):
            raise DataError(f"--input {path} is not a volume file ({', '.join(VOLUME_SUFFIXES)}).")
        if channels == 1:  # case_0000.nii.gz -> case (as the labels are named), else the stem
            try:
                ((key, _),) = group_channels([path]).items()
            except DataError:
                key = volume_stem(path)
            return [VolumeCase(key, (path,))]
        files = sorted(p for p in path.parent.iterdir() if p.is_file() and is_volume(p))
        cases = group_channels(files)
        key = next((k for k, ps in cases.items() if path in ps), None)
        if key is None:  # pragma: no cover - path is among files
            raise DataError(f"--input {path}: no case found.")
        return [VolumeCase(key, cases[key])]
    if not path.is_dir():
        raise DataError(f"--input {path} does not exist; give a volume file or a folder of volumes.")
    files = sorted(p for p in path.iterdir() if p.is_file() and is_volume(p))
    if not files:
        raise DataError(f"--input folder {path} holds no volumes ({', '.join(VOLUME_SUFFIXES)}).")
    try:
        cases = group_channels(files)
    except DataError:
        if channels != 1:
            raise
        cases = {}
    if channels == 1 and any(len(ps) != 1 for ps in cases.values()) or not cases:
        cases = {volume_stem(p): (p,) for p in files}  # single-channel model: every file is a case
        if len(cases) != len(files):
            raise DataError(
                f"--input folder {path} has several volumes with the same name; outputs are named by case."
            )
    return [VolumeCase(k, ps) for k, ps in cases.items()]


SLICE_BATCH = 8  # slices per forward pass when each slice is one window


def predict_volume(
    predictor: Predictor, case: VolumeCase, *, slice_batch: int = SLICE_BATCH
) -> tuple[np.ndarray, object]:
    """The class ids ``(z, y, x)`` of one case, predicted slice by slice, and its geometry.

    When a slice is one window (no ``tile``, or a tile at least as large as the slice) and no MC
    dropout is asked for, ``slice_batch`` slices go through the model at once (with the same TTA);
    otherwise each slice goes through :meth:`Predictor.predict` (sliding window, MC dropout).
    """
    spec: DatasetSpec = predictor.spec
    slicing = spec.volume
    if slicing is None:
        raise InputError(f"{predictor.source} was not trained on volumes (its spec has no volume slicing).")
    image, geometry = read_case_image(case.images, slicing)
    shape = image.shape[1:]
    axis, context = slicing.axis, slicing.context
    plane = [d for a, d in enumerate(shape) if a != axis]
    dtype = np.uint8 if spec.num_classes <= 256 else np.uint16
    out = np.zeros(shape, dtype)
    where: list[slice | int] = [slice(None)] * 3
    n = shape[axis]
    if predictor.mc_dropout or (predictor.tile is not None and predictor.tile < max(plane)):
        for s in range(n):
            where[axis] = s
            out[tuple(where)] = predictor.predict(slice_stack(image, axis, s, context)).index
        return out, geometry
    for start in range(0, n, slice_batch):
        stop = min(n, start + slice_batch)
        stacks = np.stack([slice_stack(image, axis, s, context) for s in range(start, stop)])
        x = to_input(stacks, spec, predictor.device)
        probs = tta_probabilities(x, predictor.model, spec.num_classes, predictor.tta)
        labels = probs.argmax(dim=1).to(torch.int32).cpu().numpy()  # first class wins ties
        where[axis] = slice(start, stop)
        out[tuple(where)] = np.moveaxis(labels, 0, axis)
    return out, geometry


def check_volume_model(predictor: Predictor) -> None:
    """Raise :class:`InputError` unless the model was trained on the ``volumes`` dataset."""
    if predictor.spec.volume is None:
        raise InputError(
            f"--input holds volumes, but {predictor.source} was trained on 2D images (its dataset spec has no "
            "volume slicing). Train on the volumes dataset (segwise data init on the volume folder), or give 2D images."
        )


def check_volume_save(save: Sequence[str]) -> tuple[str, ...]:
    """The outputs written for volumes (``index``); ``probs`` / ``uncertainty`` are refused."""
    refused = [k for k in save if k not in VOLUME_SAVE + SKIPPED_SAVE]
    if refused:
        raise InputError(
            f"--save {','.join(refused)}: not available for volumes; predictions of volumes are label volumes "
            "(OUT/index/<case>.nii.gz). Use --save index."
        )
    return VOLUME_SAVE


def predict_volumes(
    predictor: Predictor,
    cases: Sequence[VolumeCase],
    out_dir: str | os.PathLike[str],
    *,
    on_case: Callable[[Path, bool], None] | None = None,
) -> PredictSummary:
    """Predict every case and write ``out_dir/index/<case>.nii.gz`` (atomically) with the input's geometry.

    A case that cannot be read is listed in ``failed`` and skipped; the others are still written.
    """
    check_volume_model(predictor)
    out_dir = check_writable_dir(out_dir)
    summary = PredictSummary(out_dir)
    start = time.perf_counter()
    for case in cases:
        try:
            labels, geometry = predict_volume(predictor, case)
        except DataError as exc:
            summary.failed.append((case.images[0], str(exc)))
            if on_case is not None:
                on_case(case.images[0], False)
            continue
        write_volume(out_dir / "index" / f"{case.id}.nii.gz", labels, geometry)  # type: ignore[arg-type]
        summary.predicted.append(case.id)
        if on_case is not None:
            on_case(case.images[0], True)
    summary.seconds = time.perf_counter() - start
    return summary
