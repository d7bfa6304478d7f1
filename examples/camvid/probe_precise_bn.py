"""Probe: does re-estimating BatchNorm statistics on full training frames ("precise BN") help?

    SEGWISE_CAMVID=... python examples/camvid/probe_precise_bn.py runs/NAME/best.pt

Prints the checkpoint's validation mIoU as saved, then after resetting every BatchNorm layer's
running statistics and re-estimating them as a cumulative average over the training split at full
frame (no augmentation, batches of 8, no gradients). docs/results.md reports the outcome on the best
recipe (60.6 -> 60.0); the toolkit has no precise-BN option because of it.
"""

from __future__ import annotations

import copy
import sys

import torch

from segwise.train.build import eval_dataset
from segwise.train.config import config_from_dict
from segwise.train.loop import evaluate
from segwise.train.runs import load_model


def main(checkpoint: str) -> None:
    model, ckpt = load_model(checkpoint, "cpu")
    cfg = config_from_dict(ckpt["config"])

    def loader(split: str) -> tuple[torch.utils.data.DataLoader, object]:
        ds = eval_dataset(cfg.data, split, cfg.train.seed)
        return torch.utils.data.DataLoader(ds, batch_size=8), ds.spec

    def val_miou(net: torch.nn.Module) -> float:
        val, spec = loader(cfg.data.val_split)
        cpu = torch.device("cpu")
        return 100 * evaluate(net, val, spec.num_classes, spec.ignore_index, cpu).compute()["miou"]

    print(f"val mIoU as saved: {val_miou(model):.2f}")
    precise = copy.deepcopy(model)
    for layer in precise.modules():
        if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm):
            layer.reset_running_stats()
            layer.momentum = None  # cumulative average over all batches
    precise.train()
    with torch.no_grad():
        for images, _ in loader(cfg.data.train_split)[0]:
            precise(images)
    print(f"val mIoU with BatchNorm statistics of full training frames: {val_miou(precise):.2f}")


if __name__ == "__main__":
    main(sys.argv[1])
