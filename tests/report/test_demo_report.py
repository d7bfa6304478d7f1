"""``segwise demo`` writes report.html into its run folder."""

from __future__ import annotations

import copy
import io

from rich.console import Console

import segwise.demo
import segwise.demo_data
from segwise.demo import run_demo

from .test_report import _parse, assert_self_contained


def test_demo_writes_a_report(tmp_path, monkeypatch):
    # The real demo flow on a smaller dataset and model, to keep the test short.
    make = segwise.demo_data.make_shapes_dataset
    monkeypatch.setattr(
        segwise.demo_data, "make_shapes_dataset", lambda root, num_images, seed: make(root, 40, seed=seed)
    )
    config = copy.deepcopy(segwise.demo.DEMO_CONFIG)
    config["model"]["options"] = {"base_width": 4, "depth": 2}
    monkeypatch.setattr(segwise.demo, "DEMO_CONFIG", config)
    run_demo(tmp_path, epochs=1, console=Console(file=io.StringIO()))
    text = (tmp_path / "run" / "report.html").read_text()
    assert_self_contained(text)
    assert _parse(text).rows["class-table"] == 6
    for heading in ("Worst and best images", "Training curves", "Confusion matrix"):
        assert f">{heading}<" in text
    assert (
        "no ground-truth file" not in text
        and "no prediction file" not in text
        and "no image file" not in text
    )
