"""Temperature scaling: the ``calibration`` entry of a checkpoint, applying it, fitting it, and its scores.

A calibrated model predicts ``softmax(logits / T + b)``: one temperature ``T > 0`` for every class
and, optionally, a per-class bias ``b``. ``T`` leaves the argmax unchanged; ``b`` can change it.
``segwise calibrate`` fits both on a split by minimising the negative log-likelihood (NLL) of the
valid pixels and stores them in the checkpoint (:class:`Calibration`); ``segwise predict`` and
``segwise export`` apply them (:class:`CalibratedLogits`). docs/metrics.md defines NLL and ECE.

The scores are streamed: :class:`CalibrationScores` holds sums and 15 bin counts, never pixels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from segwise.errors import CheckpointError, InputError

ECE_BINS = 15
"""Equal-width confidence bins of the top-label ECE."""

CALIBRATION_KEYS = (
    "temperature",
    "bias",
    "split",
    "nll_before",
    "nll_after",
    "ece_before",
    "ece_after",
    "num_pixels",
)
"""The keys of a checkpoint's ``calibration`` entry."""

__all__ = [
    "CALIBRATION_KEYS",
    "ECE_BINS",
    "CalibratedLogits",
    "Calibration",
    "CalibrationScores",
    "apply_calibration",
    "check_calibration",
    "fit_temperature",
]


def apply_calibration(
    logits: torch.Tensor, temperature: float, bias: Sequence[float] | None = None
) -> torch.Tensor:
    """``logits / temperature + bias`` over the class axis (dim 1 of ``(N, C, ...)``, or the last axis of ``(P, C)``).

    Shape:
        - logits: ``(N, C, H, W)`` or ``(P, C)``; output: the same

    >>> apply_calibration(torch.tensor([[2.0, -4.0]]), 2.0, [0.5, 0.0]).tolist()
    [[1.5, -2.0]]
    """
    out = logits / temperature
    if bias is not None:
        b = torch.as_tensor(bias, dtype=out.dtype, device=out.device)
        out = out + (b.view(1, -1, *([1] * (out.ndim - 2))) if out.ndim == 4 else b)
    return out


class CalibratedLogits(nn.Module):
    """A model whose logits are divided by ``temperature`` and shifted by ``bias`` (exports to ONNX).

    Shape:
        - x: as the model takes; output: ``(N, C, H, W)`` calibrated logits
    """

    def __init__(self, model: nn.Module, temperature: float, bias: Sequence[float] | None = None) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("inv_temperature", torch.tensor(1.0 / float(temperature)))
        self.register_buffer(
            "bias", None if bias is None else torch.tensor([float(b) for b in bias]).view(1, -1, 1, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x) * self.inv_temperature
        return out if self.bias is None else out + self.bias


@dataclass(frozen=True)
class Calibration:
    """A checkpoint's ``calibration`` entry (see :data:`CALIBRATION_KEYS`).

    Attributes:
        temperature: ``T`` of ``softmax(logits / T + bias)``.
        bias: per-class bias, or ``None``.
        split: the split it was fitted on.
        nll_before, nll_after: mean NLL of the split's valid pixels, raw and calibrated.
        ece_before, ece_after: top-label ECE (:data:`ECE_BINS` bins), raw and calibrated.
        num_pixels: the valid pixels those four numbers count.
    """

    temperature: float
    bias: tuple[float, ...] | None
    split: str
    nll_before: float
    nll_after: float
    ece_before: float
    ece_after: float
    num_pixels: int

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["bias"] = None if self.bias is None else list(self.bias)
        return d

    def describe(self) -> str:
        """``"temperature 1.83"`` or ``"temperature 1.83 + per-class bias"``, for printed lines."""
        return f"temperature {self.temperature:.3g}" + (" + per-class bias" if self.bias is not None else "")


def check_calibration(entry: Any, num_classes: int | None, source: str) -> Calibration:
    """Validate a checkpoint's ``calibration`` entry; :class:`CheckpointError` naming ``source`` if it is damaged.

    >>> check_calibration({"temperature": 2.0, "bias": None, "split": "val", "nll_before": 1.0,
    ...     "nll_after": 0.5, "ece_before": 0.2, "ece_after": 0.05, "num_pixels": 10}, 3, "x.pt").temperature
    2.0
    """

    def fail(why: str) -> CheckpointError:
        return CheckpointError(
            f"checkpoint {source}: its 'calibration' entry {why}. Run segwise calibrate again on the original "
            "checkpoint."
        )

    if not isinstance(entry, Mapping):
        raise fail(f"must be a dict; got {type(entry).__name__}")
    missing = [k for k in CALIBRATION_KEYS if k not in entry]
    if missing:
        raise fail(f"lacks {missing}")
    temperature = entry["temperature"]
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not (math.isfinite(temperature) and temperature > 0)
    ):
        raise fail(f"has temperature {temperature!r}; expected a finite number > 0")
    bias = entry["bias"]
    if bias is not None:
        if not isinstance(bias, list | tuple) or not all(
            isinstance(b, int | float) and not isinstance(b, bool) and math.isfinite(b) for b in bias
        ):
            raise fail("has a bias that is not a list of finite numbers")
        if num_classes is not None and len(bias) != num_classes:
            raise fail(f"has {len(bias)} biases for {num_classes} classes")
        bias = tuple(float(b) for b in bias)
    try:
        return Calibration(
            float(temperature),
            bias,
            str(entry["split"]),
            *(float(entry[k]) for k in CALIBRATION_KEYS[3:7]),
            int(entry["num_pixels"]),
        )
    except (TypeError, ValueError) as exc:
        raise fail(f"has a value of the wrong type ({exc})") from None


