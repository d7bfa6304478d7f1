"""The config-to-object builders (segwise.train.build) and the run's progress (RunState)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import segwise.data.datasets
from segwise.errors import InputError
from segwise.train import build
from segwise.train.config import LossConfig, ModelConfig, OptimConfig, load_config
from segwise.train.distributed import DistInfo
from segwise.train.loop import RunState
from segwise.train.optim import OPTIMIZERS, create_optimizer
from tests.train.conftest import tiny_overrides


@pytest.fixture
def created(monkeypatch):
    """The (split, transforms given) of every dataset created."""
    calls: list[tuple[str, bool]] = []
    real = segwise.data.datasets.create_dataset

    def spy(name, split="train", root=None, transforms=None, **options):
        calls.append((split, transforms is not None))
        return real(name, split, root, transforms, **options)

    monkeypatch.setattr(segwise.data.datasets, "create_dataset", spy)
    return calls


def test_dataset_kwargs_fill_seed_and_cache_unless_given(shapes_root, tmp_path):
    cfg = load_config(None, tiny_overrides(shapes_root, tmp_path, **{"train.seed": "7"}))
    assert build.dataset_kwargs(cfg.data, cfg.train.seed) == {
        "val_fraction": 0.25,
        "test_fraction": 0.0,
        "seed": 7,
        "cache": False,
    }
    cfg.data.options["seed"] = 3
    assert build.dataset_kwargs(cfg.data, 7)["seed"] == 3


def test_build_data_reads_each_split_once(shapes_root, tmp_path, created):
    cfg = load_config(None, tiny_overrides(shapes_root, tmp_path, **{"data.val_size": "[16, 24]"}))
    data = build.build_data(cfg.data, cfg.train.seed, DistInfo(), "light", [16, 16])
    assert [split for split, _ in created] == ["train", "val"]  # no probe dataset for the spec
    assert data.spec == data.train_set.spec == data.val_set.spec
    assert [s.name for s in data.train_set.transforms.steps][:2] == ["random_scale", "random_crop"]
    image, mask = data.train_set[0]
    assert tuple(image.shape[-2:]) == tuple(mask.shape) == (16, 16)
    image, mask = data.val_set[0]
    assert tuple(image.shape[-2:]) == tuple(mask.shape) == (16, 24)
    assert len(data.train_loader) == 18 // 4 and len(data.val_loader) == 2


def test_a_stage_reuses_the_training_set(shapes_root, tmp_path, created):
    """What the loop does when a stage changes augmentation or crop size: new transforms, new loader."""
    cfg = load_config(None, tiny_overrides(shapes_root, tmp_path))
    data = build.build_data(cfg.data, cfg.train.seed, DistInfo(), cfg.data.augment, cfg.data.crop_size)
    data.train_set.transforms = build.train_transforms(
        cfg.data, data.spec, 0, ["random_crop", "hflip"], [16, 24]
    )
    loader = build.train_loader(cfg.data, data.train_set, DistInfo(), 0)
    images, masks = next(iter(loader))
    assert tuple(images.shape) == (4, 3, 16, 24) and tuple(masks.shape) == (4, 16, 24)
    assert len(created) == 2
    cfg.data.batch_size = 100
    with pytest.raises(InputError, match="fewer than data.batch_size=100"):
        build.train_loader(cfg.data, data.train_set, DistInfo(), 0)


def test_class_weights_count_the_training_set(shapes_root, tmp_path, created):
    from segwise.data.stats import class_stats

    cfg = load_config(None, tiny_overrides(shapes_root, tmp_path, **{"data.class_weights": '"enet"'}))
    train_set, _ = build.build_datasets(cfg.data, cfg.train.seed)
    weights = build.class_weights_for(cfg.data, train_set)
    assert len(created) == 2  # the statistics read the training set's files, no third dataset
    ref = class_stats("folder", "train", str(shapes_root), val_fraction=0.25, test_fraction=0.0, cache=False)
    np.testing.assert_allclose(weights.numpy(), np.nan_to_num(ref.weights("enet")), rtol=1e-6)
    cfg.data.class_weights = "none"
    assert build.class_weights_for(cfg.data, train_set) is None


def test_eval_dataset_reads_the_split_once(shapes_root, tmp_path, created):
    cfg = load_config(None, tiny_overrides(shapes_root, tmp_path, **{"data.val_size": "[16, 24]"}))
    ds = build.eval_dataset(cfg.data, "val")
    assert created == [("val", False)] and len(ds) == 6
    assert tuple(ds[0][1].shape) == (16, 24)
    with pytest.raises(InputError, match="split 'test' of 24 samples is empty"):
        build.eval_dataset(cfg.data, "test")


def test_model_loss_and_optimizer_from_their_sections(shapes_root, tmp_path):
    from segwise.data.spec import DatasetSpec

    spec = DatasetSpec("toy", ("a", "b", "c"), ignore_index=255)
    model = build.build_model(
        ModelConfig(arch="unet", encoder="classic", options={"base_width": 4, "depth": 2}), spec
    )
    assert model.config["num_classes"] == 3 and model.config["arch"] == "unet"
    loss = build.build_loss(LossConfig(name="ce+dice", weights=[1.0, 0.5]), spec, torch.ones(3))
    assert loss.config["ignore_index"] == 255 and sorted(loss.config["weights"]) == [0.5, 1.0]
    sgd = build.build_optimizer(
        OptimConfig(name="sgd", momentum=0.0, weight_decay=0.1), list(model.parameters()), 0.5
    )
    assert isinstance(sgd, torch.optim.SGD)
    assert sgd.defaults["lr"] == 0.5 and sgd.defaults["weight_decay"] == 0.1 and not sgd.defaults["nesterov"]
    assert set(OPTIMIZERS) == {"adam", "adamw", "sgd"}
    with pytest.raises(InputError, match="unknown optimizer 'adamm'; did you mean 'adam'"):
        create_optimizer("adamm", list(model.parameters()), 0.1)


def test_run_state_round_trips_through_the_checkpoint_progress():
    run = RunState(
        epoch=5,
        step=40,
        best_miou=0.6,
        stale_epochs=1,
        stage=1,
        stage_epoch=2,
        history=[{"epoch": 1, "train_loss": 0.5}],
        train_seconds=12.5,
        finished=False,
    )
    progress = run.to_progress()
    assert set(progress) == {
        "epoch",
        "step",
        "best_miou",
        "stale_epochs",
        "history",
        "stage",
        "stage_epoch",
        "train_seconds",
        "wall_seconds",
        "finished",
        "clock",
    }
    assert RunState.from_checkpoint({**progress, "model": {}, "optimizer": {}}) == run
    # checkpoints written before history and train_seconds were stored
    old = {
        k: v for k, v in progress.items() if k not in ("history", "train_seconds", "wall_seconds", "finished")
    }
    assert RunState.from_checkpoint(old) == RunState(
        epoch=5, step=40, best_miou=0.6, stale_epochs=1, stage=1, stage_epoch=2
    )


def test_run_state_counts_epochs_and_stages():
    run = RunState()
    assert run.end_epoch(0, 2, 1.5) is False and (run.epoch, run.stage, run.stage_epoch) == (1, 0, 1)
    assert run.end_epoch(0, 2, 1.0) is True and (run.epoch, run.stage, run.stage_epoch) == (2, 1, 0)
    assert run.train_seconds == 2.5
    assert run.record_validation(0.4) and (run.best_miou, run.stale_epochs) == (0.4, 0)
    assert not run.record_validation(0.3) and (run.best_miou, run.stale_epochs) == (0.4, 1)
    assert not run.record_validation(float("nan")) and run.stale_epochs == 2  # NaN counts as 0
    assert run.record_validation(0.5) and (run.best_miou, run.stale_epochs) == (0.5, 0)


def test_the_run_state_of_a_finished_run(shapes_root, tmp_path):
    from segwise.models import checkpoint as ckpt_io
    from segwise.train.loop import train

    path = tmp_path / "staged.toml"
    path.write_text(
        '[[stages]]\nepochs = 1\n[[stages]]\nepochs = 2\naugment = "none"\ncrop_size = [16, 24]\n'
    )
    out = tmp_path / "run"
    train(load_config(path, tiny_overrides(shapes_root, out)))
    run = RunState.from_checkpoint(ckpt_io.load_checkpoint(out / "last.pt"))
    assert (run.epoch, run.stage, run.stage_epoch, run.finished) == (3, 2, 0, True)
    assert run.step == 3 * (18 // 4) and [r["epoch"] for r in run.history] == [1, 2, 3]
    assert run.best_miou == max(r["val_miou"] for r in run.history) and run.train_seconds > 0
