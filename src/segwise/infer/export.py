"""``segwise export``: a checkpoint to an ONNX model with dynamic batch, height and width.

segwise models pad their input to a multiple of their stride in Python (``SegmentationModel.forward``),
which the tracing exporter would freeze at the example's size. The exported graph therefore wraps
:meth:`~segwise.models.SegmentationModel.forward_padded` in :class:`PadCropWrapper`, whose padding
and cropping are computed from the input's shape *inside* the graph, so any height and width work.
The DatasetSpec, the model config and the class names travel in the model's ``metadata_props``
(:mod:`segwise.infer.onnx_format`); :class:`segwise.infer.OnnxModel` reads them back. A calibrated
checkpoint (``segwise calibrate``) is exported with its temperature and bias baked into the graph
(:class:`~segwise.models.calibration.CalibratedLogits`), so the ``logits`` output is already
calibrated and the runner needs nothing; ``segwise.calibration`` in the metadata says so.

The legacy TorchScript exporter (``dynamo=False``) is used: it handles the dynamic padding and
every segwise architecture; see docs/decisions.md.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from segwise.errors import CheckpointError, InputError
from segwise.infer.onnx_format import INPUT_NAME, OUTPUT_NAME, onnx_metadata
from segwise.io_utils import atomic_write_bytes, check_writable_dir
from segwise.models.calibration import CalibratedLogits
from segwise.version import __version__

_TORCH_PAD = {"reflect": "reflect", "replicate": "replicate", "zeros": "constant"}


class PadCropWrapper(nn.Module):
    """``forward_padded`` between a shape-dependent pad and crop that trace as graph operations.

    Gives the same logits as the model's own ``forward`` whenever reflection padding is possible
    (each side at least half the model's ``required_multiple``); :class:`~segwise.infer.OnnxModel`
    pre-pads smaller inputs.

    Shape:
        - x: ``(N, in_channels, H, W)``
        - output: ``(N, num_classes, H, W)``
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.multiple = int(model.required_multiple)
        self.mode = _TORCH_PAD[model.pad_mode]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2], x.shape[-1]  # traced as Shape ops, not constants
        pad_h = (self.multiple - height % self.multiple) % self.multiple
        pad_w = (self.multiple - width % self.multiple) % self.multiple
        top, left = pad_h // 2, pad_w // 2
        padded = F.pad(x, [left, pad_w - left, top, pad_h - top], mode=self.mode)
        logits = self.model.forward_padded(padded)
        return logits[:, :, top : top + height, left : left + width]


def export_onnx(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    opset: int = 17,
    verify: bool = True,
) -> Path:
    """Export the model of a segwise checkpoint to ONNX, atomically.

    The graph takes ``image`` ``(N, C, H, W)`` float32, normalised as in training (scaled to
    ``[0, 1]``, minus ``spec.mean``, over ``spec.std``), and returns ``logits`` ``(N, K, H, W)``;
    N, H and W are dynamic. With ``verify`` the written graph is run once with onnxruntime on an
    odd-sized input and compared with PyTorch; a mismatch raises and nothing is written.

    Args:
        checkpoint: a segwise checkpoint (``best.pt``).
        out: the ``.onnx`` file to write.
        opset: ONNX opset, >= 17.
        verify: check the exported graph against PyTorch before writing it.

    Returns:
        ``out`` as a :class:`~pathlib.Path`.
    """
    import onnx

    from segwise.models import model_from_checkpoint
    from segwise.models.checkpoint import checkpoint_calibration, load_checkpoint

    if isinstance(opset, bool) or not isinstance(opset, int) or opset < 17:
        raise InputError(f"--opset must be an integer >= 17; got {opset!r}.")
    out = Path(out)
    _check_writable(out)
    ckpt = load_checkpoint(checkpoint)
    model, spec = model_from_checkpoint(ckpt, "cpu", source=checkpoint)
    calibration = checkpoint_calibration(ckpt, checkpoint)
    pad_crop = PadCropWrapper(model)
    m = pad_crop.multiple
    wrapper: nn.Module = pad_crop
    reference: nn.Module = model
    if calibration is not None:  # baked into the graph: the output is the calibrated logits
        wrapper = CalibratedLogits(pad_crop, calibration.temperature, calibration.bias)
        reference = CalibratedLogits(model, calibration.temperature, calibration.bias)
    wrapper.eval()
    example = torch.randn(1, spec.in_channels, max(2 * m, 32) + 3, max(3 * m, 48) + 5)
    buf = io.BytesIO()
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer and deprecation warnings about the legacy exporter
        torch.onnx.export(
            wrapper,
            (example,),
            buf,
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes},
        )
    proto = onnx.load_from_string(buf.getvalue())
    meta = onnx_metadata(model.config, spec, m, model.pad_mode, str(checkpoint))
    if calibration is not None:
        meta["segwise.calibration"] = calibration.describe()
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=value)
    proto.producer_name = "segwise"
    proto.producer_version = __version__
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    if verify:
        _verify(data, reference.eval(), spec.in_channels, m)
    atomic_write_bytes(out, data)
    return out


def _check_writable(out: Path) -> None:
    if out.is_dir():
        raise InputError(f"--out {out} is a folder; give the file to write, e.g. {out / 'model.onnx'}.")
    check_writable_dir(out.parent, "--out")


def _verify(data: bytes, model: nn.Module, in_channels: int, multiple: int) -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, in_channels, 2 * multiple + 7, 3 * multiple + 1, generator=gen)
    with torch.no_grad():
        ref = model(x).numpy()
    (got,) = session.run(None, {INPUT_NAME: x.numpy()})
    diff = float(np.abs(got - ref).max()) if got.shape == ref.shape else float("inf")
    if not diff <= 1e-3 * max(1.0, float(np.abs(ref).max())):
        raise CheckpointError(
            f"the exported ONNX graph disagrees with PyTorch (max |logit difference| {diff:.3g} on a "
            f"{tuple(x.shape)} input); nothing was written. This architecture does not export faithfully: "
            "please report it, and use the PyTorch checkpoint meanwhile."
        )
