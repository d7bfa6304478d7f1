"""Showing class ids as colours: a colour map of an index mask, and its overlay on the image.

The inverse of reading an RGB mask (:func:`segwise.data.readers.rgb_to_index`); the colours are the
dataset spec's (``DatasetSpec.colors``). Free of torch: the report and the prediction writers both
use it.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


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
