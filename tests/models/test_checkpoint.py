"""The checkpoint format: what build_payload writes, what load_checkpoint refuses, and the model it rebuilds."""

from __future__ import annotations

import pytest
import torch

from segwise.data.spec import DatasetSpec
from segwise.errors import CheckpointError
from segwise.models import create_model, load_encoder_weights, model_from_checkpoint
from segwise.models.checkpoint import (
    FORMAT,
    RESUME_KEYS,
    build_payload,
    load_checkpoint,
    save_checkpoint,
)
from segwise.version import __version__

SPEC = DatasetSpec("toy", ("a", "b", "c"))


@pytest.fixture
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("unet", 3, base_width=4, depth=2)


def test_round_trip_of_a_training_checkpoint(model, tmp_path):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(1, 3, 16, 16)).sum().backward()
    optimizer.step()
    payload = build_payload(
        model,
        SPEC,
        {"train": {"epochs": 2}},
        optimizer=optimizer,
        rng={"torch": torch.ones(2)},
        progress={"epoch": 1, "finished": False},
    )
    save_checkpoint(tmp_path / "last.pt", payload)
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["format"] == FORMAT and ckpt["segwise_version"] == __version__
    assert (
        ckpt["config"] == {"train": {"epochs": 2}}
        and ckpt["epoch"] == 1
        and ckpt["class_names"] == ["a", "b", "c"]
    )
    assert ckpt["optimizer"]["state"] and "train_model" not in ckpt
    assert DatasetSpec.from_json(ckpt["spec"]) == SPEC
    rebuilt, spec = model_from_checkpoint(tmp_path / "last.pt")
    assert spec == SPEC and not rebuilt.training
    for key, value in model.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[key], value), key
    again, _ = model_from_checkpoint(ckpt, source=tmp_path / "last.pt")  # from the loaded dict
    assert all(torch.equal(v, rebuilt.state_dict()[k]) for k, v in again.state_dict().items())


def test_with_an_ema_the_average_is_the_model(model):
    average = {k: torch.zeros_like(v) for k, v in model.state_dict().items()}
    payload = build_payload(model, SPEC, {}, ema_weights=average, ema_updates=7)
    assert payload["ema_updates"] == 7
    assert all(torch.equal(payload["model"][k], average[k]) for k in average)
    assert all(torch.equal(payload["train_model"][k], v) for k, v in model.state_dict().items())


def test_wrapped_models_are_saved_without_their_wrapper_prefix(model):
    class Wrapper(torch.nn.Module):  # like DDP: the model is .module
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.module = inner

    payload = build_payload(Wrapper(model), SPEC, {})
    assert list(payload["model"]) == list(model.state_dict())
    assert payload["model_config"] == model.config


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ({"format": "segwise.checkpoint/2", "segwise_version": "0.9"}, r"newer|Upgrade segwise .*0\.9"),
        ({"format": "segwise.checkpoint/0", "segwise_version": "0.0.1"}, "Re-export it"),
        ({"weights": {}}, "not a segwise checkpoint"),
    ],
)
def test_foreign_and_other_version_files_are_refused_with_the_fix(tmp_path, content, match):
    path = tmp_path / "x.pt"
    torch.save(content, path)
    with pytest.raises(CheckpointError, match=match) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_missing_keys_are_named(model, tmp_path):
    path = tmp_path / "infer-only.pt"
    save_checkpoint(path, build_payload(model, SPEC, {}))
    assert load_checkpoint(path)["config"] == {}
    with pytest.raises(CheckpointError, match=r"lacks \['optimizer', 'rng', 'epoch'.*--resume"):
        load_checkpoint(path, needs=RESUME_KEYS)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nothing.pt")


def test_init_from_checks_segwise_checkpoints_too(model, tmp_path):
    path = tmp_path / "future.pt"
    torch.save(
        {"format": "segwise.checkpoint/5", "model": model.state_dict(), "model_config": model.config}, path
    )
    with pytest.raises(CheckpointError, match="format 'segwise.checkpoint/5'"):
        load_encoder_weights(create_model("unet", 3, base_width=4, depth=2), path)
