"""The segwise checkpoint format: the one place that writes it and reads it back.

A checkpoint is a plain dict saved with ``torch.save`` and loaded with ``weights_only=True`` (no
arbitrary code runs on load). Its keys:

=================  ==========================================================================
``format``         ``"segwise.checkpoint/1"``; ``segwise_version``: the version that wrote it
``model``          the weights to predict with (with an EMA: the average, which was validated)
``model_config``   ``create_model(**model_config)`` rebuilds the architecture
``spec``           the :class:`~segwise.data.spec.DatasetSpec` as a dict; ``class_names`` too
``config``         the training config as a plain dict (``{}`` outside ``segwise train``)
``optimizer``      training state for ``--resume``: the optimizer's state dict, ``rng`` (every
``rng``, ...       random generator), ``train_model`` and ``ema_updates`` with an EMA, and the
                   progress fields listed in :data:`RESUME_KEYS` (plus ``history``,
                   ``train_seconds``, ``wall_seconds``, ``finished``, ``optimizer_stage``)
``calibration``    optional, written by ``segwise calibrate``: temperature, per-class bias or
                   ``None``, the split and its scores before/after
                   (:class:`~segwise.models.calibration.Calibration`); checked on load
=================  ==========================================================================

It is written to a temporary file and renamed, so a crash never leaves half a checkpoint (a NaN
model is never written over a good one: the caller checks). :func:`load_checkpoint` checks the
format and the keys a use needs, and raises :class:`~segwise.errors.CheckpointError` naming the
file and the fix. :func:`segwise.models.model_from_checkpoint` rebuilds the model and the spec.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from segwise.data.spec import DatasetSpec
from segwise.errors import CheckpointError, InputError
from segwise.io_utils import atomic_path
from segwise.models.calibration import Calibration, check_calibration
from segwise.version import __version__

FORMAT_NAME = "segwise.checkpoint"
FORMAT_VERSION = 1
FORMAT = f"{FORMAT_NAME}/{FORMAT_VERSION}"
REQUIRED_KEYS = ("model", "model_config", "spec")
"""What every checkpoint holds: predicting, exporting and ``init_from`` need nothing else."""
RESUME_KEYS = (
    "config",
    "optimizer",
    "rng",
    "epoch",
    "step",
    "best_miou",
    "stale_epochs",
    "stage",
    "stage_epoch",
)
"""What ``segwise train --resume`` needs besides :data:`REQUIRED_KEYS`."""

__all__ = [
    "FORMAT",
    "REQUIRED_KEYS",
    "RESUME_KEYS",
    "build_payload",
    "calibrated_payload",
    "check_checkpoint",
    "checkpoint_calibration",
    "checkpoint_spec",
    "is_segwise_checkpoint",
    "load_checkpoint",
    "save_checkpoint",
    "written_by",
]


def _unwrap(model: nn.Module) -> nn.Module:
    """The segwise model inside a ``torch.compile`` and/or DDP wrapper."""
    model = getattr(model, "_orig_mod", model)  # torch.compile
    return getattr(model, "module", model)  # DDP


def build_payload(
    model: nn.Module,
    spec: DatasetSpec,
    config: Mapping[str, Any],
    *,
    optimizer: torch.optim.Optimizer | None = None,
    rng: Mapping[str, Any] | None = None,
    ema_weights: Mapping[str, torch.Tensor] | None = None,
    ema_updates: int = 0,
    progress: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The checkpoint dict of ``model`` (a segwise model, possibly compiled or DDP-wrapped).

    Args:
        model: the trained model.
        spec: the dataset spec it was trained on.
        config: the training config as a plain dict (``config_to_dict``), or ``{}``.
        optimizer: its state is saved for ``--resume``.
        rng: the random generators' states (``segwise.train.rng.rng_state()``).
        ema_weights: the weight average; saved as ``model`` (what predict and export read), the
            trained weights then go to ``train_model``.
        ema_updates: the number of averaging steps so far.
        progress: training progress (epoch, step, best_miou, history, ...), saved at the top level.

    >>> from segwise.models import create_model
    >>> from segwise.data.spec import DatasetSpec
    >>> payload = build_payload(create_model("segnet_basic", 2, width=4), DatasetSpec("toy", ("a", "b")), {})
    >>> sorted(payload)
    ['class_names', 'config', 'model', 'model_config', 'spec']
    """
    net = _unwrap(model)
    payload: dict[str, Any] = {"model": net.state_dict(), "model_config": dict(net.config)}
    if optimizer is not None:
        payload["optimizer"] = optimizer.state_dict()
    payload.update({"config": dict(config), "spec": spec.to_dict(), "class_names": list(spec.class_names)})
    if rng is not None:
        payload["rng"] = dict(rng)
    payload.update(progress or {})
    if ema_weights is not None:
        payload["train_model"] = payload["model"]
        payload["model"] = dict(ema_weights)
        payload["ema_updates"] = ema_updates
    return payload


