"""Reading masks and class tables from disk.

Masks come in these encodings:

* ``index``: one class id per pixel, PNG mode ``L`` (8-bit), ``I;16`` (16-bit) or ``P`` (the palette
  index is the class id, VOC style);
* ``rgb``: colour-coded masks, decoded with a class table ``id,name,r,g,b``;
* ``value_map``: stored values mapped to class ids, e.g. ``{0: 0, 255: 1}`` for binary masks;
* anything else (JPEG, multi-channel without a table) is refused with a message saying why.

Images are read with Pillow (PNG, JPEG, TIFF, GIF, BMP) and converted explicitly to the channel
count the model expects (:func:`read_image`). EXIF orientation is never applied, to images or
masks: pixels are used as stored, so an image and its mask stay aligned.
"""

from __future__ import annotations

import csv
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from segwise.errors import DataError, InputError

if TYPE_CHECKING:
    from segwise.data.spec import DatasetSpec

MASK_SUFFIXES = (".png", ".bmp", ".tif", ".tiff", ".gif")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif", ".bmp")
LOSSY_SUFFIXES = (".jpg", ".jpeg")

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
            raise DataError(
                f"{path}, line {lineno}: colour ({r},{g},{b}) is used by classes {other} and {cid}."
            )
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
            f"({v >> 16},{(v >> 8) & 255},{v & 255}): {c} px"
            for v, c in zip(values[top], counts[top], strict=True)
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
    return _decode_full(path)[0]


def _decode_full(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """The mask as :func:`_decode` gives it, and for palette images whose used colours are all grays
    (every GIF mask, some PNGs) a lookup table palette index -> gray level, else ``None``."""
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
            return arr, None
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode == "P":
                arr = np.asarray(img)
                return arr, _gray_palette(img, arr)
            if img.mode in ("L", "I;16", "I;16B", "I;16L", "I", "1"):
                return np.asarray(img if img.mode != "1" else img.convert("L")), None
            if img.mode in ("RGB", "RGBA"):
                return np.asarray(img.convert("RGB")), None
            raise DataError(f"mask {path} has image mode {img.mode}; expected index (L/P/16-bit) or RGB.")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"cannot decode mask {path}: {exc}. The file is truncated or not an image.") from None


def _gray_palette(img: Image.Image, indices: np.ndarray) -> np.ndarray | None:
    palette = img.getpalette() or []
    colors = np.zeros((256, 3), np.int64)
    pal = np.asarray(palette[: 3 * 256], dtype=np.int64).reshape(-1, 3)
    colors[: len(pal)] = pal
    used = np.flatnonzero(np.bincount(indices.ravel(), minlength=256))
    if not (colors[used, 0] == colors[used, 1]).all() or not (colors[used, 1] == colors[used, 2]).all():
        return None
    return colors[:, 0].astype(np.uint8)


def stored_values(path: Path, keys: Sequence[int] | None = None) -> np.ndarray:
    """A single-channel mask's stored values, what a value map maps.

    For palette images whose colours are grays (GIF masks are always palette images) the stored
    value is the gray level (a GIF saved from a 0/255 mask holds indices 0/1 and gray levels 0/255),
    unless ``keys`` (the value map's) cover the indices and not the gray levels.
    """
    arr, gray = _decode_full(path)
    if gray is None or arr.ndim != 2:
        return arr
    grays = gray[arr]
    if keys is not None:
        k = set(int(v) for v in keys)
        if not set(np.unique(grays).tolist()) <= k and set(np.unique(arr).tolist()) <= k:
            return arr
    return grays


