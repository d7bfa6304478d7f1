"""The metric-family registry: lookups with "did you mean", options, the command-line flags, and a
new family plugging into segwise eval through one registration."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import typer
from rich.console import Console

from segwise.cli import app
from segwise.cli.render import print_result
from segwise.errors import InputError
from segwise.evaluate import Evaluation
from segwise.metrics import families
from segwise.metrics.families import (
    MetricFamily,
    build_states,
    families_in,
    get_family,
    register_family,
    registered_families,
    select_families,
    summary_lines,
)
from segwise.metrics.state import MetricState


def test_registered_families_and_their_flags_in_segwise_eval():
    fams = registered_families()
    assert list(fams) == ["pixel", "boundary", "regions", "surface", "ci", "probs", "uncertainty"]
    assert fams["pixel"].flag is None  # always evaluated
    assert fams["probs"].needs == "probs"  # fed with probabilities: --probs DIR, not part of --all
    eval_cmd = typer.main.get_command(app).commands["eval"]
    eval_flags = {opt for param in eval_cmd.params for opt in param.opts}
    optional = [f for f in fams.values() if f.flag is not None]
    assert {f.flag for f in optional} <= eval_flags  # every family has its flag; --all adds them all
    assert "--all" in eval_flags
    options = {opt for f in fams.values() for opt in f.options}
    assert {"--" + o.replace("_", "-") for o in options} <= eval_flags  # and its options


def test_unknown_names_and_options_say_what_exists():
    with pytest.raises(
        InputError,
        match="did you mean 'boundary'.*available: pixel, boundary, regions, surface, ci, probs, uncertainty",
    ):
        get_family("boundry")
    with pytest.raises(InputError, match="unknown metric family 'region'"):
        select_families({"region": True})
    with pytest.raises(InputError, match="unknown metric option 'bf_teta'; did you mean 'bf_theta'"):
        build_states(["boundary"], 3, 255, {"bf_teta": 2})
    with pytest.raises(InputError, match="theta"):
        build_states(["boundary"], 3, 255, {"bf_theta": -1})  # the metric's own validation


def test_select_and_build_in_registry_order():
    assert select_families({"ci": True, "boundary": True, "regions": False}) == ("boundary", "ci")
    assert select_families({"ci": False}, everything=True) == ("boundary", "regions", "ci")
    assert select_families({"probs": True}, everything=True) == ("boundary", "regions", "ci", "probs")
    states = build_states(
        ["ci", "boundary"], 4, 3, {"bf_theta": 2.0, "biou_d": None, "resamples": 20, "seed": 5}
    )
    assert list(states) == ["pixel", "boundary", "ci"]
    assert states["boundary"].theta == 2.0 and states["boundary"].d is None  # None: the family's default
    assert (states["ci"].num_resamples, states["ci"].seed) == (20, 5)
    assert states["ci"].boundary is states["boundary"]  # the intervals resample the same images' BF
    assert states["pixel"].per_image and states["pixel"].ignore_index == 3


def test_a_name_flag_or_option_is_registered_once(monkeypatch):
    monkeypatch.setattr(families, "_FAMILIES", dict(families._FAMILIES))
    base = get_family("regions")
    for clash in (
        MetricFamily("regions", "--objects", "x", base.build, ("objects",), base.summary),
        MetricFamily("objects", "--regions", "x", base.build, ("objects",), base.summary),
        MetricFamily("objects", "--objects", "x", base.build, ("objects",), base.summary, {"seed": 0}),
    ):
        with pytest.raises(RuntimeError):
            register_family(clash)


class PixelShare(MetricState):
    """A toy family: the share of evaluated pixels predicted as class 1."""

    def __init__(self, num_classes: int, ignore_index: int | None) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        self.add_state("counts", np.zeros(2, np.int64), "sum")

    def update(self, pred: Any, target: Any) -> None:
        valid = np.asarray(target) != self.ignore_index
        self.counts += [int((np.asarray(pred)[valid] == 1).sum()), int(valid.sum())]

    def result(self, state: Any = None, class_names: Any = None) -> dict[str, Any]:
        return {"share_1": float(self.counts[0] / self.counts[1]), "policy": {"share_1": "toy"}}


def test_a_new_family_is_one_registration(monkeypatch):
    monkeypatch.setattr(families, "_FAMILIES", dict(families._FAMILIES))
    register_family(
        MetricFamily(
            name="share",
            flag="--share",
            description="share of class 1",
            build=lambda num_classes, ignore_index, built: PixelShare(num_classes, ignore_index),
            result_keys=("share_1",),
            summary=lambda r: [f"share of class 1: {100 * r['share_1']:.1f}%"] if "share_1" in r else [],
        )
    )
    ev = Evaluation(2, 255, families=select_families({"share": True}))
    t = np.array([[0, 1, 255], [1, 1, 0]], np.uint8)
    ev.add(np.array([[1, 1, 1], [0, 1, 0]], np.uint8), t)
    result = ev.result(["bg", "fg"])
    assert result["share_1"] == 0.6 and result["policy"]["share_1"] == "toy"
    assert families_in(result) == ["pixel", "share"]
    assert summary_lines(result) == ["share of class 1: 60.0%"]
    console = Console(record=True, width=100)
    print_result(result, console)
    assert console.export_text().rstrip().endswith("share of class 1: 60.0%")


NEW_FAMILY_SCRIPT = r"""
import sys
import numpy as np
from segwise.metrics.families import Card, FamilyOption, MetricFamily, register_family
from segwise.metrics.state import MetricState


