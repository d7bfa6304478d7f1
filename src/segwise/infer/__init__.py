"""Inference: predict images (whole, sliding window, TTA), export to ONNX, run ONNX models.

Names are imported on first use, so ``import segwise.infer.outputs`` does not load torch.

>>> from segwise.infer import Predictor, TTA
>>> TTA.parse("flip").num_views
2
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "OnnxModel": "segwise.infer.onnx_runner",
    "PredictSummary": "segwise.infer.files",
    "predict_paths": "segwise.infer.files",
    "Prediction": "segwise.infer.predict",
    "Predictor": "segwise.infer.predict",
    "TTA": "segwise.infer.predict",
    "predict_image": "segwise.infer.predict",
    "predict_probabilities": "segwise.infer.predict",
    "stream_probabilities": "segwise.infer.predict",
    "export_onnx": "segwise.infer.export",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'segwise.infer' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return __all__
