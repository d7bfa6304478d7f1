"""Predicting files and folders: read each image, predict it, write the chosen outputs, and
optionally evaluate against ground truth in the same pass.

Outputs go to sub-folders of ``out`` named by kind, one file per input, named by the input's stem:

* ``index/<stem>.png``: class ids (8-bit, 16-bit beyond 256 classes), what ``segwise eval --pred`` reads;
* ``color/<stem>.png``: the class colours of the DatasetSpec;
* ``overlay/<stem>.jpg``: colours blended half-and-half over the input;
* ``probs/<stem>.npy``: the class probabilities, ``(C, H, W)`` float16 in the order of the
  DatasetSpec's classes (a plain ``np.save`` file: ``np.load(path)``), what
  ``segwise eval --probs`` reads. With ``--roi`` they are left as predicted (also outside the ROI);
  the ROI only changes the index output and the evaluation.
* ``uncertainty/<stem>.npy``: ``(2, H, W)`` float16 = (predictive entropy, mutual information) in
  nats, what ``segwise eval --uncertainty`` reads; ``uncertainty/<stem>_entropy.png`` and
  ``<stem>_mi.png``: heat maps of both, divided by log C (inferno: black certain, yellow uniform).

Every file is written atomically. An input that cannot be read (corrupt file, wrong channel
count) is reported and skipped; the others are still predicted and their outputs stay valid.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from segwise.data.colors import colorize, overlay
from segwise.data.masks import roi_ignore_value
from segwise.data.readers import IMAGE_SUFFIXES, apply_roi, read_image, read_roi, read_spec_mask
from segwise.data.spec import DatasetSpec
from segwise.errors import DataError, InputError
from segwise.infer.outputs import encode_image, uncertainty_heatmap
from segwise.infer.predict import Prediction, Predictor
from segwise.io_utils import atomic_path, atomic_write_bytes, check_writable_dir, write_json

SAVE_KINDS = ("index", "color", "overlay", "probs", "uncertainty")
DEFAULT_SAVE = ("index", "color", "overlay")


@dataclass
class PredictSummary:
    """What :func:`predict_paths` did.

    Attributes:
        out_dir: the output folder.
        predicted: stems of the images predicted and written.
        failed: ``(input path, message)`` of every input that was skipped.
        seconds: wall time.
        result: the evaluation result when ``eval_gt`` was given (also in ``out_dir/eval.json``).
    """

    out_dir: Path
    predicted: list[str] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    seconds: float = 0.0
    result: dict[str, Any] | None = None

    @property
    def images_per_second(self) -> float:
        return len(self.predicted) / self.seconds if self.seconds > 0 else 0.0


def parse_save(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"index,color"`` -> ``("index", "color")``, checking every kind.

    >>> parse_save("index, probs")
    ('index', 'probs')
    """
    items = [t.strip().lower() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    bad = [t for t in items if t not in SAVE_KINDS]
    if bad or not items:
        raise InputError(
            f"--save: unknown output {bad or text!r}; choose from {', '.join(SAVE_KINDS)} (comma separated)."
        )
    return tuple(dict.fromkeys(items))


def list_inputs(path: str | os.PathLike[str]) -> list[Path]:
    """One image file, or every image file (by suffix) in a folder, sorted by name."""
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise DataError(f"--input {path} is not an image file ({', '.join(IMAGE_SUFFIXES)}).")
        return [path]
    if not path.is_dir():
        raise DataError(f"--input {path} does not exist; give an image file or a folder of images.")
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"--input folder {path} holds no images ({', '.join(IMAGE_SUFFIXES)}).")
    stems = [p.stem for p in files]
    dup = sorted({s for s in stems if stems.count(s) > 1})
    if dup:
        raise DataError(
            f"--input folder {path} has several images with the same stem ({', '.join(dup[:5])}); outputs are "
            "named by stem, so rename them."
        )
    return files


def write_outputs(
    out_dir: Path, stem: str, image: np.ndarray, pred: Prediction, spec: DatasetSpec, save: Sequence[str]
) -> list[Path]:
    """Write the chosen outputs of one image (each atomically); returns the paths written."""
    written = []
    color = colorize(pred.index, spec.colors) if ("color" in save or "overlay" in save) else None
    for kind in save:
        if kind == "probs":
            if pred.probs is None:
                raise InputError("--save probs needs predictions made with return_probs=True.")
            path = out_dir / "probs" / f"{stem}.npy"
            with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                np.save(fh, np.asarray(pred.probs, np.float16), allow_pickle=False)
        else:
            arr = {"index": pred.index, "color": color, "overlay": None}[kind]
            if kind == "overlay":
                arr = overlay(image, color)
            ext = ".jpg" if kind == "overlay" else ".png"
            path = out_dir / kind / f"{stem}{ext}"
            atomic_write_bytes(path, encode_image(arr, ext, path))
        written.append(path)
    return written


