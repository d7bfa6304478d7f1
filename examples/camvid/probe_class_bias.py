"""Probe: does a per-class decision bias, tuned on validation, help the test mIoU?

    SEGWISE_CAMVID=... python examples/camvid/probe_class_bias.py runs/NAME/best.pt

Argmax of the softmax is not the decision that maximises IoU (Nowozin, "Optimal decisions from
probabilistic models: the intersection-over-union case", CVPR 2014): a rare, thin class can gain
IoU from being predicted where it is likely but not the most likely class. This probe predicts
``argmax_c(logit_c + b_c)`` and tunes the 11 biases ``b`` on the validation split only, by
coordinate ascent (3 rounds over the classes, each bias on a grid from -2 to +4 in steps of 0.25,
biases re-centred to mean 0 after each round), to maximise the dataset-level validation mIoU.
It then applies the biases, unchanged, to the test split and prints both scores and the
per-class test IoU before and after.

Memory: the logits of both splits at 360x480 (peak RSS 6.9 GiB). Time on 2 CPU cores: about
6 minutes. docs/results.md reports the outcome on the best recipe (validation 60.6 -> 62.5,
test 46.9 -> 47.3); the toolkit has no calibration command because of it.
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from segwise.metrics.functional import confusion_matrix, scores_from_confusion
from segwise.train.build import eval_dataset
from segwise.train.config import config_from_dict
from segwise.train.runs import load_model

GRID = torch.arange(-2.0, 4.01, 0.25)


def split_logits(model: torch.nn.Module, cfg, split: str) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Logits ``(C, P)`` and targets ``(P,)`` over the valid pixels of ``split`` at native size."""
    ds = eval_dataset(cfg.data, split, cfg.train.seed)
    logits, targets = [], []
    with torch.no_grad():
        for images, masks in torch.utils.data.DataLoader(ds, batch_size=8):
            logits.append(model(images).half())
            targets.append(masks)
    num_classes, ignore = ds.spec.num_classes, ds.spec.ignore_index
    flat = torch.cat(logits).permute(1, 0, 2, 3).reshape(num_classes, -1)
    target = torch.cat(targets).reshape(-1).long()
    valid = target != ignore if ignore is not None else torch.ones_like(target, dtype=torch.bool)
    return flat[:, valid].float(), target[valid], num_classes


def iou(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> np.ndarray:
    """Dataset-level per-class IoU from one confusion matrix (segwise's own definition)."""
    return scores_from_confusion(confusion_matrix(pred, target, num_classes))["iou"]


def tune(logits: torch.Tensor, target: torch.Tensor, num_classes: int, rounds: int = 3) -> torch.Tensor:
    """Coordinate ascent on the per-class biases for the mIoU of ``(logits, target)``."""
    bias = torch.zeros(num_classes)
    for _ in range(rounds):
        for c in range(num_classes):
            others = logits + bias[:, None]
            others[c] = float("-inf")
            best_other, arg_other = others.max(0)
            margin = logits[c] - best_other  # class c wins where margin + b_c > 0
            scores = [
                np.nanmean(iou(torch.where(margin + b > 0, c, arg_other), target, num_classes)) for b in GRID
            ]
            current = np.nanmean(iou(torch.where(margin + bias[c] > 0, c, arg_other), target, num_classes))
            top = int(np.argmax(scores))
            if scores[top] > current + 1e-9:
                bias[c] = GRID[top]
        bias -= bias.mean()
    return bias


def main(checkpoint: str) -> None:
    model, ckpt = load_model(checkpoint, "cpu")
    cfg = config_from_dict(ckpt["config"])
    val, val_t, num_classes = split_logits(model, cfg, cfg.data.val_split)
    test, test_t, _ = split_logits(model, cfg, "test")
    bias = tune(val, val_t, num_classes)
    for name, (logits, target) in {"val": (val, val_t), "test": (test, test_t)}.items():
        before = iou(logits.argmax(0), target, num_classes)
        after = iou((logits + bias[:, None]).argmax(0), target, num_classes)
        print(
            f"{name} mIoU: argmax {100 * np.nanmean(before):.2f}, with biases {100 * np.nanmean(after):.2f}"
        )
    print("biases:", " ".join(f"{b:+.2f}" for b in bias.tolist()))
    print("test IoU per class, argmax:     ", " ".join(f"{100 * v:.1f}" for v in before.tolist()))
    print("test IoU per class, with biases:", " ".join(f"{100 * v:.1f}" for v in after.tolist()))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python examples/camvid/probe_class_bias.py runs/NAME/best.pt")
    main(sys.argv[1])
