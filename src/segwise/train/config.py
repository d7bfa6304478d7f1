"""Training configuration: nested dataclasses loaded from TOML, with ``--set a.b=value`` overrides.

Unknown keys fail with the list of valid ones (and a "did you mean"), and so do unknown choices
(an optimizer, loss, architecture, ...: :func:`validate_config`), before any data is read. The
resolved config is written to the run folder as ``config.toml``, so a run is reproducible from its
folder alone.

The comment of each field (at the end of its line, or the comment lines just above it) is its
documentation: docs/config.md is generated from these comments by :mod:`segwise.train.config_doc`.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from segwise.errors import InputError, closest, lookup


@dataclass
class DataConfig:
    """The dataset, its splits, and how batches are cropped, augmented and loaded."""

    # camvid | folder | tiles (segwise.data.datasets.DATASETS); its options go in data.options
    dataset: str = "camvid"
    # data folder, relative to the current directory; empty: $SEGWISE_CAMVID for camvid (folder and
    # tiles need one)
    root: str = ""
    # split trained on and counted for data.class_weights: train | val | test | trainval, or all (folder
    # and tiles)
    train_split: str = "train"
    val_split: str = "val"  # split validated on; its mIoU picks best.pt and drives early stopping
    # [H, W] of the random training crop (padded with the ignore index where the image is smaller);
    # empty: each sample keeps its own size
    crop_size: list[int] = field(default_factory=lambda: [360, 480])
    # [H, W] centre crop (padded where the image is smaller) of validation images; empty: native size
    val_size: list[int] = field(default_factory=list)
    batch_size: int = 4  # training images per step (per process under torchrun)
    val_batch_size: int = 4  # validation images per forward pass (per process)
    # DataLoader worker processes; -1: auto (default_num_workers(): 0 on <= 2 cores, else cores - 1,
    # at most 8)
    workers: int = -1
    # a preset (none | light | strong) or a list of steps, e.g.
    # ["random_scale", {name = "random_crop"}, "hflip"] (docs/data.md)
    augment: str | list[Any] = "light"
    # in [0, 1]: scales the scale range, rotation and colour jitter (0: no flips); unset: the preset's
    # (light 0.5, strong 1)
    augment_strength: float | None = None
    crop_focus: float = 0.0  # probability of a training crop placed around a pixel of a random present class
    # loss class weights from the training split's pixel counts: none | median_frequency |
    # inverse_frequency | enet
    class_weights: str = "none"
    class_weights_power: float = 1.0  # in (0, 1]: raises the class weights to this power (0.5: square roots)
    # keep decoded images and masks on disk ($SEGWISE_CACHE, else ~/.cache/segwise/decoded), so later
    # epochs skip decoding
    cache: bool = True
    # options of the dataset's constructor, e.g. {val_fraction = 0.1}; listed per dataset under
    # "Dataset options" in docs/config.md
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.augment_strength is not None and not 0 <= self.augment_strength <= 1:
            raise InputError(
                f"config `data.augment_strength` must be in [0, 1] (light = 0.5, strong = 1), "
                f"got {self.augment_strength}; leave it out to use the preset's own strength."
            )
        if not 0 < self.class_weights_power <= 1:
            raise InputError(
                f"config `data.class_weights_power` must be in (0, 1], got {self.class_weights_power}; "
                "1 (the default) keeps the weights of `data.class_weights`, 0.5 uses their square roots."
            )
        if self.workers < -1:
            raise InputError(
                f"config `data.workers` must be -1 (auto: default_num_workers()), 0 (load in the training "
                f"process) or a number of worker processes, got {self.workers}."
            )
        if not 0 <= self.crop_focus <= 1:
            raise InputError(
                f"config `data.crop_focus` must be a probability in [0, 1], got {self.crop_focus}; "
                "0 (the default) gives plain random crops."
            )


@dataclass
class ModelConfig:
    """The architecture and its encoder (see docs/models.md)."""

    arch: str = "unet"  # unet | fcn | segnet | segnet_basic | deeplabv3plus | fpn | pspnet | linknet
    # backbone: an smp encoder such as resnet18 (unet then builds smp's U-Net), "tu-NAME" for a timm model,
    # "classic" for the in-house U-Net, or empty for the arch's default (segwise models list)
    encoder: str = "resnet18"
    encoder_weights: str = "none"  # none | imagenet | path to .pth/.safetensors/segwise checkpoint
    dropout: float = 0.0  # probability of the Dropout2d just before the 1x1 classifier
    # a segwise checkpoint (e.g. runs/a/best.pt) whose encoder and decoder (and head, when the classes
    # match) start this run: transfer learning
    init_from: str = ""
    # architecture options, e.g. {base_width = 32}; segwise.models.arch_options(arch, encoder) lists them
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class LossConfig:
    """The training loss, or a weighted sum of losses (see docs/losses.md)."""

    # ce | ohem | focal | dice | jaccard | tversky | focal_tversky | lovasz, or a sum such as "ce+dice"
    name: str = "ce"
    weights: list[float] = field(default_factory=list)  # one per term of a sum; empty: all 1
    # options of the loss, e.g. {gamma = 2.0}; "dice.smooth" sets one term's (docs/losses.md)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimConfig:
    """The optimizer."""

    name: str = "adam"  # adam | adamw | sgd
    lr: float = 1e-3  # base learning rate (a stage's lr replaces it)
    weight_decay: float = 0.0  # L2 penalty (adam, sgd) or decoupled weight decay (adamw)
    momentum: float = 0.9  # sgd only (Nesterov momentum when > 0)
    grad_clip: float = 0.0  # max gradient norm; 0 disables


@dataclass
class ScheduleConfig:
    """The learning-rate schedule, applied within each stage."""

    # constant | poly | cosine | onecycle, restarted at each stage (a stage's schedule replaces it)
    name: str = "constant"
    # linear warm-up at the start of each stage, in epochs (fractions allowed); onecycle: the length of
    # its rise (default: 30% of the stage)
    warmup_epochs: float = 0.0
    power: float = 0.9  # poly: the exponent of (1 - fraction of the stage done)
    min_lr_ratio: float = 0.0  # poly and cosine: the final lr as a fraction of lr


@dataclass
class TrainConfig:
    """Length, device, precision, validation, stopping and the run folder."""

    epochs: int = 50  # epochs when there are no [[stages]] (stages give their own)
    seed: int = 0  # seed of initialisation, shuffling and augmentation (each process adds its rank)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    # autocast: auto (CUDA: bf16, fp16 where bf16 is unsupported; CPU: bf16 only with native bf16,
    # else fp32) | bf16 | fp16 | none
    amp: str = "auto"
    channels_last: bool = True  # channels_last (NHWC) memory format for the model and the batches
    compile: bool = False  # torch.compile the model
    # reproducible kernels (torch.use_deterministic_algorithms, warn only; no cuDNN benchmark); slower
    deterministic: bool = False
    early_stopping_patience: int = 0  # validations without a val mIoU gain before stopping; 0 disables
    eval_every: int = 1  # validate every N epochs (and always at the end of a stage)
    max_train_batches: int = 0  # per epoch; 0 = all (for smoke runs)
    # stop after the epoch in which the training time (validation excluded) passes this; 0 = none
    time_limit_minutes: float = 0.0
    # count validation and checkpoint time toward train.time_limit_minutes too, and stop before an epoch
    # (plus its validation) that would pass the limit, so the run ends within it (train --auto sets it)
    time_limit_includes_validation: bool = False
    # with train.time_limit_minutes: the stages, their learning rate and the end follow the time limit
    # (wall time, validation included), not a step count: each stage gets its time_share of the limit
    # (default: the rest in proportion to its epochs, which then only seed the first estimate), its
    # schedule is re-fitted every few steps from the measured step time so that it completes when the
    # stage's time is up, and the run ends within the limit, validated and saved (train --auto sets it)
    time_schedule: bool = False
    # validate when this many minutes (wall time) have passed since the last validation, instead of
    # every train.eval_every epochs; 0 = by epochs
    eval_every_minutes: float = 0.0
    ema_decay: float = 0.0  # > 0: validate and save an EMA of the weights (e.g. 0.995); 0 = off
    # run folder (config.toml, last.pt, best.pt, metrics.csv); one that holds a run already is refused
    out_dir: str = "runs/run"

    def __post_init__(self) -> None:
        if not 0 <= self.ema_decay < 1:
            raise InputError(
                f"config `train.ema_decay` must be in [0, 1), got {self.ema_decay}; 0 turns the weight "
                "average off, values such as 0.995 (an average over about 200 steps) turn it on."
            )


@dataclass
class StageConfig:
    """One stage of staged training; empty/None fields inherit the top-level settings."""

    name: str = ""  # shown in the log and metrics.csv; empty: the stage's index
    epochs: int = 1  # epochs of this stage
    lr: float | None = None  # learning rate of this stage; unset: optim.lr
    schedule: str = ""  # schedule of this stage (as schedule.name); empty: schedule.name
    augment: str | list[Any] = ""  # a preset or a list of steps, as data.augment; empty: data.augment
    freeze_encoder: bool = False  # freeze the encoder's weights and batch-norm statistics in this stage
    crop_size: list[int] = field(default_factory=list)  # [H, W] of training crops; empty: data.crop_size
    # with train.time_schedule: this stage's share of the time limit, in (0, 1]; 0: a share of the
    # rest in proportion to epochs
    time_share: float = 0.0


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    stages: list[StageConfig] = field(default_factory=list)

    def effective_stages(self) -> list[StageConfig]:
        """The stages to run: the configured ones, or one stage of ``train.epochs``."""
        if self.stages:
            return self.stages
        return [StageConfig(name="main", epochs=self.train.epochs)]

    def total_epochs(self) -> int:
        return sum(s.epochs for s in self.effective_stages())


def _suggest(key: str, valid: list[str]) -> str:
    match = closest(key, valid)
    return f"did you mean '{match}'? " if match is not None else ""


def _convert(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise InputError(f"config `{where}` must be a table, got {value!r}.")
        return _from_dict(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        for tp_i in inner:  # the first member type the value converts to
            try:
                return _convert(value, tp_i, where)
            except InputError:
                continue
        names = " or ".join(getattr(typing.get_origin(a) or a, "__name__", str(a)) for a in inner)
        raise InputError(f"config `{where}` must be {names}, got {value!r}.")
    if origin is list:
        if not isinstance(value, list):
            raise InputError(f"config `{where}` must be a list, got {value!r}.")
        return [_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)] if args else value
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise InputError(f"config `{where}` must be a table, got {value!r}.")
        return dict(value)
    if origin is Literal:
        if value not in args:
            raise InputError(f"config `{where}` must be one of {list(args)}, got {value!r}.")
        return value
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp is Any or isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
        return value
    raise InputError(f"config `{where}` must be {getattr(tp, '__name__', tp)}, got {value!r}.")


def _field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _section_header(name: str, tp: Any) -> str:
    """``data`` -> ``[data]``; a list of tables (``stages``) -> ``[[stages]]``."""
    return f"[[{name}]]" if typing.get_origin(tp) is list else f"[{name}]"


def config_sections() -> dict[str, tuple[str, type]]:
    """Each top-level key of a config: its TOML header and its dataclass.

    Example:
        >>> {k: h for k, (h, _) in config_sections().items() if k in ("data", "stages")}
        {'data': '[data]', 'stages': '[[stages]]'}
    """
    hints = typing.get_type_hints(Config)
    return {
        f.name: (
            _section_header(f.name, hints[f.name]),
            (typing.get_args(hints[f.name]) or [hints[f.name]])[0],
        )
        for f in dataclasses.fields(Config)
    }


# keys of the dataset spec (spec.json) that users put into the config
_SPEC_KEYS = {
    "num_classes",
    "class_names",
    "classes",
    "ignore_index",
    "mask_encoding",
    "value_map",
    "in_channels",
}


def _key_hint(key: str, section: str) -> str:
    """Where an unknown ``key`` belongs instead, or ``""``."""
    if key in _SPEC_KEYS and section in ("data", "model"):
        return (
            f" `{key}` belongs to the dataset spec (classes, ignore index, mask encoding, image channels), not "
            "to the config: it is read from ROOT/spec.json (write one with `segwise data init ROOT`) or from "
            "the file given as data.options.spec."
        )
    homes = [header for header, cls in config_sections().values() if key in _field_names(cls)]
    return f" `{key}` is a key of {' and '.join(homes)}." if homes else ""


def _unknown_key(cls: type, key: str, where: str) -> InputError:
    names = _field_names(cls)
    if not where:  # a top-level key names a section
        headers = ", ".join(h for h, _ in config_sections().values())
        return InputError(
            f"unknown config section `{key}`; {_suggest(key, names)}valid sections: {headers}.{_key_hint(key, '')}"
        )
    section = where.split("[")[0]  # stages[1] -> stages
    header = config_sections()[section][0] if section in config_sections() else f"[{where}]"
    return InputError(
        f"unknown config key `{where}.{key}`; {_suggest(key, names)}valid keys of {header}: "
        f"{', '.join(names)}.{_key_hint(key, section)}"
    )


def _from_dict(cls: type, data: dict[str, Any], where: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = _field_names(cls)
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise _unknown_key(cls, key, where)
        kwargs[key] = _convert(value, hints[key], f"{where}.{key}" if where else key)
    return cls(**kwargs)


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word: take it as a string


def _list_index(node: list[Any], key: str, item: str) -> int:
    if not key.isdigit() or int(key) >= len(node):
        raise InputError(
            f"--set {item!r}: `{key}` is not an index of a list of {len(node)} entries; use 0..{len(node) - 1} "
            "(e.g. stages.0.epochs=5)."
        )
    return int(key)


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (values parsed as TOML, else taken as strings).

    A number in the path indexes a list of tables, e.g. ``stages.1.lr=1e-4``.

    Example:
        >>> apply_overrides({"stages": [{"epochs": 40}, {"epochs": 15}]}, ["stages.1.epochs=3", "train.seed=1"])
        {'stages': [{'epochs': 40}, {'epochs': 3}], 'train': {'seed': 1}}
    """
    for item in overrides:
        if "=" not in item:
            raise InputError(f"--set expects section.key=value, got {item!r}.")
        path, text = item.split("=", 1)
        keys = path.strip().split(".")
        node: Any = data
        for k in keys[:-1]:
            node = node[_list_index(node, k, item)] if isinstance(node, list) else node.setdefault(k, {})
            if not isinstance(node, dict | list):
                raise InputError(f"--set {item!r}: `{k}` is not a table.")
        last = keys[-1]
        if isinstance(node, list):
            node[_list_index(node, last, item)] = _parse_value(text.strip())
        else:
            node[last] = _parse_value(text.strip())
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Load a config from TOML (or the defaults when ``path`` is None) and apply overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"cannot read config {path}: {exc.strerror or exc}.") from None
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"config {path} is not valid TOML: {exc}.") from None
    apply_overrides(data, list(overrides))
    return config_from_dict(data)


