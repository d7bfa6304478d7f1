"""Screening in `train --auto`: the budget rule, the halving, the candidates, and a CLI run whose
plan.json records every candidate."""

from __future__ import annotations

import json
import time

import pytest

from segwise.train.auto import make_plan, screen_candidates
from segwise.train.config import config_to_dict
from segwise.train.screen import (
    MIN_SLICE_STEPS,
    SCREEN_SHARE,
    Candidate,
    candidate_config,
    rule_screen,
    rungs,
    survivors,
)
from tests.train.conftest import run_cli
from tests.train.test_auto import fingerprint, machine


def _cands(n: int) -> list[Candidate]:
    return [Candidate(f"c{i}", [], "") for i in range(n)]


def test_rungs_halve_until_one_is_left():
    assert (
        rungs(4) == [4, 2]
        and rungs(3) == [3, 2]
        and rungs(2) == [2]
        and rungs(1) == []
        and rungs(8) == [8, 4, 2]
    )


def test_survivors_keep_the_better_half_and_ties_keep_the_planned_recipe():
    assert survivors({"a": 0.1, "b": 0.3, "c": 0.2, "d": 0.4}) == ["d", "b"]
    assert survivors({"planned": 0.5, "x": 0.5}) == ["planned"]
    assert survivors({"planned": float("nan"), "x": 0.0}) == ["x"]  # a NaN score never wins
    assert survivors({"a": 0.2, "b": 0.1, "c": 0.3}) == ["c", "a"]


def test_rule_screen_fits_the_most_candidates_whose_halving_fits_its_share():
    step, val, setup = 0.5, 2.0, 5.0
    need = setup + MIN_SLICE_STEPS * step + 2 * val
    for train_s in (100.0, 500.0, 1000.0, 5000.0):
        kept, slice_s, why = rule_screen(_cands(4), train_s, step, val, setup)
        share = SCREEN_SHARE * train_s
        if not kept:
            assert 2 * need > share and why.startswith("too small to screen")
            continue
        # the slices of every rung together fill the share, and each is at least what a slice needs
        assert sum(rungs(len(kept))) * slice_s == pytest.approx(share) and slice_s >= need
        # one more candidate would not have fitted
        if len(kept) < 4:
            assert sum(rungs(len(kept) + 1)) * need > share
        assert f"{len(kept)} candidates" in why
    assert rule_screen(_cands(1), 1e6, step, val)[0] == []
    assert "nothing to screen" in rule_screen(_cands(1), 1e6, step, val)[2]


def test_plans_screen_only_when_the_budget_allows_and_record_why():
    fp = fingerprint()  # CamVid-like
    short, long = make_plan(fp, 15, machine(fp)), make_plan(fp, 120, machine(fp))
    assert short.screen == [] and short.to_dict(fp, machine(fp), 15)["screening"]["reason"].startswith(
        "too small to screen: the rules alone decide"
    )
    names = [c.name for c in long.screen]
    assert names[0] == "planned" and len(names) == 4 and long.slice_seconds > 0
    assert (
        "full-res-only" in names
    )  # CamVid-like data gets a half-resolution stage, so the other is a candidate
    doc = long.to_dict(fp, machine(fp), 120)
    assert [c["name"] for c in doc["screening"]["candidates"]] == names
    off = make_plan(fp, 120, machine(fp), screen=False)
    assert off.screen == [] and off.reasons["screening"].startswith("off (--no-screen)")
    assert config_to_dict(off.config) == config_to_dict(long.config)  # screening changes nothing else


