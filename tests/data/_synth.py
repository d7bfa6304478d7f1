"""Small synthetic datasets written at test time."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image


def write_image(path: Path, arr: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode=mode).save(path) if mode else Image.fromarray(arr).save(path)
    return path


def random_pair(rng: np.random.Generator, h: int, w: int, num_classes: int, ignore: int | None = None):
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    # blocky masks, like real label maps (regions, not noise)
    small = rng.integers(0, num_classes, (max(h // 4, 1), max(w // 4, 1)))
    mask = np.kron(small, np.ones((4, 4), dtype=np.int64))[:h, :w]
    mask = np.pad(mask, ((0, h - mask.shape[0]), (0, w - mask.shape[1])), mode="edge")
    if ignore is not None:
        mask[rng.random((h, w)) < 0.05] = ignore
    return image, mask.astype(np.uint8)


def make_folder(
    root: Path,
    n: int = 6,
    *,
    size: tuple[int, int] = (24, 32),
    num_classes: int = 3,
    ignore: int | None = 255,
    seed: int = 0,
    image_ext: str = ".png",
    stems: Sequence[str] | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """root/images/*.png and root/masks/*.png index masks; returns {stem: (image, mask)}."""
    rng = np.random.default_rng(seed)
    out = {}
    for i, stem in enumerate(stems or [f"s{i:02d}" for i in range(n)]):
        image, mask = random_pair(rng, *size, num_classes, ignore)
        if i == 0:
            mask[0, :num_classes] = np.arange(num_classes)  # every class occurs somewhere
        write_image(root / "images" / f"{stem}{image_ext}", image)
        write_image(root / "masks" / f"{stem}.png", mask)
        out[stem] = (image, mask)
    return out