def _decode_class_ids(path: Path, num_classes: int, ignore_index: int | None) -> np.ndarray:
    """A mask whose stored values are class ids, as :func:`_decode_lossless` gives it, except GIFs.

    GIF has no gray mode: a gray mask is stored as palette indices into a gray palette, and writers
    renumber the indices (Pillow writes class ids 0/2 as indices 0/1, and an all-1 mask as index 0).
    So for a GIF with a gray palette the gray levels are the class ids when they all are class ids
    or the ignore index; otherwise (e.g. 0/255 for two classes) the indices are used, as before.
    """
    if path.suffix.lower() != ".gif":
        return _decode_lossless(path)
    arr, gray = _decode_full(path)
    if gray is None or arr.ndim != 2:
        return arr
    grays = gray[arr]
    valid = grays < num_classes
    if ignore_index is not None:
        valid |= grays == ignore_index
    return grays if valid.all() else arr


def _decode_lossless(path: Path) -> np.ndarray:
    if path.suffix.lower() in LOSSY_SUFFIXES:
        raise DataError(
            f"mask {path} is a JPEG: lossy compression changes class ids at edges. Store masks as PNG "
            "(or another lossless format)."
        )
    return _decode(path)


def read_mask(
    path: str | os.PathLike[str],
    table: ClassTable | None = None,
    *,
    unknown_colors: Literal["error", "ignore"] = "error",
    ignore_index: int | None = None,
    value_map: Mapping[int, int] | Sequence[tuple[int, int]] | None = None,
) -> np.ndarray:
    """Read a mask file as a 2-D array of class ids.

    Index masks (PNG mode L/P/16-bit) are returned as stored, or mapped through ``value_map``
    (e.g. ``{0: 0, 255: 1}``) when given. Colour masks (RGB) need ``table``. Lossy formats (JPEG)
    are refused: compression changes the values at class edges.

    Shape:
        - output: ``(H, W)`` integer array
    """
    path = Path(path)
    arr = _decode_lossless(path)
    if arr.ndim == 2:
        if value_map is not None:
            keys = [k for k, _ in (value_map.items() if isinstance(value_map, Mapping) else value_map)]
            arr = stored_values(path, keys)
            return apply_value_map(arr, value_map, ignore_index=ignore_index, source=str(path))
        return arr
    if table is None:
        raise DataError(
            f"mask {path} is an RGB image; colour-coded masks need a class table: pass --classes FILE "
            "(CSV id,name,r,g,b)."
        )
    return rgb_to_index(
        arr, table, unknown_colors=unknown_colors, ignore_index=ignore_index, source=str(path)
    )


def _listed_values(values: np.ndarray, counts: np.ndarray, limit: int = 10) -> str:
    top = np.argsort(-counts, kind="stable")[:limit]
    text = ", ".join(f"{int(v)}: {int(c)} px" for v, c in zip(values[top], counts[top], strict=True))
    return text + (f" and {len(values) - limit} more" if len(values) > limit else "")


def parse_value_map(text: str) -> dict[int, int]:
    """Parse ``"0:0,255:1"`` into ``{0: 0, 255: 1}``.

    >>> parse_value_map("0:0, 255:1")
    {0: 0, 255: 1}
    """
    out: dict[int, int] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        try:
            key, value = (int(v) for v in part.split(":"))
        except ValueError:
            raise InputError(
                f"--value-map entry {part.strip()!r} is not STORED:CLASS; write e.g. --value-map 0:0,255:1."
            ) from None
        out[key] = value
    if not out:
        raise InputError("--value-map is empty; write e.g. --value-map 0:0,255:1.")
    return out


