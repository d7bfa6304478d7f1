"""Evaluate a folder of predicted masks against a folder of ground-truth masks; compare folders.

The package owns evaluation (``core``: :class:`Evaluation`; ``inputs``: pairing and reading files;
``folders``: :func:`evaluate_folders`, :func:`compare_predictions`; ``volumes``: label volumes;
``output``: the summary and the CSV files): :class:`Evaluation` feeds each (prediction, ground truth) pair to the
pixel state and to the states of the chosen metric families (registered in
:mod:`segwise.metrics.families`) and assembles the result. ``segwise eval``
(:func:`evaluate_folders`), ``segwise predict --eval-gt`` and ``segwise compare-preds``
(:func:`compare_predictions`) go through it.

Pairing rule (also in docs/metrics.md, code in :mod:`segwise.data.pairing`): files are paired by
key. The key is the stem, or with ``match`` the first capture group of a regex searched in the
stem. Without ``match`` a prediction pairs with the ground truth of the same stem, or, failing
that, with the ground truth whose stem is the longest prefix of the prediction's stem followed by
``_``, ``-`` or ``.`` (so ``0001TP_008550_pred.png`` pairs with ``0001TP_008550.png``). ROI masks pair
with the ground truth by the same rule. Only mask files (.png, .bmp, .tif, .tiff, .gif) are
considered, and in a probabilities folder (``--probs``) only ``.npy`` files. Masks are read through
one :class:`~segwise.data.masks.MaskReader`; probabilities by :func:`read_probs`.

A ground-truth folder of label volumes (``.nii.gz``, ``.nrrd``, ``.mha``, ...) is evaluated case by
case, each volume one "image": see :mod:`segwise.evaluate.volumes`.
"""

from segwise.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    "segwise.evaluate",
    {
        "Evaluation": "segwise.evaluate.core",
        "EvalOptions": "segwise.evaluate.folders",
        "compare_predictions": "segwise.evaluate.folders",
        "evaluate_folders": "segwise.evaluate.folders",
        "per_image_scores": "segwise.evaluate.folders",
        "Pairing": "segwise.evaluate.inputs",
        "load_pair": "segwise.evaluate.inputs",
        "pair_files": "segwise.evaluate.inputs",
        "pair_inputs": "segwise.evaluate.inputs",
        "pair_roi": "segwise.evaluate.inputs",
        "read_probs": "segwise.evaluate.inputs",
        "write_csv": "segwise.evaluate.output",
        "write_per_case": "segwise.evaluate.output",
    },
)
