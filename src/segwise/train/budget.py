"""Stages that follow a time budget (``train.time_schedule``): the learning rate and the end of each
stage are driven by the time left, not by a step count fixed in advance.

A stage's progress is a fraction in [0, 1], and its learning rate is the stage's schedule at that
fraction. Between two *anchors* the fraction is a linear function of the optimizer step (so every
process of a distributed run computes the same learning rate). Every :data:`ANCHOR_STEPS` steps, and
at each epoch start, the anchor moves: the fraction reached is kept (the learning rate is continuous
and never goes back up) and the steps still to go are re-estimated from the measured seconds per
step and the seconds left before the stage's deadline. The stage ends on the step where the fraction
reaches 1. A machine 5x slower or faster than the plan expected changes how many steps a stage takes,
not when it ends, and the schedule is always completed (Li, Yumer and Ramanan, "Budgeted training",
ICLR 2020: a schedule that reaches its end at the budget beats a longer one cut short).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from segwise.train.schedule import lr_at

ANCHOR_STEPS = 5  # steps between two re-estimates of the steps left
PROVISIONAL = 0.5  # until its first steps are timed, a stage follows its planned steps up to this fraction
TAIL_STEPS = 5  # a stage out of time finishes the rest of its schedule over at most this many steps
_RESOLUTION = 1_000_000  # the schedules are evaluated at fraction * this "step" of as many


@dataclass(frozen=True)
class Anchor:
    """The fraction of a stage done was ``done`` at the step before global step ``step``, and grows
    linearly to exactly 1 at the last of ``steps_left`` more steps.

    Example:
        >>> a = Anchor(step=100, done=0.5, steps_left=10)
        >>> a.fraction(99), a.fraction(104), a.fraction(109), a.finished(109), a.finished(110)
        (0.5, 0.75, 1.0, False, True)
    """

    step: int
    done: float
    steps_left: float

    def fraction(self, step: int) -> float:
        if step - self.step + 1 >= self.steps_left - 1e-9:
            return 1.0
        return self.done + (1.0 - self.done) * (step - self.step + 1) / self.steps_left

    def finished(self, step: int) -> bool:
        return step - self.step >= self.steps_left - 1e-9

    def to_list(self) -> list[float]:
        return [float(self.step), self.done, self.steps_left]


def reanchor(
    anchor: Anchor, step: int, seconds_left: float, seconds_per_step: float, *, min_steps: float = 0.5
) -> Anchor:
    """The anchor at ``step``: the fraction reached so far, and as many steps left as fit in
    ``seconds_left`` at ``seconds_per_step``, at least one. When fewer than ``min_steps`` fit, the
    stage is out of time and finishes the rest of its schedule over a tail of at most
    :data:`TAIL_STEPS` steps (the time kept in reserve pays for them), so its last step is always at
    the schedule's end.

    Example:
        >>> a = Anchor(step=0, done=0.0, steps_left=100)      # the plan expected 100 steps
        >>> b = reanchor(a, 10, seconds_left=9.0, seconds_per_step=1.0)   # 5x slower than planned
        >>> b.fraction(9), b.steps_left, b.fraction(18)
        (0.1, 9.0, 1.0)
        >>> c = reanchor(b, 12, seconds_left=0.0, seconds_per_step=1.0)   # out of time at 0.3 done
        >>> c.steps_left, c.fraction(15), c.finished(15), c.finished(16)
        (4.0, 1.0, False, True)
    """
    done = anchor.fraction(step - 1)  # that of the last step trained
    if done >= 1.0:
        return Anchor(step, 1.0, 0.0)
    steps = seconds_left / max(seconds_per_step, 1e-9)
    if steps < min_steps:
        return Anchor(step, done, float(max(1, math.ceil((1.0 - done) * TAIL_STEPS))))
    return Anchor(step, done, max(1.0, steps))


def lr_at_fraction(
    fraction: float, base_lr: float, name: str, power: float = 0.9, min_lr_ratio: float = 0.0
) -> float:
    """The learning rate of schedule ``name`` (``segwise.train.schedule``) at ``fraction`` of a stage,
    without warm-up (the caller applies its own, in steps).

    Example:
        >>> (lr_at_fraction(0.0, 1.0, "cosine"), lr_at_fraction(0.5, 1.0, "cosine"),
        ...  lr_at_fraction(1.0, 1.0, "cosine", min_lr_ratio=0.01))
        (1.0, 0.5, 0.01)
    """
    step = round(min(max(fraction, 0.0), 1.0) * _RESOLUTION)
    return lr_at(step, _RESOLUTION, base_lr, name, 0, power, min_lr_ratio)


def stage_deadlines(shares: Sequence[float], epochs: Sequence[int]) -> list[float]:
    """The end of each stage as a fraction of the time limit: each stage's ``time_share``, or, where
    the shares are left at 0, the rest of the time split in proportion to the stages' epochs.

    Example:
        >>> stage_deadlines([0.0, 0.0], [30, 10]), stage_deadlines([0.25, 0.0, 0.0], [1, 3, 1])
        ([0.75, 1.0], [0.25, 0.8125, 1.0])
    """
    rest = max(0.0, 1.0 - sum(shares))
    free = sum(e for s, e in zip(shares, epochs, strict=True) if s <= 0) or 1
    out, total = [], 0.0
    for share, e in zip(shares, epochs, strict=True):
        total += share if share > 0 else rest * e / free
        out.append(min(1.0, total))
    out[-1] = 1.0
    return out


class StageClock:
    """The progress of one time-budgeted stage (see the module's docstring).

    ``seconds_left(seconds_per_step)`` gives the training seconds left before the stage's deadline
    (the caller takes the validations and checkpoint writes still to come off it); ``sync`` makes
    every process use rank 0's figures under torchrun (identity otherwise). Steps are timed in
    windows that :meth:`resume` opens at an epoch start and :meth:`pause` closes at its end, so
    validation and saving are never counted as step time.
    """

    def __init__(
        self,
        anchor: Anchor,
        seconds_left: Callable[[float], float],
        sync: Callable[[list[float]], list[float]] = lambda v: v,
        clock: Callable[[], float] = time.perf_counter,
        seconds_per_step: float = 0.0,
    ) -> None:
        self.anchor = anchor
        self.seconds_per_step = seconds_per_step  # measured; 0 until a window of steps was timed
        self._seconds_left, self._sync, self._clock = seconds_left, sync, clock
        self._mark: tuple[int, float] | None = None
        # a new stage's first step (warm-up of kernels and loaders) is not timed
        self._warm = seconds_per_step > 0

    def fraction(self, step: int) -> float:
        f = self.anchor.fraction(step)
        return f if self.seconds_per_step > 0 else min(f, PROVISIONAL)

    def finished(self, step: int) -> bool:
        """Whether the stage is over at ``step`` (never before its steps were timed)."""
        return self.seconds_per_step > 0 and self.anchor.finished(step)

    def resume(self, step: int) -> None:
        """An epoch starts at ``step``: re-anchor from the last measured step time (keeping at least
        one step even if validating took the time left: :meth:`pause` decided that the stage goes on,
        and an epoch of no step would be a row of no training), and open a window."""
        if self.seconds_per_step > 0 and not self.finished(step):
            self._move(step, self.seconds_per_step, min_steps=-math.inf)
        self._mark = (step, self._clock()) if self._warm else None

    def pause(self, step: int) -> None:
        """An epoch's training ended at ``step``: close the window, keeping its step time, and decide
        whether the stage is over (fewer than half a step's time left)."""
        rate = self.seconds_per_step
        if self._mark is not None and step > self._mark[0]:
            rate = (self._clock() - self._mark[1]) / (step - self._mark[0])
        self._mark = None
        if rate > 0 and not self.finished(step):
            self._move(step, rate)

    def before_step(self, step: int) -> bool:
        """Called before each optimizer step; True when the stage is over (train no more steps)."""
        if self._mark is None:
            if self._warm:
                self._mark = (step, self._clock())
            self._warm = True
        elif step - self._mark[0] >= ANCHOR_STEPS:
            now = self._clock()
            self._move(step, (now - self._mark[1]) / (step - self._mark[0]))
            self._mark = (step, now)
        return self.finished(step)

    def _move(self, step: int, seconds_per_step: float, min_steps: float = 0.5) -> None:
        anchor = self.anchor
        if self.seconds_per_step <= 0:  # the first timing: the planned steps were only a guess
            anchor = Anchor(step, min(anchor.fraction(step - 1), PROVISIONAL), 1.0)
        left, rate = self._sync([self._seconds_left(seconds_per_step), seconds_per_step])
        self.seconds_per_step = rate
        self.anchor = reanchor(anchor, step, left, rate, min_steps=min_steps)


# what the end of each stage keeps back: its validation (measured, with this margin), two checkpoint
# writes (last.pt and best.pt), two steps (a late stage's tail; the validation margin covers a longer one)
# and a second. The margin is 2: a machine whose load changes during the run (CamVid beside the test
# suite, session 19) took 59.5 s for a last validation measured at 27.5 s, and 1.25 ended 6 s late
RESERVE_VALIDATION, RESERVE_SECONDS, RESERVE_STEPS = 2.0, 1.0, 2


class TimedStages:
    """The time-budgeted stages of one run (``train.time_schedule``): where each stage ends, and the
    clock and learning rate of each. ``wall_origin`` is the :func:`time.perf_counter` value at which the
    run's wall time is 0; ``costs()`` gives the last validation's and the last checkpoint write's seconds.
    """

    def __init__(
        self,
        cfg: Any,
        stages: Sequence[Any],
        wall_origin: float,
        costs: Callable[[], tuple[float, float]],
        sync: Callable[[list[float]], list[float]] = lambda v: v,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.limit = 60.0 * cfg.train.time_limit_minutes
        self.ends = stage_deadlines([s.time_share for s in stages], [s.epochs for s in stages])
        self.stages, self.sched, self.train_cfg = stages, cfg.schedule, cfg.train
        self.wall_origin, self.costs, self.sync, self.clock = wall_origin, costs, sync, clock

    def seconds_left(self, s_idx: int, steps_per_epoch: int, seconds_per_step: float) -> float:
        """Training seconds left in stage ``s_idx``: its deadline less the reserve, less the validations
        and checkpoint writes of the epochs still to come (estimated from ``seconds_per_step``)."""
        val_s, save_s = self.costs()
        reserve = RESERVE_VALIDATION * val_s + 2 * save_s + RESERVE_SECONDS + RESERVE_STEPS * seconds_per_step
        end = self.ends[s_idx] * self.limit - reserve
        left = end - (self.clock() - self.wall_origin)
        epoch_s = steps_per_epoch * seconds_per_step
        if left <= 0 or epoch_s <= 0:
            return left
        if self.train_cfg.eval_every_minutes > 0:
            per_epoch = save_s + val_s * (epoch_s + save_s) / (60.0 * self.train_cfg.eval_every_minutes)
        else:
            per_epoch = save_s + val_s / max(1, self.train_cfg.eval_every)
        return left * epoch_s / (epoch_s + per_epoch)

    def stage_clock(
        self, s_idx: int, clock_state: dict[str, Any], step: int, steps_per_epoch: int
    ) -> StageClock:
        """The clock of stage ``s_idx``, continued from ``clock_state`` (a run's checkpointed
        ``RunState.clock``, updated in place) when it belongs to this stage, else new at ``step``."""
        if clock_state.get("stage") != s_idx:
            planned = max(1, steps_per_epoch * self.stages[s_idx].epochs)  # the first estimate only
            clock_state.clear()
            clock_state.update(
                stage=s_idx,
                stage_step=step,
                anchor=Anchor(step, 0.0, planned).to_list(),
                seconds_per_step=0.0,
            )
        a = clock_state["anchor"]
        return StageClock(
            Anchor(int(a[0]), float(a[1]), float(a[2])),
            lambda rate: self.seconds_left(s_idx, steps_per_epoch, rate),
            self.sync,
            self.clock,
            float(clock_state["seconds_per_step"]),
        )

    def stage_lr(
        self, clock: StageClock, name: str, lr: float, stage_step: int, warmup: int
    ) -> Callable[[int], float]:
        """The learning rate at a global step: schedule ``name`` at the clock's fraction of the stage,
        times a linear warm-up over the stage's first ``warmup`` steps."""

        def lr_fn(step: int) -> float:
            base = lr_at_fraction(clock.fraction(step), lr, name, self.sched.power, self.sched.min_lr_ratio)
            k = step - stage_step
            return base * (k + 1) / warmup if 0 <= k < warmup else base

        return lr_fn


__all__ = [
    "TAIL_STEPS",
    "ANCHOR_STEPS",
    "Anchor",
    "StageClock",
    "TimedStages",
    "lr_at_fraction",
    "reanchor",
    "stage_deadlines",
]
