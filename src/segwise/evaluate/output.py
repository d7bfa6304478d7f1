"""Writing and showing an evaluation result: the rich summary, the per-class CSV and the per-case CSV."""

from __future__ import annotations

import csv
import io
import os
from typing import Any

import numpy as np

from segwise.errors import InputError
from segwise.io_utils import atomic_write_text
from segwise.metrics import functional as F
from segwise.metrics.families import summary_lines


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
