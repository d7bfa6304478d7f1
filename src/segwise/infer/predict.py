"""Predicting one image: whole image or sliding window with edge-falloff blending, and TTA.

The functional core is :func:`stream_probabilities`: it cuts the image into windows of at most
``tile`` pixels, runs the model on batches of windows, averages the softmax probabilities over
the test-time augmentations (:class:`TTA`), and blends overlapping windows with weights that fall
off linearly towards each window's edges (:func:`edge_weights`), where a network sees the least
context. Windows are processed one row at a time; as soon as a band of image rows can receive no
more windows it is normalised and handed to a ``sink``. Memory is therefore bounded by the tile
size, the image width and the class count — never by ``H x W x C`` floats.

An image no larger than the tile (or ``tile=None``) is one window: the whole-image prediction.

Uncertainty: the *samples* of a pixel are its TTA views, times ``mc_samples`` stochastic passes
with the dropout layers in train mode (Monte Carlo dropout, as in Bayesian SegNet; BatchNorm stays
in eval mode, see :func:`enable_mc_dropout`). The prediction is the argmax of the mean probabilities
p̄; with ``return_uncertainty`` each pixel also gets the predictive entropy ``H[p̄] = -Σ_c p̄_c log p̄_c``
and the mutual information ``MI = H[p̄] - mean_s H[p_s]`` (nats; MI is 0 with a single sample).
The mean per-sample entropy is blended across windows like the probabilities.
:class:`Predictor` wraps a PyTorch model (from a checkpoint) or an ONNX model with its
:class:`~segwise.data.spec.DatasetSpec` and the options.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from segwise.data.spec import DatasetSpec
from segwise.errors import CheckpointError, InputError
from segwise.models.calibration import CalibratedLogits, Calibration

LogitsFn = Callable[[torch.Tensor], torch.Tensor]
"""A model: ``(N, in_channels, H, W)`` normalised float images to ``(N, C, H, W)`` logits."""

Sink = Callable[[int, torch.Tensor], None]
"""Receives ``(first_row, probs)``: final probabilities ``(C, rows, W)`` of image rows ``first_row...``."""

WEIGHT_FLOOR = 1e-3  # the smallest blending weight: every pixel keeps a positive total weight


@dataclass(frozen=True)
class TTA:
    """Test-time augmentation: optional horizontal flip and a set of scales.

    Probabilities (after softmax) are averaged over every ``(scale, flip)`` view; a scaled view is
    resized back to the window size before averaging.

    >>> TTA.parse("flip,scales=0.75,1,1.25")
    TTA(flip=True, scales=(0.75, 1.0, 1.25))
    >>> TTA.parse("flip").num_views
    2
    """

    flip: bool = False
    scales: tuple[float, ...] = (1.0,)

    def __post_init__(self) -> None:
        scales = tuple(float(s) for s in self.scales)
        if not scales or not all(math.isfinite(s) and 0.1 <= s <= 4.0 for s in scales):
            raise InputError(
                f"TTA scales must be numbers in [0.1, 4]; got {self.scales!r}, e.g. scales=0.75,1,1.25."
            )
        object.__setattr__(self, "scales", scales)

    @property
    def num_views(self) -> int:
        """Forward passes per window."""
        return len(self.scales) * (2 if self.flip else 1)

    @classmethod
    def parse(cls, text: str | None) -> TTA:
        """Parse ``--tta``: ``flip``, ``scales=0.75,1,1.25``, both (comma separated) or ``none``."""
        if text is None or text.strip().lower() in ("", "none", "off"):
            return cls()
        flip, scales, in_scales = False, [], False
        for token in (t.strip() for t in text.split(",")):
            if token.lower() in ("flip", "hflip"):
                flip, in_scales = True, False
                continue
            if token.lower().startswith("scales="):
                in_scales, token = True, token.split("=", 1)[1]
            if not in_scales:
                raise InputError(
                    f"--tta: unknown item {token!r}; expected 'flip', 'scales=S1,S2,...' or 'none' "
                    "(e.g. --tta flip,scales=0.75,1,1.25)."
                )
            try:
                scales.append(float(token))
            except ValueError:
                raise InputError(
                    f"--tta: scale {token!r} is not a number; e.g. --tta flip,scales=0.75,1,1.25."
                ) from None
        return cls(flip=flip, scales=tuple(scales) or (1.0,))

    def describe(self) -> str:
        parts = (["flip"] if self.flip else []) + (
            ["scales=" + ",".join(f"{s:g}" for s in self.scales)] if self.scales != (1.0,) else []
        )
        return ",".join(parts) or "none"


def window_starts(length: int, tile: int, overlap: float) -> list[int]:
    """Start offsets of windows of size ``min(tile, length)`` that cover ``[0, length)``.

    The windows are evenly spaced, neighbours overlapping by at least ``overlap * tile`` pixels.

    >>> window_starts(1000, 512, 0.25)
    [0, 244, 488]
    >>> window_starts(300, 512, 0.25)
    [0]
    """
    size = min(tile, length)
    if size >= length:
        return [0]
    stride = max(1, int(tile * (1 - overlap)))
    n = math.ceil((length - size) / stride) + 1
    return [round(i * (length - size) / (n - 1)) for i in range(n)]


def edge_weights(height: int, width: int, ramp_y: int, ramp_x: int) -> torch.Tensor:
    """Blending weights of one window: 1 inside, falling linearly to ~0 over ``ramp`` px at each edge.

    With a ramp equal to the overlap of two neighbouring windows, their weights sum to 1 across
    the overlap (a linear cross-fade). Weights never drop below :data:`WEIGHT_FLOOR`.

    Shape:
        - output: ``(height, width)`` float32

    >>> w = edge_weights(3, 8, 1, 4)
    >>> [round(v, 3) for v in w[1].tolist()]  # the middle row
    [0.125, 0.375, 0.625, 0.875, 0.875, 0.625, 0.375, 0.125]
    """

    def ramp(n: int, r: int) -> torch.Tensor:
        i = torch.arange(n, dtype=torch.float32)
        dist = torch.minimum(i + 0.5, n - i - 0.5)
        return (dist / max(r, 1)).clamp_(WEIGHT_FLOOR, 1.0)

    return ramp(height, ramp_y)[:, None] * ramp(width, ramp_x)[None, :]


def _ramp(starts: Sequence[int], size: int) -> int:
    """The overlap of neighbouring windows (the widest gap between starts decides it)."""
    if len(starts) < 2:
        return 1
    return max(1, size - max(b - a for a, b in zip(starts, starts[1:], strict=False)))


def to_input(crops: np.ndarray, spec: DatasetSpec, device: torch.device) -> torch.Tensor:
    """uint8 crops ``(N, H, W, C)`` to the normalised float batch ``(N, C, H, W)`` the model takes.

    The same normalisation as training: scale to ``[0, 1]``, subtract ``spec.mean``, divide by ``spec.std``.
    float32 crops (slices of volumes, scaled by :func:`segwise.data.slices.normalize_volume`) are not
    divided by 255.
    """
    x = torch.from_numpy(np.ascontiguousarray(crops)).to(device).permute(0, 3, 1, 2).float()
    std = torch.tensor(spec.std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    scale = 1.0 / std if crops.dtype == np.float32 else 1.0 / (255.0 * std)  # float: slices already scaled
    shift = -torch.tensor(spec.mean, dtype=torch.float32, device=device).view(1, -1, 1, 1) / std
    return torch.addcmul(shift, x, scale)  # (x / 255 - mean) / std in one pass


def _logits(model: LogitsFn, x: torch.Tensor, num_classes: int) -> torch.Tensor:
    with torch.inference_mode():
        out = model(x)
    if (
        not isinstance(out, torch.Tensor)
        or out.ndim != 4
        or out.shape[0] != x.shape[0]
        or out.shape[1] != num_classes
    ):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise CheckpointError(
            f"the model returned {shape} for input {tuple(x.shape)}; expected logits (N, {num_classes}, H, W) "
            "for the spec's classes. The model and the dataset spec do not belong together."
        )
    if out.shape[-2:] != x.shape[-2:]:
        out = F.interpolate(out.float(), size=x.shape[-2:], mode="bilinear", align_corners=False)
    return out


_DROPOUT_TYPES = (
    torch.nn.Dropout,
    torch.nn.Dropout1d,
    torch.nn.Dropout2d,
    torch.nn.Dropout3d,
    torch.nn.AlphaDropout,
    torch.nn.FeatureAlphaDropout,
)


def enable_mc_dropout(model: Any) -> int:
    """Put the dropout layers (``p > 0``) of ``model`` in train mode, the rest in eval mode (BatchNorm
    keeps its running statistics); returns how many there are. None is an :class:`InputError`.

    >>> enable_mc_dropout(torch.nn.Sequential(torch.nn.Conv2d(3, 2, 1), torch.nn.Dropout2d(0.2)))
    1
    """
    if not isinstance(model, torch.nn.Module):
        raise InputError(
            "--mc-dropout runs a PyTorch model with its dropout layers active; give --checkpoint, not --onnx "
            "(or use --tta for uncertainty from augmentations)."
        )
    model.eval()
    layers = [m for m in model.modules() if isinstance(m, _DROPOUT_TYPES) and m.p > 0]
    if not layers:
        raise InputError(
            "--mc-dropout needs a model with dropout, but this one has no dropout layer with p > 0. Train it "
            "with model.dropout > 0 in the config (create_model(..., dropout=0.2)), or use --tta for "
            "uncertainty from augmentations."
        )
    for m in layers:
        m.train()
    return len(layers)


def _entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy in nats over dim 1, keeping the dim: ``(N, C, H, W)`` -> ``(N, 1, H, W)``."""
    return -torch.special.xlogy(probs, probs).sum(dim=1, keepdim=True)


