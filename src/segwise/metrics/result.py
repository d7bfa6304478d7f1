"""The evaluation result: one JSON-ready dict with the scores, the matrix and every policy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from segwise.metrics import functional as F
from segwise.version import __version__

if TYPE_CHECKING:
    from segwise.metrics.confusion import ConfusionMatrix

RESULT_KIND = "segwise.eval_result"
SUMMARY_KEYS = ("pixel_accuracy", "mean_accuracy", "miou", "mean_dice", "fwiou", "kappa", "miou_per_image")
PER_CLASS_KEYS = ("iou", "accuracy", "precision", "recall", "dice")


def _float(x: Any) -> float | None:
    x = float(x)
    return None if np.isnan(x) else x


def build_result(
    state: ConfusionMatrix,
    class_names: Sequence[str] | None = None,
    extra_policy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Turn a filled :class:`ConfusionMatrix` into the result dict written by ``segwise eval --json``.

    NaN scores become ``None`` (JSON null). Fractions lie in [0, 1].
    """
    scores = state.compute()
    names = list(class_names or state.class_names or [str(i) for i in range(state.num_classes)])
    per_class = []
    for c in range(state.num_classes):
        row: dict[str, Any] = {"id": c, "name": names[c]}
        row.update({k: _float(scores[k][c]) for k in PER_CLASS_KEYS})
        row["gt_pixels"] = int(scores["gt_pixels"][c])
        row["pred_pixels"] = int(scores["pred_pixels"][c])
        per_class.append(row)
    warnings = [
        f"class {c} ({names[c]}) has no ground-truth pixel in the {state.num_images or 'evaluated'} images: its "
        "recall is undefined and its IoU can only be 0 or NaN. If the data has that class, the masks were read "
        "wrongly: check --value-map / --ignore-index / --roi."
        for c in range(state.num_classes)
        if c not in scores["ignored_classes"] and scores["gt_pixels"][c] == 0
    ]
    policy: dict[str, Any] = dict(F.POLICY)
    policy["ignore_index"] = state.ignore_index
    policy.update(extra_policy or {})
    return {
        "kind": RESULT_KIND,
        "segwise_version": __version__,
        "num_classes": state.num_classes,
        "class_names": names,
        **{k: _float(scores[k]) for k in SUMMARY_KEYS},
        "per_class": per_class,
        "confusion_matrix": state.matrix.tolist(),
        "absent_classes": scores["absent_classes"],
        "ignored_classes": scores["ignored_classes"],
        "ignore_index": state.ignore_index,
        "num_images": state.num_images,
        "num_pixels": scores["num_pixels"],
        "policy": policy,
        "warnings": warnings,
    }
