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
