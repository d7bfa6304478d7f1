"""Inference: predict images (whole, sliding window, TTA), export to ONNX, run ONNX models.

Names are imported on first use, so ``import segwise.infer.outputs`` does not load torch.

>>> from segwise.infer import Predictor, TTA
>>> TTA.parse("flip").num_views
2
"""

from segwise.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    "segwise.infer",
    {
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
    },
)
