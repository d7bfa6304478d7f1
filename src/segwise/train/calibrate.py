"""``segwise calibrate``: fit temperature scaling of a run's checkpoint on a split of its dataset.

The split is built as evaluation builds it (:func:`segwise.train.build.eval_dataset`, from the
config stored in the checkpoint). Memory stays bounded however large the split:

1. one pass keeps at most :data:`PIXELS_PER_IMAGE` valid pixels' logits per image, drawn
   uniformly without replacement by a generator seeded with ``seed`` (ignored and ROI pixels
   are never drawn); ``T`` (and the bias) are fitted on those
   (:func:`segwise.models.calibration.fit_temperature`);
2. a second pass scores every valid pixel of the split, before and after, in streaming sums
   (:class:`~segwise.models.calibration.CalibrationScores`); ``--eval-split`` adds one pass on
   another split.

The result is written to a new checkpoint (the original plus a ``calibration`` entry), atomically.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from segwise.errors import InputError
from segwise.io_utils import check_writable_dir
from segwise.models import model_from_checkpoint
from segwise.models.calibration import (
    Calibration,
    CalibrationScores,
    apply_calibration,
    fit_temperature,
    valid_pixels,
)
from segwise.models.checkpoint import calibrated_payload, load_checkpoint, save_checkpoint
from segwise.train.build import eval_dataset
from segwise.train.config import config_from_dict
from segwise.train.device import select_device

PIXELS_PER_IMAGE = 4096
"""Valid pixels per image whose logits the fit keeps (a seeded uniform sample; all if fewer)."""


@dataclass
class SplitScores:
    """NLL and ECE of one split, raw and calibrated."""

    split: str
    before: CalibrationScores
    after: CalibrationScores


@dataclass
class CalibrationRun:
    """What :func:`calibrate_checkpoint` did: the fitted entry, the file written, the scores."""

    calibration: Calibration
    out: Path
    fit_pixels: int
    scores: list[SplitScores]
    pixels_per_image: int = PIXELS_PER_IMAGE

    def lines(self) -> list[str]:
        """The lines ``segwise calibrate`` prints."""
        cal = self.calibration
        bias = "" if cal.bias is None else ", bias " + "[" + ", ".join(f"{b:+.3f}" for b in cal.bias) + "]"
        out = [
            f"fitted on {self.fit_pixels} pixels of {cal.split!r} (at most {self.pixels_per_image} per image): "
            f"temperature {cal.temperature:.4f}{bias}"
        ]
        out.append(
            f"{'split':<10} {'pixels':>10} {'NLL before':>11} {'NLL after':>10} {'ECE before':>11} {'ECE after':>10}"
        )
        for s in self.scores:
            out.append(
                f"{s.split:<10} {s.before.num_pixels:>10} {s.before.nll:>11.4f} {s.after.nll:>10.4f} "
                f"{s.before.ece:>11.4f} {s.after.ece:>10.4f}"
            )
        out.append(f"wrote {self.out}")
        return out


def calibrate_checkpoint(
    checkpoint: str | os.PathLike[str],
    *,
    split: str = "val",
    out: str | os.PathLike[str] | None = None,
    per_class_bias: bool = False,
    eval_split: str | None = None,
    pixels_per_image: int = PIXELS_PER_IMAGE,
    batch_size: int = 4,
    device: str | torch.device = "cpu",
    seed: int = 0,
) -> CalibrationRun:
    """Fit ``softmax(logits / T [+ bias])`` on ``split`` and write the calibrated checkpoint.

    Args:
        checkpoint: a segwise run's checkpoint (``RUN/best.pt``); its config names the dataset.
        split: the split to fit on (and score).
        out: the checkpoint to write; default ``calibrated.pt`` next to ``checkpoint``.
        per_class_bias: also fit one bias per class (can change the argmax).
        eval_split: also score another split (e.g. ``test``), not used for fitting.
        pixels_per_image: the logits of at most this many valid pixels per image are kept for the fit.
        batch_size: images per forward pass.
        device: where the model runs: ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto``.
        seed: seed of the pixel sample.

    Raises:
        InputError: bad options, an empty split or one without valid pixels.
        CheckpointError: the checkpoint cannot be read or has no training config.
    """
    checkpoint = Path(checkpoint)
    out = checkpoint.parent / "calibrated.pt" if out is None else Path(out)
    if isinstance(pixels_per_image, bool) or not isinstance(pixels_per_image, int) or pixels_per_image < 1:
        raise InputError(f"--pixels-per-image must be an integer >= 1; got {pixels_per_image!r}.")
    if out.is_dir():
        raise InputError(
            f"--out {out} is a folder; give the checkpoint to write, e.g. {out / 'calibrated.pt'}."
        )
    if out.resolve() == checkpoint.resolve():
        raise InputError(
            f"--out {out} is the checkpoint being calibrated; write a new file, e.g. calibrated.pt."
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"--batch-size must be an integer >= 1; got {batch_size!r}.")
    check_writable_dir(out.parent, "--out")
    try:
        dev = select_device(device) if isinstance(device, str) else torch.device(device)
    except RuntimeError:
        raise InputError(f"--device must be cpu, cuda, cuda:N, mps or auto; got {device!r}.") from None
    ckpt = load_checkpoint(checkpoint, needs=("config",))
    model, _ = model_from_checkpoint(ckpt, dev, source=checkpoint)
    cfg = config_from_dict(ckpt["config"])
    fit_set = eval_dataset(cfg.data, split, cfg.train.seed)
    ignore = fit_set.spec.ignore_index
    logits, target = _sample_logits(model, fit_set, ignore, pixels_per_image, batch_size, dev, seed)
    fit_pixels = int(target.numel())
    temperature, bias = fit_temperature(logits, target, per_class_bias=per_class_bias)
    del logits, target
    scores = [_score(model, fit_set, split, temperature, bias, batch_size, dev)]
    if eval_split is not None:
        scores.append(
            _score(
                model,
                eval_dataset(cfg.data, eval_split, cfg.train.seed),
                eval_split,
                temperature,
                bias,
                batch_size,
                dev,
            )
        )
    fit = scores[0]
    calibration = Calibration(
        temperature,
        bias,
        split,
        fit.before.nll,
        fit.after.nll,
        fit.before.ece,
        fit.after.ece,
        fit.before.num_pixels,
    )
    save_checkpoint(out, calibrated_payload(ckpt, calibration))
    return CalibrationRun(calibration, out, fit_pixels, scores, pixels_per_image)


def _batches(model: torch.nn.Module, dataset: Any, batch_size: int, device: torch.device):
    """``(logits (N, C, H, W) float32, masks (N, H, W))`` over ``dataset``, in fp32 and eval mode."""
    model.eval()
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size)
    with torch.inference_mode():
        for images, masks in loader:
            yield model(images.to(device)).float(), masks.to(device)


def _sample_logits(
    model: torch.nn.Module,
    dataset: Any,
    ignore_index: int | None,
    per_image: int,
    batch_size: int,
    device: torch.device,
    seed: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``(P, C)`` and class ids ``(P,)`` of at most ``per_image`` valid pixels of each image."""
    gen = torch.Generator().manual_seed(seed)
    kept_logits, kept_target = [], []
    for logits, masks in _batches(model, dataset, batch_size, device):
        for z, y in zip(logits, masks, strict=True):
            zv, yv = valid_pixels(z[None], y[None], ignore_index)
            if yv.numel() > per_image:
                pick = torch.randperm(yv.numel(), generator=gen)[:per_image].to(yv.device)
                zv, yv = zv[pick], yv[pick]
            kept_logits.append(zv.cpu())
            kept_target.append(yv.cpu())
    logits, target = torch.cat(kept_logits), torch.cat(kept_target)
    if target.numel() == 0:
        raise InputError(
            f"the split of {dataset.spec.name} has no valid pixels (every pixel is ignored); nothing to fit on."
        )
    return logits, target


def _score(
    model: torch.nn.Module,
    dataset: Any,
    split: str,
    temperature: float,
    bias: tuple[float, ...] | None,
    batch_size: int,
    device: torch.device,
) -> SplitScores:
    """NLL and ECE of every valid pixel of ``dataset``, raw and calibrated, in one streaming pass."""
    num_classes, ignore = dataset.spec.num_classes, dataset.spec.ignore_index
    scores = SplitScores(split, CalibrationScores(num_classes), CalibrationScores(num_classes))
    for logits, masks in _batches(model, dataset, batch_size, device):
        z, y = valid_pixels(logits, masks, ignore)
        scores.before.update(z, y)
        scores.after.update(apply_calibration(z, temperature, bias), y)
    return scores
