"""segwise: semantic segmentation with honest metrics.

``import segwise`` is cheap: the entry points below load their package on first use.

>>> import segwise
>>> segwise.create_model.__module__, "evaluate_folders" in segwise.__all__
('segwise.models.factory', True)

- evaluate a folder of predictions: :func:`segwise.evaluate_folders`; compare prediction sets:
  :func:`segwise.compare_predictions` (package :mod:`segwise.evaluate`);
- pixel scores from arrays: :class:`segwise.ConfusionMatrix` (:mod:`segwise.metrics`);
- build a model, a loss, a dataset: :func:`segwise.create_model`, :func:`segwise.create_loss`,
  :func:`segwise.create_dataset`;
- a trained model from a checkpoint: :func:`segwise.model_from_checkpoint`; predict images:
  :class:`segwise.Predictor`, folders: :func:`segwise.predict_paths` (:mod:`segwise.infer`);
- train from a config: :func:`segwise.train.loop.train` with :func:`segwise.train.config.load_config`.
"""

from segwise.exports import lazy_exports
from segwise.version import __version__ as __version__

__getattr__, __dir__, _names = lazy_exports(
    "segwise",
    {
        "evaluate_folders": "segwise.evaluate",
        "compare_predictions": "segwise.evaluate",
        "ConfusionMatrix": "segwise.metrics",
        "create_model": "segwise.models",
        "model_from_checkpoint": "segwise.models",
        "create_loss": "segwise.losses",
        "create_dataset": "segwise.data",
        "Predictor": "segwise.infer",
        "predict_paths": "segwise.infer",
    },
)
__all__ = ["__version__", *_names]
