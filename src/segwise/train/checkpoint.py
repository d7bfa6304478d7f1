"""Checkpoints: everything `eval`, `predict`, `report` and `--resume` need, in one file.

A checkpoint is a plain dict saved with ``torch.save`` and loaded with ``weights_only=True`` (no
arbitrary code runs on load). It is written to a temporary file and renamed, so a crash never
leaves half a checkpoint, and a NaN model is never written over a good one (the caller checks).
"""

from __future__ import annotations

import os
import pickle
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segwise import __version__
from segwise._io import atomic_path
from segwise.errors import CheckpointError

FORMAT = "segwise.checkpoint/1"


def rng_state() -> dict[str, Any]:
    """Every RNG a training step draws from, in a form ``weights_only`` loading accepts."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 (third-party code may draw from it)
    state = {
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_tuples(state["python"]))
    n = state["numpy"]
    legacy = ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"])
    np.random.set_state(legacy)  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuples(x: Any) -> Any:
    return tuple(_tuples(v) for v in x) if isinstance(x, list | tuple) else x


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> None:
    """Write ``payload`` (plus format and version tags) atomically."""
    payload = {"format": FORMAT, "segwise_version": __version__, **payload}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a segwise checkpoint safely (``weights_only=True``), with clear errors.

    Raises:
        CheckpointError: the file is missing, truncated, not a segwise checkpoint, or of another
            checkpoint format.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist.")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"cannot load checkpoint {path}: the file is truncated, corrupt or not a PyTorch file ({first[:200]}). "
            "Use last.pt/best.pt of a finished or resumed run."
        ) from None
    if not isinstance(ckpt, dict) or "format" not in ckpt:
        raise CheckpointError(
            f"{path} is not a segwise checkpoint (no 'format' key). To start from plain weights use "
            "model.encoder_weights = PATH; to fine-tune another segwise run use model.init_from."
        )
    if ckpt["format"] != FORMAT:
        raise CheckpointError(
            f"checkpoint {path} has format {ckpt['format']!r} (segwise {ckpt.get('segwise_version', '?')}); this "
            f"segwise {__version__} reads {FORMAT!r}. Re-export it with the segwise version that wrote it."
        )
    return ckpt
