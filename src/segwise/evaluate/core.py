"""The evaluation of one prediction set: :class:`Evaluation` feeds each (prediction, ground truth)
pair to the pixel state and to the states of the chosen metric families (registered in
:mod:`segwise.metrics.families`) and assembles the result."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from segwise.errors import InputError
from segwise.evaluate.volumes import (
    check_volume_options,
)
from segwise.metrics import functional as F
from segwise.metrics.confusion import ConfusionMatrix
from segwise.metrics.families import build_states, get_family
from segwise.metrics.state import MetricState


@dataclass(frozen=True)
class Feed:
    """A state of an :class:`Evaluation` and what it is fed: predicted labels (with the extra per-image
    ``inputs`` its family declares, and the voxel spacing when it takes ``geometry``) or probabilities."""

    state: Any
    needs: str = "labels"  # "labels" or "probs"
    inputs: tuple[str, ...] = ()
    geometry: bool = False


class Evaluation:
    """The evaluation of one prediction set: the pixel state and the chosen families' states, fed
    image by image, then one result.

    Args:
        num_classes: number of evaluated classes C.
        ignore_index: ground-truth value that is not counted (with an ROI, the value outside it).
        families: optional metric families to add (names in :mod:`segwise.metrics.families`,
            e.g. ``("boundary", "ci")``); the pixel scores are always evaluated.
        options: options of those families, e.g. ``{"bf_theta": 2.0, "resamples": 500}``.
        accumulators: further ready :class:`~segwise.metrics.state.MetricState` objects (anything
            with ``update(pred, target)`` and ``result(state, class_names)``), fed after the families.

    Example:
        >>> ev = Evaluation(2, families=["regions"])
        >>> t = np.zeros((6, 6), np.uint8); t[1:4, 1:4] = 1
        >>> ev.add(t, t)
        >>> r = ev.result(["bg", "square"])
        >>> r["miou"], r["objects"]["pq"]
        (1.0, 1.0)
    """

    def __init__(
        self,
        num_classes: int,
        ignore_index: int | None = None,
        families: Iterable[str] = (),
        options: Mapping[str, Any] | None = None,
        accumulators: Iterable[Any] = (),
    ) -> None:
        self.states: dict[str, MetricState] = build_states(families, num_classes, ignore_index, options)
        self.pixel = cast(ConfusionMatrix, self.states["pixel"])
        family = {name: get_family(name) for name in self.states if name != "pixel"}
        # what each state is fed, in the order their keys enter the result: the label families, the
        # extra accumulators, then the families that score probabilities
        self.feeds: list[Feed] = [
            Feed(self.states[name], "labels", f.inputs, f.geometry)
            for name, f in family.items()
            if f.needs == "labels"
        ]
        self.feeds += [Feed(acc) for acc in accumulators]
        self.feeds += [Feed(self.states[name], "probs") for name, f in family.items() if f.needs == "probs"]

    @property
    def needs_probs(self) -> bool:
        """Whether a chosen family scores the class probabilities (:meth:`add` then needs ``probs``)."""
        return any(feed.needs == "probs" for feed in self.feeds)

    @property
    def inputs(self) -> tuple[str, ...]:
        """Names of the extra per-image arrays the chosen families need (see :meth:`add`)."""
        return tuple(dict.fromkeys(n for feed in self.feeds for n in feed.inputs))

    def add(
        self,
        pred: np.ndarray,
        target: np.ndarray,
        matrix: np.ndarray | None = None,
        probs: np.ndarray | None = None,
        inputs: Mapping[str, np.ndarray] | None = None,
        spacing: Sequence[float] | None = None,
    ) -> None:
        """Add one image: predicted class ids and ground truth ``(H, W)`` (ROI already applied), its
        confusion matrix when it was counted already (e.g. in a worker thread), the class
        probabilities ``(C, H, W)`` when a family needs them (``probs``), and the extra arrays of the
        families that declare ``inputs`` (e.g. ``{"uncertainty": (2, H, W) array}``).

        A volume is added the same way, as one case: class ids ``(D, H, W)`` and ``spacing``, the
        voxel size in array order ``(z, y, x)`` (one value per axis), forwarded to the families that
        declare ``geometry`` (the surface family; ``None`` lets them use their ``spacing`` option,
        else 1); the pixel scores count voxels and do not need it. The 2-D families (boundary,
        regions, probs, uncertainty) refuse a volume rather than take its slices for a batch of images."""
        if np.ndim(target) == 3:
            check_volume_options(self.states, subject=f"the case {np.shape(target)} is a volume")
        if spacing is not None and len(spacing) != np.ndim(target):
            raise InputError(
                f"`spacing` has {len(spacing)} values but the case has {np.ndim(target)} axes "
                f"{tuple(np.shape(target))}; give one voxel size per array axis, in array order (z, y, x)."
            )
        if matrix is None:  # serial kernel: safe from any thread, and callers keep the cores busy
            matrix = F.confusion_matrix_serial(pred, target, self.pixel.num_classes, self.pixel.ignore_index)
        self.pixel.add_matrix(matrix)
        inputs = inputs or {}
        if self.needs_probs and probs is None:
            raise InputError("the probs family needs the class probabilities of every image: pass probs=.")
        for feed in self.feeds:
            if feed.needs == "probs":
                feed.state.update(probs, target)
                continue
            missing = [n for n in feed.inputs if n not in inputs]
            if missing:
                raise InputError(
                    f"{type(feed.state).__name__} needs the per-image input {missing[0]!r}; pass "
                    f"Evaluation.add(..., inputs={{{missing[0]!r}: array}}) (segwise eval --{missing[0]} DIR)."
                )
            kwargs: dict[str, Any] = {n: inputs[n] for n in feed.inputs}
            if feed.geometry:
                kwargs["spacing"] = spacing
            feed.state.update(pred, target, **kwargs)

    def result(
        self, class_names: Sequence[str] | None = None, extra_policy: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The result dict (see :func:`segwise.metrics.build_result`) with every family's keys."""
        result = self.pixel.result(None, class_names)
        result["policy"].update(extra_policy or {})
        for feed in self.feeds:
            _merge(result, feed.state.result(self.pixel, result["class_names"]))
        return result


def _merge(result: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if key == "per_class":
            for row, add in zip(result["per_class"], value, strict=True):
                row.update(add)
        elif key == "policy":
            result["policy"].update(value)
        else:
            result[key] = value