def config_from_dict(data: dict[str, Any]) -> Config:
    """A config from nested dicts (as TOML gives them); unknown keys and unknown choices fail here."""
    return validate_config(_from_dict(Config, data))


def validate_config(cfg: Config) -> Config:
    """Check every choice of ``cfg`` against the registry that defines it; returns ``cfg``.

    A misspelt optimizer, schedule, loss (each term of a sum), architecture, dataset, class
    weighting, augmentation (preset or steps) or ``train.amp`` fails here, when the config is
    loaded and before any data is read, with the key, a "did you mean" and what exists.

    The encoder is left to ``create_model``: whether it fits depends on the architecture, and a
    config that switches ``model.arch`` may rely on that architecture's default encoder.

    Example:
        >>> validate_config(config_from_dict({}))  # doctest: +ELLIPSIS
        Config(...)
        >>> config_from_dict({"optim": {"name": "adamm"}})  # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ...
        segwise.errors.InputError: config `optim.name`: unknown optimizer 'adamm'; did you mean 'adam'?
        available: adam, adamw, sgd.
    """
    # the registries live in the packages that build these objects; importing them here (not at the
    # top) keeps `import segwise.train.config` light for the docs generator
    from segwise.data.datasets import DATASETS
    from segwise.data.stats import WEIGHTINGS
    from segwise.data.transforms import check_augment
    from segwise.losses import loss_terms
    from segwise.models import arch_options
    from segwise.train.device import AMP_MODES
    from segwise.train.optim import OPTIMIZERS
    from segwise.train.schedule import SCHEDULES

    checks: list[tuple[str, Callable[[], Any]]] = [
        ("optim.name", lambda: lookup(cfg.optim.name, OPTIMIZERS, "optimizer")),
        ("schedule.name", lambda: lookup(cfg.schedule.name, SCHEDULES, "schedule")),
        ("loss.name", lambda: loss_terms(cfg.loss.name)),
        ("model.arch", lambda: arch_options(cfg.model.arch)),
        ("data.dataset", lambda: lookup(cfg.data.dataset, DATASETS, "dataset")),
        (
            "data.class_weights",
            lambda: lookup(cfg.data.class_weights, ["none", *WEIGHTINGS], "class weighting"),
        ),
        ("data.augment", lambda: check_augment(cfg.data.augment)),
        ("train.amp", lambda: lookup(cfg.train.amp, AMP_MODES, "amp mode")),
    ]
    for i, stage in enumerate(cfg.stages):  # empty: the top-level setting
        if stage.schedule:
            checks.append(
                (f"stages[{i}].schedule", lambda s=stage: lookup(s.schedule, SCHEDULES, "schedule"))
            )
        if stage.augment:
            checks.append((f"stages[{i}].augment", lambda s=stage: check_augment(s.augment)))
    for key, check in checks:
        try:
            check()
        except InputError as exc:
            raise InputError(f"config `{key}`: {exc}") from None
    _check_time_schedule(cfg)
    return cfg


