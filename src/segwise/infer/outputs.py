"""Encoding prediction outputs (class-id, colour and overlay images) as PNG or JPEG bytes.

Free of torch. The colour maps themselves come from :mod:`segwise.data.colors`, the writable-folder
check from :mod:`segwise.io_utils`.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from segwise.errors import DataError


def encode_image(array: np.ndarray, ext: str, path: str | os.PathLike[str] = "image") -> bytes:
    """Encode an RGB ``(H, W, 3)`` or single-channel ``(H, W)`` array as ``.png`` or ``.jpg`` bytes."""
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, 90] if ext == ".jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, buf = cv2.imencode(ext, array, params)
    if not ok:
        raise DataError(f"cannot encode {path}.")
    return buf.tobytes()


def uncertainty_heatmap(values: np.ndarray, num_classes: int) -> np.ndarray:
    """An uncertainty map in nats ``(H, W)`` as an RGB heat map ``(H, W, 3)`` uint8: ``values / log C``
    clipped to ``[0, 1]`` (0 black: certain; 1 pale yellow: uniform over the C classes), colour-mapped
    with the *inferno* colour map.

    >>> uncertainty_heatmap(np.array([[0.0, np.log(3)]]), 3).shape
    (1, 2, 3)
    """
    scaled = np.clip(np.nan_to_num(values.astype(np.float32) / np.log(num_classes)), 0.0, 1.0)
    bgr = cv2.applyColorMap(np.round(255 * scaled).astype(np.uint8), cv2.COLORMAP_INFERNO)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
