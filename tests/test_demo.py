"""`segwise demo`, the README's main command, end to end through the installed CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_learns_and_writes_its_run_folder(tmp_path):
    exe = Path(sys.executable).parent / "segwise"
    res = subprocess.run(
        [str(exe), "demo", "--out", str(tmp_path)], capture_output=True, text=True, timeout=1500
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    run = tmp_path / "run"
    assert {"config.toml", "best.pt", "last.pt", "metrics.csv", "eval.json"} <= {
        p.name for p in run.iterdir()
    }
    result = json.loads((run / "eval.json").read_text())
    assert result["miou"] >= 0.8, result["miou"]  # learning, not noise
    assert result["num_images"] == 36 and len(result["per_class"]) == 6
    assert "held-out test mIoU" in res.stdout
    # a second run resumes the finished run instead of starting over
    res2 = subprocess.run(
        [str(exe), "demo", "--out", str(tmp_path)], capture_output=True, text=True, timeout=600
    )
    assert res2.returncode == 0 and "resuming" in res2.stdout
