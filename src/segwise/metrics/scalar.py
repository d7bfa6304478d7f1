"""One scalar score of a set of images, chosen by name (``segwise compare-preds --metric NAME``).

A :class:`MatrixScore` is a dataset-level score: the score of a set of images is computed from the
**summed** confusion matrix of those images, so it can be recomputed for any resample or
permutation from the weighted per-image marginals (see :func:`segwise.metrics.stats.resampled_scores`).

Names (case-insensitive):

* means over classes: ``miou``, ``pixel_accuracy``, ``mean_accuracy``, ``mean_dice``, ``fwiou``;
* one class K: ``iou:K``, ``dice:K`` (alias ``f1:K``), ``precision:K``, ``recall:K``, where K is a
  class id or a class name.

The canonical name (:attr:`MatrixScore.name`) always names the class by id (``"iou:1"``); the label
(:attr:`MatrixScore.label`) adds its name (``"IoU of class 1 'vessel'"``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from segwise.errors import InputError, did_you_mean
from segwise.metrics.functional import evaluated_classes

__all__ = [
    "CASE_METRICS_HELP",
    "METRIC_NAMES_HELP",
    "CaseScore",
    "is_case_metric",
    "parse_case_metric",
    "MatrixScore",
    "parse_metric",
]

# key -> (label, definition, undefined when)
_MEANS: dict[str, tuple[str, str, str]] = {
    "miou": (
        "mIoU",
        "mean over the evaluated, non-absent classes of TP / (TP + FP + FN)",
        "no evaluated class has ground-truth or predicted pixels",
    ),
    "pixel_accuracy": (
        "pixel accuracy",
        "sum of TP over the evaluated classes / N",
        "there are no evaluated pixels",
    ),
    "mean_accuracy": (
        "mean accuracy",
        "mean over the evaluated classes with ground truth of TP / (TP + FN)",
        "no evaluated class has ground-truth pixels",
    ),
    "mean_dice": (
        "mean Dice",
        "mean over the evaluated, non-absent classes of 2 TP / (2 TP + FP + FN)",
        "no evaluated class has ground-truth or predicted pixels",
    ),
    "fwiou": ("fwIoU", "sum over classes of (GT pixels / N) x IoU", "there are no evaluated pixels"),
}
# key -> (label, definition, undefined when: a phrase completed by the class)
_PER_CLASS: dict[str, tuple[str, str, str]] = {
    "iou": ("IoU", "TP / (TP + FP + FN)", "{cls} has no ground-truth or predicted pixels"),
    "dice": ("Dice/F1", "2 TP / (2 TP + FP + FN)", "{cls} has no ground-truth or predicted pixels"),
    "precision": ("precision", "TP / (TP + FP)", "{cls} is never predicted"),
    "recall": ("recall", "TP / (TP + FN)", "{cls} has no ground-truth pixels"),
}
_ALIASES = {"f1": "dice"}
_MEAN_OF = {"miou": "iou", "mean_dice": "dice", "mean_accuracy": "recall"}

METRIC_NAMES_HELP = (
    "miou (default), pixel_accuracy, mean_accuracy, mean_dice, fwiou, or one class K: iou:K, dice:K "
    "(= f1:K), precision:K, recall:K, with K a class id or name"
)


@dataclass(frozen=True)
class MatrixScore:
    """A dataset-level score, computed from the summed confusion matrix of a set of images.

    Build it with :func:`parse_metric`, which validates the name and the class.

    Attributes:
        key: the score: ``miou``, ``pixel_accuracy``, ``mean_accuracy``, ``mean_dice``, ``fwiou`` or
            the per-class ``iou``, ``dice``, ``precision``, ``recall``.
        class_id: the class of a per-class score, else None.
        class_name: that class's name, else None.
    """

    key: str
    class_id: int | None = None
    class_name: str | None = None

    @property
    def name(self) -> str:
        """Canonical name, with the class as an id: ``"miou"``, ``"iou:1"``."""
        return self.key if self.class_id is None else f"{self.key}:{self.class_id}"

    @property
    def _cls(self) -> str:
        named = self.class_name is not None and self.class_name != str(self.class_id)
        return f"class {self.class_id}" + (f" {self.class_name!r}" if named else "")

    @property
    def label(self) -> str:
        """Human-readable name: ``"mIoU"``, ``"IoU of class 1 'vessel'"``."""
        if self.class_id is None:
            return _MEANS[self.key][0]
        return f"{_PER_CLASS[self.key][0]} of {self._cls}"

    @property
    def definition(self) -> str:
        """The formula, in the terms of docs/metrics.md."""
        if self.class_id is None:
            body = _MEANS[self.key][1]
        else:
            body = f"{_PER_CLASS[self.key][1]} of {self._cls}"
        return f"{self.name}: {body}, from the summed confusion matrix of the images"

    @property
    def undefined_when(self) -> str:
        """When the score of a set of images is undefined (NaN)."""
        if self.class_id is None:
            return _MEANS[self.key][2]
        return _PER_CLASS[self.key][2].format(cls=self._cls) + " in any image"

    def select(self, scores: Mapping[str, np.ndarray]) -> np.ndarray:
        """This score ``(B,)`` out of :func:`~segwise.metrics.stats.resampled_scores` output.

        Example:
            >>> import numpy as np
            >>> scores = {"miou": np.array([0.5, 0.6]), "iou": np.array([[0.4, 0.6], [0.5, 0.7]])}
            >>> parse_metric("iou:1", 2).select(scores).tolist()
            [0.6, 0.7]
        """
        if self.class_id is None:
            return scores[self.key]
        return scores[self.key][:, self.class_id]


def _class_listing(names: Sequence[str], ids: Sequence[int], limit: int = 40) -> str:
    """``0 'bg', 1 'vessel'``; classes named by their ids as a range: ``0..149 except 3``."""
    ids = list(ids)
    if not ids:
        return "none"
    if all(names[k] == str(k) for k in ids):
        if len(ids) <= 5:
            return ", ".join(map(str, ids))
        gaps = sorted(set(range(ids[0], ids[-1] + 1)) - set(ids))
        return f"{ids[0]}..{ids[-1]}" + (f" except {', '.join(map(str, gaps))}" if gaps else "")
    items = [f"{k} {names[k]!r}" for k in ids[:limit]]
    more = f", … ({len(ids)} classes)" if len(ids) > limit else ""
    return ", ".join(items) + more


def parse_metric(name: Any, class_names: Sequence[str] | int, ignore_index: int | None = None) -> MatrixScore:
    """Validate a metric name and resolve its class.

    Args:
        name: ``miou``, ``pixel_accuracy``, ``mean_accuracy``, ``mean_dice``, ``fwiou``, or
            ``iou:K``, ``dice:K`` (= ``f1:K``), ``precision:K``, ``recall:K`` with K a class id or a
            class name (case-insensitive). A :class:`MatrixScore` is re-validated by its name.
        class_names: the names of the C classes, or C (the classes are then named by their ids).
        ignore_index: the ignored id; when it lies in ``[0, C)`` that class cannot be chosen.

    Returns:
        The :class:`MatrixScore`.

    Raises:
        InputError: unknown name (with "did you mean" and the valid names), a per-class score
            without a class, a mean with a class, or a class that does not exist or is ignored.

    Example:
        >>> parse_metric("F1:Vessel", ["background", "vessel"]).name
        'dice:1'
        >>> parse_metric("iou:1", ["background", "vessel"]).label
        "IoU of class 1 'vessel'"
        >>> parse_metric("mIoU", 3).label
        'mIoU'
        >>> parse_metric("miuo", 3)
        Traceback (most recent call last):
        ...
        segwise.errors.InputError: unknown metric 'miuo'; did you mean 'miou'? valid: miou (default), ...
    """
    if isinstance(class_names, int | np.integer) and not isinstance(class_names, bool):
        names = [str(k) for k in range(int(class_names))]
    else:
        names = [str(n) for n in class_names]
    c = len(names)
    if isinstance(name, MatrixScore):
        name = name.name
    if not isinstance(name, str):
        raise InputError(
            f"Expected argument `metric` to be a metric name such as 'miou' or 'iou:1', but got {name!r} "
            f"({type(name).__name__}). Valid: {METRIC_NAMES_HELP}."
        )
    raw = name.strip()
    key, sep, cls = raw.partition(":")
    key = key.strip().lower()
    key = _ALIASES.get(key, key)
    valid = [*_MEANS, *(f"{k}:K" for k in _PER_CLASS), "f1:K"]
    if key in _MEANS:
        if sep:
            per = _MEAN_OF.get(key)
            hint = f"; for one class use {per}:K" if per else ""
            raise InputError(
                f"metric {raw!r}: `{key}` is computed over all classes and takes no class{hint}, e.g. "
                f"{per or 'iou'}:1."
            )
        return MatrixScore(key)
    if key not in _PER_CLASS:
        raise InputError(
            f"unknown metric {raw!r}; {did_you_mean(key if not sep else key + ':K', valid)}"
            f"valid: {METRIC_NAMES_HELP}."
        )
    is_evaluated = evaluated_classes(c, ignore_index)
    evaluated = [k for k in range(c) if is_evaluated[k]]
    if not sep or not cls.strip():
        mean = {"iou": "miou", "dice": "mean_dice", "recall": "mean_accuracy"}.get(key)
        also = f"; for the mean over classes use {mean}" if mean else ""
        raise InputError(
            f"metric {raw!r} needs a class: {key}:K with K a class id or name, e.g. "
            f"{key}:{evaluated[-1] if evaluated else 0}{also}. Classes: {_class_listing(names, evaluated)}."
        )
    cls = cls.strip()
    if re.fullmatch(r"[+-]?\d+", cls):
        k = int(cls)
        if not 0 <= k < c:
            raise InputError(
                f"metric {raw!r}: class id {k} is out of range; valid ids (of {c} classes): "
                f"{_class_listing(names, evaluated)}."
            )
        if not is_evaluated[k]:
            raise InputError(
                f"metric {raw!r}: class {k} is the ignore index, which is not evaluated; choose one of "
                f"{_class_listing(names, evaluated)}."
            )
    else:
        matches = [k for k in evaluated if names[k].strip().lower() == cls.lower()]
        if len(matches) > 1:
            raise InputError(
                f"metric {raw!r}: the class name {cls!r} matches several classes "
                f"({_class_listing(names, matches)}); give the class id instead, e.g. {key}:{matches[0]}."
            )
        if not matches:
            ignored = [k for k in range(c) if not is_evaluated[k] and names[k].strip().lower() == cls.lower()]
            if ignored:
                why = f"class {ignored[0]} {cls!r} is the ignore index, which is not evaluated"
            else:
                hint = did_you_mean(cls.lower(), [names[k].lower() for k in evaluated]).strip()
                why = f"no class is named {cls!r}" + (f" ({hint})" if hint else "")
            raise InputError(
                f"metric {raw!r}: {why}; valid classes (id or name): {_class_listing(names, evaluated)}."
            )
        k = matches[0]
    return MatrixScore(key, k, names[k])


# ----------------------------------------------------------------------------- per-case (surface) metrics

CASE_METRICS_HELP = (
    "surface metrics, per case then averaged over cases: hd, hd95, assd, nsd@TOL (e.g. nsd@1), or one class: "
    "hd95:K, ..."
)
_CASE_KEY = re.compile(r"(hd|hd\d+(?:\.\d+)?|assd|nsd@\d+(?:\.\d+)?)")
_CASE_LABELS = {"hd": "HD", "assd": "ASSD"}


def is_case_metric(name: Any) -> bool:
    """Whether ``name`` names a per-case surface metric (``hd95``, ``nsd@1:2``, ...).

    >>> is_case_metric("hd95"), is_case_metric("nsd@2:tumour"), is_case_metric("miou")
    (True, True, False)
    """
    if isinstance(name, CaseScore):
        return True
    return isinstance(name, str) and bool(_CASE_KEY.fullmatch(name.strip().partition(":")[0].strip().lower()))


@dataclass(frozen=True)
class CaseScore:
    """A per-case surface score (:mod:`segwise.metrics.surface`): the case's value of one class, or
    without a class the mean over the averaged classes defined in the case (the evaluated classes, the
    background left out unless ``include_background``); a set of cases scores
    the mean over the cases where it is defined.

    Attributes:
        key: ``hd``, ``hd<P>`` (e.g. ``hd95``), ``assd`` or ``nsd@<tolerance>``.
        class_id, class_name: the class, or None for the mean over classes.
    """

    key: str
    class_id: int | None = None
    class_name: str | None = None

    @property
    def name(self) -> str:
        return self.key if self.class_id is None else f"{self.key}:{self.class_id}"

    @property
    def label(self) -> str:
        base = _CASE_LABELS.get(self.key, self.key.upper().replace("NSD@", "NSD@"))
        if self.class_id is None:
            return f"mean {base}"
        named = self.class_name is not None and self.class_name != str(self.class_id)
        return f"{base} of class {self.class_id}" + (f" {self.class_name!r}" if named else "")

    @property
    def lower_is_better(self) -> bool:
        """Distances: lower is better; NSD: higher is better."""
        return not self.key.startswith("nsd")

    @property
    def tolerance(self) -> float | None:
        return float(self.key[4:]) if self.key.startswith("nsd@") else None

    @property
    def percentile(self) -> float | None:
        return float(self.key[2:]) if self.key.startswith("hd") and len(self.key) > 2 else None

    @property
    def definition(self) -> str:
        of = (
            "the class's value"
            if self.class_id is not None
            else "the mean over the averaged classes defined (the background left out unless include_background)"
        )
        return (
            f"{self.name}: per case, {of} (docs/metrics.md, Surface distances); a set of cases scores the mean "
            "over the cases where it is defined"
        )

    @property
    def undefined_when(self) -> str:
        return "no case has the metric defined (the class is missing from the ground truth or the prediction)"


def parse_case_metric(
    name: Any, class_names: Sequence[str] | int, ignore_index: int | None = None
) -> CaseScore:
    """Validate a per-case surface metric name (see :func:`is_case_metric`) and resolve its class.

    >>> parse_case_metric("HD95:Vessel", ["background", "vessel"]).name
    'hd95:1'
    >>> parse_case_metric("nsd@1", 2).label
    'mean NSD@1'
    """
    if isinstance(name, CaseScore):
        name = name.name
    if not is_case_metric(name):
        raise InputError(f"unknown surface metric {name!r}; valid: {CASE_METRICS_HELP}.")
    raw = str(name).strip()
    key, sep, cls = raw.partition(":")
    key = key.strip().lower()
    if key.startswith("nsd@"):
        key = f"nsd@{float(key[4:]):g}"
    elif len(key) > 2 and key.startswith("hd"):
        key = f"hd{float(key[2:]):g}"
    if not sep:
        return CaseScore(key)
    try:
        chosen = parse_metric(f"iou:{cls.strip()}", class_names, ignore_index)
    except InputError as exc:
        raise InputError(str(exc).replace(f"'iou:{cls.strip()}'", repr(raw))) from None
    return CaseScore(key, chosen.class_id, chosen.class_name)
