"""Screening for ``train --auto``: a few candidate recipes trained briefly on the user's own
validation split, halved by score until one is left, and the winner continues from its weights.

The planner (:func:`segwise.train.auto.make_plan`) names the candidates, each a list of config
overrides on the planned config (``--set`` syntax, so ``plan.json`` shows exactly what differs), and
calls :func:`rule_screen` for how many of them its budget can screen and for how long. Synchronous
successive halving: every candidate trains for one slice; the better half (rounded up) continues
for another slice from its own weights; and so on until one is left. The winner then trains for the
rest of the budget, starting from the weights of its last slice. Each slice is a normal time-budgeted
run (``train.time_schedule``): its cosine completes inside the slice and it is scored on the
validation split at its end (its best validation mIoU, that of its ``best.pt``).

Why not Optuna's pruners: ``docs/decisions.md`` ("Screening in `train --auto`").
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from segwise.errors import InputError
from segwise.train.config import Config, apply_overrides, config_from_dict, config_to_dict

SCREEN_SHARE = 0.25  # share of the training time that screening may take
MIN_SLICE_STEPS = 100  # optimizer steps a candidate gets in one slice, at least
SLICE_SETUP_S = 5.0  # building the data and the model for a slice, and its checkpoint writes
SLICE_VALIDATIONS = 2  # validations a slice is budgeted for (one per stage of a two-stage recipe)
MAX_CANDIDATES = 4


@dataclass
class Candidate:
    """A recipe to screen: config overrides on the planned config, and why it is a candidate."""

    name: str
    sets: list[str]
    why: str


def rungs(n: int) -> list[int]:
    """How many candidates train in each rung of successive halving from ``n`` (the better half,
    rounded up, goes on).

    Example:
        >>> rungs(4), rungs(3), rungs(2), rungs(1)
        ([4, 2], [3, 2], [2], [])
    """
    out = []
    while n > 1:
        out.append(n)
        n = math.ceil(n / 2)
    return out


def rule_screen(
    candidates: list[Candidate], train_s: float, step_s: float, val_s: float, setup_s: float = SLICE_SETUP_S
) -> tuple[list[Candidate], float, str]:
    """The candidates this budget screens, the seconds of one slice, and the reason.

    ``train_s`` is the run's training time, ``step_s`` the seconds of one optimizer step (loading
    included) and ``val_s`` those of one validation. A slice needs :data:`MIN_SLICE_STEPS` steps,
    :data:`SLICE_VALIDATIONS` validations and ``setup_s``; screening takes at most
    :data:`SCREEN_SHARE` of ``train_s``. The most candidates (in the planner's order) whose halving
    fits are screened; fewer than two: none, and the reason says why.

    Example:
        >>> c = [Candidate(n, [], "") for n in "abcd"]
        >>> kept, slice_s, why = rule_screen(c, 1920.0, 0.5, 2.0)
        >>> [x.name for x in kept], slice_s
        (['a', 'b', 'c', 'd'], 80.0)
        >>> rule_screen(c, 300.0, 0.5, 2.0)[0]
        []
    """
    need = setup_s + MIN_SLICE_STEPS * step_s + SLICE_VALIDATIONS * val_s
    share = SCREEN_SHARE * max(train_s, 0.0)
    for n in range(min(len(candidates), MAX_CANDIDATES), 1, -1):
        slices = sum(rungs(n))
        if slices * need <= share:
            names = ", ".join(c.name for c in candidates[:n])
            return (
                candidates[:n],
                share / slices,
                (
                    f"{n} candidates ({names}), successive halving over {slices} slices of {share / slices:.0f} s "
                    f"({SCREEN_SHARE:.0%} of the {train_s:.0f} s of training); the best by validation mIoU trains "
                    "for the rest of the budget from its weights"
                ),
            )
    if len(candidates) < 2:
        return [], 0.0, "one recipe only: nothing to screen"
    return (
        [],
        0.0,
        (
            f"too small to screen: the rules alone decide. A slice needs {need:.0f} s ({MIN_SLICE_STEPS} steps of "
            f"{step_s:.2f} s, {SLICE_VALIDATIONS} validations of {val_s:.1f} s, {setup_s:.0f} s to set up); two "
            f"candidates need {2 * need:.0f} s, more than {SCREEN_SHARE:.0%} of the {train_s:.0f} s of training"
        ),
    )


def survivors(scores: dict[str, float]) -> list[str]:
    """The better half (rounded up) of ``scores`` (name -> validation mIoU), best first; a tie keeps the
    earlier candidate (the planned recipe comes first).

    Example:
        >>> survivors({"planned": 0.5, "wide": 0.6, "ce": 0.5})
        ['wide', 'planned']
    """
    order = list(scores)
    ranked = sorted(order, key=lambda n: (-_finite(scores[n]), order.index(n)))
    return ranked[: math.ceil(len(ranked) / 2)]


def _finite(x: float) -> float:
    return x if math.isfinite(x) else -1.0


def candidate_config(base: Config, candidate: Candidate, **train: Any) -> Config:
    """``base`` with the candidate's overrides and the given ``train.*`` settings."""
    data = apply_overrides(config_to_dict(base), candidate.sets)
    data["train"].update(train)
    return config_from_dict(data)


def _slice_config(
    base: Config, candidate: Candidate, seconds: float, out_dir: Path, init_from: str
) -> Config:
    cfg = candidate_config(
        base,
        candidate,
        time_limit_minutes=math.floor(seconds / 0.6) / 100,
        out_dir=str(out_dir),
        eval_every_minutes=0.0,
        eval_every=10**6,  # a slice validates at the end of each stage only
    )
    cfg.model.init_from = init_from
    return cfg


def run_screening(
    base: Config, candidates: list[Candidate], slice_s: float, out_dir: Path, console: Any = None
) -> dict[str, Any]:
    """Screen ``candidates`` (each slice ``slice_s`` seconds, runs under ``out_dir``); returns the
    record ``plan.json`` keeps: every candidate's slices (score, seconds, run folder), the winner
    and the checkpoint the winner continues from."""
    from segwise.models.checkpoint import load_checkpoint
    from segwise.train.loop import train

    by_name = {c.name: c for c in candidates}
    record: dict[str, Any] = {"candidates": [{**asdict(c), "slices": []} for c in candidates]}
    entries = {e["name"]: e for e in record["candidates"]}
    alive, init = [c.name for c in candidates], {c.name: "" for c in candidates}
    started, n_rungs = time.perf_counter(), len(rungs(len(candidates)))
    for r in range(n_rungs):
        scores = {}
        for name in alive:
            run_dir = out_dir / f"rung{r + 1}-{name}"
            if run_dir.exists():
                raise InputError(
                    f"{run_dir} already exists: a screening run of an earlier `train --auto`. Pass another --out "
                    "(or delete that folder)."
                )
            if console is not None:
                console.print(f"[bold]screening, rung {r + 1} of {n_rungs}: {name}[/] ({slice_s:.0f} s)")
            # the slice's clock starts once its data and model are built (the first build may fill the
            # decode cache: it must not shorten the first candidate's slice); rule_screen budgets the build
            t0 = time.perf_counter()
            train(_slice_config(base, by_name[name], slice_s - SLICE_SETUP_S, run_dir, init[name]))
            seconds = time.perf_counter() - t0
            scores[name] = float(load_checkpoint(run_dir / "best.pt")["best_miou"])
            init[name] = str(run_dir / "best.pt")
            entries[name]["slices"].append(
                {
                    "rung": r + 1,
                    "val_miou": round(scores[name], 4),
                    "seconds": round(seconds, 1),
                    "run": str(run_dir),
                }
            )
        alive = survivors(scores)
        for name in scores:
            entries[name]["kept"] = name in alive
        if console is not None:
            console.print(
                "screening scores: "
                + ", ".join(f"{k} {v:.4f}" for k, v in scores.items())
                + f"; kept: {', '.join(alive)}"
            )
    record.update(winner=alive[0], init_from=init[alive[0]], seconds=round(time.perf_counter() - started, 1))
    return record


__all__ = ["Candidate", "candidate_config", "rule_screen", "rungs", "run_screening", "survivors"]