def apply_value_map(
    arr: np.ndarray,
    value_map: Mapping[int, int] | Sequence[tuple[int, int]],
    *,
    ignore_index: int | None = None,
    source: str = "mask",
) -> np.ndarray:
    """Map stored mask values to class ids, e.g. ``{0: 0, 255: 1}`` for binary masks saved as 0/255.

    A stored value missing from the map raises :class:`DataError` that lists the values and their
    pixel counts (map it to ``ignore_index`` to leave it out).

    Shape:
        - arr: ``(H, W)`` integer array
        - output: ``(H, W)``, uint8 when every target fits, else int32

    Example:
        >>> apply_value_map(np.array([[0, 255], [255, 0]], np.uint8), {0: 0, 255: 1}).tolist()
        [[0, 1], [1, 0]]
    """
    pairs = list(value_map.items()) if isinstance(value_map, Mapping) else [tuple(p) for p in value_map]
    keys = np.array([k for k, _ in pairs], dtype=np.int64)
    targets = np.array([v for _, v in pairs], dtype=np.int64)
    hi = int(arr.max(initial=0))
    if arr.dtype.kind in "ui" and hi < 65536 and int(arr.min(initial=0)) >= 0:
        # Lookup table: one gather, fast for 8- and 16-bit masks.
        lut = np.full(max(hi, int(keys.max(initial=0))) + 1, -1, dtype=np.int64)
        lut[keys[keys >= 0]] = targets[keys >= 0]
        out = lut[arr]
        bad = out < 0
    else:
        order = np.argsort(keys)
        pos = np.clip(np.searchsorted(keys[order], arr), 0, len(keys) - 1)
        bad = keys[order][pos] != arr
        out = targets[order][pos]
    if bad.any():
        values, counts = np.unique(arr[bad], return_counts=True)
        raise DataError(
            f"{source}: values not in the value map {dict(pairs)}: {_listed_values(values, counts)}. "
            "Add them to the value map (map to the ignore index to leave them out)."
        )
    fits = targets.min(initial=0) >= 0 and targets.max(initial=0) < 256
    return out.astype(np.uint8 if fits else np.int32)


def check_mask_values(
    mask: np.ndarray, num_classes: int, ignore_index: int | None, *, source: str = "mask"
) -> None:
    """Raise :class:`DataError` when ``mask`` holds a value that is neither a class id nor ``ignore_index``.

    The message lists the offending values with their pixel counts and the fix that keeps every
    class (a value map when the mask holds no more values than there are classes).

    Example:
        >>> check_mask_values(np.array([[0, 1, 255]]), 2, 255)
        >>> check_mask_values(np.array([[0, 255, 255]]), 2, None, source="a.png")  # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ...
        segwise.errors.DataError: a.png: values outside the classes 0..1 and no ignore index: 255: 2 px.
        The mask holds the values 0, 255: if they are the 2 classes in order, map them with the value map
        0:0,255:1 (CLI --value-map 0:0,255:1; spec "mask_encoding": "value_map", "value_map": [[0, 0], [255, 1]]).
        Do not make 255 the ignore index unless it marks void pixels: those pixels would not be scored.
    """
    if int(mask.min(initial=0)) >= 0 and int(mask.max(initial=0)) < num_classes:
        return
    bad = (mask < 0) | (mask >= num_classes)
    if ignore_index is not None:
        bad &= mask != ignore_index
    if not bad.any():
        return
    values, counts = np.unique(mask[bad], return_counts=True)
    ignore = f"the ignore index {ignore_index}" if ignore_index is not None else "no ignore index"
    raise DataError(
        f"{source}: values outside the classes 0..{num_classes - 1} and {ignore}: "
        f"{_listed_values(values, counts)}. {value_fix_advice(np.unique(mask), num_classes, ignore_index)}"
    )


def value_fix_advice(values: Sequence[int] | np.ndarray, num_classes: int, ignore_index: int | None) -> str:
    """How to read masks holding ``values`` as ``num_classes`` classes, keeping every class.

    >>> value_fix_advice([0, 128, 255, 7], 3, None)[:60]
    'The mask holds 4 values (0, 7, 128, 255) for 3 classes: pass'
    """
    seen = sorted(int(v) for v in values if ignore_index is None or int(v) != ignore_index)
    listed = ", ".join(map(str, seen[:20])) + (" ..." if len(seen) > 20 else "")
    if len(seen) <= num_classes:
        pairs = ",".join(f"{v}:{i}" for i, v in enumerate(seen))
        spec_pairs = ", ".join(f"[{v}, {i}]" for i, v in enumerate(seen))
        high = [v for v in seen if v >= num_classes]
        return (
            f"The mask holds the values {listed}: if they are the {len(seen)} classes in order, map them with the "
            f'value map {pairs} (CLI --value-map {pairs}; spec "mask_encoding": "value_map", "value_map": '
            f"[{spec_pairs}]). Do not make {high[-1]} the ignore index unless it marks void pixels: those pixels "
            "would not be scored."
        )
    return (
        f"The mask holds {len(seen)} values ({listed}) for {num_classes} classes: pass the right number of "
        "classes, map stored values to class ids with a value map (CLI --value-map STORED:CLASS,...), or, only if "
        "a value marks void pixels, set ignore_index to it."
    )


