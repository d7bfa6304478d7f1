"""`segwise compare`: variants x seeds, one table; an interrupted comparison resumes."""

from __future__ import annotations

import json

import pytest

from segwise.errors import InputError
from segwise.train.variants import parse_vary, run_comparison
from tests.train.conftest import run_cli, tiny_overrides


def test_parse_vary_shorthands():
    assert parse_vary(["loss=ce,dice", "optim.lr=1e-3,3e-4"]) == [
        ("loss.name", ["ce", "dice"]),
        ("optim.lr", ["1e-3", "3e-4"]),
    ]
    with pytest.raises(InputError, match="key=v1,v2"):
        parse_vary(["loss"])


def test_compare_losses_two_seeds(shapes_root, tmp_path):
    base = tmp_path / "base.toml"
    base.write_text("")
    out = tmp_path / "cmp"
    sets = [
        s
        for s in tiny_overrides(shapes_root, tmp_path / "unused", **{"train.epochs": "1"})
        if not s.startswith("train.out_dir")
    ]
    result = run_comparison(base, ["loss=ce,dice"], seeds=2, out_dir=out, overrides=sets)
    assert [v["name"] for v in result["variants"]] == ["name=ce", "name=dice"]
    for v in result["variants"]:
        assert len(v["runs"]) == 2 and 0 <= v["miou"] <= 1 and v["miou_std"] >= 0
        assert len(v["iou"]) == 6
    for ext in ("md", "csv", "json", "png"):
        assert (out / f"comparison.{ext}").stat().st_size > 0
    md = (out / "comparison.md").read_text()
    assert "| name=ce |" in md and "±" in md and "background" in md
    assert json.loads((out / "comparison.json").read_text())["kind"] == "segwise.comparison"
    # finished runs are reused: a second call trains nothing and gives the same table
    again = run_comparison(base, ["loss=ce,dice"], seeds=2, out_dir=out, overrides=sets)
    assert [v["miou"] for v in again["variants"]] == [v["miou"] for v in result["variants"]]


def test_compare_cli_bad_vary(tmp_path):
    res = run_cli(["compare", "--config", str(tmp_path / "missing.toml"), "--vary", "loss=ce"])
    assert res.returncode == 2 and "cannot read config" in res.stderr


def test_compare_reports_calibration_of_the_raw_softmax(shapes_root, tmp_path):
    """ECE/NLL/Brier of a variant equal a numpy re-statement over the same validation pixels."""
    import numpy as np
    import torch

    from segwise.models import model_from_checkpoint
    from segwise.models.checkpoint import load_checkpoint
    from segwise.train.build import eval_dataset
    from segwise.train.config import config_from_dict

    base = tmp_path / "base.toml"
    base.write_text("")
    out = tmp_path / "cmp"
    sets = [
        s
        for s in tiny_overrides(shapes_root, tmp_path / "unused", **{"train.epochs": "1"})
        if not s.startswith("train.out_dir")
    ]
    result = run_comparison(base, ["loss=focal"], seeds=1, out_dir=out, overrides=sets)
    variant = result["variants"][0]
    ckpt = load_checkpoint(out / "name=focal" / "seed0" / "best.pt")
    model, _ = model_from_checkpoint(ckpt)
    cfg = config_from_dict(ckpt["config"])
    ds = eval_dataset(cfg.data, cfg.data.val_split, cfg.train.seed)
    conf, correct, nll, brier = [], [], [], []
    with torch.no_grad():
        for image, mask in ds:
            p = model(image[None].float())[0].softmax(0).numpy().astype(np.float64)
            y = mask.numpy().astype(np.int64)
            keep = y != ds.spec.ignore_index
            p, y = p[:, keep], y[keep]
            top = p.argmax(0)
            conf.append(p.max(0))
            correct.append(top == y)
            nll.append(-np.log(np.clip(p[y, np.arange(y.size)], 1e-12, None)))
            onehot = np.eye(p.shape[0])[:, y]
            brier.append(((p - onehot) ** 2).sum(0))
    conf, correct = np.concatenate(conf), np.concatenate(correct)
    bins = np.minimum((conf * 15).astype(int), 14)
    ece = (
        sum(
            abs(conf[bins == b].mean() - correct[bins == b].mean()) * (bins == b).sum()
            for b in range(15)
            if (bins == b).any()
        )
        / conf.size
    )
    assert variant["nll"] == pytest.approx(np.concatenate(nll).mean(), abs=1e-4)
    assert variant["brier"] == pytest.approx(np.concatenate(brier).mean(), abs=1e-4)
    assert variant["ece"] == pytest.approx(ece, abs=1e-3)
    md = (out / "comparison.md").read_text()
    assert "| ECE | NLL | Brier |" in md
    header = (out / "comparison.csv").read_text().splitlines()[0].split(",")
    assert header[:7] == [
        "variant",
        "miou",
        "miou_std",
        "pixel_accuracy",
        "pixel_accuracy_std",
        "mean_accuracy",
        "mean_accuracy_std",
    ]
    assert {"ece", "nll", "brier"} <= set(header)