class PixelShare(MetricState):
    def __init__(self, cls):
        super().__init__()
        self.cls = cls
        self.add_state("counts", np.zeros(2, np.int64), "sum")

    def settings(self):
        return {"cls": self.cls}

    def update(self, pred, target):
        self.counts += [int((np.asarray(pred) == self.cls).sum()), int(np.asarray(pred).size)]

    def result(self, state=None, class_names=None):
        return {"share_of": float(self.counts[0] / self.counts[1])}


register_family(
    MetricFamily(
        name="share",
        flag="--share",
        description="share of one class among the predicted pixels",
        build=lambda num_classes, ignore_index, built, *, share_class: PixelShare(share_class),
        result_keys=("share_of",),
        summary=lambda r: [f"predicted share: {100 * r['share_of']:.1f}%"] if "share_of" in r else [],
        options={"share_class": 1},
        flag_help="Add the predicted share of one class.",
        cli={"share_class": FamilyOption("--share-class", "The class whose share is counted.", int)},
        volumes="--share counts 2-D images only",
        cards=lambda r: [Card("predicted share", "share_of", "of all pixels")],
    )
)
from segwise.cli import main

sys.exit(main(sys.argv[1:]))
"""


def test_a_new_family_reaches_the_command_line_the_volumes_check_and_the_report(tmp_path):
    """One registration (flag, option, volume refusal, report card) and nothing else: segwise eval
    offers --share and --share-class, the result and the report show it, and volumes refuse it."""
    import json
    import subprocess
    import sys

    from PIL import Image

    gt, pred = tmp_path / "gt", tmp_path / "pred"
    gt.mkdir()
    pred.mkdir()
    Image.fromarray(np.array([[0, 1], [1, 1]], np.uint8)).save(gt / "a.png")
    Image.fromarray(np.array([[0, 0], [2, 1]], np.uint8)).save(pred / "a.png")

    def segwise(*args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-c", NEW_FAMILY_SCRIPT, *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300)

    help_text = segwise("eval", "--help").stdout
    words = " ".join(help_text.replace("│", " ").split())  # the help as one line of words
    assert "--share-class <int> The class whose share is counted." in words and "--share " in words
    out = segwise(
        "eval", "--gt", str(gt), "--pred", str(pred), "--num-classes", "3", "--share", "--share-class", "0",
        "--json", str(tmp_path / "r.json"), "--report", str(tmp_path / "r.html"),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "predicted share: 50.0%" in out.stdout
    assert json.loads((tmp_path / "r.json").read_text())["share_of"] == 0.5
    html = (tmp_path / "r.html").read_text()
    assert ">predicted share<" in html and "50.00" in html
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "case.nii.gz").write_bytes(b"")
    refused = segwise("eval", "--gt", str(vol), "--pred", str(vol), "--num-classes", "3", "--share")
    assert refused.returncode == 2 and "--share counts 2-D images only" in refused.stderr