def valid_pixels(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits ``(P, C)`` and class ids ``(P,)`` of the pixels with a class id in ``[0, C)`` (not ignored).

    Shape:
        - logits: ``(N, C, H, W)``; target: ``(N, H, W)``
    """
    num_classes = logits.shape[1]
    flat = logits.permute(0, 2, 3, 1).reshape(-1, num_classes)
    t = target.reshape(-1).long()
    keep = (t >= 0) & (t < num_classes)
    if ignore_index is not None:
        keep &= t != ignore_index
    return flat[keep], t[keep]


class CalibrationScores:
    """Streaming NLL and top-label ECE of logits ``(P, C)`` against class ids ``(P,)``.

    ``update`` adds sums and bin counts; ``nll`` and ``ece`` read them. Updating in k parts equals
    one update with everything.

    >>> s = CalibrationScores(3)
    >>> s.update(torch.tensor([[0.0, 0.0, 0.0]]), torch.tensor([1]))
    >>> round(s.nll, 4), round(s.ece, 4)  # log 3; confidence 1/3 and wrong
    (1.0986, 0.3333)
    """

    def __init__(self, num_classes: int, bins: int = ECE_BINS) -> None:
        self.num_classes = num_classes
        self.bins = bins
        self.nll_sum = 0.0
        self.count = torch.zeros(bins, dtype=torch.float64)
        self.conf_sum = torch.zeros(bins, dtype=torch.float64)
        self.correct_sum = torch.zeros(bins, dtype=torch.float64)

    def update(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        logp = torch.log_softmax(logits.double(), dim=1)
        self.nll_sum -= float(logp.gather(1, target.view(-1, 1)).sum())  # .item-like sync: a logged number
        conf, pred = logp.max(dim=1)
        conf = conf.exp()
        idx = (conf * self.bins).long().clamp_(0, self.bins - 1).cpu()
        self.count += torch.bincount(idx, minlength=self.bins).double()
        self.conf_sum += torch.bincount(idx, conf.cpu(), minlength=self.bins)
        self.correct_sum += torch.bincount(idx, (pred == target).double().cpu(), minlength=self.bins)

    @property
    def num_pixels(self) -> int:
        return int(self.count.sum())

    @property
    def nll(self) -> float:
        """Mean negative log-likelihood in nats; NaN without pixels."""
        n = self.num_pixels
        return self.nll_sum / n if n else math.nan

    @property
    def ece(self) -> float:
        """``sum_b |B_b| / N * |acc(B_b) - conf(B_b)|``; NaN without pixels."""
        n = self.num_pixels
        return float((self.correct_sum - self.conf_sum).abs().sum() / n) if n else math.nan


def fit_temperature(
    logits: torch.Tensor, target: torch.Tensor, *, per_class_bias: bool = False, max_iter: int = 200
) -> tuple[float, tuple[float, ...] | None]:
    """The temperature (and per-class bias) minimising the mean NLL of ``softmax(logits / T + b)``.

    ``log T`` is optimised (so ``T`` stays positive) with L-BFGS and a strong-Wolfe line search, from
    ``T = 1``, ``b = 0``; the NLL is convex in ``(1 / T, b)``, so the optimum found is global.

    Shape:
        - logits: ``(P, C)``; target: ``(P,)`` class ids

    >>> g = torch.Generator().manual_seed(0)
    >>> z = torch.randn(20000, 4, generator=g) * 3
    >>> y = torch.multinomial((z / 2).softmax(1), 1, generator=g).squeeze(1)
    >>> round(fit_temperature(z, y)[0], 1)
    2.0
    """
    if logits.ndim != 2 or target.shape != logits.shape[:1] or logits.shape[0] == 0:
        raise InputError(
            f"fit_temperature needs logits (P, C) and class ids (P,) with P > 0; got {tuple(logits.shape)} and "
            f"{tuple(target.shape)}. Is every pixel of the split ignored?"
        )
    z, y = logits.detach().double(), target.long()
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(z.shape[1], dtype=torch.float64, requires_grad=per_class_bias)
    params = [log_t, bias] if per_class_bias else [log_t]
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = nn.functional.cross_entropy(z * torch.exp(-log_t) + bias, y)
        loss.backward()
        return loss

    with torch.enable_grad(), torch.inference_mode(False):
        opt.step(closure)
    temperature = float(torch.exp(log_t.detach()))
    if not math.isfinite(temperature) or temperature <= 0:
        raise InputError(f"fitting the temperature failed (T = {temperature}); the logits may be constant.")
    return temperature, (tuple(float(b) for b in bias.detach()) if per_class_bias else None)
