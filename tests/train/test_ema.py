"""The EMA of the weights: its recurrence, what a run saves with it, and resuming it."""

from __future__ import annotations

import csv

import pytest
import torch

from segwise.models import checkpoint as ckpt_io
from segwise.train import loop
from segwise.train.config import load_config
from segwise.train.ema import ModelEma
from segwise.train.runs import evaluate_checkpoint
from tests.train.conftest import tiny_overrides


def test_ema_follows_the_warmed_up_recurrence():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 1), torch.nn.BatchNorm2d(3))
    ema = ModelEma(net, decay=0.9)
    # reference: a plain-Python restatement of avg <- d * avg + (1 - d) * w with d = min(0.9, (1+n)/(10+n))
    ref = {k: v.detach().double().clone() for k, v in net.state_dict().items()}
    for n in range(1, 31):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        net.train()(torch.randn(4, 2, 5, 5))  # moves the BatchNorm running statistics too
        ema.update()
        d = min(0.9, (1 + n) / (10 + n))
        for k, v in net.state_dict().items():
            if v.is_floating_point():
                ref[k] = d * ref[k] + (1 - d) * v.double()
            else:
                ref[k] = v.double()
    assert ema.updates == 30
    for k, v in ema.state_dict().items():
        torch.testing.assert_close(v.double(), ref[k], rtol=1e-5, atol=1e-6, msg=k)
    assert int(ema.state_dict()["1.num_batches_tracked"]) == 30
    assert all(not p.requires_grad for p in ema.module.parameters())
    with pytest.raises(ValueError, match="decay must be in"):
        ModelEma(net, decay=1.0)


def test_a_run_with_ema_validates_and_saves_the_average(shapes_root, tmp_path):
    out = tmp_path / "ema"
    cfg = load_config(
        None, tiny_overrides(shapes_root, out, **{"train.epochs": "3", "train.ema_decay": "0.9"})
    )
    loop.train(cfg)
    last = ckpt_io.load_checkpoint(out / "last.pt")
    assert last["ema_updates"] == last["step"] > 0
    differs = [
        k
        for k, v in last["model"].items()
        if v.is_floating_point() and not torch.equal(v, last["train_model"][k])
    ]
    assert differs, "the saved average equals the trained weights"
    # best.pt's "model" (what predict, export and init_from read) is the validated average
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    state, _ = evaluate_checkpoint(out / "best.pt", "val")
    assert state.compute()["miou"] == pytest.approx(max(float(r["val_miou"]) for r in rows), abs=1e-6)


def test_resuming_keeps_the_average(shapes_root, tmp_path, monkeypatch):
    extra = {"train.epochs": "3", "train.ema_decay": "0.9", "train.deterministic": "true"}
    full = tmp_path / "full"
    loop.train(load_config(None, tiny_overrides(shapes_root, full, **extra)))

    cut = tmp_path / "cut"
    end = loop.RunLogger.epoch_end

    def stop_after_epoch_2(self, row, best):
        end(self, row, best)
        if row["epoch"] == 2:
            raise KeyboardInterrupt  # after last.pt of epoch 2 is written

    monkeypatch.setattr(loop.RunLogger, "epoch_end", stop_after_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        loop.train(load_config(None, tiny_overrides(shapes_root, cut, **extra)))
    monkeypatch.setattr(loop.RunLogger, "epoch_end", end)
    loop.train(load_config(None, []), resume=cut)
    a, b = ckpt_io.load_checkpoint(full / "last.pt"), ckpt_io.load_checkpoint(cut / "last.pt")
    assert a["epoch"] == b["epoch"] == 3 and a["ema_updates"] == b["ema_updates"]
    for key in ("model", "train_model"):
        for k, v in a[key].items():
            assert torch.equal(v, b[key][k]), (key, k)
