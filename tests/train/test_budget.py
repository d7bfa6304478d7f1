"""Time-budgeted stages (`train.time_schedule`): the clock, and runs whose plan is 5x off."""

from __future__ import annotations

import csv
import math
import time

import pytest

from segwise.train import loop
from segwise.train.budget import Anchor, StageClock, TimedStages, lr_at_fraction, reanchor, stage_deadlines
from segwise.train.config import load_config
from tests.train.conftest import tiny_overrides


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("planned_steps", [20, 100, 500])  # 5x too many, right, 5x too few steps planned
@pytest.mark.parametrize("epoch_steps", [3, 40])
def test_a_stage_ends_at_its_deadline_with_its_schedule_completed_whatever_the_plan(
    planned_steps, epoch_steps
):
    clock = FakeClock()
    budget, step_s = 100.0, 1.0  # 100 steps fit
    c = StageClock(Anchor(0, 0.0, planned_steps), lambda rate: budget - clock.now, clock=clock)
    step, fractions = 0, []
    while True:
        c.resume(step)
        for _ in range(epoch_steps):
            if c.before_step(step):
                break
            fractions.append(c.fraction(step))
            clock.now += step_s
            step += 1
        c.pause(step)
        clock.now += 0.5  # validation and saving between epochs: not step time
        if c.finished(step):
            break
    assert fractions == sorted(fractions)  # the learning rate never goes back up
    assert fractions[-1] >= 0.97  # the last step is at the end of the schedule
    # it ends when its time is up: within an epoch's pauses and a step of the budget
    assert budget - step_s - 0.5 * (step / epoch_steps + 1) <= clock.now <= budget + step_s


def test_a_slower_machine_mid_stage_is_followed():
    clock = FakeClock()
    c = StageClock(Anchor(0, 0.0, 100), lambda rate: 100.0 - clock.now, clock=clock)
    step = 0
    c.resume(0)
    while not c.before_step(step):
        clock.now += 1.0 if step < 30 else 3.0  # another process starts after 30 steps
        step += 1
    assert 97.0 <= clock.now <= 103.0
    assert 30 + 70 / 3 - 3 <= step <= 30 + 70 / 3 + 3


def test_reanchor_keeps_the_fraction_and_stops_without_time():
    a = reanchor(Anchor(0, 0.0, 10), 5, seconds_left=20.0, seconds_per_step=2.0)
    assert a.fraction(4) == pytest.approx(0.5) and a.steps_left == 10
    tail = reanchor(a, 6, seconds_left=0.5, seconds_per_step=2.0)  # a quarter step left: a short tail
    assert tail.steps_left == 3 and tail.fraction(8) == 1.0 and tail.finished(9) and not tail.finished(8)
    assert not reanchor(a, 6, seconds_left=-1.0, seconds_per_step=2.0, min_steps=-math.inf).finished(6)


def test_stage_deadlines_and_lr_at_fraction():
    assert stage_deadlines([0.0], [7]) == [1.0]
    assert stage_deadlines([0.3, 0.0], [1, 1]) == pytest.approx([0.3, 1.0])
    assert lr_at_fraction(1.0, 1e-3, "cosine", min_lr_ratio=0.01) == pytest.approx(1e-5)
    assert lr_at_fraction(0.5, 1.0, "poly", power=1.0) == pytest.approx(0.5)


def test_timed_stages_keep_the_final_validation_and_saves_in_reserve():
    cfg = load_config(None, ["train.time_schedule=true", "train.time_limit_minutes=1.0"])
    clock = FakeClock()
    timed = TimedStages(cfg, cfg.effective_stages(), 0.0, lambda: (4.0, 1.0), clock=clock)
    # 60 s less 2 x 4 s of validation (a margin for a machine whose load grows), 2 x 1 s of saving and 1 s
    assert timed.seconds_left(0, 10, 0.0) == pytest.approx(60 - 8 - 2 - 1)


def _at_floor(lr: float, peak: float) -> bool:
    """The lr of a stage's last step: the cosine's floor (1% of the peak) give or take 1% of the peak."""
    return abs(lr - 0.01 * peak) <= 0.01 * peak


