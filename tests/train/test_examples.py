"""Every example config loads and names a registered dataset, arch and loss."""

from pathlib import Path

import pytest

from segwise.losses import create_loss
from segwise.models import list_models
from segwise.train.config import load_config

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").rglob("*.toml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_config_is_valid(path):
    cfg = load_config(path)
    assert cfg.model.arch in list_models()
    create_loss(cfg.loss.name, weights=cfg.loss.weights or None, **cfg.loss.options)
    assert cfg.total_epochs() > 0


def test_there_are_camvid_examples():
    assert len([p for p in EXAMPLES if p.parent.name == "camvid"]) >= 3
