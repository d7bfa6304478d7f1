"""The report's image gallery: the worst-k and best-k images by per-image mIoU, each shown as
image | ground truth | prediction | error map, scaled down and inlined.

Files are found by the names in the result's ``per_image`` list: the ground truth in the result's
``source.gt`` folder, the prediction in ``source.pred``, the ROI mask (if any) in ``source.roi``,
and the input image in the ``images`` folder: the row's ``image`` file, else the file of the same
stem (any image suffix). Outside the ROI the ground truth shows as ignored, as evaluation counts it.
A missing file leaves a blank panel with a note; it never fails the report.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from segwise.data.colors import colorize
from segwise.data.readers import IMAGE_SUFFIXES, MASK_SUFFIXES, apply_roi, read_image, read_roi
from segwise.errors import DataError
from segwise.report.plots import png_uri

THUMB_WIDTH = 320
WRONG = (230, 30, 30)
IGNORED = (70, 110, 160)

MaskReader = Callable[[Path], np.ndarray]


@dataclass
class Panel:
    """One gallery row: the name, its mIoU, and a data URI (or ``None``) per column."""

    name: str
    miou: float | None
    image: str | None = None
    gt: str | None = None
    pred: str | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)


def select_images(
    per_image: Sequence[Mapping[str, Any]], k: int
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """The ``k`` lowest and ``k`` highest per-image mIoU rows (scored images only, no row twice).

    >>> rows = [{"name": n, "miou": m} for n, m in [("a", 0.9), ("b", 0.1), ("c", None), ("d", 0.5)]]
    >>> [[r["name"] for r in part] for part in select_images(rows, 1)]
    [['b'], ['a']]
    """
    scored = sorted(
        (r for r in per_image if r.get("miou") is not None and not math.isnan(r["miou"])),
        key=lambda r: (r["miou"], r["name"]),
    )
    worst = scored[:k]
    best = list(reversed(scored[len(worst) :]))[:k]
    return worst, best


def _find(folder: Path | None, stem: str, suffixes: Sequence[str], name: str | None = None) -> Path | None:
    if folder is None:
        return None
    if name is not None and (folder / name).is_file():
        return folder / name
    for suffix in suffixes:
        for candidate in (folder / f"{stem}{suffix}", folder / f"{stem}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    return None


def _thumb(arr: np.ndarray, width: int, nearest: bool) -> np.ndarray:
    h, w = arr.shape[:2]
    if w <= width:
        return arr
    size = (width, max(1, round(h * width / w)))
    return cv2.resize(arr, size, interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)


def _uri(rgb: np.ndarray, ext: str) -> str:
    params = [cv2.IMWRITE_JPEG_QUALITY, 85] if ext == ".jpg" else []
    ok, buf = cv2.imencode(ext, cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise DataError("cannot encode a gallery thumbnail.")
    return png_uri(buf.tobytes(), "image/jpeg" if ext == ".jpg" else "image/png")


def error_map(
    pred: np.ndarray, target: np.ndarray, ignore_index: int | None, image: np.ndarray | None = None
) -> np.ndarray:
    """RGB map of the errors: red where ``pred != target``, the dimmed image (or light grey) where it is
    right, steel blue where the ground truth is ``ignore_index``.

    Shape:
        - pred, target: ``(H, W)``; image: ``(H, W, 3)`` or ``None``; output: ``(H, W, 3)`` uint8

    >>> error_map(np.array([[0, 1, 1]]), np.array([[0, 0, 255]]), 255)[0].tolist()
    [[215, 215, 215], [230, 30, 30], [70, 110, 160]]
    """
    if image is not None and image.shape[:2] == target.shape:
        gray = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)
        out = np.repeat((gray * 0.45 + 30).astype(np.uint8)[..., None], 3, axis=2)
    else:
        out = np.full((*target.shape, 3), 215, np.uint8)
    ignored = target == ignore_index if ignore_index is not None else np.zeros(target.shape, bool)
    out[(pred != target) & ~ignored] = WRONG
    out[ignored] = IGNORED
    return out


def build_panel(
    row: Mapping[str, Any],
    *,
    images: Path | None,
    gt_dir: Path | None,
    pred_dir: Path | None,
    read_gt: MaskReader,
    read_pred: MaskReader,
    colors: Sequence[Sequence[int]],
    ignore_index: int | None,
    width: int = THUMB_WIDTH,
    roi_dir: Path | None = None,
) -> Panel:
    """Load, colour and scale down one image's four columns."""
    stem = str(row["name"])
    panel = Panel(stem, row.get("miou"))
    arrays: dict[str, np.ndarray | None] = {}
    sources = (
        ("image", images, IMAGE_SUFFIXES, row.get("image"), lambda p: read_image(p, 3)),
        ("gt", gt_dir, MASK_SUFFIXES, row.get("gt"), read_gt),
        ("pred", pred_dir, MASK_SUFFIXES, row.get("pred"), read_pred),
    )
    for key, folder, suffixes, name, reader in sources:
        path = _find(folder, stem, suffixes, name)
        arrays[key] = None
        if path is None:
            if folder is not None:
                label = {"image": "image", "gt": "ground-truth", "pred": "prediction"}[key]
                panel.notes.append(f"no {label} file for {stem} in {folder}")
            continue
        try:
            arrays[key] = reader(path)
        except DataError as exc:
            panel.notes.append(str(exc))
    image, gt, pred = arrays["image"], arrays["gt"], arrays["pred"]
    if gt is not None and roi_dir is not None and row.get("roi") and ignore_index is not None:
        roi_path = roi_dir / str(row["roi"])
        try:  # outside the ROI nothing was evaluated: show it as ignored, not as errors
            gt = apply_roi(gt, read_roi(roi_path), ignore_index, source=f"ground truth of {stem}")
        except DataError as exc:
            panel.notes.append(f"ROI mask {roi_path}: {exc}")
    if image is not None:
        panel.image = _uri(_thumb(image, width, nearest=False), ".jpg")
    if gt is not None:
        panel.gt = _uri(_thumb(_colored(gt, colors), width, nearest=True), ".png")
    if pred is not None:
        panel.pred = _uri(_thumb(_colored(pred, colors), width, nearest=True), ".png")
    if gt is not None and pred is not None:
        if gt.shape == pred.shape:
            err = error_map(pred, gt, ignore_index, image)
            panel.error = _uri(_thumb(err, width, nearest=True), ".png")
        else:
            panel.notes.append(f"prediction {pred.shape} and ground truth {gt.shape} differ in size")
    return panel


def _colored(mask: np.ndarray, colors: Sequence[Sequence[int]]) -> np.ndarray:
    """Class colours; ids beyond the colour table (the ignore index) in the error map's "ignored" colour."""
    out = mask.astype(np.int64, copy=True)
    out[(out < 0) | (out >= len(colors))] = len(colors)
    return colorize(out, [*colors, IGNORED])
