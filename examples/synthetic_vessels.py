"""A synthetic binary "vessel" dataset for checking `segwise train --auto` on a second kind of data.

Thin branching curves (1-4 px wide, darker than the background, as vessels in a fundus photograph)
on a vignetted, noisy background; the foreground holds about 10% of the pixels. Files are named as
users' data often are: ``images/NN_image.png`` and ``masks/NN_vessels.png`` with values 0/255, so
``segwise data init`` needs ``--match`` and infers a value map.

    python examples/synthetic_vessels.py OUT [--n 60] [--size 192] [--seed 0]
    segwise data init OUT --images images --masks masks --match '^(\\d+)_'
    segwise train --auto OUT --minutes 5
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np


def vessel_sample(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    mask = np.zeros((size, size), np.uint8)

    def branch(x: float, y: float, angle: float, width: float, depth: int) -> None:
        steps = int(rng.integers(size // 8, size // 3))
        for _ in range(steps):
            angle += rng.normal(0, 0.25)
            nx, ny = x + 3 * np.cos(angle), y + 3 * np.sin(angle)
            cv2.line(mask, (int(x), int(y)), (int(nx), int(ny)), 255, max(1, int(round(width))))
            x, y = nx, ny
            if not (0 <= x < size and 0 <= y < size):
                return
            if depth < 4 and rng.random() < 0.04:
                branch(x, y, angle + rng.choice([-1, 1]) * rng.uniform(0.4, 1.0), width * 0.75, depth + 1)
        if depth < 4:
            branch(x, y, angle + rng.normal(0, 0.5), width * 0.8, depth + 1)

    for _ in range(int(rng.integers(1, 4))):
        side = rng.integers(0, 4)
        x, y = [
            (0, rng.uniform(0, size)),
            (size - 1, rng.uniform(0, size)),
            (rng.uniform(0, size), 0),
            (rng.uniform(0, size), size - 1),
        ][side]
        angle = np.arctan2(size / 2 - y, size / 2 - x) + rng.normal(0, 0.3)
        branch(x, y, angle, rng.uniform(1.5, 3.0), 0)

    yy, xx = np.mgrid[0:size, 0:size] / size - 0.5
    vignette = 1.0 - 1.2 * (xx**2 + yy**2)
    coarse = cv2.resize(rng.random((size // 16, size // 16)).astype(np.float32), (size, size))
    base = 150 * vignette + 40 * coarse
    contrast = rng.uniform(25, 45)
    vessel = cv2.GaussianBlur((mask > 0).astype(np.float32), (3, 3), 0.8)
    gray = base - contrast * vessel + rng.normal(0, 8, (size, size))
    img = np.stack([gray * 1.1 + 20, gray * 0.7, gray * 0.4], axis=-1)  # reddish, as a fundus
    return np.clip(img, 0, 255).astype(np.uint8), mask


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--size", type=int, default=192)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    (args.out / "images").mkdir(parents=True, exist_ok=True)
    (args.out / "masks").mkdir(parents=True, exist_ok=True)
    fg = []
    for i in range(args.n):
        img, mask = vessel_sample(rng, args.size)
        cv2.imwrite(str(args.out / "images" / f"{i:02d}_image.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(args.out / "masks" / f"{i:02d}_vessels.png"), mask)
        fg.append((mask > 0).mean())
    print(f"wrote {args.n} pairs to {args.out}; foreground {100 * np.mean(fg):.1f}% of the pixels")


if __name__ == "__main__":
    main()
