from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from segwise.demo_data import make_shapes_dataset


@pytest.fixture(scope="session")
def shapes_root(tmp_path_factory) -> Path:
    """A tiny synthetic folder dataset (6 classes, 32x48 images)."""
    return make_shapes_dataset(tmp_path_factory.mktemp("shapes"), num_images=24, height=32, width=48, seed=1)


def tiny_overrides(root: Path, out: Path, **extra: str) -> list[str]:
    sets = {
        "data.dataset": '"folder"',
        "data.root": f'"{root}"',
        "data.crop_size": "[32, 48]",
        "data.batch_size": "4",
        "data.val_batch_size": "4",
        "data.workers": "0",
        "data.augment": '"light"',
        "data.cache": "false",
        "data.options": "{val_fraction = 0.25, test_fraction = 0.0}",
        "model.arch": '"unet"',
        "model.encoder": '"classic"',
        "model.options": "{base_width = 4, depth = 2}",
        "train.epochs": "2",
        "train.out_dir": f'"{out}"',
        # fp32 everywhere: "auto" turns bf16 autocast on where the CPU has native bf16, and tests that
        # compare in-loop validation with an fp32 re-evaluation must not depend on the machine
        "train.amp": '"none"',
    }
    sets.update(extra)
    return [f"{k}={v}" for k, v in sets.items()]


def run_cli(
    args: list[str], env_extra: dict[str, str] | None = None, timeout: int = 300, module: bool = True
) -> subprocess.CompletedProcess:
    """``python -m segwise ARGS`` (``module=False``: ``python ARGS``, e.g. ``-c SCRIPT ...``)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **(env_extra or {})}
    head = ["-m", "segwise"] if module else []
    return subprocess.run(
        [sys.executable, *head, *args], capture_output=True, text=True, env=env, timeout=timeout
    )
