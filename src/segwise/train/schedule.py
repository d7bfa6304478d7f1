"""Learning-rate schedules as one pure function of the step (nanoGPT's ``get_lr``)."""

from __future__ import annotations

import math

from segwise.errors import InputError

SCHEDULES = ("constant", "poly", "cosine", "onecycle")


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
    if name not in SCHEDULES:
        raise InputError(f"unknown schedule {name!r}; available: {', '.join(SCHEDULES)}.")
    total_steps = max(1, total_steps)
    floor = base_lr * min_lr_ratio
    if name == "onecycle":
        rise = warmup_steps or max(1, int(0.3 * total_steps))
        if step < rise:
            return base_lr * (0.04 + 0.96 * step / rise)
        t = min(1.0, (step - rise) / max(1, total_steps - rise))
        low = base_lr / 1e4
        return low + 0.5 * (base_lr - low) * (1 + math.cos(math.pi * t))
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    if name == "constant":
        return base_lr
    t = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    if name == "poly":
        return floor + (base_lr - floor) * (1 - t) ** power
    return floor + 0.5 * (base_lr - floor) * (1 + math.cos(math.pi * t))
