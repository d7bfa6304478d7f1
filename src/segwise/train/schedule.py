"""Learning-rate schedules as one pure function of the step (nanoGPT's ``get_lr``).

:data:`SCHEDULES` is the registry of ``schedule.name``: adding a schedule here makes it valid in
the training config as well.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from segwise.errors import lookup


def _warmup(step: int, warmup_steps: int, base_lr: float) -> float:
    return base_lr * (step + 1) / warmup_steps


def _done(step: int, total_steps: int, warmup_steps: int) -> float:
    """The fraction of the post-warm-up steps done, in [0, 1]."""
    return min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))


def _constant(
    step: int, total_steps: int, base_lr: float, warmup_steps: int, power: float, floor: float
) -> float:
    if step < warmup_steps:
        return _warmup(step, warmup_steps, base_lr)
    return base_lr


def _poly(
    step: int, total_steps: int, base_lr: float, warmup_steps: int, power: float, floor: float
) -> float:
    if step < warmup_steps:
        return _warmup(step, warmup_steps, base_lr)
    return floor + (base_lr - floor) * (1 - _done(step, total_steps, warmup_steps)) ** power


def _cosine(
    step: int, total_steps: int, base_lr: float, warmup_steps: int, power: float, floor: float
) -> float:
    if step < warmup_steps:
        return _warmup(step, warmup_steps, base_lr)
    t = _done(step, total_steps, warmup_steps)
    return floor + 0.5 * (base_lr - floor) * (1 + math.cos(math.pi * t))


def _onecycle(
    step: int, total_steps: int, base_lr: float, warmup_steps: int, power: float, floor: float
) -> float:
    rise = warmup_steps or max(1, int(0.3 * total_steps))
    if step < rise:
        return base_lr * (0.04 + 0.96 * step / rise)
    t = min(1.0, (step - rise) / max(1, total_steps - rise))
    low = base_lr / 1e4
    return low + 0.5 * (base_lr - low) * (1 + math.cos(math.pi * t))


# name -> lr(step, total_steps, base_lr, warmup_steps, power, floor), floor = min_lr_ratio * base_lr
SCHEDULES: dict[str, Callable[[int, int, float, int, float, float], float]] = {
    "constant": _constant,
    "poly": _poly,
    "cosine": _cosine,
    "onecycle": _onecycle,
}


def lr_at(
    step: int,
    total_steps: int,
    base_lr: float,
    name: str = "constant",
    warmup_steps: int = 0,
    power: float = 0.9,
    min_lr_ratio: float = 0.0,
) -> float:
    """Learning rate at ``step`` (0-based) of a stage of ``total_steps`` steps.

    * ``constant``: ``base_lr`` after warm-up.
    * ``poly``: ``base_lr · (1 − t)^power`` (DeepLab), t the fraction of post-warm-up steps done.
    * ``cosine``: half a cosine from ``base_lr`` down to ``min_lr_ratio · base_lr``.
    * ``onecycle``: linear rise to ``base_lr`` over the first 30% (or the warm-up, if given), then
      cosine annealing to ``base_lr / 1e4`` (Smith & Topin).

    Warm-up is linear from ``base_lr / warmup_steps`` to ``base_lr``.

    Example:
        >>> lr_at(0, 100, 1.0, "poly"), round(lr_at(50, 100, 1.0, "poly"), 4)
        (1.0, 0.5359)
    """
    schedule = lookup(name, SCHEDULES, "schedule")
    return schedule(step, max(1, total_steps), base_lr, warmup_steps, power, base_lr * min_lr_ratio)
