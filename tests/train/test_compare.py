"""`segwise compare`: variants x seeds, one table; an interrupted comparison resumes."""

from __future__ import annotations

import json

import pytest

from segwise.errors import InputError
from segwise.train.compare import parse_vary, run_comparison
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
