"""Encoder weights: download a pretrained encoder, or load one from a local file (transfer learning).

``create_model(..., encoder_weights=...)`` accepts:

* ``None`` or ``"none"``: random initialisation.
* a pretrained tag such as ``"imagenet"``: smp's (or timm's, for ``tu-`` encoders) download path.
  Without network access this fails with an :class:`~segwise.errors.InputError` that names the
  remedy (``encoder_weights=None`` / ``--encoder-weights none``, or a local file).
* a local file: a ``.safetensors`` file, a ``.pth``/``.pt`` state dict (of the encoder alone,
  e.g. torchvision ResNet weights for an smp ResNet encoder, or of a whole model, whose
  ``encoder.*`` keys are used), or a segwise checkpoint of another run (a dict with ``"model"``, the
  state dict, and ``"model_config"``). Keys are matched by name and shape. The head is copied
  only with the decoder and only when it fits (same class count); otherwise it is freshly
  initialised. Missing, unexpected and shape-mismatched keys are reported in a
  :class:`LoadReport` (logged, and kept as ``model.weights_report``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from segwise.errors import CheckpointError, InputError
from segwise.models._base import SegmentationModel
from segwise.models.checkpoint import check_checkpoint, is_segwise_checkpoint

__all__ = [
    "LoadReport",
    "download_encoder_state",
    "load_encoder_weights",
    "load_pretrained_encoder",
    "read_state_dict",
    "resolve_encoder_weights",
]

log = logging.getLogger("segwise.models")

OFFLINE_REMEDY = (
    "Without network access, start from random weights with encoder_weights=None "
    "(CLI: --encoder-weights none), or pass a local .pth/.safetensors file or a segwise checkpoint "
    "(CLI: --encoder-weights PATH). Weights already in the Hugging Face / torch hub cache load offline."
)
_STRIP_PREFIXES = ("module.", "_orig_mod.")


@dataclass
class LoadReport:
    """What a local weights load copied and what it left out.

    Attributes:
        source: the file.
        kind: ``"segwise checkpoint"``, ``"model state dict"`` or ``"encoder state dict"``.
        scope: the parts of the model that were candidates (``"encoder"`` or ``"encoder+decoder"``).
        loaded: model keys that received a tensor.
        missing: model keys in scope with no tensor of that name in the source (left as initialised).
        unexpected: source keys in scope that the model does not have (ignored).
        mismatched: ``(key, source shape, model shape)`` for names present in both with other shapes.
        source_config: the source checkpoint's ``model_config``, if it had one.
        head_reinitialised: the head was not copied and holds fresh weights.
    """

    source: str
    kind: str
    scope: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    source_config: dict[str, Any] | None = None
    head_reinitialised: bool = True

    @property
    def complete(self) -> bool:
        """Every key in scope was loaded."""
        return not self.missing and not self.mismatched

    def summary(self) -> str:
        """A few lines for a log or the terminal."""
        lines = [
            f"loaded {len(self.loaded)} {self.scope} tensors from {self.kind} {self.source}",
        ]
        if self.source_config:
            cfg = self.source_config
            lines.append(
                f"  source model: arch={cfg.get('arch')!r} encoder={cfg.get('encoder')!r} "
                f"num_classes={cfg.get('num_classes')!r}"
            )
        for title, keys in (
            ("missing (kept as initialised)", self.missing),
            ("unexpected (ignored)", self.unexpected),
        ):
            if keys:
                lines.append(f"  {title}: {len(keys)}: {_preview(keys)}")
        if self.mismatched:
            shown = "; ".join(f"{k} {tuple(s)} -> {tuple(m)}" for k, s, m in self.mismatched[:5])
            more = f" (+{len(self.mismatched) - 5} more)" if len(self.mismatched) > 5 else ""
            lines.append(f"  shape mismatch (kept as initialised): {len(self.mismatched)}: {shown}{more}")
        if self.head_reinitialised:
            lines.append("  head: freshly initialised (not copied)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _preview(keys: list[str], n: int = 5) -> str:
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


# --------------------------------------------------------------------------- resolving the argument
def resolve_encoder_weights(encoder_weights: Any, *, pretrained_tags: tuple[str, ...]) -> tuple[str, Any]:
    """Classify ``encoder_weights``: ``("none", None)``, ``("tag", "imagenet")`` or ``("file", Path)``."""
    if encoder_weights is None:
        return "none", None
    if isinstance(encoder_weights, os.PathLike):
        encoder_weights = os.fspath(encoder_weights)
    if not isinstance(encoder_weights, str):
        raise InputError(
            "Expected argument `encoder_weights` to be None, a pretrained tag such as 'imagenet', or "
            f"a file path, but got {type(encoder_weights).__name__} {encoder_weights!r}."
        )
    if encoder_weights.lower() in ("none", ""):
        return "none", None
    if encoder_weights in pretrained_tags or encoder_weights.lower() == "imagenet":
        return "tag", encoder_weights.lower() if encoder_weights.lower() == "imagenet" else encoder_weights
    path = Path(encoder_weights).expanduser()
    if path.is_file():
        return "file", path
    tags = ", ".join(repr(t) for t in pretrained_tags) or "none for this encoder"
    raise InputError(
        f"`encoder_weights`={encoder_weights!r} is neither a pretrained tag (downloadable: {tags}) nor an "
        "existing file. Pass None for random weights, a tag, or the path of a .pth/.safetensors file or "
        "segwise checkpoint."
    )


# --------------------------------------------------------------------------- downloads
def download_encoder_state(
    encoder: str, tag: str, *, in_channels: int, depth: int
) -> dict[str, torch.Tensor]:
    """The state dict of smp's ``encoder`` with pretrained weights ``tag``, via smp's download path.

    Any failure of the download (no network, no cache) becomes an :class:`InputError` naming the
    remedy.
    """
    from segmentation_models_pytorch.encoders import get_encoder

    weights: Any = True if encoder.startswith("tu-") else tag
    try:
        pretrained = get_encoder(encoder, in_channels=in_channels, depth=depth, weights=weights)
    except KeyError as exc:  # smp: no such weights for this encoder
        raise InputError(f"no pretrained weights {tag!r} for encoder {encoder!r}: {exc}") from exc
    except Exception as exc:  # network, hub or cache failures have many types (OSError, HTTP errors, ...)
        raise InputError(
            f"could not download the pretrained {tag!r} weights of encoder {encoder!r} "
            f"({type(exc).__name__}: {str(exc)[:300]}). {OFFLINE_REMEDY}"
        ) from exc
    return pretrained.state_dict()


def load_pretrained_encoder(model: SegmentationModel, tag: str) -> None:
    """Download the ``tag`` weights of ``model``'s encoder and load them (all keys must fit)."""
    name = getattr(model, "pretrained_encoder", None)
    if name is None:
        encoder = model.config.get("encoder", "?")
        raise InputError(
            f"{model.arch} with encoder {encoder!r} has no downloadable {tag!r} weights (in-house "
            "encoder, or widths that differ from the pretrained network). Use encoder_weights=None "
            "(CLI: --encoder-weights none), a local weights file, or an smp/timm encoder "
            "(e.g. unet with encoder='resnet34')."
        )
    state = download_encoder_state(name, tag, in_channels=model.in_channels, depth=int(model.encoder_depth))
    try:
        model.encoder.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(
            f"the downloaded {tag!r} weights of {name!r} do not fit {model.arch}'s encoder: {exc}"
        ) from exc
    model.weights_source = f"{name}:{tag}"


