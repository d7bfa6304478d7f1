"""The demo's synthetic dataset: shapes on textured backgrounds, generated in a second, no download.

Six classes with a realistic imbalance: a textured background covering most pixels, large discs
and squares, triangles, thin lines (3 px) and small dots (radius 3-4 px), so the demo exercises
rare and thin classes, the cases where pixel accuracy hides failures.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

from segwise.io_utils import atomic_path

CLASS_NAMES = ("background", "disc", "square", "triangle", "line", "dot")
COLORS = ((60, 60, 60), (220, 60, 60), (60, 180, 60), (60, 90, 220), (240, 200, 40), (200, 60, 220))
# Object colours the images are drawn with (jittered per object); background is texture.
_PAINT = {1: (200, 70, 70), 2: (70, 170, 70), 3: (70, 100, 210), 4: (235, 205, 60), 5: (210, 80, 210)}


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Low-frequency noise plus faint stripes, in muted tones."""
    coarse = rng.random((h // 8 + 2, w // 8 + 2, 3)).astype(np.float32)
    base = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:h, 0:w]
    angle = rng.uniform(0, np.pi)
    stripes = 0.5 + 0.5 * np.sin((np.cos(angle) * xx + np.sin(angle) * yy) / rng.uniform(2, 6))
    img = 70 + 60 * base + 25 * stripes[..., None]
    return np.clip(img, 0, 255)


def _paint(img: np.ndarray, mask: np.ndarray, shape: np.ndarray, cls: int, rng: np.random.Generator) -> None:
    colour = np.array(_PAINT[cls], np.float32) + rng.normal(0, 18, 3)
    shade = rng.normal(0, 8, img.shape[:2])[..., None]
    img[shape] = np.clip(colour + shade, 0, 255)[shape]
    mask[shape] = cls


def make_sample(
    rng: np.random.Generator, height: int = 96, width: int = 128
) -> tuple[np.ndarray, np.ndarray]:
    """One (image uint8 (H, W, 3), mask uint8 (H, W)) pair."""
    img = _texture(rng, height, width)
    mask = np.zeros((height, width), np.uint8)
    canvas = np.zeros((height, width), np.uint8)
    for cls, count in (
        (1, rng.integers(0, 3)),
        (2, rng.integers(0, 3)),
        (3, rng.integers(0, 2)),
        (4, rng.integers(1, 3)),
        (5, rng.integers(1, 4)),
    ):
        for _ in range(int(count)):
            canvas[:] = 0
            cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
            if cls == 1:
                cv2.circle(canvas, (cx, cy), int(rng.integers(8, 20)), 1, -1)
            elif cls == 2:
                s = int(rng.integers(8, 18))
                box = cv2.boxPoints(((cx, cy), (2 * s, 2 * s), float(rng.uniform(0, 90))))
                cv2.fillPoly(canvas, [box.astype(np.int32)], 1)
            elif cls == 3:
                pts = np.array(
                    [
                        [cx, cy],
                        [cx + rng.integers(-25, 25), cy + rng.integers(12, 28)],
                        [cx + rng.integers(-25, 25), cy - rng.integers(12, 28)],
                    ],
                    np.int32,
                )
                cv2.fillPoly(canvas, [pts], 1)
            elif cls == 4:
                end = (int(rng.integers(0, width)), int(rng.integers(0, height)))
                cv2.line(canvas, (cx, cy), end, 1, 3)
            else:
                cv2.circle(canvas, (cx, cy), int(rng.integers(3, 5)), 1, -1)
            _paint(img, mask, canvas.astype(bool), cls, rng)
    img += rng.normal(0, 6, img.shape)  # sensor noise
    return np.clip(img, 0, 255).astype(np.uint8), mask


def make_shapes_dataset(
    root: str | os.PathLike[str], num_images: int = 240, height: int = 96, width: int = 128, seed: int = 0
) -> Path:
    """Write ``root/images/*.png``, ``root/masks/*.png`` and ``root/spec.json``; returns ``root``.

    Files are written atomically, so an interrupted generation is simply redone.
    """
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(num_images):
        img, mask = make_sample(rng, height, width)
        name = f"shape_{i:04d}.png"
        if (root / "masks" / name).exists() and (root / "images" / name).exists():
            continue
        for folder, arr in (("images", cv2.cvtColor(img, cv2.COLOR_RGB2BGR)), ("masks", mask)):
            with atomic_path(root / folder / name) as tmp:
                ok, buf = cv2.imencode(".png", arr)
                tmp.write_bytes(buf.tobytes())
    spec = {
        "name": "shapes",
        "class_names": list(CLASS_NAMES),
        "colors": [list(c) for c in COLORS],
        "ignore_index": 255,
        "mask_encoding": "index",
        "in_channels": 3,
        "mean": [0.45, 0.45, 0.45],
        "std": [0.25, 0.25, 0.25],
    }
    with atomic_path(root / "spec.json") as tmp:
        tmp.write_text(json.dumps(spec, indent=2))
    return root
