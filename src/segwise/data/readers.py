"""Reading masks and class tables from disk.

Masks come in three encodings:

* ``index``: one class id per pixel, PNG mode ``L`` (8-bit), ``I;16`` (16-bit) or ``P`` (the palette
  index is the class id, VOC style);
* ``rgb``: colour-coded masks, decoded with a class table ``id,name,r,g,b``;
* anything else (JPEG, multi-channel without a table) is refused with a message saying why.
"""

from __future__ import annotations

import csv
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from segwise.errors import DataError

MASK_SUFFIXES = (".png", ".bmp", ".tif", ".tiff", ".gif")

cv2.setNumThreads(1)  # decoding is parallelised across files, not inside one


@dataclass(frozen=True)
class ClassTable:
    """Class ids, names and display colours, as read from a CSV ``id,name,r,g,b``."""

    ids: tuple[int, ...]
    names: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...]

    @property
    def num_classes(self) -> int:
        return len(self.ids)

    def names_by_id(self, num_classes: int) -> list[str]:
        """Names for ids ``0..num_classes-1``; ids missing from the table are named by their number."""
        lookup = dict(zip(self.ids, self.names, strict=True))
        return [lookup.get(i, str(i)) for i in range(num_classes)]


def read_class_table(path: str | os.PathLike[str]) -> ClassTable:
    """Read a class table CSV with rows ``id,name,r,g,b`` (a header row is optional).

    Example file::

        id,name,r,g,b
        0,Sky,128,128,128
        1,Building,128,0,0
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DataError(f"cannot read class table {path}: {exc.strerror or exc}.") from None
    ids: list[int] = []
    names: list[str] = []
    colors: list[tuple[int, int, int]] = []
    for lineno, row in enumerate(csv.reader(text.splitlines()), start=1):
        row = [c.strip() for c in row]
        if not row or not any(row) or row[0].startswith("#"):
            continue
        if lineno == 1 and not row[0].lstrip("-").isdigit():
            continue  # header
        if len(row) != 5:
            raise DataError(
                f"{path}, line {lineno}: expected 5 columns id,name,r,g,b, got {len(row)}: {','.join(row)!r}."
            )
        try:
            cid, r, g, b = int(row[0]), int(row[2]), int(row[3]), int(row[4])
        except ValueError:
            raise DataError(
                f"{path}, line {lineno}: id and r,g,b must be integers, got {','.join(row)!r}."
            ) from None
        if not all(0 <= v <= 255 for v in (r, g, b)):
            raise DataError(f"{path}, line {lineno}: colour ({r},{g},{b}) is outside 0..255.")
        if cid in ids:
            raise DataError(f"{path}, line {lineno}: class id {cid} appears twice.")
        if (r, g, b) in colors:
            other = ids[colors.index((r, g, b))]
            raise DataError(f"{path}, line {lineno}: colour ({r},{g},{b}) is used by classes {other} and {cid}.")
        ids.append(cid)
        names.append(row[1])
        colors.append((r, g, b))
    if not ids:
        raise DataError(f"class table {path} has no rows; expected lines id,name,r,g,b.")
    return ClassTable(tuple(ids), tuple(names), tuple(colors))


def _pack(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.uint32, copy=False)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def rgb_to_index(
    rgb: np.ndarray,
    table: ClassTable,
    *,
    unknown_colors: Literal["error", "ignore"] = "error",
    ignore_index: int | None = None,
    source: str = "mask",
) -> np.ndarray:
    """Map an ``(H, W, 3)`` colour-coded mask to class ids with ``table``.

    Colours not in the table raise :class:`DataError` listing them with pixel counts, or with
    ``unknown_colors="ignore"`` become ``ignore_index`` with a warning.

    Shape:
        - rgb: ``(H, W, 3)`` uint8, RGB order
        - output: ``(H, W)`` int32 (uint8 when every id fits)

    Example:
        >>> t = ClassTable((0, 1), ("bg", "fg"), ((0, 0, 0), (255, 0, 0)))
        >>> rgb_to_index(np.array([[[0, 0, 0], [255, 0, 0]]], np.uint8), t).tolist()
        [[0, 1]]
    """
    packed = _pack(rgb)
    keys = _pack(np.array(table.colors, dtype=np.uint8))
    order = np.argsort(keys)
    keys_sorted = keys[order]
    ids_sorted = np.array(table.ids, dtype=np.int64)[order]
    pos = np.searchsorted(keys_sorted, packed)
    pos = np.clip(pos, 0, len(keys_sorted) - 1)
    known = keys_sorted[pos] == packed
    out = ids_sorted[pos]
    if not known.all():
        values, counts = np.unique(packed[~known], return_counts=True)
        top = np.argsort(-counts)[:10]
        listed = ", ".join(
            f"({v >> 16},{(v >> 8) & 255},{v & 255}): {c} px" for v, c in zip(values[top], counts[top], strict=True)
        )
        more = f" and {len(values) - 10} more" if len(values) > 10 else ""
        if unknown_colors == "ignore" and ignore_index is not None:
            warnings.warn(
                f"{source}: {int((~known).sum())} pixels of colours not in the class table were set to "
                f"ignore_index {ignore_index}: {listed}{more}.",
                stacklevel=2,
            )
            out[~known] = ignore_index
        else:
            raise DataError(
                f"{source}: colours not in the class table: {listed}{more}. Add them to the class table "
                "(id,name,r,g,b), or map them to the ignore index (unknown_colors='ignore')."
            )
    hi = max(max(table.ids), ignore_index or 0)
    return out.astype(np.uint8 if hi < 256 and min(table.ids) >= 0 else np.int32)


def _decode(path: Path) -> np.ndarray:
    """Decode a mask file to a numpy array: 2-D for index masks, (H, W, 3) RGB for colour masks."""
    if path.suffix.lower() == ".png":
        # Palette PNGs must keep their indices (OpenCV would expand them to colours): peek at the
        # IHDR colour type (byte 25) and use Pillow for palettes, OpenCV (GIL-free, fast) otherwise.
        with open(path, "rb") as fh:
            head = fh.read(26)
        if len(head) == 26 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[25] != 3:
            arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if arr is None:
                raise DataError(f"cannot decode mask {path}: the file is truncated or not a valid PNG.")
            if arr.ndim == 3:
                arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGB if arr.shape[2] == 4 else cv2.COLOR_BGR2RGB)
            return arr
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("L", "P", "I;16", "I;16B", "I;16L", "I", "1"):
                return np.asarray(img if img.mode != "1" else img.convert("L"))
            if img.mode in ("RGB", "RGBA"):
                return np.asarray(img.convert("RGB"))
            raise DataError(f"mask {path} has image mode {img.mode}; expected index (L/P/16-bit) or RGB.")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"cannot decode mask {path}: {exc}. The file is truncated or not an image.") from None


def read_mask(
    path: str | os.PathLike[str],
    table: ClassTable | None = None,
    *,
    unknown_colors: Literal["error", "ignore"] = "error",
    ignore_index: int | None = None,
) -> np.ndarray:
    """Read a mask file as a 2-D array of class ids.

    Index masks (PNG mode L/P/16-bit) are returned as stored. Colour masks (RGB) need ``table``.

    Shape:
        - output: ``(H, W)`` integer array
    """
    path = Path(path)
    arr = _decode(path)
    if arr.ndim == 2:
        return arr
    if table is None:
        raise DataError(
            f"mask {path} is an RGB image; colour-coded masks need a class table: pass --classes FILE "
            "(CSV id,name,r,g,b)."
        )
    return rgb_to_index(arr, table, unknown_colors=unknown_colors, ignore_index=ignore_index, source=str(path))
