"""Training runs end to end on a tiny synthetic dataset."""

from __future__ import annotations

import csv
import math
import signal
import subprocess
import sys
import time

import pytest
import torch

from segwise.errors import CheckpointError, InputError
from segwise.models import checkpoint as ckpt_io
from segwise.train import loop
from segwise.train.config import load_config
from segwise.train.runs import evaluate_checkpoint
from tests.train.conftest import run_cli, tiny_overrides


def test_run_folder_contents(shapes_root, tmp_path):
    out = tmp_path / "run"
    cfg = load_config(None, tiny_overrides(shapes_root, out, **{"data.class_weights": '"median_frequency"'}))
    run_dir = loop.train(cfg)
    assert run_dir == out
    assert {"config.toml", "last.pt", "best.pt", "metrics.csv", "tensorboard"} <= {
        p.name for p in out.iterdir()
    }
    assert list((out / "tensorboard").iterdir())
    assert load_config(out / "config.toml") == cfg
    ckpt = ckpt_io.load_checkpoint(out / "last.pt")
    for key in (
        "model",
        "optimizer",
        "rng",
        "epoch",
        "step",
        "spec",
        "class_names",
        "segwise_version",
        "config",
        "model_config",
    ):
        assert key in ckpt, key
    assert ckpt["epoch"] == 2 and ckpt["finished"] and ckpt["class_names"][0] == "background"
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    for col in (
        "train_loss",
        "val_pixel_accuracy",
        "val_mean_accuracy",
        "val_miou",
        "val_iou_dot",
        "lr",
        "img_per_s",
        "epoch_seconds",
    ):
        assert col in rows[0], col
    # best.pt evaluates to the best val mIoU in metrics.csv
    state, _ = evaluate_checkpoint(out / "best.pt", "val")
    assert state.compute()["miou"] == pytest.approx(max(float(r["val_miou"]) for r in rows), abs=0.02)
    with pytest.raises(InputError, match="already holds a run"):
        loop.train(cfg)


def test_staged_training_freezes_then_unfreezes(shapes_root, tmp_path, monkeypatch):
    seen = []
    real = loop.build_optimizer

    def spy(cfg, params, lr):
        seen.append((len(params), lr))
        return real(cfg, params, lr)

    monkeypatch.setattr(loop, "build_optimizer", spy)
    path = tmp_path / "staged.toml"
    path.write_text(
        '[[stages]]\nname = "warmup"\nepochs = 1\nfreeze_encoder = true\nlr = 0.01\n'
        '[[stages]]\nname = "finetune"\nepochs = 1\nlr = 0.001\naugment = "none"\n'
    )
    overrides = tiny_overrides(shapes_root, tmp_path / "run")
    loop.train(load_config(path, overrides))
    (frozen, lr1), (full, lr2) = seen
    assert frozen < full and (lr1, lr2) == (0.01, 0.001)
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert [r["stage"] for r in rows] == ["warmup", "finetune"]


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_good_checkpoint(
    shapes_root, tmp_path, monkeypatch
):
    out = tmp_path / "run"
    cfg = load_config(None, tiny_overrides(shapes_root, out, **{"train.epochs": "3"}))
    calls = {"n": 0}
    real_build = loop.build_loss

    def poisoned(cfg, spec, cw):
        inner = real_build(cfg, spec, cw)

        def fn(logits, target):
            calls["n"] += 1
            out = inner(logits, target)
            total = out if isinstance(out, torch.Tensor) else out[0] if isinstance(out, tuple) else out.total
            return total * float("nan") if calls["n"] > 6 else total  # 4 steps per epoch: NaN in epoch 2

        return fn

    monkeypatch.setattr(loop, "build_loss", poisoned)
    with pytest.raises(loop.NonFiniteLossError, match=r"at step \d+ .*Lower optim.lr"):
        loop.train(cfg)
    ckpt = ckpt_io.load_checkpoint(out / "last.pt")
    assert ckpt["epoch"] == 1  # the epoch that finished before the NaN
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())


