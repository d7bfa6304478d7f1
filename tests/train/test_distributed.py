"""torchrun with 2 CPU processes (gloo): validation metrics equal a single process on the same data."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest

from segwise.models import checkpoint as ckpt_io
from segwise.train.runs import evaluate_checkpoint
from tests.train.conftest import tiny_overrides


def _torchrun_train(sets: list[str], port: int) -> subprocess.CompletedProcess:
    """`segwise train --set ...` under torchrun with 2 CPU processes (gloo)."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={port}",
        "-m",
        "segwise",
        "train",
        *sum((["--set", s] for s in sets), []),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow
def test_two_process_gloo_validation_equals_single_process(shapes_root, tmp_path):
    out = tmp_path / "ddp"
    sets = tiny_overrides(
        shapes_root, out, **{"train.epochs": "1", "train.amp": '"none"', "data.batch_size": "2"}
    )
    res = _torchrun_train(sets, port=29517)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert len(rows) == 1  # only rank 0 writes
    ckpt = ckpt_io.load_checkpoint(out / "last.pt")
    assert not any(k.startswith("module.") for k in ckpt["model"])  # the unwrapped model is saved
    state, _ = evaluate_checkpoint(out / "last.pt", "val")
    single = state.compute()
    assert float(rows[0]["val_miou"]) == pytest.approx(single["miou"], abs=1e-12)
    assert float(rows[0]["val_pixel_accuracy"]) == pytest.approx(single["pixel_accuracy"], abs=1e-12)
    assert float(rows[0]["val_mean_accuracy"]) == pytest.approx(single["mean_accuracy"], abs=1e-12)


@pytest.mark.slow
def test_two_processes_stop_together_at_the_time_limit(shapes_root, tmp_path):
    """The time limit is read from each process's clock; the processes agree (any_rank) and stop at
    the same epoch instead of one waiting for the other."""
    out = tmp_path / "ddp_limit"
    sets = tiny_overrides(
        shapes_root,
        out,
        **{
            "train.epochs": "3",
            "train.amp": '"none"',
            "data.batch_size": "2",
            "train.time_limit_minutes": "0.0001",
            "train.time_limit_includes_validation": "true",
        },
    )
    res = _torchrun_train(sets, port=29518)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert len(rows) == 1 and rows[0]["val_miou"]  # stopped after the first epoch, validated
    assert "stopping early: time limit" in res.stdout + res.stderr


@pytest.mark.slow
def test_two_processes_follow_one_time_budgeted_schedule(shapes_root, tmp_path):
    """Under train.time_schedule the steps left are re-estimated from rank 0's timings, broadcast: both
    processes take the same steps with the same learning rate and end the stage together."""
    out = tmp_path / "ddp_budget"
    sets = tiny_overrides(
        shapes_root,
        out,
        **{
            "train.epochs": "2",
            "train.amp": '"none"',
            "data.batch_size": "2",
            "train.time_limit_minutes": "0.25",
            "train.time_schedule": "true",
            "schedule.name": '"cosine"',
            "schedule.min_lr_ratio": "0.01",
        },
    )
    res = _torchrun_train(sets, port=29519)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert (
        len(rows) > 2 and rows[-1]["val_miou"]
    )  # more epochs than planned: the clock, not the count, ended it
    assert (
        abs(float(rows[-1]["lr"]) - 1e-5) <= 1e-5
    )  # the cosine reached its floor (1% of 1e-3), give or take 1%
    ckpt = ckpt_io.load_checkpoint(out / "last.pt")
    assert ckpt["finished"] and ckpt["clock"]["stage"] == 0
