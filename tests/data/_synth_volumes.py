"""Small synthetic volumes (ellipsoids in anisotropic volumes), written at test time in the nnU-Net layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segwise.data.volumes import Geometry, write_volume

SHAPE = (24, 32, 32)  # (z, y, x)
GEOMETRY = Geometry((0.8, 0.7, 2.5), (-10.0, 4.0, 30.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))


def ellipsoid(rng: np.random.Generator, shape=SHAPE) -> np.ndarray:
    z, y, x = np.mgrid[: shape[0], : shape[1], : shape[2]]
    cz, cy, cx = shape[0] // 2 + rng.integers(-2, 3), shape[1] // 2, shape[2] // 2 + rng.integers(-3, 4)
    inside = ((z - cz) / 5.0) ** 2 + ((y - cy) / 9.0) ** 2 + ((x - cx) / 7.0) ** 2 <= 1
    return inside.astype(np.uint8)


def write_cases(
    root: Path,
    n: int = 8,
    *,
    channels: int = 1,
    ct: bool = False,
    seed: int = 0,
    geometry: Geometry = GEOMETRY,
) -> dict[str, np.ndarray]:
    """nnU-Net layout: imagesTr/case_XX_0000.nii.gz (+ _0001 ...) and labelsTr/case_XX.nii.gz."""
    rng = np.random.default_rng(seed)
    images = {}
    for i in range(n):
        label = ellipsoid(rng)
        for c in range(channels):
            if ct:  # air -1000 around a body of 40 HU, the organ at 120 HU
                img = np.full(SHAPE, -1000.0)
                img[:, 4:-4, 4:-4] = 40.0
                img[label == 1] = 120.0
            else:  # MRI-like: 0 background, positive tissue
                img = np.zeros(SHAPE)
                img[:, 4:-4, 4:-4] = 100.0 + 10 * c
                img[label == 1] = 300.0 + 10 * c
            img = (img + rng.normal(0, 5, SHAPE) * (img != 0)).astype(np.float32)
            write_volume(root / "imagesTr" / f"case_{i:02d}_{c:04d}.nii.gz", img, geometry)
            images[f"case_{i:02d}_{c}"] = img
        write_volume(root / "labelsTr" / f"case_{i:02d}.nii.gz", label, geometry)
    return images
