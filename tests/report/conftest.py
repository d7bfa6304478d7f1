"""Fixtures for the report tests: synthetic images, ground truth, perturbed predictions, results."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from segwise.demo_data import CLASS_NAMES, make_shapes_dataset
from segwise.evaluate import evaluate_folders
from segwise.metrics.boundary import BoundaryAccumulator
from segwise.metrics.regions import RegionAccumulator
from segwise.metrics.stats import BootstrapCI


@pytest.fixture(scope="session")
def case(tmp_path_factory) -> dict:
    """8 shape images; predictions are the masks shifted by 0..7 px with a patch of void in the ground
    truth, so per-image scores spread out. ``result``: pixel metrics only; ``full``: every metric."""
    root = make_shapes_dataset(tmp_path_factory.mktemp("case"), num_images=8, height=48, width=64, seed=5)
    pred = root / "pred"
    pred.mkdir()
    for i, path in enumerate(sorted((root / "masks").iterdir())):
        mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        cv2.imwrite(str(pred / path.name), np.roll(mask, i, axis=1))
        mask[:4, :6] = 255  # some ignored pixels
        cv2.imwrite(str(path), mask)
    kw = {"num_classes": 6, "ignore_index": 255, "workers": 1, "class_names": list(CLASS_NAMES)}
    result = evaluate_folders(root / "masks", pred, **kw)
    boundary = BoundaryAccumulator(6, 255)
    accs = [boundary, RegionAccumulator(6, 255), BootstrapCI(num_resamples=200, seed=0, boundary=boundary)]
    full = evaluate_folders(root / "masks", pred, accumulators=accs, **kw)
    return {
        "root": root,
        "gt": root / "masks",
        "pred": pred,
        "images": root / "images",
        "result": result,
        "full": full,
    }


def metrics_csv(path: Path, epochs: int = 5) -> Path:
    """A metrics.csv like segwise train writes."""
    path.mkdir(parents=True, exist_ok=True)
    lines = ["epoch,stage,step,lr,train_loss,img_per_s,val_pixel_accuracy,val_mean_accuracy,val_miou"]
    for e in range(1, epochs + 1):
        lines.append(
            f"{e},main,{10 * e},{1e-3 / e},{1.5 / e},12.0,{0.8 + 0.02 * e},{0.4 + 0.05 * e},{0.3 + 0.05 * e}"
        )
    (path / "metrics.csv").write_text("\n".join(lines) + "\n")
    return path
