"""Config choices fail when the config is loaded, before any data is read, from the registries."""

from __future__ import annotations

import pytest

from segwise.errors import InputError
from segwise.train.config import load_config

# (override, what the error says): each a typo of a registered name
TYPOS = [
    (
        'optim.name="adamm"',
        "config `optim.name`: unknown optimizer 'adamm'; did you mean 'adam'? available: adam,",
    ),
    ('schedule.name="cosin"', "config `schedule.name`: unknown schedule 'cosin'; did you mean 'cosine'?"),
    ('loss.name="dcie"', "config `loss.name`: unknown loss 'dcie'; did you mean 'dice'? available: ce,"),
    ('loss.name="ce+dcie"', "config `loss.name`: unknown loss 'dcie'; did you mean 'dice'?"),
    ('model.arch="segnte"', "config `model.arch`: unknown architecture 'segnte'; did you mean 'segnet'?"),
    ('data.dataset="flder"', "config `data.dataset`: unknown dataset 'flder'; did you mean 'folder'?"),
    (
        'data.class_weights="median_frequncy"',
        "config `data.class_weights`: unknown class weighting 'median_frequncy'; did you mean 'median_frequency'?",
    ),
    (
        'data.augment="strng"',
        "config `data.augment`: unknown augmentation preset 'strng'; did you mean 'strong'?",
    ),
    (
        'data.augment=["hflip", "rotat"]',
        "config `data.augment`: unknown transform 'rotat'; did you mean 'rotate'?",
    ),
    ('train.amp="bf61"', "config `train.amp`: unknown amp mode 'bf61'; did you mean 'bf16'?"),
]


@pytest.mark.parametrize(("override", "message"), TYPOS)
def test_a_typo_fails_at_load_time(override, message):
    with pytest.raises(InputError) as info:
        load_config(None, [override])
    assert str(info.value).startswith(message), str(info.value)


def test_stage_choices_are_checked(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[[stages]]\nepochs = 1\n[[stages]]\nepochs = 1\nschedule = "pol"\n')
    with pytest.raises(
        InputError, match=r"config `stages\[1\].schedule`: unknown schedule 'pol'; did you mean 'poly'"
    ):
        load_config(path)
    path.write_text('[[stages]]\nepochs = 1\naugment = "lite"\n')
    with pytest.raises(InputError, match=r"config `stages\[0\].augment`: unknown augmentation preset 'lite'"):
        load_config(path)
    path.write_text('[[stages]]\nepochs = 1\nschedule = "poly"\naugment = ["hflip"]\n')
    assert load_config(path).stages[0].schedule == "poly"


def test_validation_follows_the_registries(monkeypatch):
    """Registering a name makes it valid in the config: validation reads the registries themselves."""
    import torch

    from segwise.train.optim import OPTIMIZERS
    from segwise.train.schedule import SCHEDULES

    with pytest.raises(InputError, match="unknown optimizer 'rmsprop'"):
        load_config(None, ['optim.name="rmsprop"'])
    monkeypatch.setitem(
        OPTIMIZERS, "rmsprop", lambda params, lr, wd, momentum: torch.optim.RMSprop(params, lr=lr)
    )
    monkeypatch.setitem(SCHEDULES, "step", lambda *args: 1.0)
    cfg = load_config(None, ['optim.name="rmsprop"', 'schedule.name="step"'])
    assert (cfg.optim.name, cfg.schedule.name) == ("rmsprop", "step")


def _no_data_reads(monkeypatch):
    """Make every way of building a dataset fail loudly."""
    import segwise.data.datasets
    import segwise.data.stats
    from segwise.data.base import SegmentationDataset

    def boom(*args, **kwargs):
        raise AssertionError("dataset code ran before the config was validated")

    monkeypatch.setattr(segwise.data.datasets, "create_dataset", boom)
    monkeypatch.setattr(segwise.data.stats, "class_stats", boom)
    monkeypatch.setattr(SegmentationDataset, "__init__", boom)


@pytest.mark.parametrize(
    ("override", "hint"),
    [
        ('optim.name="adamm"', "did you mean 'adam'"),
        ('schedule.name="cosin"', "did you mean 'cosine'"),
        ('loss.name="ce+dcie"', "did you mean 'dice'"),
        ('model.arch="segnte"', "did you mean 'segnet'"),
        ('data.class_weights="enett"', "did you mean 'enet'"),
        ('data.dataset="flder"', "did you mean 'folder'"),
        ('data.augment="strng"', "did you mean 'strong'"),
        ('train.amp="bf61"', "did you mean 'bf16'"),
    ],
)
def test_cli_train_typo_exits_2_before_reading_data(override, hint, tmp_path, monkeypatch, capsys):
    from segwise.cli import main

    _no_data_reads(monkeypatch)
    out = tmp_path / "run"
    argv = [
        "train",
        "--set",
        override,
        "--set",
        f'data.root="{tmp_path / "missing"}"',
        "--set",
        f'train.out_dir="{out}"',
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert hint in err and "Traceback" not in err, err
    assert not out.exists()  # nothing was written either


def test_valid_configs_still_load():
    from segwise.demo import DEMO_CONFIG
    from segwise.train.config import config_from_dict

    cfg = config_from_dict({k: dict(v) for k, v in DEMO_CONFIG.items()})
    assert cfg.loss.name == "ce+dice" and cfg.schedule.name == "onecycle"
    cfg = load_config(
        None,
        [
            'loss.name="focal+dice"',
            "loss.weights=[1.0, 0.5]",
            "loss.options={gamma = 2.0, 'dice.smooth' = 1.0}",
            'model.arch="segnet_basic"',
            'model.encoder=""',
            'data.class_weights="none"',
            'data.augment=[{name = "rotate", degrees = 5}, "hflip"]',
            'train.amp="none"',
        ],
    )
    assert cfg.loss.weights == [1.0, 0.5]


def test_compare_checks_every_variant_before_training(tmp_path, monkeypatch):
    """A typo in the last value of --vary fails before the first variant trains."""
    from segwise.train import loop
    from segwise.train.variants import run_comparison

    def no_training(*args, **kwargs):
        raise AssertionError("a variant trained before every variant's config was checked")

    monkeypatch.setattr(loop, "train", no_training)
    base = tmp_path / "base.toml"
    base.write_text("")
    with pytest.raises(InputError, match="config `loss.name`: unknown loss 'dcie'; did you mean 'dice'"):
        run_comparison(base, ["loss=ce,dcie"], out_dir=tmp_path / "cmp")