def write_uncertainty(out_dir: Path, stem: str, pred: Prediction, num_classes: int) -> list[Path]:
    """Write ``uncertainty/<stem>.npy`` (2, H, W) float16 nats and its two heat maps, atomically."""
    if pred.uncertainty is None:
        raise InputError("--save uncertainty needs predictions made with return_uncertainty=True.")
    path = out_dir / "uncertainty" / f"{stem}.npy"
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, pred.uncertainty.astype(np.float16))
    written = [path]
    for name, values in zip(("entropy", "mi"), pred.uncertainty, strict=True):
        png = out_dir / "uncertainty" / f"{stem}_{name}.png"
        atomic_write_bytes(png, encode_image(uncertainty_heatmap(values, num_classes), ".png", png))
        written.append(png)
    return written


def pair_masks(
    inputs: Sequence[Path], folder: Path, option: str, match: str | None = None
) -> dict[Path, Path]:
    """The mask in ``folder`` of each input image (``--eval-gt`` or ``--roi``), by the pairing rule of
    :mod:`segwise.data.pairing`; an input without one is an error that lists them."""
    from segwise.data.pairing import keyed_files, pair_inputs
    from segwise.data.readers import MASK_SUFFIXES

    if not folder.is_dir():
        raise DataError(f"{option} {folder} is not a folder of masks.")
    pairs, missing = pair_inputs(inputs, keyed_files(folder, MASK_SUFFIXES, option, match), match)
    if missing:
        listed = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        how = f"by the first group of --match '{match}'" if match else "by stem (a.jpg <-> a.png, a_mask.png)"
        raise DataError(
            f"{option} {folder}: no {'ground-truth' if option == '--eval-gt' else 'ROI'} mask "
            f"for {len(missing)} inputs ({listed}). Masks pair with images {how}; pass "
            "--match REGEX when names differ, or predict only the images that have masks."
        )
    return pairs