def read_roi(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a region-of-interest mask: ``True`` where the stored value (or colour) is not 0.

    Shape:
        - output: ``(H, W)`` bool
    """
    path = Path(path)
    arr, gray = _decode_full(path)
    if gray is not None:
        arr = gray[arr]
    elif arr.ndim == 2 and is_palette_file(path):  # colour palette: 0 means a black pixel, not index 0
        with Image.open(path) as img:
            arr = np.asarray(img.convert("RGB"))
    return arr.any(axis=2) if arr.ndim == 3 else arr != 0


def is_palette_file(path: Path) -> bool:
    """Whether ``path`` is a palette (mode "P") image; unreadable files are not."""
    try:
        with Image.open(path) as img:
            return img.mode == "P"
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return False


def apply_roi(mask: np.ndarray, roi: np.ndarray, ignore_index: int, *, source: str = "mask") -> np.ndarray:
    """``mask`` with ``ignore_index`` wherever ``roi`` is ``False``.

    Example:
        >>> apply_roi(np.array([[1, 2]], np.uint8), np.array([[True, False]]), 255).tolist()
        [[1, 255]]
    """
    if roi.shape != mask.shape[: roi.ndim]:
        raise DataError(
            f"{source}: the ROI mask is {roi.shape[1]}x{roi.shape[0]} (WxH) but the mask is "
            f"{mask.shape[1]}x{mask.shape[0]}; they must be the same size. Check the pairing (--match)."
        )
    dtype = mask.dtype if np.can_cast(np.min_scalar_type(ignore_index), mask.dtype) else np.int32
    out = mask.astype(dtype, copy=True)
    out[~roi] = ignore_index
    return out


def class_table_from_spec(spec: DatasetSpec) -> ClassTable:
    """The colour table of an ``rgb`` spec: one row per class, plus the ignore colour if any."""
    ids = list(range(spec.num_classes))
    names = list(spec.class_names)
    colors = list(spec.colors)
    if spec.ignore_color is not None and spec.ignore_index is not None:
        ids.append(spec.ignore_index)
        names.append("ignore")
        colors.append(spec.ignore_color)
    return ClassTable(tuple(ids), tuple(names), tuple(colors))


def read_spec_mask(
    path: str | os.PathLike[str],
    spec: DatasetSpec,
    *,
    unknown_colors: Literal["error", "ignore"] = "error",
) -> np.ndarray:
    """Read a mask as the spec says (index, palette, rgb or value map) and check its values.

    Every value of the result is a class id ``0..C-1`` or ``spec.ignore_index``; anything else is a
    :class:`DataError` naming the file, the values and the fix.

    Shape:
        - output: ``(H, W)``, uint8 when the classes and ignore index fit, else int32
    """
    path = Path(path)
    if spec.mask_encoding == "rgb":
        arr = _decode_lossless(path)
        if arr.ndim == 2:
            raise DataError(
                f"mask {path} is a single-channel image, but the dataset spec {spec.name!r} says masks are "
                "RGB colour-coded; set mask_encoding='index' if the values are class ids."
            )
        table = class_table_from_spec(spec)
        mask = rgb_to_index(
            arr, table, unknown_colors=unknown_colors, ignore_index=spec.ignore_index, source=str(path)
        )
    else:
        value_map = spec.value_map if spec.mask_encoding == "value_map" else None
        arr = (
            _decode_class_ids(path, spec.num_classes, spec.ignore_index)
            if spec.mask_encoding == "index"
            else _decode_lossless(path)
        )
        if arr.ndim != 2:
            raise DataError(
                f"mask {path} is an RGB image, but the dataset spec {spec.name!r} says mask_encoding="
                f"{spec.mask_encoding!r}; colour-coded masks need mask_encoding='rgb' and the class colours "
                "(e.g. a class table id,name,r,g,b: CLI --classes CSV)."
            )
        if value_map:
            arr = stored_values(path, [k for k, _ in value_map])
            mask = apply_value_map(arr, value_map, ignore_index=spec.ignore_index, source=str(path))
        else:
            mask = arr
    check_mask_values(mask, spec.num_classes, spec.ignore_index, source=str(path))
    hi = max(spec.num_classes - 1, spec.ignore_index or 0)
    wanted = np.uint8 if hi < 256 and (spec.ignore_index or 0) >= 0 else np.int32
    return mask.astype(wanted, copy=False)


_GRAY_MODES = ("1", "L", "I;16", "I;16B", "I;16L", "I", "F")


def _to_uint8_gray(img: Image.Image) -> np.ndarray:
    if img.mode in ("1", "L"):
        return np.asarray(img.convert("L"))
    arr = np.asarray(img)
    if arr.dtype == np.uint8:
        return arr
    if img.mode.startswith("I;16") or arr.dtype == np.uint16:
        return (arr.astype(np.uint32) // 257).astype(np.uint8)  # 16-bit -> 8-bit, 65535 -> 255
    raise DataError(
        f"image mode {img.mode} ({arr.dtype}) holds values whose range segwise cannot infer; "
        "convert the image to 8- or 16-bit."
    )


def read_image(path: str | os.PathLike[str], in_channels: int = 3) -> np.ndarray:
    """Read an image with Pillow as ``(H, W, in_channels)`` uint8, converting explicitly.

    ================  ============================  ==============================
    stored            ``in_channels=3``             ``in_channels=1`` / ``4``
    ================  ============================  ==============================
    gray (L, 16-bit)  copied to R, G and B          as is / error
    RGB, palette      as is                         luma (ITU-R 601) / error
    RGBA, LA          alpha dropped                 luma / as is (RGBA)
    ================  ============================  ==============================

    16-bit grayscale is scaled to 8 bits (``v // 257``). EXIF orientation is not applied. The
    first frame of an animated GIF is used.

    Shape:
        - output: ``(H, W, in_channels)`` uint8
    """
    path = Path(path)
    if in_channels not in (1, 3, 4):
        raise DataError(f"in_channels is {in_channels}; expected 1 (gray), 3 (RGB) or 4 (RGBA).")
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode in _GRAY_MODES:
                gray = _to_uint8_gray(img)
                if in_channels == 4:
                    raise DataError(f"image {path} is grayscale ({mode}) but the dataset expects 4 channels.")
                return gray[..., None] if in_channels == 1 else np.repeat(gray[..., None], 3, axis=2)
            if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
                rgba = img.convert("RGBA")
                if in_channels == 4:
                    return np.asarray(rgba)
                rgb = rgba.convert("RGB")
            elif mode == "CMYK" and in_channels == 4:
                return np.asarray(img)  # 4-band 8-bit files (e.g. RGB + infrared) open as CMYK
            else:
                if in_channels == 4:
                    raise DataError(
                        f"image {path} has mode {mode} (3 channels) but the dataset expects 4 channels "
                        "(RGBA or RGB+IR); set in_channels=3 in the dataset spec."
                    )
                rgb = img.convert("RGB")
            return np.asarray(rgb.convert("L"))[..., None] if in_channels == 1 else np.asarray(rgb)
    except DataError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(
            f"cannot decode image {path}: {exc}. The file is truncated or not an image."
        ) from None


def exif_orientation(path: str | os.PathLike[str]) -> int:
    """The EXIF orientation tag of an image (1 = as stored), or 1 when absent or unreadable."""
    try:
        with Image.open(path) as img:
            return int(img.getexif().get(0x0112, 1))
    except Exception:  # only used to enrich an error message: never fail here
        return 1