# --------------------------------------------------------------------------- local files
def _strip(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _STRIP_PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix) :], True
    return key


def _is_state_dict(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping) and len(obj) > 0 and all(isinstance(v, torch.Tensor) for v in obj.values())
    )


def read_state_dict(
    path: str | os.PathLike[str],
) -> tuple[dict[str, torch.Tensor], str, dict[str, Any] | None]:
    """Read a weights file: ``(state_dict, kind, model_config or None)``.

    ``.safetensors`` files are read with safetensors; anything else with
    ``torch.load(weights_only=True)``, so a file holding pickled Python objects (a whole model
    saved with ``torch.save(model)``) is refused rather than executed.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file {path} does not exist.")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: Any = load_file(str(path), device="cpu")
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"cannot read weights file {path} ({type(exc).__name__}: {str(exc)[:300]}). segwise reads "
            ".safetensors files and torch.save files of tensors in dicts/lists (a state dict or a segwise "
            "checkpoint); save model.state_dict(), not the model object."
        ) from exc
    config = None
    if is_segwise_checkpoint(obj):  # written by segwise train: its format and keys are checked
        ckpt = check_checkpoint(obj, path)
        state, kind, config = ckpt["model"], "segwise checkpoint", dict(ckpt["model_config"])
    elif isinstance(obj, Mapping) and "model_config" in obj and _is_state_dict(obj.get("model")):
        state, kind = obj["model"], "segwise checkpoint"
        config = dict(obj["model_config"]) if isinstance(obj["model_config"], Mapping) else None
    elif isinstance(obj, Mapping) and _is_state_dict(obj.get("state_dict")):
        state, kind = obj["state_dict"], "model state dict"
    elif isinstance(obj, Mapping) and _is_state_dict(obj.get("model")):
        state, kind = obj["model"], "model state dict"
    elif _is_state_dict(obj):
        state, kind = obj, "model state dict"
    else:
        keys = list(obj)[:8] if isinstance(obj, Mapping) else type(obj).__name__
        raise CheckpointError(
            f"weights file {path} holds no state dict (found {keys}). Expected a state dict, a dict with "
            "'model' or 'state_dict', or a segwise checkpoint."
        )
    return {_strip(str(k)): v for k, v in state.items()}, kind, config


def _head_fits(head: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> bool:
    """Every head tensor has a source tensor ``head.<name>`` of the same shape (same class count)."""
    return bool(head) and all(
        f"head.{k}" in state and tuple(state[f"head.{k}"].shape) == tuple(v.shape) for k, v in head.items()
    )


def load_encoder_weights(
    model: SegmentationModel, source: str | os.PathLike[str], *, include_decoder: bool = False
) -> LoadReport:
    """Copy encoder (and optionally decoder) weights from a file into ``model``, by name and shape.

    With ``include_decoder``, the head is copied too when every head tensor of the source has the
    model's name and shape (the same class count: continuing or fine-tuning on the same task);
    otherwise, and always without ``include_decoder``, it keeps its fresh initialisation, so a
    checkpoint trained on another dataset (another class count) transfers. Keys are compared by
    name and shape; the rest is reported. If nothing at all fits,
    :class:`~segwise.errors.CheckpointError` is raised (a silent start from random weights would be
    worse).

    Args:
        model: a segwise model.
        source: a ``.pth``/``.pt``/``.safetensors`` file or a segwise checkpoint.
        include_decoder: also copy ``decoder.*`` keys (same architecture on another dataset).

    Returns:
        The :class:`LoadReport`, also logged and stored as ``model.weights_report``.
    """
    if not isinstance(model, SegmentationModel):
        raise InputError(
            f"Expected argument `model` to be a segwise SegmentationModel, but got {type(model).__name__}."
        )
    state, kind, config = read_state_dict(source)
    parts = ["encoder"] + (["decoder"] if include_decoder and hasattr(model, "decoder") else [])
    if include_decoder and _head_fits(model.head.state_dict(), state):
        parts.append("head")
    if not any(k.startswith("encoder.") for k in state):
        kind = "encoder state dict"
        state = {f"encoder.{k}": v for k, v in state.items()}
    report = LoadReport(
        source=str(source),
        kind=kind,
        scope="+".join(parts),
        source_config=config,
        head_reinitialised="head" not in parts,
    )
    for part in parts:
        module = getattr(model, part)
        target = module.state_dict()
        prefix = f"{part}."
        offered = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        fitting: dict[str, torch.Tensor] = {}
        for key, value in offered.items():
            if key not in target:
                report.unexpected.append(prefix + key)
            elif tuple(value.shape) != tuple(target[key].shape):
                report.mismatched.append((prefix + key, tuple(value.shape), tuple(target[key].shape)))
            else:
                fitting[key] = value
        report.missing += [prefix + k for k in target if k not in offered]
        report.loaded += [prefix + k for k in fitting]
        if fitting:
            target.update(fitting)
            module.load_state_dict(target)
    if not report.loaded:
        model_keys = list(model.encoder.state_dict())[:3]
        raise CheckpointError(
            f"no tensor in {source} fits {model.arch}'s encoder ({model.config.get('encoder', '?')!r}): "
            f"source keys look like {list(state)[:3]}, the encoder's like {['encoder.' + k for k in model_keys]}. "
            "Is it a checkpoint of a model with another encoder?"
        )
    model.weights_source = str(source)
    model.weights_report = report
    level = logging.INFO if report.complete else logging.WARNING
    log.log(level, "%s", report.summary())
    return report