def test_truncated_and_foreign_checkpoints(tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save({"format": "segwise.checkpoint/1", "x": torch.zeros(1000)}, bad)
    bad.write_bytes(bad.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="truncated"):
        ckpt_io.load_checkpoint(bad)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(CheckpointError, match="not a segwise checkpoint"):
        ckpt_io.load_checkpoint(other)
    old = tmp_path / "old.pt"
    torch.save({"format": "segwise.checkpoint/0", "segwise_version": "0.0.1"}, old)
    with pytest.raises(CheckpointError, match="has format 'segwise.checkpoint/0'"):
        ckpt_io.load_checkpoint(old)


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(shapes_root, tmp_path):
    extra = {"train.epochs": "3", "train.deterministic": "true", "data.batch_size": "1"}
    full = tmp_path / "full"
    res = run_cli(["train", *sum((["--set", s] for s in tiny_overrides(shapes_root, full, **extra)), [])])
    assert res.returncode == 0, res.stderr[-2000:]

    killed = tmp_path / "killed"
    args = ["train", *sum((["--set", s] for s in tiny_overrides(shapes_root, killed, **extra)), [])]
    env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    import os

    proc = subprocess.Popen(
        [sys.executable, "-m", "segwise", *args],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 240
    while not (killed / "last.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    time.sleep(0.1)  # inside epoch 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ckpt_io.load_checkpoint(killed / "last.pt")["epoch"] == 1, "the kill did not land mid-run"

    res = run_cli(["train", "--resume", str(killed)])
    assert res.returncode == 0, res.stderr[-2000:]
    a = ckpt_io.load_checkpoint(full / "last.pt")
    b = ckpt_io.load_checkpoint(killed / "last.pt")
    assert a["epoch"] == b["epoch"] == 3
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    rows_a = list(csv.DictReader((full / "metrics.csv").open()))
    rows_b = list(csv.DictReader((killed / "metrics.csv").open()))
    assert [r["val_miou"] for r in rows_a] == [r["val_miou"] for r in rows_b]


def test_cli_train_bad_config_is_one_line(tmp_path):
    res = run_cli(["train", "--set", "optim.lrr=1"])
    assert res.returncode == 2 and "did you mean 'lr'" in res.stderr and "Traceback" not in res.stderr


def test_val_metrics_are_finite(shapes_root, tmp_path):
    cfg = load_config(None, tiny_overrides(shapes_root, tmp_path / "r", **{"train.epochs": "1"}))
    loop.train(cfg)
    row = next(csv.DictReader((tmp_path / "r" / "metrics.csv").open()))
    assert math.isfinite(float(row["val_miou"])) and 0 <= float(row["val_miou"]) <= 1


def test_init_from_another_run(shapes_root, tmp_path):
    first = tmp_path / "first"
    loop.train(load_config(None, tiny_overrides(shapes_root, first, **{"train.epochs": "1"})))
    # transfer: weights of the first run are the starting point of the second
    second = tmp_path / "second"
    extra = {"model.init_from": f'"{first / "best.pt"}"', "optim.lr": "0.0", "train.epochs": "1"}
    loop.train(load_config(None, tiny_overrides(shapes_root, second, **extra)))
    a = ckpt_io.load_checkpoint(first / "best.pt")["model"]
    b = ckpt_io.load_checkpoint(second / "last.pt")["model"]
    convs = [k for k in a if k.endswith("weight") and a[k].ndim == 4]
    assert any(k.startswith("head") for k in convs)
    # lr 0 and the same classes: every conv, the head's included, is the first run's
    assert [k for k in convs if not torch.equal(a[k], b[k])] == []


def test_early_stopping_on_val_miou(shapes_root, tmp_path, monkeypatch):
    from segwise.metrics import ConfusionMatrix

    def flat_validate(model, loader, num_classes, ignore_index, device, **kw):
        state = ConfusionMatrix(num_classes, ignore_index)
        state.matrix += torch.eye(num_classes, dtype=torch.int64).numpy()  # the same score every epoch
        return state

    monkeypatch.setattr(loop, "validate", flat_validate)
    out = tmp_path / "es"
    loop.train(
        load_config(
            None,
            tiny_overrides(shapes_root, out, **{"train.epochs": "6", "train.early_stopping_patience": "2"}),
        )
    )
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert len(rows) == 3  # best at epoch 1, then 2 epochs without gain
    assert ckpt_io.load_checkpoint(out / "last.pt")["finished"]


class _ConstantLoss:
    """A loss whose value is 2.0 (and a term of 3.0) whatever the batch: the epoch mean must be too."""

    def __init__(self) -> None:
        self.last_terms: dict[str, torch.Tensor] = {}

    def __call__(self, logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        self.last_terms = {"part": torch.tensor(3.0)}
        return logits.sum() * 0.0 + 2.0


@pytest.mark.parametrize("max_batches", [0, 1, 3, 5, 9])
def test_train_one_epoch_max_batches_means_over_the_batches_trained_and_loads_no_extra(max_batches):
    loaded = []

    class Loader:
        def __iter__(self):
            for i in range(5):
                loaded.append(i)
                yield torch.randn(2, 3, 8, 8), torch.zeros(2, 8, 8, dtype=torch.long)

    model = torch.nn.Conv2d(3, 2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    stats, step = loop.train_one_epoch(
        model,
        Loader(),
        _ConstantLoss(),
        opt,
        lambda s: 0.1,
        torch.device("cpu"),
        start_step=10,
        amp_dtype=None,
        max_batches=max_batches,
    )
    trained = min(5, max_batches or 5)
    assert step == 10 + trained
    assert len(loaded) == trained  # no batch loaded past the limit
    assert stats.images == 2 * trained
    assert stats.loss == pytest.approx(2.0) and stats.terms["part"] == pytest.approx(3.0)


def test_crops_off_the_networks_stride_are_warned_about(shapes_root, tmp_path):
    import io

    from rich.console import Console

    out = io.StringIO()
    # the classic U-Net of depth 2 has a stride of 4: 30 rows are not a multiple of it
    cfg = load_config(
        None,
        tiny_overrides(shapes_root, tmp_path / "run", **{"data.crop_size": "[30, 48]", "train.epochs": "1"}),
    )
    loop.train(cfg, console=Console(file=out, width=200), progress=False)
    assert "not multiples of the network's stride 4" in out.getvalue()
    quiet = io.StringIO()
    cfg = load_config(None, tiny_overrides(shapes_root, tmp_path / "run2", **{"train.epochs": "1"}))
    loop.train(cfg, console=Console(file=quiet, width=200), progress=False)
    assert "stride" not in quiet.getvalue()


def test_the_validation_estimate_of_a_time_schedule_skips_the_cold_first_batch():
    """A cold first forward pass (allocations, kernel selection) must not set the estimate: the time kept
    in reserve for a validation is time lost to training."""
    import time as _time

    import torch

    from segwise.train import loop

    class ColdFirst(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.calls = torch.nn.Conv2d(1, 2, 1), 0

        def forward(self, x):
            self.calls += 1
            _time.sleep(0.5 if self.calls == 1 else 0.01)
            return self.conv(x)

    batches = [(torch.zeros(1, 1, 8, 8), torch.zeros(1, 8, 8, dtype=torch.long))] * 20
    estimate = loop._time_validation(ColdFirst(), batches, torch.device("cpu"), None, False)
    assert 0.15 <= estimate < 1.0, estimate  # 20 warm batches of ~10 ms; the cold one alone would say 10 s