def tta_probabilities(
    batch: torch.Tensor,
    model: LogitsFn,
    num_classes: int,
    tta: TTA = TTA(),
    *,
    mc_samples: int = 1,
    expected_entropy: bool = False,
) -> torch.Tensor:
    """Softmax probabilities of a batch, averaged over the TTA views (and ``mc_samples`` passes of
    each, for MC dropout: the model's dropout layers must be in train mode).

    With ``expected_entropy`` one channel is appended: the mean over the samples of each sample's
    entropy ``mean_s H[p_s]`` (nats), from which the mutual information follows.

    Shape:
        - batch: ``(N, in_channels, H, W)`` normalised floats
        - output: ``(N, num_classes, H, W)`` float32, summing to 1 over dim 1 (``num_classes + 1``
          channels with ``expected_entropy``)

    >>> model = torch.nn.Conv2d(3, 4, 1)
    >>> p = tta_probabilities(torch.zeros(2, 3, 5, 7), model, 4, TTA(flip=True, scales=(1.0, 1.5)))
    >>> tuple(p.shape), bool(torch.allclose(p.sum(1), torch.ones(2, 5, 7)))
    ((2, 4, 5, 7), True)
    """
    height, width = batch.shape[-2:]
    total: torch.Tensor | None = None
    ent_total: torch.Tensor | None = None
    for scale in tta.scales * mc_samples:
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        x = (
            batch
            if size == (height, width)
            else F.interpolate(batch, size=size, mode="bilinear", align_corners=False, antialias=scale < 1)
        )
        for flip in (False, True) if tta.flip else (False,):
            probs = _logits(model, x.flip(-1) if flip else x, num_classes).float().softmax(dim=1)
            if flip:
                probs = probs.flip(-1)
            if size != (height, width):
                probs = F.interpolate(probs, size=(height, width), mode="bilinear", align_corners=False)
            if expected_entropy:
                ent = _entropy(probs)
                ent_total = ent if ent_total is None else ent_total.add_(ent)
            total = probs if total is None else total.add_(probs)
    if total is None:
        raise InputError("TTA has no views; give at least one scale.")
    if ent_total is not None:
        total = torch.cat([total, ent_total], dim=1)
    views = tta.num_views * mc_samples
    return total if views == 1 else total.div_(views)


