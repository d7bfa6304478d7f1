"""`segwise train --auto`: the planner on synthetic fingerprints, and a 1-minute run end to end."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest

from segwise.errors import InputError
from segwise.train.auto import (
    CONTEXT_SLICES,
    DEFAULT_NET,
    Fingerprint,
    Machine,
    critical_width,
    make_plan,
    plan_from_json,
    rule_augment,
    rule_batch,
    rule_depth,
    rule_geometry,
)
from segwise.train.config import TrainConfig, config_to_dict, load_config
from segwise.train.loop import RunState, time_is_up
from tests.train.conftest import run_cli


def fingerprint(
    *,
    classes: int = 11,
    shares: list[float] | None = None,
    size=(360, 480),
    n_train: int = 367,
    n_val: int = 101,
    width: float = 30.0,
    color: bool = True,
) -> Fingerprint:
    shares = shares or [1.0 / classes] * classes
    return Fingerprint(
        data={"dataset": "folder", "root": "/data/x", "options": {"images": "img", "masks": "gt"}},
        class_names=[f"c{i}" for i in range(classes)],
        ignore_index=255,
        in_channels=3,
        mask_encoding="index",
        roi=False,
        num_train=n_train,
        num_val=n_val,
        image_size=list(size),
        min_size=list(size),
        max_size=list(size),
        class_share=shares,
        class_images=[1.0] * classes,
        object_area=[1000.0] * classes,
        class_width=[100.0] + [width] * (classes - 1),
        color=color,
    )


def machine(fp: Fingerprint, *, speed: float = 1.0, device: str = "cpu", setup: float = 40.0) -> Machine:
    """Timings that scale with pixels, as measured on the 2-core CPU (0.35 s per 240x320 image), times
    ``speed``."""
    _, crop, half, _ = rule_geometry(fp)
    per_pixel = 0.35 / (240 * 320) * speed
    train_s = {f"{DEFAULT_NET}@{crop[0]}x{crop[1]}": per_pixel * crop[0] * crop[1]}
    if half is not None:
        train_s[f"{DEFAULT_NET}@{half[0]}x{half[1]}"] = per_pixel * half[0] * half[1] * 1.1
    train_s[f"unet-resnet34-slim@{crop[0]}x{crop[1]}"] = 1.6 * per_pixel * crop[0] * crop[1]
    train_s[f"unet-resnet18@{crop[0]}x{crop[1]}"] = 1.5 * per_pixel * crop[0] * crop[1]
    h, w = fp.image_size
    return Machine(
        device,
        "test",
        2 if device == "cpu" else 16,
        "fp32",
        4 if device == "cpu" else 16,
        train_s,
        val_s=0.3 * speed * h * w / (360 * 480),
        load_s=0.02,
        setup_seconds=setup,
    )


def test_longer_budgets_plan_more_epochs_and_every_plan_fits_its_budget():
    fp = fingerprint()
    epochs = []
    for minutes in (5, 15, 30, 120):
        plan = make_plan(fp, minutes, machine(fp))
        cfg = plan.config
        assert plan.expected["total"] <= 60 * minutes
        assert cfg.train.time_limit_includes_validation and cfg.train.time_schedule
        assert 0 < cfg.train.time_limit_minutes < minutes
        epochs.append(cfg.total_epochs())
    assert epochs == sorted(epochs) and epochs[0] < epochs[-1]


def test_camvid_like_data_gets_the_camvid_recipe():
    fp = fingerprint()
    plan = make_plan(fp, 120, machine(fp))
    cfg = plan.config
    assert cfg.data.crop_size == [256, 320]  # 2/3 of 360x480 on multiples of 64 (the stride, twice)
    assert [s.name for s in cfg.stages] == ["half-res", "full-res"]
    assert cfg.stages[0].crop_size == [128, 160] and cfg.stages[1].lr == 5e-4
    assert cfg.stages[0].time_share == 0.35 and cfg.stages[1].time_share == 0.0
    scale = cfg.stages[0].augment[0]
    assert scale["name"] == "random_scale" and scale["range"] == [0.354, 0.707]  # the recipe's half-res range
    assert cfg.loss.name == "ce+lovasz" and cfg.data.class_weights == "none"
    assert cfg.model.options == {"decoder_channels": [128, 64, 32, 16, 16], "encoder_depth": 5}
    assert cfg.model.encoder == "resnet18" and cfg.data.batch_size == 4
    assert cfg.data.augment[0]["range"] == [0.707, 1.414] and cfg.data.augment[-1]["saturation"] == 0.15
    assert plan.expected["total"] < 60 * 120 and 60 * cfg.train.time_limit_minutes < 60 * 120
    assert 0 < cfg.train.eval_every_minutes < 120 / 2


def test_image_size_sets_depth_crops_batch_and_the_resolution_schedule():
    small = fingerprint(size=(48, 40), n_train=500)
    cfg = make_plan(small, 10, machine(small)).config
    # 40 px keep 2.5 px at a 16x bottleneck: depth 4, crops on multiples of 16 within the image
    assert cfg.model.options["encoder_depth"] == 4 and cfg.model.options["decoder_channels"] == [
        64,
        32,
        16,
        16,
    ]
    assert cfg.data.crop_size == [48, 32] and [s.name for s in cfg.stages] == ["main"]
    assert cfg.data.batch_size == 32  # tiny crops: a large batch
    big = fingerprint(size=(2000, 3000), n_train=50, n_val=10)
    cfg = make_plan(big, 30, machine(big)).config
    assert max(cfg.data.crop_size) <= 512 and cfg.data.crop_size[1] == 512
    assert all(v % 32 == 0 for v in cfg.data.crop_size)
    # 50 images: a stronger augmentation than CamVid's light preset
    assert cfg.data.augment[3]["degrees"] == 7.5


def test_rule_depth_keeps_pixels_at_the_bottleneck():
    for side, depth in [(360, 5), (64, 5), (63, 4), (32, 4), (31, 3), (12, 3)]:
        fp = fingerprint(size=(side, side))
        assert rule_depth(fp)[0] == depth, side


def test_rule_batch_follows_the_crop_and_the_training_set():
    fp = fingerprint(n_train=1000)
    assert rule_batch(fp, [32, 32], "cpu")[0] == 32 and rule_batch(fp, [256, 320], "cpu")[0] == 4
    assert rule_batch(fp, [512, 512], "cpu")[0] == 4 and rule_batch(fp, [128, 128], "cpu")[0] == 20
    assert (
        rule_batch(fingerprint(n_train=6), [32, 32], "cpu")[0] == 4
    )  # the low end wins over 8 steps per epoch
    assert rule_batch(fingerprint(n_train=3), [32, 32], "cpu")[0] == 3  # no more than the images
    # at least 8 steps per epoch: 40 images of 128x128 get 5, not 20
    assert rule_batch(fingerprint(n_train=40), [128, 128], "cpu")[0] == 5


def test_thin_structures_get_no_half_resolution_stage_and_no_shrinking():
    thin = fingerprint(classes=2, shares=[0.87, 0.13], size=(584, 565), n_train=20, n_val=5, width=3.0)
    depth, crop, half, why = rule_geometry(thin)
    assert half is None and "would not survive halving" in why["half_resolution"]
    assert crop == [384, 384] and critical_width(thin) == 3.0
    steps, reason = rule_augment(thin)
    assert steps[0]["range"] == [1.0, 1.0] and "keep" in reason  # neither thinned nor thickened
    wide = fingerprint(classes=2, shares=[0.87, 0.13], size=(584, 565), n_train=20, n_val=5, width=40.0)
    assert rule_geometry(wide)[2] is not None and rule_augment(wide)[0][0]["range"][0] == 0.5


def test_colour_jitter_only_on_colour_images():
    def jitter(fp):
        return next(x for x in rule_augment(fp)[0] if isinstance(x, dict) and x["name"] == "color_jitter")

    assert jitter(fingerprint(color=True))["saturation"] > 0
    grey = jitter(fingerprint(color=False))
    assert grey["saturation"] == 0 and grey["brightness"] > 0 and grey["contrast"] > 0


def test_binary_rare_foreground_gets_ce_dice_and_balanced_binary_ce_lovasz():
    rare = fingerprint(classes=2, shares=[0.9, 0.1], size=(584, 565), n_train=16, n_val=4)
    plan = make_plan(rare, 15, machine(rare))
    assert plan.config.loss.name == "ce+dice" and "rare" in plan.reasons["loss"]
    balanced = fingerprint(classes=2, shares=[0.6, 0.4])
    assert make_plan(balanced, 15, machine(balanced)).config.loss.name == "ce+lovasz"
    assert make_plan(rare, 15, machine(rare)).config.data.class_weights == "none"


def test_extremely_rare_classes_get_square_root_median_frequency_weights():
    shares = [0.5, 0.3, 0.1995, 0.0005]
    fp = fingerprint(classes=4, shares=shares)
    cfg = make_plan(fp, 15, machine(fp)).config
    assert (cfg.data.class_weights, cfg.data.class_weights_power) == ("median_frequency", 0.5)
    common = fingerprint(classes=4, shares=[0.5, 0.3, 0.19, 0.01])
    assert make_plan(common, 15, machine(common)).config.data.class_weights == "none"


def test_a_fast_machine_gets_the_bigger_network():
    fp = fingerprint()
    slow = make_plan(fp, 30, machine(fp)).config
    fast = make_plan(fp, 30, machine(fp, speed=0.02, device="cuda")).config
    assert slow.model.encoder == "resnet18" and slow.model.options["decoder_channels"][0] == 128
    assert fast.model.encoder == "resnet34" and fast.data.batch_size == 16


def test_the_plan_is_deterministic_within_a_machine_class():
    fp = fingerprint()
    m = machine(fp)
    base = config_to_dict(make_plan(fp, 30, m).config)
    assert config_to_dict(make_plan(fp, 30, m).config) == base
    # a few percent of timing noise, away from a quantum boundary, changes nothing
    jitter = dataclasses.replace(
        m,
        train_s={k: v * 1.03 for k, v in m.train_s.items()},
        load_s=m.load_s * 0.98,
        setup_seconds=m.setup_seconds - 3,
    )
    q, qj = m.quantised(), jitter.quantised()
    if q.train_s == qj.train_s and q.load_s == qj.load_s:
        assert config_to_dict(make_plan(fp, 30, jitter).config) == base


def test_plan_json_replans_to_the_same_config(tmp_path):
    fp = fingerprint(classes=2, shares=[0.95, 0.05], size=(512, 512), n_train=30, n_val=10)
    plan = make_plan(fp, 15, machine(fp))
    doc = json.loads(json.dumps(plan.to_dict(fp, machine(fp), 15)))
    fp2, m2, minutes = plan_from_json(doc)
    assert config_to_dict(make_plan(fp2, minutes, m2).config) == doc["config"]
    with pytest.raises(InputError, match="version"):
        plan_from_json({**doc, "version": 0})


def test_a_budget_too_small_for_the_setup_is_refused_with_the_minimum():
    fp = fingerprint()
    with pytest.raises(InputError, match="at least 2 minutes"):
        make_plan(fp, 0.5, machine(fp, setup=50))
    with pytest.raises(InputError, match="positive"):
        make_plan(fp, 0, machine(fp))


def test_time_limit_with_validation_stops_before_an_epoch_that_would_not_fit():
    cfg = TrainConfig(time_limit_minutes=1.0, time_limit_includes_validation=True)
    assert not time_is_up(cfg, RunState(wall_seconds=30), 10.0, 5.0)  # 30 + 10 + 2 * 5 = 50 <= 60
    assert time_is_up(cfg, RunState(wall_seconds=45), 10.0, 5.0)  # 65 > 60
    plain = TrainConfig(time_limit_minutes=1.0)
    assert not time_is_up(plain, RunState(train_seconds=59, wall_seconds=500), 10.0, 5.0)
    assert time_is_up(plain, RunState(train_seconds=60), 0.0, 0.0)
    assert not time_is_up(TrainConfig(), RunState(train_seconds=1e9, wall_seconds=1e9), 1.0, 1.0)


@pytest.mark.slow
def test_a_one_minute_auto_run_ends_within_budget_and_writes_plan_config_and_checkpoint(tmp_path):
    from segwise.demo_data import make_shapes_dataset

    root = make_shapes_dataset(tmp_path / "shapes", num_images=40, height=64, width=80, seed=3)
    out = tmp_path / "auto"
    t0 = time.perf_counter()
    env = {"OMP_NUM_THREADS": "2", "SEGWISE_CACHE": str(tmp_path / "cache")}
    proc = run_cli(
        ["train", "--auto", str(root), "--minutes", "1", "--out", str(out), "--device", "cpu"],
        env_extra=env,
        timeout=180,
    )
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 0.85 * 60 <= elapsed <= 60, f"--minutes 1 took {elapsed:.1f} s"
    plan = json.loads((out / "plan.json").read_text())
    assert set(plan) >= {"fingerprint", "machine", "machine_class", "reasons", "config", "expected_seconds"}
    assert len(plan["fingerprint"]["class_share"]) == 6 and plan["machine"]["train_s"]
    assert {"model", "loss", "crop_size", "schedule", "class_weights", "augment", "eval_every"} <= set(
        plan["reasons"]
    )
    assert (out / "run" / "best.pt").is_file() and (out / "run" / "metrics.csv").is_file()
    # a minute is too short to screen candidates: plan.json says the rules alone decided
    assert plan["screening"]["candidates"] == [] and plan["screening"]["reason"].startswith(
        "too small to screen"
    )
    # config.toml is a normal config that reproduces the plan
    cfg = load_config(out / "config.toml")
    assert config_to_dict(cfg) == plan["config"]
    # --plan-only replans without training; the stored timings of this machine give the same plan
    again = run_cli(
        [
            "train",
            "--auto",
            str(root),
            "--minutes",
            "1",
            "--out",
            str(tmp_path / "p"),
            "--plan-only",
            "--device",
            "cpu",
        ],
        env_extra=env,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert (tmp_path / "p" / "plan.json").is_file() and not (tmp_path / "p" / "run").exists()
    replan = json.loads((tmp_path / "p" / "plan.json").read_text())
    assert replan["machine"] == plan["machine"] and replan["fingerprint"] == plan["fingerprint"]
    replan["config"]["train"]["out_dir"] = plan["config"]["train"]["out_dir"]
    assert replan["config"] == plan["config"]
    assert (tmp_path / "cache" / "machines.json").is_file()


def test_auto_usage_errors_exit_2(tmp_path):
    proc = run_cli(["train", "--auto", str(tmp_path), "--minutes", "1"])
    assert proc.returncode == 2 and "spec.json" in proc.stderr and "segwise data init" in proc.stderr
    proc = run_cli(["train", "--auto", str(tmp_path)])
    assert proc.returncode == 2 and "--minutes" in proc.stderr
    proc = run_cli(["train", "--minutes", "3"])
    assert proc.returncode == 2 and "--auto" in proc.stderr


def test_checkpoint_writes_are_budgeted_per_epoch():
    fp = fingerprint(classes=2, shares=[0.9, 0.1], size=(192, 192), n_train=64, n_val=16)
    fast_disk = machine(fp)
    slow_disk = dataclasses.replace(fast_disk, save_s={DEFAULT_NET: 2.0})
    plain, slow = make_plan(fp, 10, fast_disk), make_plan(fp, 10, slow_disk)
    assert slow.config.total_epochs() < plain.config.total_epochs()
    assert slow.expected["total"] <= 600


def test_slices_of_volumes_get_no_colour_jitter_and_mixed_sizes_validate_one_at_a_time():
    fp = fingerprint(classes=3, shares=[0.9, 0.07, 0.03], size=(256, 256), n_train=1500, n_val=300)
    fp.data["dataset"] = "volumes"
    cfg = make_plan(fp, 30, machine(fp)).config
    steps = [cfg.data.augment, *(s.augment for s in cfg.stages)]
    assert all(isinstance(a, list) for a in steps if a)
    assert not any(isinstance(x, dict) and x["name"] == "color_jitter" for a in steps if a for x in a)
    assert cfg.data.val_batch_size == 1  # CPU
    gpu = make_plan(fp, 30, machine(fp, speed=0.05, device="cuda")).config
    assert gpu.data.val_batch_size == 8
    mixed = dataclasses.replace(fp, max_size=[300, 400])
    assert make_plan(mixed, 30, machine(fp, speed=0.05, device="cuda")).config.data.val_batch_size == 1


def test_slices_of_volumes_see_a_neighbouring_slice_on_each_side_unless_the_data_says_otherwise():
    fp = fingerprint(classes=3, shares=[0.9, 0.07, 0.03], size=(50, 35), n_train=2000, n_val=300)
    fp.data["dataset"], fp.volume_context = "volumes", 0
    plan = make_plan(fp, 15, machine(fp))
    assert plan.config.data.options["context"] == CONTEXT_SLICES == 2 and "2.5D" in plan.reasons["context"]
    assert plan.config.data.options["images"] == "img"  # the data's own options stay
    own = dataclasses.replace(fp, volume_context=2)  # the spec asks for two on each side
    plan = make_plan(own, 15, machine(own))
    assert (
        "context" not in plan.config.data.options
        and "as the data's spec or options say" in plan.reasons["context"]
    )
    fp.data["options"]["context"] = 0  # --set data.options.context=0 in train.toml: single slices
    assert "context" in make_plan(fp, 15, machine(fp)).config.data.options  # kept as given (0)
    assert make_plan(fp, 15, machine(fp)).config.data.options["context"] == 0
    images = fingerprint()  # not volumes
    plan = make_plan(images, 15, machine(images))
    assert "context" not in plan.config.data.options and plan.reasons["context"].startswith("not volumes")


def test_a_budget_without_room_for_validation_is_refused():
    fp = fingerprint(n_val=2000)  # validation alone would take longer than the budget
    with pytest.raises(InputError, match="leaves no time to train.*at least"):
        make_plan(fp, 2, machine(fp, setup=20))


@pytest.mark.slow
@pytest.mark.parametrize("off", [5.0, 0.2])  # the plan's timings 5x too slow, and 5x too fast
def test_a_plan_whose_timings_are_5x_off_still_ends_inside_its_budget_with_its_schedule_completed(
    tmp_path, monkeypatch, off
):
    import csv

    from segwise.demo_data import make_shapes_dataset
    from segwise.train.auto import auto_data_config, fingerprint_dataset, measure_machine
    from segwise.train.loop import train

    monkeypatch.setenv("SEGWISE_CACHE", str(tmp_path / "cache"))
    # images large enough for several steps per epoch (tiny sets are all overhead: a validation, a save)
    root = make_shapes_dataset(tmp_path / "shapes", num_images=60, height=160, width=192, seed=3)
    data_cfg = auto_data_config(str(root))
    fp = fingerprint_dataset(data_cfg)
    real = measure_machine(fp, data_cfg, 1.0, "cpu", remeasure=True)
    wrong = dataclasses.replace(
        real,
        train_s={k: v * off for k, v in real.train_s.items()},
        val_s=real.val_s * off,
        load_s=real.load_s * off,
        setup_seconds=0.0,
    )
    plan = make_plan(fp, 1.5, wrong, out_dir=str(tmp_path / "run"))
    cfg = plan.config
    cfg.data.cache = False
    limit = 60 * cfg.train.time_limit_minutes
    t0 = time.perf_counter()
    train(cfg, started=t0, progress=False)
    wall = time.perf_counter() - t0
    assert 0.9 * limit <= wall <= limit, (wall, limit)
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    peak = cfg.stages[-1].lr or cfg.optim.lr
    assert float(rows[-1]["lr"]) <= 0.02 * peak  # the last stage's cosine ended at its floor (1% of the peak)
    assert rows[-1]["val_miou"]


def test_vertical_flips_only_for_images_without_an_up_and_no_colour_jitter_on_thin_structures():
    from segwise.train.auto import upright

    street = dataclasses.replace(fingerprint(classes=3, shares=[0.4, 0.3, 0.3]), class_row=[0.15, 0.5, 0.85])
    cells = dataclasses.replace(fingerprint(classes=3, shares=[0.4, 0.3, 0.3]), class_row=[0.5, 0.48, 0.55])
    assert upright(street) and not upright(cells)
    assert "vflip" not in rule_augment(street)[0] and "vflip" in rule_augment(cells)[0]
    thin = fingerprint(classes=2, shares=[0.9, 0.1], width=3.0)
    names = [x if isinstance(x, str) else x["name"] for x in rule_augment(thin)[0]]
    assert "color_jitter" not in names and "contrast carries" in rule_augment(thin)[1]
