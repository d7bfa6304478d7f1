import tomllib

import numpy as np
import pytest

from segwise.errors import InputError
from segwise.train.build import build_data, build_datasets
from segwise.train.config import config_from_dict, config_to_toml, load_config
from segwise.train.distributed import DistInfo
from segwise.train.schedule import lr_at
from tests.train.conftest import tiny_overrides


def test_defaults_follow_the_reference_recipe():
    cfg = load_config()
    assert (cfg.optim.name, cfg.optim.lr, cfg.loss.name, cfg.model.arch) == ("adam", 1e-3, "ce", "unet")


def test_overrides_are_parsed_as_toml(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        "[optim]\nlr = 0.01\n[[stages]]\nepochs = 2\nfreeze_encoder = true\n[[stages]]\nepochs = 3\nlr = 1e-4\n"
    )
    cfg = load_config(
        path, ["optim.lr=3e-4", "model.arch=segnet", "data.crop_size=[180, 240]", "loss.options={gamma=2.0}"]
    )
    assert cfg.optim.lr == 3e-4 and cfg.model.arch == "segnet" and cfg.data.crop_size == [180, 240]
    assert cfg.loss.options == {"gamma": 2.0}
    assert (
        [s.epochs for s in cfg.stages] == [2, 3] and cfg.stages[0].freeze_encoder and cfg.stages[1].lr == 1e-4
    )
    assert cfg.total_epochs() == 5
    assert config_from_dict(tomllib.loads(config_to_toml(cfg))) == cfg


def test_overrides_index_stages(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[[stages]]\nepochs = 40\n[[stages]]\nepochs = 15\nlr = 1e-4\n")
    cfg = load_config(path, ["stages.1.epochs=2", "stages.0.crop_size=[90, 120]"])
    assert [s.epochs for s in cfg.stages] == [40, 2] and cfg.stages[0].crop_size == [90, 120]
    with pytest.raises(InputError, match=r"`2` is not an index of a list of 2 entries; use 0..1"):
        load_config(path, ["stages.2.epochs=1"])
    with pytest.raises(InputError, match="is not an index"):
        load_config(path, ["stages.first.epochs=1"])


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["optim.lrr=1"], r"unknown config key `optim.lrr`; did you mean 'lr'\? valid keys of \[optim\]"),
        (["trian.epochs=1"], "did you mean 'train'"),
        (["train.epochs=abc"], "`train.epochs` must be int"),
        (["optim"], "section.key=value"),
        (["data.augment_strength=1.5"], r"`data.augment_strength` must be in \[0, 1\]"),
        (["data.crop_focus=-0.1"], r"`data.crop_focus` must be a probability in \[0, 1\]"),
        (["data.class_weights_power=0"], r"`data.class_weights_power` must be in \(0, 1\]"),
        (["train.ema_decay=1.0"], r"`train.ema_decay` must be in \[0, 1\)"),
        (
            ["lr=1"],
            r"unknown config section `lr`; valid sections: \[data\], .*`lr` is a key of \[optim\] and \[\[stages\]\]",
        ),
        (
            ["data.lr=1"],
            r"unknown config key `data.lr`; valid keys of \[data\]: .*`lr` is a key of \[optim\]",
        ),
        (["data.workers=-2"], r"`data.workers` must be -1 \(auto"),
    ],
)
def test_bad_config_fails_with_valid_keys(overrides, match):
    with pytest.raises(InputError, match=match):
        load_config(None, overrides)


