"""Streaming confusion-matrix state: a thin wrapper over :mod:`segwise.metrics.functional`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from segwise.errors import InputError
from segwise.metrics import functional as F


class ConfusionMatrix:
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
        self.num_classes = int(num_classes)
        self.ignore_index = None if ignore_index is None else int(ignore_index)
        self.class_names = list(class_names) if class_names is not None else None
        self.per_image = per_image
        self.reset()

    def reset(self) -> None:
        self.matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
        self.image_matrices: list[np.ndarray] = []

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

    def _check_compatible(self, other: ConfusionMatrix) -> None:
        if (other.num_classes, other.ignore_index) != (self.num_classes, self.ignore_index):
            raise InputError(
                f"cannot merge ConfusionMatrix(num_classes={other.num_classes}, ignore_index="
                f"{other.ignore_index}) into one with num_classes={self.num_classes}, ignore_index="
                f"{self.ignore_index}."
            )
        if other.per_image != self.per_image:
            raise InputError("cannot merge a per_image=True state with a per_image=False one.")

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Add another state (e.g. from another worker) into this one; returns self."""
        self._check_compatible(other)
        self.matrix += other.matrix
        self.image_matrices.extend(m.copy() for m in other.image_matrices)
        return self

    def all_reduce(self) -> None:
        """Sum the state over all torch.distributed ranks (no-op without a process group).

        Per-image matrices are gathered in rank order. Every rank ends with the same state.
        """
        import torch
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return
        device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
        t = torch.from_numpy(self.matrix).to(device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        self.matrix = t.cpu().numpy().astype(np.int64)  # sync: the reduced counts are needed on host
        if self.per_image:
            gathered: list[Any] = [None] * dist.get_world_size()
            dist.all_gather_object(gathered, self.image_matrices)
            self.image_matrices = [m for part in gathered for m in part]

    @property
    def num_images(self) -> int:
        return len(self.image_matrices)

    def state_dict(self) -> dict[str, Any]:
        return {
            "num_classes": self.num_classes,
            "ignore_index": self.ignore_index,
            "class_names": self.class_names,
            "per_image": self.per_image,
            "matrix": self.matrix.copy(),
            "image_matrices": np.stack(self.image_matrices)
            if self.image_matrices
            else np.zeros((0, self.num_classes, self.num_classes), np.int64),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["num_classes"]) != self.num_classes or state["ignore_index"] != self.ignore_index:
            raise InputError(
                f"state is for num_classes={state['num_classes']}, ignore_index={state['ignore_index']};"
                f" this ConfusionMatrix has num_classes={self.num_classes}, ignore_index={self.ignore_index}."
            )
        self.class_names = state.get("class_names", self.class_names)
        self.per_image = bool(state.get("per_image", self.per_image))
        self.matrix = np.asarray(state["matrix"], dtype=np.int64).copy()
        self.image_matrices = [np.asarray(m, np.int64) for m in state.get("image_matrices", [])]

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

    def __repr__(self) -> str:
        return (
            f"ConfusionMatrix(num_classes={self.num_classes}, ignore_index={self.ignore_index}, "
            f"pixels={int(self.matrix.sum())}, images={self.num_images})"
        )