def save_checkpoint(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> None:
    """Write ``payload`` (plus the format and version tags) atomically."""
    payload = {"format": FORMAT, "segwise_version": __version__, **payload}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def is_segwise_checkpoint(obj: Any) -> bool:
    """Whether a loaded object claims to be a segwise checkpoint (of any format version).

    >>> is_segwise_checkpoint({"format": "segwise.checkpoint/1"}), is_segwise_checkpoint({"model": {}})
    (True, False)
    """
    return isinstance(obj, Mapping) and str(obj.get("format", "")).startswith(f"{FORMAT_NAME}/")


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu", *, needs: Sequence[str] = ()
) -> dict[str, Any]:
    """Load a segwise checkpoint safely (``weights_only=True``) and check it.

    Args:
        path: the ``.pt`` file (``best.pt``, ``last.pt``).
        map_location: where tensors go.
        needs: keys the caller needs beyond :data:`REQUIRED_KEYS` (e.g. :data:`RESUME_KEYS`).

    Raises:
        CheckpointError: the file is missing, truncated, not a segwise checkpoint, of another
            format version, or lacks a key.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist.")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"cannot load checkpoint {path}: the file is truncated, corrupt or not a PyTorch file ({first[:200]}). "
            "Use last.pt/best.pt of a finished or resumed run."
        ) from None
    return check_checkpoint(obj, path, needs=needs)


def check_checkpoint(
    obj: Any, source: str | os.PathLike[str], *, needs: Sequence[str] = ()
) -> dict[str, Any]:
    """Check a loaded object is a segwise checkpoint this version reads, with the keys needed.

    Returns the checkpoint dict. ``source`` names the file in the messages.
    """
    if not isinstance(obj, Mapping) or "format" not in obj:
        raise CheckpointError(
            f"{source} is not a segwise checkpoint (no 'format' key). To start from plain weights use "
            "model.encoder_weights = PATH; to fine-tune another segwise run use model.init_from."
        )
    fmt, writer = obj["format"], written_by(obj)
    if fmt != FORMAT:
        name, _, version = str(fmt).rpartition("/")
        if name == FORMAT_NAME and version.isdigit() and int(version) > FORMAT_VERSION:
            fix = f"Upgrade segwise to the version that wrote it ({writer}) or later."
        else:
            fix = "Re-export it with the segwise version that wrote it."
        raise CheckpointError(
            f"checkpoint {source} has format {fmt!r} ({writer}); this segwise {__version__} reads "
            f"{FORMAT!r}. {fix}"
        )
    missing = [k for k in (*REQUIRED_KEYS, *needs) if k not in obj]
    if missing:
        needed = ", ".join(dict.fromkeys((*REQUIRED_KEYS, *needs)))
        raise CheckpointError(
            f"checkpoint {source} (written by {writer}) lacks {missing}; this use needs {needed}. Use "
            "best.pt/last.pt of a segwise train run (for --resume: last.pt)."
        )
    if not isinstance(obj["model_config"], Mapping) or not isinstance(obj["model"], Mapping):
        raise CheckpointError(
            f"checkpoint {source} (written by {writer}): 'model' and 'model_config' must be dicts; got "
            f"{type(obj['model']).__name__} and {type(obj['model_config']).__name__}. The file is damaged."
        )
    checkpoint_calibration(obj, source)
    return dict(obj)


def checkpoint_calibration(ckpt: Mapping[str, Any], source: str | os.PathLike[str]) -> Calibration | None:
    """The checked ``calibration`` entry of a checkpoint, or ``None`` when it has none (it is optional)."""
    entry = ckpt.get("calibration")
    if entry is None:
        return None
    names = ckpt.get("class_names")
    return check_calibration(entry, len(names) if isinstance(names, list | tuple) else None, str(source))


def calibrated_payload(ckpt: Mapping[str, Any], calibration: Calibration) -> dict[str, Any]:
    """A checked checkpoint with its ``calibration`` entry set, for :func:`save_checkpoint` (which re-tags it).

    >>> from segwise.models.calibration import Calibration
    >>> cal = Calibration(1.5, None, "val", 1.0, 0.8, 0.1, 0.02, 100)
    >>> calibrated_payload({"format": FORMAT, "model": {}}, cal)["calibration"]["temperature"]
    1.5
    """
    payload = {k: v for k, v in ckpt.items() if k not in ("format", "segwise_version")}
    payload["calibration"] = calibration.to_dict()
    return payload


def checkpoint_spec(ckpt: Mapping[str, Any], source: str | os.PathLike[str]) -> DatasetSpec:
    """The dataset spec of a checked checkpoint; :class:`CheckpointError` if this version cannot read it."""
    try:
        return DatasetSpec.from_json(ckpt["spec"])
    except InputError as exc:
        raise CheckpointError(
            f"checkpoint {source} (written by {written_by(ckpt)}): its dataset spec cannot be read by segwise "
            f"{__version__}: {exc}"
        ) from None


def written_by(ckpt: Mapping[str, Any]) -> str:
    """``"segwise 0.1.0"``: the version that wrote ``ckpt``, for messages."""
    return f"segwise {ckpt.get('segwise_version', '?')}"