def _check_time_schedule(cfg: Config) -> None:
    t = cfg.train
    if t.time_schedule and t.time_limit_minutes <= 0:
        raise InputError(
            "config `train.time_schedule = true` needs `train.time_limit_minutes` (the budget the stages "
            "follow); set it, or set time_schedule = false to run the configured epochs."
        )
    if t.eval_every_minutes < 0:
        raise InputError(
            f"config `train.eval_every_minutes` must be >= 0 (0: by epochs), got {t.eval_every_minutes}."
        )
    shares = [s.time_share for s in cfg.stages]
    if any(not 0 <= v <= 1 for v in shares) or sum(shares) > 1 + 1e-9:
        raise InputError(
            f"config `stages[].time_share`: each share must be in [0, 1] and they must add up to at most 1, got "
            f"{shares}; leave a stage's share at 0 to give it part of the rest in proportion to its epochs."
        )


def config_to_dict(cfg: Config) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def toml_value(v: Any) -> str:
    """``v`` written as a TOML value.

    Example:
        >>> toml_value({"gamma": 2.0, "crop": [360, 480], "name": "light", "on": True})
        '{gamma = 2.0, crop = [360, 480], name = "light", on = true}'
    """
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + "}"
    if v is None:
        raise ValueError("None")
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def config_to_toml(cfg: Config) -> str:
    """Serialise a config to TOML (None values are left out: they mean "inherit")."""
    d = config_to_dict(cfg)
    lines: list[str] = []
    for section, values in d.items():
        if section == "stages":
            continue
        lines.append(f"[{section}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in values.items() if v is not None]
        lines.append("")
    for stage in d["stages"]:
        lines.append("[[stages]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in stage.items() if v is not None]
        lines.append("")
    return "\n".join(lines)
