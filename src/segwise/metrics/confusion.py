"""Streaming confusion-matrix state: a thin wrapper over :mod:`segwise.metrics.functional`.

It follows the metric-state contract of :mod:`segwise.metrics.state` (``merge``, ``state_dict``,
``all_reduce`` come from :class:`~segwise.metrics.state.MetricState`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from segwise.errors import InputError
from segwise.metrics import functional as F
from segwise.metrics.result import build_result
from segwise.metrics.state import MetricState


class ConfusionMatrix(MetricState):
    """Accumulate a dataset-level confusion matrix over batches; memory is O(C²).

    Args:
        num_classes: number of classes C.
        ignore_index: target value that is not counted (see :func:`~segwise.metrics.confusion_matrix`).
        class_names: optional names, one per class.
        per_image: also keep one (C, C) matrix per image, for ``miou_per_image`` and bootstrap
            statistics (memory O(N·C²)). The leading dimension of a batch of id maps ``(N, H, W)``
            or scores ``(N, C, H, W)`` is the image axis; a 2-D map is one image.

    Example:
        >>> import numpy as np
        >>> cm = ConfusionMatrix(num_classes=2)
        >>> cm.update(np.array([[0, 1]]), np.array([[0, 0]]))
        >>> cm.update(np.array([[1, 1]]), np.array([[1, 1]]))
        >>> cm.matrix.tolist()
        [[1, 1], [0, 2]]
        >>> round(cm.compute()["miou"], 4)
        0.5833
    """

    def __init__(
        self,
        num_classes: int,
        ignore_index: int | None = None,
        class_names: Sequence[str] | None = None,
        per_image: bool = False,
    ) -> None:
        F._validate(np.zeros(1, np.int64), np.zeros(1, np.int64), num_classes, ignore_index)
        if class_names is not None and len(class_names) != num_classes:
            raise InputError(
                f"`class_names` has {len(class_names)} names but num_classes={num_classes}; give one "
                "name per class."
            )
        super().__init__()
        self.num_classes = int(num_classes)
        self.ignore_index = None if ignore_index is None else int(ignore_index)
        self.class_names = list(class_names) if class_names is not None else None
        self.per_image = per_image
        self.matrix: np.ndarray
        self.image_matrices: list[np.ndarray]
        self.add_state("matrix", np.zeros((self.num_classes, self.num_classes), dtype=np.int64), "sum")
        self.add_state("image_matrices", [], "cat")  # filled only with per_image=True

    def settings(self) -> dict[str, Any]:
        return {
            "num_classes": self.num_classes,
            "ignore_index": self.ignore_index,
            "per_image": self.per_image,
        }

    def update(self, pred: Any, target: Any) -> None:
        """Add a batch: ids of any matching shape, or scores (N, C, H, W) with target (N, H, W)."""
        if not self.per_image:
            self.matrix += F.confusion_matrix(pred, target, self.num_classes, self.ignore_index)
            return
        if target.ndim == 2:
            pred, target = pred[None], target[None]
        for p, t in zip(pred, target, strict=True):
            if p.ndim == 3:  # scores of one image: keep the batch axis the kernel expects
                p, t = p[None], t[None]
            m = F.confusion_matrix(p, t, self.num_classes, self.ignore_index)
            self.image_matrices.append(m)
            self.matrix += m

    def add_matrix(self, matrix: Any) -> None:
        """Add a ``(C, C)`` matrix counted elsewhere (e.g. by
        :func:`~segwise.metrics.functional.confusion_matrix_serial` in a worker thread) as one image."""
        m = np.asarray(matrix)
        if m.shape != (self.num_classes, self.num_classes) or m.dtype.kind not in "iu":
            raise InputError(
                f"add_matrix expects an integer ({self.num_classes}, {self.num_classes}) matrix, got {m.dtype} "
                f"{m.shape}."
            )
        m = m.astype(np.int64)
        if self.per_image:
            self.image_matrices.append(m)
        self.matrix += m

    @property
    def num_images(self) -> int:
        return len(self.image_matrices)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["class_names"] = self.class_names
        state["image_matrices"] = (
            np.stack(self.image_matrices)
            if self.image_matrices
            else np.zeros((0, self.num_classes, self.num_classes), np.int64)
        )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load a :meth:`state_dict` of the same ``num_classes`` and ``ignore_index``; its
        ``per_image`` and ``class_names`` are taken over."""
        self.per_image = bool(state.get("per_image", self.per_image))
        super().load_state_dict({"image_matrices": [], **state})
        self.class_names = state.get("class_names", self.class_names)
        self.image_matrices = [np.asarray(m, np.int64) for m in self.image_matrices]

    def compute(self) -> dict[str, Any]:
        """Scores of the accumulated matrix (see :func:`~segwise.metrics.scores_from_confusion`).

        With ``per_image=True`` it adds ``miou_per_image``; otherwise that key is NaN.
        """
        scores = F.scores_from_confusion(self.matrix, self.ignore_index)
        scores["miou_per_image"] = (
            F.per_image_miou(np.stack(self.image_matrices), self.ignore_index)
            if self.image_matrices
            else float("nan")
        )
        return scores

    def result(self, state: Any = None, class_names: Sequence[str] | None = None) -> dict[str, Any]:
        """The evaluation result of the pixel scores (:func:`~segwise.metrics.build_result`); ``state``
        is not needed (this is the pixel state)."""
        return build_result(self, class_names)

    def __repr__(self) -> str:
        return (
            f"ConfusionMatrix(num_classes={self.num_classes}, ignore_index={self.ignore_index}, "
            f"pixels={int(self.matrix.sum())}, images={self.num_images})"
        )
