"""Evaluate a folder of predicted masks against a folder of ground-truth masks.

Pairing rule (also in docs/metrics.md): files are paired by stem. A prediction pairs with the
ground truth of the same stem, or, failing that, with the ground truth whose stem is the longest
prefix of the prediction's stem followed by ``_``, ``-`` or ``.`` (so ``0001TP_008550_pred.png``
pairs with ``0001TP_008550.png``). Only mask files (.png, .bmp, .tif, .tiff, .gif) are considered.
"""

from __future__ import annotations

import collections
import csv
import io
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from segwise._io import atomic_write_text
from segwise.data.readers import MASK_SUFFIXES, ClassTable, read_class_table, read_mask
from segwise.errors import DataError, InputError
from segwise.metrics import functional as F
from segwise.metrics.confusion import ConfusionMatrix
from segwise.metrics.result import build_result

_SEPARATORS = ("_", "-", ".")
PAIRING_POLICY = (
    "prediction files pair with ground truth by stem: same stem, else the longest ground-truth stem "
    "that prefixes the prediction stem followed by '_', '-' or '.'"
)


class Accumulator(Protocol):
    """Extra metrics that see every (pred, target) pair; see :func:`evaluate_folders`."""

    def update(self, pred: np.ndarray, target: np.ndarray) -> None: ...

    def result(self, state: ConfusionMatrix, class_names: Sequence[str]) -> dict[str, Any]: ...


def _mask_files(folder: Path, role: str) -> dict[str, Path]:
    if not folder.is_dir():
        raise DataError(f"{role} folder {folder} does not exist or is not a folder.")
    files = {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in MASK_SUFFIXES and p.is_file()}
    if not files:
        raise DataError(
            f"{role} folder {folder} holds no mask files ({', '.join(MASK_SUFFIXES)}); point it at the "
            "folder of masks."
        )
    return files


def pair_files(gt_dir: Path, pred_dir: Path) -> tuple[list[tuple[Path, Path]], list[Path], list[Path]]:
    """Pair ground-truth and prediction files by stem.

    Returns:
        ``(pairs, missing, extra)``: pairs in ground-truth order, ground-truth files without a
        prediction, and prediction files without a ground truth.
    """
    gts = _mask_files(Path(gt_dir), "ground-truth")
    preds = _mask_files(Path(pred_dir), "prediction")
    by_gt: dict[str, Path] = {}
    extra: list[Path] = []
    for stem, path in preds.items():
        match = stem if stem in gts else None
        if match is None:
            candidates = [
                g for g in gts if len(stem) > len(g) and stem.startswith(g) and stem[len(g)] in _SEPARATORS
            ]
            match = max(candidates, key=len) if candidates else None
        if match is None:
            extra.append(path)
        elif match in by_gt:
            raise DataError(
                f"two prediction files pair with ground truth {gts[match].name}: {by_gt[match].name} and "
                f"{path.name}. Keep one prediction per image."
            )
        else:
            by_gt[match] = path
    pairs = [(gts[s], by_gt[s]) for s in gts if s in by_gt]
    missing = [gts[s] for s in gts if s not in by_gt]
    return pairs, missing, extra


def _listing(paths: list[Path], limit: int = 10) -> str:
    names = ", ".join(p.name for p in paths[:limit])
    return names + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def _load_pair(
    gt_path: Path, pred_path: Path, table: ClassTable | None, num_classes: int, ignore_index: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode one pair and count its confusion matrix (runs in a worker thread: GIL-free kernels)."""
    target = read_mask(gt_path, table, ignore_index=ignore_index)
    pred = read_mask(pred_path, table, ignore_index=ignore_index)
    if pred.shape != target.shape:
        raise DataError(
            f"size mismatch: prediction {pred_path} is {pred.shape[1]}x{pred.shape[0]} (WxH) but ground "
            f"truth {gt_path} is {target.shape[1]}x{target.shape[0]}. Predict at the ground truth's size."
        )
    try:
        cm = F._confusion_matrix(pred, target, num_classes, ignore_index, parallel=False)
    except InputError as exc:
        raise DataError(f"{pred_path} vs {gt_path}: {exc}") from None
    return pred, target, cm


def _bounded_map(fn: Callable[..., Any], items: Sequence[tuple[Any, ...]], workers: int) -> Iterator[Any]:
    """``map`` over a thread pool, in order, with at most ``2 * workers`` results in flight."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: collections.deque[Future[Any]] = collections.deque()
        it = iter(items)
        for args in it:
            pending.append(pool.submit(fn, *args))
            if len(pending) >= 2 * workers:
                break
        while pending:
            result = pending.popleft().result()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.submit(fn, *nxt))
            yield result


