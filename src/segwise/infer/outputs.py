"""Writing prediction outputs: colour maps, overlays, encoded images, writable-folder checks.

Free of torch, so the report can use it without loading a model runtime.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from segwise.errors import DataError, InputError


def check_writable_dir(folder: str | os.PathLike[str], option: str = "--out") -> Path:
    """Create ``folder`` if needed and prove a file can be written there; else :class:`InputError`."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".segwise-write-test.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(
            f"{option} {folder} is not a writable folder ({exc.strerror or exc}); choose a folder you can write to."
        ) from None
    return folder


def colorize(index: np.ndarray, colors: Sequence[Sequence[int]]) -> np.ndarray:
    """Class ids ``(H, W)`` to RGB ``(H, W, 3)`` uint8; ids without a colour become black.

    >>> colorize(np.array([[0, 1]]), [(0, 0, 0), (255, 0, 0)]).tolist()
    [[[0, 0, 0], [255, 0, 0]]]
    """
    lut = np.zeros((max(int(index.max(initial=0)) + 1, len(colors)), 3), np.uint8)
    lut[: len(colors)] = np.asarray(colors, np.uint8).reshape(-1, 3)
    return lut[index]


def overlay(image: np.ndarray, color: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a colour map over an image (grayscale and 4-channel images are shown as RGB).

    Shape:
        - image: ``(H, W, 1|3|4)`` uint8; color: ``(H, W, 3)`` uint8; output ``(H, W, 3)`` uint8
    """
    rgb = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image[..., :3]
    return cv2.addWeighted(np.ascontiguousarray(rgb), 1 - alpha, color, alpha, 0.0)


def encode_image(array: np.ndarray, ext: str, path: str | os.PathLike[str] = "image") -> bytes:
    """Encode an RGB ``(H, W, 3)`` or single-channel ``(H, W)`` array as ``.png`` or ``.jpg`` bytes."""
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, 90] if ext == ".jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, buf = cv2.imencode(ext, array, params)
    if not ok:
        raise DataError(f"cannot encode {path}.")
    return buf.tobytes()
