"""The metric-state contract: what every stateful metric of :mod:`segwise.metrics` does.

A stateful metric (:class:`~segwise.metrics.ConfusionMatrix`,
:class:`~segwise.metrics.boundary.BoundaryAccumulator`,
:class:`~segwise.metrics.regions.RegionAccumulator`, :class:`~segwise.metrics.stats.BootstrapCI`)
subclasses :class:`MetricState` and declares its state with :meth:`MetricState.add_state`, each part
with the reduction that combines two states: ``"sum"`` (counts), ``"cat"`` (per-image lists, in
order) or ``"union"`` (sets). From that declaration the base class gives every metric the same

* ``reset()``: back to the empty state;
* ``merge(other)``: add another state of the same settings (another worker, another shard);
  k shards merged in order equal one pass over their concatenation;
* ``state_dict()`` / ``load_state_dict(state)``: plain numbers and numpy arrays, settings included;
* ``all_reduce()``: combine the states of every ``torch.distributed`` rank (no-op without a process
  group), so every rank ends with the state of the whole dataset.

Each metric writes ``update(pred, target)`` (add one image or a batch) and ``result(state,
class_names)``: the JSON-ready keys it adds to an evaluation result, where ``state`` is the
evaluation's pixel :class:`~segwise.metrics.ConfusionMatrix` (some metrics, like the bootstrap,
read it). This is torchmetrics' ``Metric`` (``add_state(..., dist_reduce_fx=...)``) and MONAI's
``Cumulative`` in numpy form.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from segwise.errors import InputError

__all__ = ["REDUCTIONS", "MetricState", "Reduction"]

Reduction = Literal["sum", "cat", "union"]
REDUCTIONS: tuple[str, ...] = ("sum", "cat", "union")


def _copy(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, set):
        return set(value)
    return copy.copy(value)


def _same(a: Any, b: Any) -> bool:
    """Settings equality that reads a JSON or torch round trip (lists for tuples) as equal."""
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


class MetricState:
    """Base class of every stateful metric: declared state, and the methods that follow from it.

    Subclasses call :meth:`add_state` in ``__init__`` for each part of their state, return their
    merge-relevant constructor arguments from :meth:`settings`, and implement :meth:`update` and
    :meth:`result`.

    Example:
        >>> import numpy as np
        >>> class PixelCount(MetricState):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.add_state("pixels", np.zeros((), np.int64), "sum")
        ...     def update(self, pred, target):
        ...         self.pixels += np.asarray(target).size
        ...     def result(self, state=None, class_names=None):
        ...         return {"pixels": int(self.pixels)}
        >>> a, b = PixelCount(), PixelCount()
        >>> a.update(np.zeros((2, 3)), np.zeros((2, 3))); b.update(np.zeros(4), np.zeros(4))
        >>> a.merge(b).result()
        {'pixels': 10}
    """

    def __init__(self) -> None:
        self._state_defaults: dict[str, tuple[Any, Reduction]] = {}

    # -- declaration ---------------------------------------------------------------------------

    def add_state(self, name: str, default: Any, reduce: Reduction) -> None:
        """Declare one part of the state, set it to a copy of ``default``, and say how two states
        combine: ``"sum"`` (numbers or arrays), ``"cat"`` (lists, self's items first) or ``"union"``
        (sets)."""
        if reduce not in REDUCTIONS:
            raise InputError(
                f"unknown reduction {reduce!r} for state {name!r}; valid: {', '.join(REDUCTIONS)}."
            )
        if reduce == "cat" and not isinstance(default, list):
            raise InputError(
                f"state {name!r} reduced by 'cat' needs a list default, got {type(default).__name__}."
            )
        if reduce == "union" and not isinstance(default, set):
            raise InputError(
                f"state {name!r} reduced by 'union' needs a set default, got {type(default).__name__}."
            )
        self._state_defaults[name] = (_copy(default), reduce)
        setattr(self, name, _copy(default))

    def settings(self) -> dict[str, Any]:
        """The constructor arguments two states must share to be merged (and a state dict to load)."""
        return {}

    @property
    def state_names(self) -> tuple[str, ...]:
        """The declared parts of the state, in declaration order."""
        return tuple(self._state_defaults)

    # -- the contract --------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the empty state (the settings stay)."""
        for name, (default, _) in self._state_defaults.items():
            setattr(self, name, _copy(default))

    def update(self, pred: Any, target: Any) -> None:
        """Add one image ``(H, W)`` or a batch ``(N, H, W)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement update(pred, target).")

    def result(self, state: Any = None, class_names: Sequence[str] | None = None) -> dict[str, Any]:
        """The JSON-ready keys this metric adds to an evaluation result (``state``: the evaluation's
        pixel :class:`~segwise.metrics.ConfusionMatrix`)."""
        raise NotImplementedError(f"{type(self).__name__} must implement result(state, class_names).")

    def _check_compatible(self, other: Any, action: str) -> None:
        if type(other) is not type(self):
            raise InputError(f"cannot {action} a {type(other).__name__} into a {type(self).__name__}.")
        mine, theirs = self.settings(), other.settings()
        differ = [k for k in mine if not _same(mine[k], theirs.get(k))]
        if differ:
            ours = ", ".join(f"{k}={mine[k]!r}" for k in differ)
            other_text = ", ".join(f"{k}={theirs.get(k)!r}" for k in differ)
            raise InputError(
                f"cannot {action} {type(self).__name__} states with different settings: {other_text} vs {ours}; "
                "build every state with the same arguments."
            )

    def merge(self, other: MetricState) -> MetricState:
        """Add another state of the same settings (e.g. from another worker) into this one; returns
        self. The other state is not changed."""
        self._check_compatible(other, "merge")
        for name, (_, reduce) in self._state_defaults.items():
            mine, theirs = getattr(self, name), getattr(other, name)
            if reduce == "sum":
                setattr(self, name, mine + theirs)
            elif reduce == "cat":
                setattr(self, name, mine + _copy(theirs))
            else:
                setattr(self, name, mine | theirs)
        return self

    def state_dict(self) -> dict[str, Any]:
        """The settings and a copy of the state: numbers, numpy arrays, lists and sets."""
        return {**self.settings(), **{name: _copy(getattr(self, name)) for name in self._state_defaults}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Replace the state by one from :meth:`state_dict` of a metric with the same settings."""
        mine = self.settings()
        differ = [k for k in mine if k in state and not _same(mine[k], state[k])]
        if differ:
            raise InputError(
                f"the state is for {', '.join(f'{k}={state[k]!r}' for k in differ)}; this {type(self).__name__} has "
                f"{', '.join(f'{k}={mine[k]!r}' for k in differ)}."
            )
        missing = [name for name in self._state_defaults if name not in state]
        if missing:
            raise InputError(
                f"the state has no {', '.join(missing)}; pass a {type(self).__name__}.state_dict()."
            )
        for name, (default, reduce) in self._state_defaults.items():
            value = state[name]
            if reduce == "sum" and isinstance(default, np.ndarray):
                value = np.asarray(value, dtype=default.dtype).copy()
            elif reduce == "cat":
                value = _copy(list(value))
            elif reduce == "union":
                value = set(value)
            setattr(self, name, value)

    def all_reduce(self) -> None:
        """Combine the state over all ``torch.distributed`` ranks (no-op without a process group).

        ``"sum"`` parts are summed with one ``all_reduce`` each; ``"cat"`` and ``"union"`` parts are
        gathered in rank order with one ``all_gather_object``. Every rank ends with the same state.
        """
        try:
            import torch
            import torch.distributed as dist
        except ImportError:  # without torch there is no process group
            return
        if not (dist.is_available() and dist.is_initialized()):
            return
        device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
        gathered_names = []
        for name, (_, reduce) in self._state_defaults.items():
            if reduce != "sum":
                gathered_names.append(name)
                continue
            value = getattr(self, name)
            array = np.asarray(value)
            t = torch.from_numpy(np.ascontiguousarray(array)).to(device)
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
            reduced = t.cpu().numpy().astype(array.dtype)  # sync: the reduced state is needed on host
            setattr(self, name, reduced if isinstance(value, np.ndarray) else type(value)(reduced.item()))
        if gathered_names:
            parts: list[Any] = [None] * dist.get_world_size()
            dist.all_gather_object(parts, {name: getattr(self, name) for name in gathered_names})
            for name in gathered_names:
                if self._state_defaults[name][1] == "cat":
                    setattr(self, name, [item for part in parts for item in part[name]])
                else:
                    setattr(self, name, set().union(*(part[name] for part in parts)))
