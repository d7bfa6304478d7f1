"""Fixtures for the inference tests: a tiny checkpoint, a few synthetic images with masks, CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from segwise.data.spec import DatasetSpec
from segwise.demo_data import CLASS_NAMES, COLORS, make_shapes_dataset
from segwise.models import create_model
from segwise.models.checkpoint import build_payload, save_checkpoint

SPEC = DatasetSpec("shapes", CLASS_NAMES, COLORS, ignore_index=255, mean=(0.45,) * 3, std=(0.25,) * 3)


def make_checkpoint(path: Path, spec: DatasetSpec = SPEC, seed: int = 0, **model_options) -> Path:
    """A randomly initialised tiny U-Net checkpoint for ``spec`` (BN statistics made non-trivial)."""
    torch.manual_seed(seed)
    options = {"encoder": "classic", "base_width": 4, "depth": 2, **model_options}
    model = create_model("unet", spec.num_classes, in_channels=spec.in_channels, **options)
    with torch.no_grad():  # one train-mode pass so the running statistics are not the identity
        model.train()(torch.randn(2, spec.in_channels, 32, 32))
    save_checkpoint(path, build_payload(model, spec, {}))
    return path


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt")


@pytest.fixture(scope="session")
def shapes(tmp_path_factory) -> Path:
    """6 synthetic images (48x64) with index masks: ``images/``, ``masks/``."""
    return make_shapes_dataset(tmp_path_factory.mktemp("shapes"), num_images=6, height=48, width=64, seed=2)


def run_cli(args: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "segwise", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