def evaluate_folders(
    gt_dir: str | os.PathLike[str],
    pred_dir: str | os.PathLike[str],
    num_classes: int,
    ignore_index: int | None = None,
    classes: str | os.PathLike[str] | ClassTable | None = None,
    allow_missing: bool = False,
    workers: int = 0,
    warn: Callable[[str], None] = print,
    accumulators: Iterable[Accumulator] = (),
    class_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Evaluate every prediction mask in ``pred_dir`` against its ground truth in ``gt_dir``.

    Masks are decoded in parallel threads; memory stays O(C²) per image plus a few decoded images.

    Args:
        gt_dir, pred_dir: folders of masks (index PNGs, 16-bit PNGs, or RGB masks with ``classes``).
        num_classes: number of evaluated classes C.
        ignore_index: ground-truth value that is not counted.
        classes: class table CSV (``id,name,r,g,b``) or a :class:`ClassTable`: names the classes and
            decodes colour-coded masks.
        allow_missing: skip unpaired files with a warning instead of raising.
        workers: decoding threads; 0 means one per core.
        warn: called with warning messages.
        accumulators: extra metrics; each gets ``update(pred, target)`` per image in ground-truth
            order, then ``result(state, class_names)`` whose dict is merged into the result.
        class_names: names of the classes (default: from ``classes``, else the ids).

    Returns:
        The result dict (see :func:`segwise.metrics.build_result`), with ``source`` and ``skipped``.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise InputError(f"--num-classes must be an integer >= 1, got {num_classes!r}.")
    table = (
        read_class_table(classes) if classes is not None and not isinstance(classes, ClassTable) else classes
    )
    if table is not None:
        too_big = [i for i in table.ids if i >= num_classes and i != ignore_index]
        if too_big:
            raise InputError(
                f"the class table has ids {too_big} >= --num-classes {num_classes}; raise --num-classes or "
                "mark that id as the --ignore-index."
            )
    names = (
        list(class_names) if class_names is not None else (table.names_by_id(num_classes) if table else None)
    )
    pairs, missing, extra = pair_files(Path(gt_dir), Path(pred_dir))
    problems = []
    if missing:
        problems.append(f"{len(missing)} ground-truth files have no prediction: {_listing(missing)}")
    if extra:
        problems.append(f"{len(extra)} prediction files have no ground truth: {_listing(extra)}")
    if problems and not allow_missing:
        raise DataError("; ".join(problems) + ". Fix the folders, or pass --allow-missing to skip them.")
    for p in problems:
        warn(p + " (skipped)")
    if not pairs:
        raise DataError(
            f"no prediction in {pred_dir} pairs with a ground truth in {gt_dir}; {PAIRING_POLICY}."
        )

    accumulators = list(accumulators)
    state = ConfusionMatrix(num_classes, ignore_index, class_names=names, per_image=True)
    workers = workers or os.cpu_count() or 1
    args = [(g, p, table, num_classes, ignore_index) for g, p in pairs]
    for pred, target, cm in _bounded_map(_load_pair, args, workers):
        state.image_matrices.append(cm)
        state.matrix += cm
        for acc in accumulators:
            acc.update(pred, target)

    result = build_result(state, names, extra_policy={"pairing": PAIRING_POLICY})
    for acc in accumulators:
        _merge(result, acc.result(state, result["class_names"]))
    result["source"] = {"gt": str(gt_dir), "pred": str(pred_dir)}
    result["per_image"] = per_image_scores(
        state.image_matrices, [g.stem for g, _ in pairs], ignore_index,
        gt_files=[g.name for g, _ in pairs], pred_files=[p.name for _, p in pairs],
    )  # fmt: skip
    result["skipped"] = {
        "missing_predictions": [p.name for p in missing],
        "extra_predictions": [p.name for p in extra],
    }
    return result


def per_image_scores(
    matrices: Sequence[np.ndarray],
    names: Sequence[str],
    ignore_index: int | None = None,
    gt_files: Sequence[str] | None = None,
    pred_files: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """The result's ``per_image`` list: each image's name, mIoU and (optionally) file names.

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
        rows.append(row)
    return rows


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

    table = Table(title=f"{result['num_images']} images, {result['num_pixels']:,} evaluated pixels")
    for col in ("id", "class", "IoU %", "Acc %", "Prec %", "Dice %", "GT px", "pred px"):
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
        ("pixel accuracy", "pixel_accuracy"),
        ("mean accuracy", "mean_accuracy"),
        ("mean Dice", "mean_dice"),
        ("fwIoU", "fwiou"),
        ("mIoU per image", "miou_per_image"),
    ):
        summary.add_row(label, _fmt(result[key]) + " %")
    summary.add_row("kappa", _fmt(result["kappa"], pct=False))
    console.print(summary)
    notes = []
    if result["absent_classes"]:
        notes.append(f"absent classes (NaN, left out of means): {result['absent_classes']}")
    if result.get("ignored_classes"):
        notes.append(f"not evaluated (ignore index): {result['ignored_classes']}")
    if result["ignore_index"] is not None:
        notes.append(f"pixels with ground truth {result['ignore_index']} are ignored")
    for note in notes:
        console.print(f"[dim]{note}[/]")


def write_csv(path: str | os.PathLike[str], result: dict[str, Any]) -> None:
    """Write the per-class table as CSV (empty cells for NaN), atomically."""
    buf = io.StringIO()
    cols = ["id", "name", "iou", "accuracy", "precision", "recall", "dice", "gt_pixels", "pred_pixels"]
    writer = csv.writer(buf)
    writer.writerow(cols)
    for row in result["per_class"]:
        writer.writerow(["" if row[c] is None else row[c] for c in cols])
    atomic_write_text(path, buf.getvalue())