def check_image(image: Any, in_channels: int, source: str = "image", *, floats: bool = False) -> np.ndarray:
    """Return ``image`` as ``(H, W, in_channels)`` uint8 (with ``floats``: float32, the scaled slices of
    a volume, for a model trained on the ``volumes`` dataset), or raise :class:`InputError` saying why not."""
    if not isinstance(image, np.ndarray):
        raise InputError(
            f"{source} must be a numpy array (H, W, {in_channels}) uint8; got {type(image).__name__}."
        )
    if image.ndim == 2 and in_channels == 1:
        image = image[..., None]
    if image.ndim != 3:
        raise InputError(f"{source} must have shape (H, W, {in_channels}); got {image.shape}.")
    if image.shape[2] != in_channels:
        raise InputError(
            f"{source} has {image.shape[2]} channels but the model expects {in_channels} (the checkpoint's "
            f"dataset spec has in_channels={in_channels}). Convert the image, or use a model trained on "
            f"{image.shape[2]}-channel images."
        )
    if floats and image.dtype != np.float32:
        raise InputError(
            f"{source} must be a float32 slice stack scaled as in training (the model was trained on volumes); "
            f"got {image.dtype}. Cut it with segwise.data.slices.slice_stack, or predict the volume file."
        )
    if not floats and image.dtype != np.uint8:
        raise InputError(
            f"{source} must be uint8 (0..255); got {image.dtype}. Read images with segwise.data.readers.read_image."
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InputError(f"{source} is empty (shape {image.shape}).")
    return image


def stream_probabilities(
    image: np.ndarray,
    model: LogitsFn,
    spec: DatasetSpec,
    sink: Sink,
    *,
    tile: int | None = None,
    overlap: float = 0.25,
    tta: TTA = TTA(),
    batch_size: int = 1,
    device: str | torch.device = "cpu",
    mc_samples: int = 1,
    expected_entropy: bool = False,
) -> None:
    """Predict class probabilities of ``image`` band by band, blending overlapping windows.

    Args:
        image: ``(H, W, in_channels)`` uint8, as :func:`segwise.data.readers.read_image` returns.
        model: logits function (a PyTorch module in eval mode, or an :class:`~segwise.infer.OnnxModel`).
        spec: the dataset spec: normalisation, channel count and class count.
        sink: called with ``(first_row, probs (C, rows, W))`` for consecutive bands, top to bottom;
            ``probs`` is float32 and only valid during the call.
        tile: window side in pixels; ``None`` predicts the whole image in one pass.
        overlap: fraction of ``tile`` that neighbouring windows share, in ``[0, 0.9]``.
        tta: test-time augmentation.
        batch_size: windows per forward pass.
        device: where the batches go (the model must be there already).
        mc_samples: stochastic passes per view (MC dropout; see :func:`enable_mc_dropout`).
        expected_entropy: append the mean per-sample entropy as channel ``C`` of the sink's bands.

    Shape:
        - image: ``(H, W, in_channels)``
        - sink probs: ``(C, rows, W)`` (``C + 1`` with ``expected_entropy``), the bands tiling ``H``
    """
    _check_options(tile, overlap, batch_size)
    image = check_image(image, spec.in_channels, floats=spec.volume is not None)
    device = torch.device(device)
    height, width = image.shape[:2]
    num_classes = spec.num_classes
    th, tw = (height, width) if tile is None else (min(tile, height), min(tile, width))
    ys = window_starts(height, th, overlap) if tile is not None else [0]
    xs = window_starts(width, tw, overlap) if tile is not None else [0]
    weights = edge_weights(th, tw, _ramp(ys, th), _ramp(xs, tw)).to(device)
    # The band holds rows [ys[r], ys[r] + th): every window of row r adds into it.
    acc = torch.zeros(num_classes + int(expected_entropy), th, width, device=device)
    wsum = torch.zeros(th, width, device=device)
    for r, y in enumerate(ys):
        if r > 0:
            done = y - ys[r - 1]  # rows [ys[r-1], y) receive no further window: emit, then shift up
            _emit(sink, ys[r - 1], acc[:, :done], wsum[:done])
            _shift_up(acc, done)
            _shift_up(wsum, done)
        for i in range(0, len(xs), batch_size):
            chunk = xs[i : i + batch_size]
            crops = np.stack([image[y : y + th, x : x + tw] for x in chunk])
            probs = tta_probabilities(
                to_input(crops, spec, device),
                model,
                num_classes,
                tta,
                mc_samples=mc_samples,
                expected_entropy=expected_entropy,
            )
            for x, p in zip(chunk, probs, strict=True):
                acc[:, :, x : x + tw].addcmul_(p, weights)
                wsum[:, x : x + tw].add_(weights)
    _emit(sink, ys[-1], acc, wsum)


_EMIT_ROWS = 128  # rows normalised at a time: bounds the temporaries of the sink


def _emit(sink: Sink, first_row: int, acc: torch.Tensor, wsum: torch.Tensor) -> None:
    for r in range(0, acc.shape[1], _EMIT_ROWS):
        sink(first_row + r, acc[:, r : r + _EMIT_ROWS] / wsum[r : r + _EMIT_ROWS])


def _shift_up(band: torch.Tensor, rows: int) -> None:
    """Move the rows of ``band`` (its second-to-last axis) up by ``rows`` in place; zero the freed rows."""
    keep = band[..., rows:, :].clone()  # only the overlap is copied
    band.zero_()
    band[..., : keep.shape[-2], :] = keep


def argmax_classes(probs: torch.Tensor) -> np.ndarray:
    """Argmax over the class axis of ``(C, H, W)`` scores as a numpy array, the first class winning ties.

    On CPU numpy's reduction is used: torch's ``argmax(0)`` over the outer axis of a contiguous
    tensor is several times slower there.

    Shape:
        - probs: ``(C, H, W)``; output ``(H, W)`` int64

    >>> argmax_classes(torch.tensor([[[0.2, 0.5]], [[0.7, 0.5]]])).tolist()
    [[1, 0]]
    """
    if probs.device.type == "cpu":
        return probs.numpy().argmax(axis=0)
    return probs.argmax(dim=0).cpu().numpy()


def _check_options(tile: int | None, overlap: float, batch_size: int) -> None:
    if tile is not None and (isinstance(tile, bool) or not isinstance(tile, int) or tile < 16):
        raise InputError(
            f"--tile must be an integer >= 16 (pixels), or omitted for whole images; got {tile!r}."
        )
    if not (isinstance(overlap, int | float) and 0.0 <= overlap <= 0.9):
        raise InputError(f"--overlap must be a fraction of the tile in [0, 0.9]; got {overlap!r}, e.g. 0.25.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"--batch-size must be an integer >= 1; got {batch_size!r}.")


@dataclass
class Prediction:
    """One image's prediction.

    Attributes:
        index: ``(H, W)`` class ids (uint8, or uint16 for more than 256 classes).
        probs: ``(C, H, W)`` float16 class probabilities (softmax, summing to 1 per pixel up to float16
            rounding), or ``None``.
        uncertainty: ``(2, H, W)`` float16 (predictive entropy, mutual information) in nats, or ``None``.
    """

    index: np.ndarray
    probs: np.ndarray | None = None
    uncertainty: np.ndarray | None = None


def predict_probabilities(
    image: np.ndarray, model: LogitsFn, spec: DatasetSpec, **options: Any
) -> np.ndarray:
    """Full float32 probabilities ``(C, H, W)`` of one image (options as :func:`stream_probabilities`).

    Holds ``C x H x W`` floats: for large images prefer :func:`predict_image`, which streams.
    """
    height, width = check_image(image, spec.in_channels, floats=spec.volume is not None).shape[:2]
    out = np.empty((spec.num_classes, height, width), np.float32)

    def sink(y: int, probs: torch.Tensor) -> None:
        out[:, y : y + probs.shape[1]] = probs.cpu().numpy()

    stream_probabilities(image, model, spec, sink, **options)
    return out


def predict_image(
    image: np.ndarray,
    model: LogitsFn,
    spec: DatasetSpec,
    *,
    return_probs: bool = False,
    return_uncertainty: bool = False,
    **options: Any,
) -> Prediction:
    """Class ids (and optionally float16 probabilities) of one image, in bounded memory.

    Options are those of :func:`stream_probabilities` (``tile``, ``overlap``, ``tta``,
    ``batch_size``, ``device``).

    Shape:
        - image: ``(H, W, in_channels)`` uint8
        - output: ``index (H, W)``, ``probs (C, H, W)`` float16, ``uncertainty (2, H, W)`` float16

    >>> spec = DatasetSpec("toy", ("a", "b"))
    >>> model = torch.nn.Conv2d(3, 2, 1)
    >>> predict_image(np.zeros((40, 50, 3), np.uint8), model, spec, tile=16).index.shape
    (40, 50)
    """
    height, width = check_image(image, spec.in_channels, floats=spec.volume is not None).shape[:2]
    dtype = np.uint8 if spec.num_classes <= 256 else np.uint16
    index = np.empty((height, width), dtype)
    probs_f16 = np.empty((spec.num_classes, height, width), np.float16) if return_probs else None
    unc = np.empty((2, height, width), np.float16) if return_uncertainty else None

    def sink(y: int, probs: torch.Tensor) -> None:
        rows = probs.shape[1]
        if unc is not None:
            expected = probs[spec.num_classes :]
            probs = probs[: spec.num_classes]
            entropy = _entropy(probs[None])[0]
            mi = (entropy - expected).clamp_(min=0.0)  # >= 0 up to rounding (Jensen)
            unc[:, y : y + rows] = torch.cat([entropy, mi]).cpu().numpy()
        index[y : y + rows] = argmax_classes(probs)
        if probs_f16 is not None:
            probs_f16[:, y : y + rows] = probs.to(torch.float16).cpu().numpy()

    stream_probabilities(image, model, spec, sink, expected_entropy=return_uncertainty, **options)
    return Prediction(index, probs_f16, unc)


class Predictor:
    """A model with its dataset spec and prediction options: ``predictor.predict(image)``.

    Args:
        model: a logits function: a PyTorch module (put in eval mode here) or an ONNX model.
        spec: the dataset spec the model was trained with.
        tile, overlap, tta, batch_size, device: see :func:`stream_probabilities`.
        source: where the model came from (checkpoint or ONNX path), for messages and results.
        calibration: the checkpoint's temperature scaling, when ``model`` applies it (see
            :meth:`from_checkpoint`); only described in messages here.
        mc_dropout: stochastic passes per view with the dropout layers active (Monte Carlo dropout;
            0: off). The model needs dropout layers (:func:`enable_mc_dropout`).
        seed: seed of the dropout masks; each image is predicted from this seed, so results do not
            depend on the order of the images.

    Example:
        >>> spec = DatasetSpec("toy", ("a", "b"))
        >>> p = Predictor(torch.nn.Conv2d(3, 2, 1), spec, tile=32, tta="flip")
        >>> p.predict(np.zeros((20, 70, 3), np.uint8)).index.shape
        (20, 70)
    """

    def __init__(
        self,
        model: LogitsFn,
        spec: DatasetSpec,
        *,
        tile: int | None = None,
        overlap: float = 0.25,
        tta: TTA | str | None = None,
        batch_size: int = 1,
        device: str | torch.device = "cpu",
        source: str = "model",
        calibration: Calibration | None = None,
        mc_dropout: int = 0,
        seed: int = 0,
    ) -> None:
        _check_options(tile, overlap, batch_size)
        if isinstance(mc_dropout, bool) or not isinstance(mc_dropout, int) or mc_dropout < 0:
            raise InputError(f"--mc-dropout must be an integer >= 0 (passes per view); got {mc_dropout!r}.")
        if isinstance(model, torch.nn.Module):
            model.eval()
        if mc_dropout:
            enable_mc_dropout(model)
        self.mc_dropout = mc_dropout
        self.seed = int(seed)
        self.model = model
        self.spec = spec
        self.tile = tile
        self.overlap = float(overlap)
        self.tta = tta if isinstance(tta, TTA) else TTA.parse(tta)
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.source = source
        self.calibration = calibration

    @classmethod
    def from_checkpoint(
        cls, checkpoint: str | os.PathLike[str], device: str | torch.device = "cpu", **options: Any
    ) -> Predictor:
        """Load the model and spec of a segwise checkpoint; options as the constructor.

        A checkpoint of ``segwise calibrate`` predicts ``softmax(logits / T + bias)``: its model is
        wrapped in :class:`~segwise.models.calibration.CalibratedLogits` (the argmax changes only with a bias).
        """
        from segwise.models import model_from_checkpoint
        from segwise.models.checkpoint import checkpoint_calibration, load_checkpoint

        ckpt = load_checkpoint(checkpoint)
        model, spec = model_from_checkpoint(ckpt, device, source=checkpoint)
        calibration = checkpoint_calibration(ckpt, checkpoint)
        if calibration is not None:
            model = CalibratedLogits(model, calibration.temperature, calibration.bias).to(device)
        return cls(model, spec, device=device, source=str(checkpoint), calibration=calibration, **options)

    def describe_calibration(self) -> str:
        """``"calibrated: temperature 1.83"``, ``"calibration in the ONNX graph: ..."`` or ``"uncalibrated"``."""
        if self.calibration is not None:
            return f"calibrated: {self.calibration.describe()}"
        entry = getattr(self.model, "metadata", {}).get("segwise.calibration")
        return f"calibration in the ONNX graph: {entry}" if entry else "uncalibrated"

    @classmethod
    def from_onnx(cls, path: str | os.PathLike[str], **options: Any) -> Predictor:
        """Load a model written by ``segwise export`` and run it with onnxruntime."""
        from segwise.infer.onnx_runner import OnnxModel

        model = OnnxModel(path)
        return cls(model, model.spec, source=str(path), **options)

    @property
    def options(self) -> dict[str, Any]:
        return {
            "tile": self.tile,
            "overlap": self.overlap,
            "tta": self.tta,
            "batch_size": self.batch_size,
            "device": self.device,
        }

    @property
    def num_samples(self) -> int:
        """Samples per pixel: TTA views times MC-dropout passes."""
        return self.tta.num_views * max(1, self.mc_dropout)

    def describe_sampling(self) -> str:
        """``"MC dropout 8 x TTA flip = 16 samples"``, ``"1 sample"``."""
        parts = ([f"MC dropout {self.mc_dropout}"] if self.mc_dropout else []) + (
            [f"TTA {self.tta.describe()}"] if self.tta.num_views > 1 else []
        )
        n = self.num_samples
        return (" x ".join(parts) + " = " if parts else "") + f"{n} sample{'s' * (n != 1)}"

    def predict(
        self, image: np.ndarray, return_probs: bool = False, return_uncertainty: bool = False
    ) -> Prediction:
        """Predict one ``(H, W, in_channels)`` uint8 image (see :func:`predict_image`)."""
        options = {**self.options, "mc_samples": max(1, self.mc_dropout)}
        if not self.mc_dropout:
            return predict_image(
                image,
                self.model,
                self.spec,
                return_probs=return_probs,
                return_uncertainty=return_uncertainty,
                **options,
            )
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):  # seeded dropout masks, the global RNG untouched
            torch.manual_seed(self.seed)
            return predict_image(
                image,
                self.model,
                self.spec,
                return_probs=return_probs,
                return_uncertainty=return_uncertainty,
                **options,
            )

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        """Full float32 probabilities ``(C, H, W)`` (see :func:`predict_probabilities`)."""
        return predict_probabilities(image, self.model, self.spec, **self.options)
