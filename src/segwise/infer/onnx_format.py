"""The segwise ONNX format: graph input/output names and the ``segwise.*`` metadata entries.

``segwise export`` writes the entries with :func:`onnx_metadata`; :class:`~segwise.infer.OnnxModel`
reads them back with :func:`read_onnx_metadata`. The DatasetSpec, the model config and the class
names travel in the model's ``metadata_props``, so an exported file needs nothing else to predict.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from segwise.data.spec import DatasetSpec
from segwise.errors import CheckpointError
from segwise.version import __version__

ONNX_FORMAT = "segwise.onnx/1"
INPUT_NAME = "image"
OUTPUT_NAME = "logits"


def onnx_metadata(
    model_config: Mapping[str, Any], spec: DatasetSpec, required_multiple: int, pad_mode: str, source: str
) -> dict[str, str]:
    """The ``segwise.*`` metadata entries of an exported model (all values are strings)."""
    return {
        "segwise.format": ONNX_FORMAT,
        "segwise.version": __version__,
        "segwise.spec": spec.to_json(),
        "segwise.model_config": json.dumps(dict(model_config)),
        "segwise.class_names": json.dumps(list(spec.class_names)),
        "segwise.required_multiple": str(required_multiple),
        "segwise.pad_mode": pad_mode,
        "segwise.input": "image (N,C,H,W) float32: RGB/255, minus spec.mean, over spec.std"
        if spec.volume is None
        else "slices (N,C,H,W) float32 of a volume scaled as spec.volume says (docs/volumes.md)",
        "segwise.source": source,
    }


@dataclass(frozen=True)
class OnnxMetadata:
    """What an exported model's metadata says.

    Attributes:
        spec: the dataset spec the model was trained with.
        model_config: the ``model_config`` of the checkpoint it was exported from.
        required_multiple: the model's stride; inputs are padded to a multiple of it.
        pad_mode: ``reflect``, ``replicate`` or ``zeros``.
        entries: every ``segwise.*`` entry, as written.
    """

    spec: DatasetSpec
    model_config: dict[str, Any]
    required_multiple: int
    pad_mode: str
    entries: dict[str, str]


def read_onnx_metadata(meta: Mapping[str, str], path: str | os.PathLike[str]) -> OnnxMetadata:
    """Decode and check the custom metadata of the ONNX model ``path``.

    Raises:
        CheckpointError: no segwise metadata, another format version, or unreadable entries.
    """
    if "segwise.format" not in meta:
        raise CheckpointError(
            f"{path} is an ONNX model without segwise metadata (no DatasetSpec); segwise predict --onnx needs "
            "a model written by segwise export."
        )
    if meta["segwise.format"] != ONNX_FORMAT:
        raise CheckpointError(
            f"{path} has format {meta['segwise.format']!r} (segwise {meta.get('segwise.version', '?')}); this "
            f"segwise reads {ONNX_FORMAT!r}. Export it again with this version."
        )
    try:
        return OnnxMetadata(
            spec=DatasetSpec.from_json(meta["segwise.spec"]),
            model_config=json.loads(meta["segwise.model_config"]),
            required_multiple=int(meta["segwise.required_multiple"]),
            pad_mode=meta["segwise.pad_mode"],
            entries={k: v for k, v in meta.items() if k.startswith("segwise.")},
        )
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{path}: the segwise metadata is incomplete or unreadable ({exc}).") from None
