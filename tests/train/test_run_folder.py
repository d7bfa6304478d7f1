"""A failed run leaves no half-made folder; one that failed after a checkpoint is marked and resumable."""

from __future__ import annotations

import pytest

from segwise.errors import DataError, InputError
from segwise.models import checkpoint as ckpt_io
from segwise.train import loop
from segwise.train.config import load_config
from segwise.train.rundir import FAILED, RunFolder
from tests.train.conftest import tiny_overrides


def test_bad_data_root_leaves_no_run_folder(tmp_path, capsys):
    out = tmp_path / "runs" / "run"  # both folders are made by the run
    cfg = load_config(None, tiny_overrides(tmp_path / "no-such-data", out))
    with pytest.raises(InputError) as info:
        loop.train(cfg)
    assert not (tmp_path / "runs").exists()
    assert "no-such-data" in str(info.value)  # the data error itself, unchanged
    assert "removed the run folder" in capsys.readouterr().out


def test_a_folder_that_existed_keeps_the_users_files(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "best.pt").write_text("not ours either")
    cfg = load_config(None, tiny_overrides(tmp_path / "no-such-data", out))
    with pytest.raises(DataError):
        loop.train(cfg)
    assert sorted(p.name for p in out.iterdir()) == ["best.pt", "notes.txt"]
    assert (out / "notes.txt").read_text() == "mine"


def test_failure_after_a_checkpoint_is_marked_then_resumed(shapes_root, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    cfg = load_config(None, tiny_overrides(shapes_root, out, **{"train.epochs": "2"}))
    real = loop.train_one_epoch
    calls = {"n": 0}

    def fails_in_epoch_2(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk on fire")
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "train_one_epoch", fails_in_epoch_2)
    with pytest.raises(RuntimeError, match="^disk on fire$"):
        loop.train(cfg)
    marker = (out / FAILED).read_text()
    assert "RuntimeError: disk on fire" in marker and "epoch: 1" in marker
    assert f"--resume {out}" in marker
    assert f"Continue it with: segwise train --resume {out}" in capsys.readouterr().out
    assert ckpt_io.load_checkpoint(out / "last.pt")["epoch"] == 1

    monkeypatch.setattr(loop, "train_one_epoch", real)
    assert loop.train(cfg, resume=out) == out
    assert not (out / FAILED).exists()
    assert ckpt_io.load_checkpoint(out / "last.pt")["epoch"] == 2


def test_only_the_writing_process_touches_the_folder(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(RuntimeError), RunFolder(enabled=False) as folder:  # a torchrun rank > 0
        folder.create(out, "x = 1\n")
        raise RuntimeError("boom")
    assert not out.exists()
    out.mkdir()
    (out / "config.toml").write_text("rank 0's")
    with pytest.raises(RuntimeError), RunFolder(enabled=False) as folder:
        folder.create(out, "x = 1\n")
        raise RuntimeError("boom")
    assert (out / "config.toml").read_text() == "rank 0's"


def test_the_progress_label_shows_the_planned_epochs_only_when_there_is_a_count(tmp_path, capsys):
    """A time-budgeted stage (train.time_schedule) ends on its clock, so its label has no `/N`."""
    from rich.console import Console

    from segwise.train.runlog import RunLogger

    log = RunLogger(tmp_path, console=Console(force_terminal=False), progress=False)
    for total in (26, 0):
        with log.epoch_progress(38, total, 4, "full-res") as on_step:
            for i in range(4):
                on_step(i, 0.5, 1e-3, 2)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("epoch")]
    assert lines[0].startswith("epoch 38/26 [full-res] 1/4") and lines[-1].startswith(
        "epoch 38 [full-res] 4/4"
    )