def predict_paths(
    predictor: Predictor,
    inputs: str | os.PathLike[str] | Sequence[Path],
    out_dir: str | os.PathLike[str],
    *,
    save: Sequence[str] = DEFAULT_SAVE,
    eval_gt: str | os.PathLike[str] | None = None,
    on_image: Callable[[Path, bool], None] | None = None,
    roi: str | os.PathLike[str] | None = None,
    match: str | None = None,
    families: Sequence[str] = (),
    family_options: Mapping[str, Any] | None = None,
) -> PredictSummary:
    """Predict an image file or a folder of images and write the outputs under ``out_dir``.

    Args:
        predictor: the model with its options.
        inputs: an image file, a folder, or a list of image paths.
        out_dir: output folder (created; must be writable).
        save: output kinds, from :data:`SAVE_KINDS`.
        eval_gt: folder of ground-truth masks (read as the checkpoint's DatasetSpec says): evaluate
            the predictions in the same pass and write ``out_dir/eval.json``.
        on_image: called after each input with ``(path, ok)`` (progress display).
        roi: folder of region-of-interest masks (paired like ``eval_gt``): outside them the index
            output holds the ignore value (the spec's ignore index, else 255) and nothing is evaluated.
        match: pairing regex (first capture group = key) for ``eval_gt`` and ``roi``.
        families: with ``eval_gt``, metric families to add to the pixel scores (names in
            :mod:`segwise.metrics.families`, e.g. ``("boundary",)``), as ``segwise eval`` does;
            ``"probs"`` scores the float16 probabilities (as written to ``probs/``) and
            ``"uncertainty"`` the entropy and mutual-information maps (as written to ``uncertainty/``).
        family_options: their options (see :func:`segwise.evaluate.evaluate_folders`).

    Returns:
        A :class:`PredictSummary`; unreadable inputs are listed in ``failed``, not raised.
    """
    save = parse_save(save)
    paths = list_inputs(inputs) if isinstance(inputs, str | os.PathLike) else [Path(p) for p in inputs]
    out_dir = check_writable_dir(out_dir)
    spec = predictor.spec
    gt_pairs = pair_masks(paths, Path(eval_gt), "--eval-gt", match) if eval_gt is not None else None
    roi_pairs = pair_masks(paths, Path(roi), "--roi", match) if roi is not None else None
    outside = roi_ignore_value(spec.num_classes, spec.ignore_index)
    ignore = outside if roi_pairs is not None else spec.ignore_index
    evaluation = None
    if gt_pairs is not None:
        from segwise.evaluate import Evaluation

        evaluation = Evaluation(spec.num_classes, ignore, families, family_options)
    summary = PredictSummary(out_dir)
    evaluated: list[Path] = []
    start = time.perf_counter()
    for path in paths:
        try:
            image = read_image(path, spec.in_channels)
            target = read_spec_mask(gt_pairs[path], spec) if gt_pairs is not None else None
            if target is not None and target.shape != image.shape[:2]:
                raise DataError(
                    f"ground truth {gt_pairs[path]} is {target.shape[1]}x{target.shape[0]} but image {path} is "
                    f"{image.shape[1]}x{image.shape[0]} (WxH)."
                )
            inside = read_roi(roi_pairs[path]) if roi_pairs is not None else None
            if inside is not None and inside.shape != image.shape[:2]:
                raise DataError(
                    f"ROI mask {roi_pairs[path]} is {inside.shape[1]}x{inside.shape[0]} but image {path} is "  # type: ignore[index]
                    f"{image.shape[1]}x{image.shape[0]} (WxH)."
                )
        except DataError as exc:
            summary.failed.append((path, str(exc)))
            if on_image is not None:
                on_image(path, False)
            continue
        need_probs = evaluation is not None and evaluation.needs_probs  # e.g. families=("probs",)
        need_unc = evaluation is not None and "uncertainty" in evaluation.inputs
        pred = predictor.predict(
            image,
            return_probs="probs" in save or need_probs,
            return_uncertainty="uncertainty" in save or need_unc,
        )
        if inside is not None:  # outside the ROI: the ignore value, in the index output too
            index = np.where(inside, pred.index, outside).astype(pred.index.dtype)
            pred = Prediction(index, pred.probs, pred.uncertainty)
            target = apply_roi(target, inside, outside) if target is not None else None
        write_outputs(out_dir, path.stem, image, pred, spec, [k for k in save if k != "uncertainty"])
        if "uncertainty" in save:
            write_uncertainty(out_dir, path.stem, pred, spec.num_classes)
        if evaluation is not None and target is not None:
            arrays = {"uncertainty": pred.uncertainty} if need_unc else None
            evaluation.add(pred.index, target, probs=pred.probs, inputs=arrays)
            evaluated.append(path)
        summary.predicted.append(path.stem)
        if on_image is not None:
            on_image(path, True)
    summary.seconds = time.perf_counter() - start
    if evaluation is not None and evaluated:
        summary.result = _eval_result(
            evaluation, evaluated, gt_pairs or {}, predictor, inputs, eval_gt, out_dir, save, roi, roi_pairs
        )
        write_json(out_dir / "eval.json", summary.result)
    return summary


def _eval_result(
    evaluation: Any,
    evaluated: list[Path],
    gt_pairs: dict[Path, Path],
    predictor: Predictor,
    inputs: Any,
    eval_gt: Any,
    out_dir: Path,
    save: Sequence[str],
    roi: Any = None,
    roi_pairs: dict[Path, Path] | None = None,
) -> dict[str, Any]:
    from segwise.evaluate import per_image_scores

    spec = predictor.spec
    state = evaluation.pixel
    policy = (
        {"roi": f"only pixels inside the ROI masks are evaluated (outside: {state.ignore_index})"}
        if roi
        else {}
    )
    result = evaluation.result(list(spec.class_names), extra_policy=policy)
    index_dir = out_dir / "index" if "index" in save else None
    result["per_image"] = per_image_scores(
        state.image_matrices,
        [p.stem for p in evaluated],
        state.ignore_index,
        gt_files=[gt_pairs[p].name for p in evaluated],
        pred_files=[f"{p.stem}.png" for p in evaluated] if index_dir is not None else None,
        roi_files=[roi_pairs[p].name for p in evaluated] if roi_pairs else None,
    )
    images = (
        str(inputs)
        if isinstance(inputs, str | os.PathLike) and Path(inputs).is_dir()
        else str(evaluated[0].parent)
    )
    result["source"] = {
        "gt": str(eval_gt),
        "pred": None if index_dir is None else str(index_dir),
        "images": images,
        "model": predictor.source,
        "tile": predictor.tile,
        "overlap": predictor.overlap,
        "tta": predictor.tta.describe(),
    }
    if roi is not None:
        result["source"]["roi"] = str(roi)
    result["spec"] = spec.to_dict()
    return result