def test_every_candidate_is_a_valid_config_that_differs_from_the_plan_as_it_says():
    for fp in (
        fingerprint(),
        fingerprint(classes=2, shares=[0.9, 0.1], size=(584, 565), n_train=20, width=3),
    ):
        plan = make_plan(fp, 120, machine(fp))
        depth = plan.config.model.options["encoder_depth"]
        for cand in screen_candidates(plan.config, "unet-resnet18-slim", depth):
            cfg = candidate_config(plan.config, cand)
            if cand.name == "wide-decoder":
                assert cfg.model.options["decoder_channels"] == [256, 128, 64, 32, 16][-depth:]
            elif cand.name == "full-res-only":
                assert len(cfg.stages) == 1 and cfg.stages[0].crop_size == []
            elif cand.name != "planned":
                assert cfg.loss.name == cand.name != plan.config.loss.name
            else:
                assert config_to_dict(cfg) == config_to_dict(plan.config)
    # a network that is not slim has no wider-decoder candidate
    fp = fingerprint()
    plan = make_plan(fp, 120, machine(fp))
    assert "wide-decoder" not in [c.name for c in screen_candidates(plan.config, "unet-resnet18", 5)]


# the CLI with the screening rule loosened (100 steps per slice do not fit a test's minute):
# the code path is the product's, only the two constants differ
_CLI = (
    "import sys; import segwise.train.screen as s; s.MIN_SLICE_STEPS, s.SCREEN_SHARE = 10, 0.75; "
    "from segwise.cli import app; sys.argv[0] = 'segwise'; app()"
)


@pytest.mark.slow
def test_screening_under_the_cli_records_every_candidate_and_the_winner_continues(tmp_path):
    from segwise.demo_data import make_shapes_dataset

    root = make_shapes_dataset(tmp_path / "shapes", num_images=40, height=64, width=80, seed=3)
    out = tmp_path / "auto"
    env = {"OMP_NUM_THREADS": "2", "SEGWISE_CACHE": str(tmp_path / "cache")}
    t0 = time.perf_counter()
    proc = run_cli(
        ["-c", _CLI, "train", "--auto", str(root), "--minutes", "1.5", "--out", str(out), "--device", "cpu"],
        env_extra=env,
        timeout=240,
        module=False,
    )
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 0.85 * 90 <= elapsed <= 90, f"--minutes 1.5 took {elapsed:.1f} s"
    screening = json.loads((out / "plan.json").read_text())["screening"]
    cands = screening["candidates"]
    assert len(cands) >= 2 and cands[0]["name"] == "planned"
    first = [c["slices"][0] for c in cands]
    assert all(s["rung"] == 1 and 0 <= s["val_miou"] <= 1 and s["seconds"] > 0 for s in first)
    # the better half goes on; the winner is the best of the last rung, and the final run starts from it
    last_rung = max(s["rung"] for c in cands for s in c["slices"])
    finalists = {
        c["name"]: c["slices"][-1]["val_miou"] for c in cands if c["slices"][-1]["rung"] == last_rung
    }
    assert screening["winner"] == max(finalists, key=finalists.get)
    assert len([c for c in cands if len(c["slices"]) == 2]) == (2 if len(cands) > 2 else 0)
    winner = next(c for c in cands if c["name"] == screening["winner"])
    assert screening["init_from"] == winner["slices"][-1]["run"] + "/best.pt"
    from segwise.models.checkpoint import load_checkpoint

    final = load_checkpoint(out / "run" / "last.pt")
    assert final["config"]["model"]["init_from"] == screening["init_from"] and final["finished"]
    for s in winner["slices"]:  # the slices are runs of their own, scored on the validation split
        assert (tmp_path / "auto" / "screen").is_dir() and load_checkpoint(s["run"] + "/best.pt")[
            "best_miou"
        ] == (pytest.approx(s["val_miou"], abs=1e-4))
    # --no-screen: the rules alone decide, and plan.json says so
    again = run_cli(
        [
            "-c",
            _CLI,
            "train",
            "--auto",
            str(root),
            "--minutes",
            "1.5",
            "--out",
            str(tmp_path / "p"),
            "--plan-only",
            "--no-screen",
            "--device",
            "cpu",
        ],
        env_extra=env,
        module=False,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    doc = json.loads((tmp_path / "p" / "plan.json").read_text())
    assert doc["screening"]["candidates"] == [] and "--no-screen" in doc["screening"]["reason"]
    assert run_cli(["train", "--config", "x.toml", "--no-screen"]).returncode == 2
