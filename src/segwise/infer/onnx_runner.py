"""Running a model written by ``segwise export`` with onnxruntime, as a drop-in logits function."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from segwise.errors import CheckpointError, InputError
from segwise.infer.onnx_format import INPUT_NAME, read_onnx_metadata
from segwise.models.padding import crop_to, pad_to_multiple


class OnnxModel:
    """An exported segwise model: ``model(x)`` maps ``(N, C, H, W)`` float tensors to logits.

    The DatasetSpec (classes, colours, normalisation) comes from the model's metadata. Inputs too
    small for reflection padding inside the graph are padded here exactly as PyTorch would.

    Args:
        path: the ``.onnx`` file.
        providers: onnxruntime execution providers (default: CUDA when available, then CPU).

    Attributes:
        spec: the :class:`~segwise.data.spec.DatasetSpec` the model was trained with.
        metadata: every ``segwise.*`` metadata entry.
    """

    def __init__(self, path: str | os.PathLike[str], providers: list[str] | None = None) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"ONNX model {path} does not exist; write one with segwise export.")
        available = ort.get_available_providers()
        providers = providers or [
            p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available
        ]
        options = ort.SessionOptions()
        # No busy-waiting after a run: the softmax, blending and argmax that follow each run on torch's
        # threads, and spinning onnxruntime threads would starve them (10-100x slower on 2 cores).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own untyped exceptions for bad files
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise CheckpointError(
                f"cannot load ONNX model {path}: the file is truncated or not an ONNX model ({first}). "
                "Export it again with segwise export."
            ) from None
        meta = read_onnx_metadata(self.session.get_modelmeta().custom_metadata_map, path)
        self.metadata = meta.entries
        self.spec = meta.spec
        self.required_multiple = meta.required_multiple
        self.pad_mode = meta.pad_mode
        self.model_config = meta.model_config
        self.path = path
        self.num_classes = self.spec.num_classes
        self.in_channels = self.spec.in_channels

    def __repr__(self) -> str:
        return f"OnnxModel({str(self.path)!r}, classes={self.num_classes}, providers={self.session.get_providers()})"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes, H, W)`` of a normalised batch ``(N, in_channels, H, W)``."""
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != self.in_channels:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise InputError(f"input must be a (N, {self.in_channels}, H, W) float tensor; got {shape}.")
        height, width = int(x.shape[-2]), int(x.shape[-1])
        half = self.required_multiple // 2
        pads = None
        if self.pad_mode == "reflect" and min(height, width) <= half:
            x, pads = pad_to_multiple(x, self.required_multiple, "reflect")  # falls back to replicate
        feed = np.ascontiguousarray(x.detach().cpu().float().numpy())
        (logits,) = self.session.run(None, {INPUT_NAME: feed})
        out = torch.from_numpy(logits)
        return crop_to(out, pads, height, width) if pads is not None else out