def test_unknown_key_of_a_stage_names_the_section(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[[stages]]\nepochs = 2\nepoch = 3\n")
    with pytest.raises(
        InputError, match=r"`stages\[0\].epoch`; did you mean 'epochs'\? valid keys of \[\[stages\]\]"
    ):
        load_config(path)


def test_num_classes_in_the_config_points_to_the_spec(tmp_path, capsys):
    """Reported: `data.num_classes` was refused with "valid keys of :" (rich took [data] for markup)."""
    from segwise.cli import main

    path = tmp_path / "c.toml"
    path.write_text("[data]\nnum_classes = 2\n")
    for args in [(path, []), (None, ["data.num_classes=2"])]:
        with pytest.raises(InputError) as info:
            load_config(*args)
        message = str(info.value)
        assert message.startswith(
            "unknown config key `data.num_classes`; valid keys of [data]: dataset, root"
        )
        assert "dataset spec" in message and "spec.json" in message and "segwise data init ROOT" in message
    for argv in (["train", "--config", str(path)], ["train", "--set", "data.num_classes=2"]):
        assert main(argv) == 2
        assert (
            "unknown config key `data.num_classes`; valid keys of [data]: dataset" in capsys.readouterr().err
        )


def test_workers_minus_one_is_auto(shapes_root, tmp_path, monkeypatch):
    import segwise.data.loader

    monkeypatch.setattr(segwise.data.loader, "default_num_workers", lambda: 2)
    for value, expected in (("-1", 2), ("0", 0), ("1", 1)):
        cfg = load_config(None, [*tiny_overrides(shapes_root, tmp_path), f"data.workers={value}"])
        data = build_data(cfg.data, cfg.train.seed, DistInfo(), cfg.data.augment, cfg.data.crop_size)
        assert data.train_loader.num_workers == data.val_loader.num_workers == expected
    assert load_config().data.workers == -1


def test_bad_toml_file_names_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[optim\nlr = 1")
    with pytest.raises(InputError, match="bad.toml is not valid TOML"):
        load_config(path)


def test_lr_schedules():
    assert lr_at(0, 100, 1.0, "constant") == 1.0
    assert lr_at(50, 100, 1.0, "poly", power=1.0) == pytest.approx(0.5)
    assert lr_at(100, 100, 1.0, "cosine") == pytest.approx(0.0)
    assert lr_at(50, 100, 1.0, "cosine") == pytest.approx(0.5)
    assert lr_at(0, 100, 1.0, "cosine", warmup_steps=10) == pytest.approx(0.1)
    assert lr_at(9, 100, 1.0, "cosine", warmup_steps=10) == pytest.approx(1.0)
    peak = max(lr_at(s, 100, 1.0, "onecycle") for s in range(100))
    assert peak == pytest.approx(1.0) and lr_at(99, 100, 1.0, "onecycle") < 0.01
    with pytest.raises(InputError, match="available: constant, poly, cosine, onecycle"):
        lr_at(0, 10, 1.0, "linear")


def test_augment_strength_scales_the_preset(shapes_root, tmp_path):
    def steps(*extra, stage_augment=None):
        cfg = load_config(None, [*tiny_overrides(shapes_root, tmp_path), *extra])
        data = build_data(
            cfg.data, cfg.train.seed, DistInfo(), stage_augment or cfg.data.augment, cfg.data.crop_size
        )
        return {s.name: s for s in data.train_set.transforms.steps}

    light, custom = steps(), steps("data.augment=strong", "data.augment_strength=0.75")
    assert light["rotate"].degrees == 5.0 and custom["rotate"].degrees == 7.5
    # a stage that names another preset gets that preset's own strength
    stage_light = steps("data.augment=strong", "data.augment_strength=0.75", stage_augment="light")
    assert stage_light["rotate"].degrees == 5.0
    assert custom["random_scale"].range == pytest.approx((0.5**0.75, 2.0**0.75))


def test_crop_focus_reaches_the_random_crop(shapes_root, tmp_path):
    cfg = load_config(None, [*tiny_overrides(shapes_root, tmp_path), "data.crop_focus=0.5"])
    data = build_data(cfg.data, cfg.train.seed, DistInfo(), cfg.data.augment, cfg.data.crop_size)
    crop = {s.name: s for s in data.train_set.transforms.steps}["random_crop"]
    assert crop.class_focus == 0.5 and crop.size == (32, 48)


def test_class_weights_power_softens_the_weights(shapes_root, tmp_path):
    from segwise.data.stats import class_stats
    from segwise.train.build import class_weights_for

    def weights(*extra):
        cfg = load_config(
            None, [*tiny_overrides(shapes_root, tmp_path), "data.class_weights=median_frequency", *extra]
        )
        return class_weights_for(cfg.data, build_datasets(cfg.data, cfg.train.seed)[0]).double().numpy()

    full, root = weights(), weights("data.class_weights_power=0.5")
    # reference: median-frequency weights straight from the statistics, then their square roots
    ref = np.asarray(
        class_stats(
            "folder", "train", str(shapes_root), val_fraction=0.25, test_fraction=0.0, cache=False, seed=0
        ).weights("median_frequency")
    )
    ref = np.where(np.isfinite(ref), ref, 0.0)
    np.testing.assert_allclose(full, ref, rtol=1e-6)
    np.testing.assert_allclose(root, np.sqrt(ref), rtol=1e-6)
    assert np.ptp(np.log(root[root > 0])) == pytest.approx(np.ptp(np.log(full[full > 0])) / 2, rel=1e-5)


def test_augment_may_be_a_list_of_steps(shapes_root, tmp_path):
    """A stage at a lower resolution: its own list of steps, with options, in the TOML config."""
    path = tmp_path / "c.toml"
    path.write_text(
        '[[stages]]\nepochs = 2\ncrop_size = [16, 24]\naugment = [{name = "random_scale", range = [0.35, 0.7]}, '
        '"random_crop", "hflip"]\n[[stages]]\nepochs = 1\n'
    )
    cfg = load_config(path, tiny_overrides(shapes_root, tmp_path))
    assert cfg.stages[0].augment == [{"name": "random_scale", "range": [0.35, 0.7]}, "random_crop", "hflip"]
    assert cfg.stages[1].augment == ""  # inherits data.augment
    assert config_from_dict(tomllib.loads(config_to_toml(cfg))) == cfg
    data = build_data(cfg.data, cfg.train.seed, DistInfo(), cfg.stages[0].augment, cfg.stages[0].crop_size)
    steps = {s.name: s for s in data.train_set.transforms.steps}
    assert list(steps) == ["random_scale", "random_crop", "hflip"]
    assert steps["random_scale"].range == (0.35, 0.7) and steps["random_crop"].size == (16, 24)
    image, mask = data.train_set[0]
    assert tuple(image.shape[-2:]) == (16, 24) and tuple(mask.shape) == (16, 24)
    with pytest.raises(InputError, match=r"`data.augment` must be str or list, got 3"):
        load_config(None, ["data.augment=3"])
