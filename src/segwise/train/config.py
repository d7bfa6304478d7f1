"""Training configuration: nested dataclasses loaded from TOML, with ``--set a.b=value`` overrides.

Unknown keys fail with the list of valid ones (and a "did you mean"). The resolved config is
written to the run folder as ``config.toml``, so a run is reproducible from its folder alone.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from segwise.errors import InputError


@dataclass
class DataConfig:
    dataset: str = "camvid"  # camvid | folder | synthetic | tiles
    root: str = ""  # empty: the dataset's default ($SEGWISE_CAMVID for camvid)
    train_split: str = "train"
    val_split: str = "val"
    crop_size: list[int] = field(default_factory=lambda: [360, 480])  # [H, W] of training crops
    val_size: list[int] = field(default_factory=list)  # [H, W] to resize val images; empty: native
    batch_size: int = 4
    val_batch_size: int = 4
    workers: int = 2
    # a preset (none | light | strong) or a list of steps, e.g. ["random_scale", {name = "random_crop"}, "hflip"]
    augment: str | list[Any] = "light"
    augment_strength: float | None = None  # in [0, 1]; default: the preset's (light 0.5, strong 1)
    crop_focus: float = 0.0  # probability of a training crop placed around a pixel of a random present class
    class_weights: str = "none"  # none | median_frequency | inverse_frequency | enet
    class_weights_power: float = 1.0  # weights ** power: 0.5 halves the spread on a log scale
    cache: bool = True
    options: dict[str, Any] = field(default_factory=dict)  # dataset-specific options

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
        if not 0 <= self.crop_focus <= 1:
            raise InputError(
                f"config `data.crop_focus` must be a probability in [0, 1], got {self.crop_focus}; "
                "0 (the default) gives plain random crops."
            )


@dataclass
class ModelConfig:
    arch: str = "unet"
    encoder: str = "resnet18"
    encoder_weights: str = "none"  # none | imagenet | path to .pth/.safetensors/segwise checkpoint
    dropout: float = 0.0
    init_from: str = ""  # a segwise checkpoint of another run: transfer learning
    options: dict[str, Any] = field(default_factory=dict)  # architecture options


@dataclass
class LossConfig:
    name: str = "ce"  # a loss name or a combination such as "ce+dice"
    weights: list[float] = field(default_factory=list)  # one per term of a combination
    options: dict[str, Any] = field(default_factory=dict)  # options of the loss, e.g. gamma


@dataclass
class OptimConfig:
    name: str = "adam"  # adam | adamw | sgd
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd only
    grad_clip: float = 0.0  # max gradient norm; 0 disables


@dataclass
class ScheduleConfig:
    name: str = "constant"  # constant | poly | cosine | onecycle
    warmup_epochs: float = 0.0
    power: float = 0.9  # poly
    min_lr_ratio: float = 0.0  # cosine/poly floor as a fraction of lr


@dataclass
class TrainConfig:
    epochs: int = 50
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: str = "auto"  # auto (bf16 on CPU, fp16 on CUDA) | bf16 | fp16 | none
    channels_last: bool = True
    compile: bool = False
    deterministic: bool = False
    early_stopping_patience: int = 0  # epochs without val mIoU gain; 0 disables
    eval_every: int = 1
    max_train_batches: int = 0  # per epoch; 0 = all (for smoke runs)
    time_limit_minutes: float = 0.0  # stop after this much training time; 0 = none
    ema_decay: float = 0.0  # > 0: validate and save an EMA of the weights (e.g. 0.995); 0 = off
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

    name: str = ""
    epochs: int = 1
    lr: float | None = None
    schedule: str = ""
    augment: str | list[Any] = ""  # a preset or a list of steps, as data.augment
    freeze_encoder: bool = False
    crop_size: list[int] = field(default_factory=list)


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
    close = difflib.get_close_matches(key, valid, n=1)
    return f"did you mean '{close[0]}'? " if close else ""


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


def _from_dict(cls: type, data: dict[str, Any], where: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            path = f"{where}.{key}" if where else key
            raise InputError(
                f"unknown config key `{path}`; {_suggest(key, names)}valid keys"
                f"{' of [' + where + ']' if where else ''}: {', '.join(names)}."
            )
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
    return _from_dict(Config, data)


def config_to_dict(cfg: Config) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
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
        lines += [f"{k} = {_toml_value(v)}" for k, v in values.items() if v is not None]
        lines.append("")
    for stage in d["stages"]:
        lines.append("[[stages]]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in stage.items() if v is not None]
        lines.append("")
    return "\n".join(lines)