def _time_mode_run(root, out, minutes, epochs, **extra):
    sets = {
        "train.time_schedule": "true",
        "train.time_limit_minutes": str(minutes),
        "train.epochs": str(epochs),
        "schedule.name": '"cosine"',
        "schedule.min_lr_ratio": "0.01",
        **extra,
    }
    cfg = load_config(None, tiny_overrides(root, out, **sets))
    t0 = time.perf_counter()
    loop.train(cfg, started=t0, progress=False)
    return time.perf_counter() - t0, list(csv.DictReader((out / "metrics.csv").open()))


@pytest.mark.parametrize("epochs", [2, 400])  # a plan 20x too short and one far too long
def test_a_time_budgeted_run_ends_inside_its_budget_with_the_schedule_completed(
    shapes_root, tmp_path, epochs
):
    wall, rows = _time_mode_run(
        shapes_root, tmp_path / "run", 0.2, epochs, **{"train.eval_every_minutes": "0.05"}
    )
    # a 12-s budget keeps back a validation, two saves, 1 s and a 5-step tail: a large share of it
    # (the 90-100% window of `train --auto` is checked with longer budgets in test_auto.py)
    assert 0.7 * 12 <= wall <= 12.0
    assert _at_floor(float(rows[-1]["lr"]), 1e-3)  # the cosine reached its floor
    assert rows[-1]["val_miou"]  # the last epoch was validated (best.pt and last.pt agree on it)
    lrs = [float(r["lr"]) for r in rows]
    assert lrs == sorted(lrs, reverse=True)


def test_time_budgeted_stages_share_the_time_and_each_completes_its_schedule(shapes_root, tmp_path):
    out = tmp_path / "run"
    cfg = load_config(
        None,
        tiny_overrides(
            shapes_root,
            out,
            **{
                "train.time_schedule": "true",
                "train.time_limit_minutes": "0.2",
                "schedule.name": '"cosine"',
                "schedule.min_lr_ratio": "0.01",
            },
        ),
    )
    cfg.stages = [
        loop.StageConfig(name="a", epochs=1, time_share=0.4, lr=1e-3),
        loop.StageConfig(name="b", epochs=50, lr=5e-4),
    ]
    t0 = time.perf_counter()
    loop.train(cfg, started=t0, progress=False)
    wall = time.perf_counter() - t0
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    a = [r for r in rows if r["stage"] == "a"]
    b = [r for r in rows if r["stage"] == "b"]
    assert a and b and 0.7 * 12 <= wall <= 12.0
    assert _at_floor(float(a[-1]["lr"]), 1e-3) and _at_floor(float(b[-1]["lr"]), 5e-4)
    # the first stage took about 40% of the time, less the reserve kept for its validation and saves
    assert 0.15 * 12 <= sum(float(r["epoch_seconds"]) for r in a) <= 0.45 * 12


def test_a_time_budgeted_run_resumes_its_clock(shapes_root, tmp_path, monkeypatch):
    out = tmp_path / "run"
    real = loop.train_one_epoch
    calls = {"n": 0}

    def dies_in_epoch_4(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "train_one_epoch", dies_in_epoch_4)
    with pytest.raises(KeyboardInterrupt):
        _time_mode_run(shapes_root, out, 0.1, 10)
    monkeypatch.setattr(loop, "train_one_epoch", real)
    ckpt = loop.load_checkpoint(out / "last.pt")
    assert ckpt["clock"]["stage"] == 0 and 0 < ckpt["clock"]["anchor"][1] < 1  # part of the stage done
    loop.train(load_config(out / "config.toml"), out, progress=False)
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert _at_floor(float(rows[-1]["lr"]), 1e-3)
    lrs = [float(r["lr"]) for r in rows]
    assert lrs == sorted(lrs, reverse=True)


def test_time_schedule_needs_a_time_limit():
    with pytest.raises(Exception, match="time_limit_minutes"):
        load_config(None, ["train.time_schedule=true"])
    with pytest.raises(Exception, match="time_share"):
        load_config(
            None,
            [
                "train.time_limit_minutes=1",
                "stages=[{epochs = 1, time_share = 0.7}, {epochs = 1, time_share = 0.6}]",
            ],
        )
