"""``segwise data init``: scan a folder of images and masks, report every problem, infer the spec.

:func:`scan_folder` pairs the files (by stem or ``match``), decodes every image, mask and ROI mask
in parallel threads, and collects every problem (corrupt file, size mismatch, unexpected mask
value) before it raises, so one run lists them all. From what it saw it infers a
:class:`~segwise.data.spec.DatasetSpec`: the mask encoding (class ids, 0/255 binary, palette, RGB
colours, other stored values), the classes, the ignore index, the image channels and the images'
mean and standard deviation. Every inference it made is written to :attr:`ScanResult.notes`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from segwise.data.files import Sample, pair_samples
from segwise.data.readers import (
    ClassTable,
    _decode_full,
    _pack,
    is_palette_file,
    read_class_table,
    read_image,
    read_roi,
)
from segwise.data.spec import DatasetSpec, default_colors, spec_from_class_table
from segwise.errors import DataError, InputError

MAX_ID_CLASSES = 64  # stored values below this are read as class ids; sparser values get a value map
MAX_COLORS = 64  # colour masks with more distinct colours are refused without a class table
GRAY_MODES = ("1", "L", "LA", "I;16", "I;16B", "I;16L", "I", "F")


@dataclass
class FileScan:
    """What one sample's files hold (filled in a worker thread)."""

    sample: Sample
    problems: list[str] = field(default_factory=list)
    size: tuple[int, int] | None = None  # image (H, W)
    gray: bool = False
    channel_sum: np.ndarray | None = None  # per RGB channel, of values in [0, 1]
    channel_sq: np.ndarray | None = None
    pixels: int = 0
    kind: str = ""  # "values" (single channel), "palette" (colour palette indices), "rgb"
    values: dict[int, int] = field(
        default_factory=dict
    )  # stored value (or packed colour) -> pixels in the ROI
    palette: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # palette index -> colour
    # a palette file whose used colours are all grays (read as gray levels, "values"): palette index ->
    # pixels in the ROI, for when the other masks show a colour palette (a mask of black background only)
    gray_indices: dict[int, int] | None = None


@dataclass
class ScanResult:
    """The outcome of :func:`scan_folder`."""

    root: Path
    images: str
    masks: str
    roi: str | None
    match: str | None
    samples: list[Sample]
    spec: DatasetSpec
    sizes: list[tuple[int, int]]
    class_pixels: np.ndarray  # (C,) pixels per class (inside the ROI)
    class_images: np.ndarray  # (C,) images holding the class
    stored: list[str]  # per class: the stored value(s) or colour it is read from
    encoding_text: str
    notes: list[str] = field(default_factory=list)

    @property
    def shares(self) -> np.ndarray:
        total = self.class_pixels.sum()
        return self.class_pixels / total if total else np.zeros_like(self.class_pixels, dtype=float)

    @property
    def imbalance(self) -> float:
        """Largest over smallest non-zero class share (1 for balanced classes)."""
        present = self.class_pixels[self.class_pixels > 0]
        return float(present.max() / present.min()) if present.size else 1.0


def _scan_one(sample: Sample) -> FileScan:
    out = FileScan(sample)
    try:
        with Image.open(sample.image) as img:
            out.gray = img.mode in GRAY_MODES
        rgb = read_image(sample.image, 3)
        out.size = rgb.shape[:2]
        x = rgb.reshape(-1, 3).astype(np.float64) / 255.0
        out.channel_sum, out.channel_sq, out.pixels = x.sum(0), (x * x).sum(0), x.shape[0]
    except (DataError, OSError, ValueError) as exc:
        out.problems.append(f"image {sample.image}: {exc}")
    try:
        arr, gray = _decode_full(sample.mask)
    except DataError as exc:
        out.problems.append(str(exc))
        return out
    inside = None
    if sample.roi is not None:
        try:
            inside = read_roi(sample.roi)
        except DataError as exc:
            out.problems.append(str(exc))
        if inside is not None and inside.shape != arr.shape[:2]:
            out.problems.append(
                f"ROI mask {sample.roi} is {inside.shape[1]}x{inside.shape[0]} but mask {sample.mask} is "
                f"{arr.shape[1]}x{arr.shape[0]} (WxH)."
            )
            inside = None
        elif inside is not None and not inside.any():
            out.problems.append(
                f"ROI mask {sample.roi} is 0 everywhere: no pixel of {sample.image} would be used."
            )
    if out.size is not None and arr.shape[:2] != out.size:
        out.problems.append(
            f"image {sample.image} is {out.size[1]}x{out.size[0]} but its mask {sample.mask} is "
            f"{arr.shape[1]}x{arr.shape[0]} (WxH); they must be the same size (check the pairing, or resize the "
            "mask with nearest-neighbour interpolation)."
        )
    if arr.ndim == 3:
        out.kind = "rgb"
        arr = _pack(arr)
    elif gray is not None:
        out.gray_indices = _counts(arr[inside] if inside is not None else arr.ravel(), arr)
        out.palette = {int(i): (int(gray[i]),) * 3 for i in out.gray_indices}  # type: ignore[misc]
        out.kind, arr = "values", gray[arr]
    elif is_palette_file(sample.mask):
        out.kind = "palette"
        with Image.open(sample.mask) as img:
            pal = np.asarray((img.getpalette() or [])[: 3 * 256], np.int64).reshape(-1, 3)
        out.palette = {int(i): tuple(int(v) for v in pal[i]) for i in np.unique(arr) if i < len(pal)}  # type: ignore[misc]
    else:
        out.kind = "values"
    out.values = _counts(arr[inside] if inside is not None else arr.ravel(), arr)
    return out


def _counts(counted: np.ndarray, arr: np.ndarray) -> dict[int, int]:
    """Pixels per value of ``counted``; values found only in ``arr`` (outside the ROI) count 0."""
    values, counts = np.unique(counted, return_counts=True)
    out = {int(v): int(c) for v, c in zip(values, counts, strict=True)}
    for v in np.unique(arr):  # values outside the ROI still say how masks are stored
        out.setdefault(int(v), 0)
    return out


def _color_text(packed: int) -> str:
    return f"({packed >> 16},{(packed >> 8) & 255},{packed & 255})"


@dataclass
class Encoding:
    """How the masks store the classes, inferred from the scans: the spec fields, the stored value (or
    packed colour) -> class id map used for counting, each class's stored value(s) as text, a
    description, and the notes and problems found on the way (no fields when there are problems)."""

    fields: dict[str, Any] = field(default_factory=dict)
    lookup: dict[int, int] = field(default_factory=dict)
    stored: list[str] = field(default_factory=list)
    description: str = ""
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _failed(*problems: str) -> Encoding:
    return Encoding(problems=list(problems))


def with_gray_palettes(scans: Sequence[FileScan]) -> list[FileScan]:
    """The scans, with palette files whose used entries are all grays (read as gray levels) taken as
    palette indices when the other masks are colour palettes (a mask of black background only is
    no exception)."""
    kinds = {s.kind for s in scans if s.kind}
    grays = [s for s in scans if s.kind == "values"]
    if kinds != {"values", "palette"} or any(s.gray_indices is None for s in grays):
        return list(scans)
    return [
        dataclasses.replace(s, kind="palette", values=s.gray_indices) if s.kind == "values" else s
        for s in scans
    ]


def infer_encoding(
    scans: Sequence[FileScan],
    *,
    value_map: Mapping[int, int] | None,
    table: ClassTable | None,
    ignore_index: int | None,
) -> Encoding:
    """The masks' encoding from the scans of the masks that could be read (see
    :func:`with_gray_palettes`): RGB colours, a ``--value-map``, class ids named by a class table,
    palette indices, or stored values (0/255 binary, class ids, sparse values)."""
    kinds = {s.kind for s in scans if s.kind}
    if len(kinds) > 1:
        per = {k: [s.sample.mask.name for s in scans if s.kind == k][:3] for k in kinds}
        return _failed(f"masks are stored in different ways: {per}; store every mask the same way.")
    kind = kinds.pop() if kinds else "values"
    seen: set[int] = set().union(*(s.values for s in scans))
    if kind == "rgb":
        return _table_rgb(scans, table, ignore_index) if table is not None else _rgb(seen)
    if value_map is not None:
        return _value_mapped(scans, value_map, table, ignore_index)
    if table is not None:
        return _table_ids(scans, kind, table, ignore_index)
    values = sorted(v for v in seen if v != ignore_index)
    if kind == "palette":
        return _palette(values, seen, {i: c for s in scans for i, c in s.palette.items()})
    return _stored_values(values, ignore_index)


def _table_rgb(scans: Sequence[FileScan], table: ClassTable, ignore_index: int | None) -> Encoding:
    ids = [i for i in table.ids if i != ignore_index]
    lookup = {int(_pack(np.array(c, np.uint8))): i for i, c in zip(table.ids, table.colors, strict=True)}
    names = table.names_by_id(max(ids) + 1)
    colors = dict(zip(table.ids, table.colors, strict=True))
    ignore_color = colors.get(ignore_index) if ignore_index is not None else None
    return Encoding(
        fields={
            "class_names": names,
            "colors": [colors[i] for i in range(len(names))],
            "mask_encoding": "rgb",
            "ignore_color": ignore_color,
        },
        lookup=lookup,
        stored=[_color_text(int(_pack(np.array(colors[i], np.uint8)))) for i in range(len(names))],
        description="RGB colour masks decoded with the class table",
        problems=_check_values(scans, set(lookup), "colours not in the class table", colors=True),
    )


def _rgb(seen: set[int]) -> Encoding:
    if len(seen) > MAX_COLORS:
        return _failed(
            f"the masks hold {len(seen)} distinct colours, too many for colour-coded classes; if they are "
            "colour masks, pass --classes CSV (id,name,r,g,b); if they are photos, check --masks."
        )
    order = sorted(seen)  # black (0) first: the usual background
    return Encoding(
        fields={
            "class_names": ["background" if v == 0 else f"#{v:06x}" for v in order],
            "colors": [((v >> 16) & 255, (v >> 8) & 255, v & 255) for v in order],
            "mask_encoding": "rgb",
        },
        lookup={v: i for i, v in enumerate(order)},
        stored=[_color_text(v) for v in order],
        description="RGB colour masks, one class per colour",
        notes=[
            f"RGB masks with {len(order)} colours: one class per colour, named by colour; pass --classes CSV to "
            "name them."
        ],
    )


def _value_mapped(
    scans: Sequence[FileScan],
    value_map: Mapping[int, int],
    table: ClassTable | None,
    ignore_index: int | None,
) -> Encoding:
    targets = [v for v in value_map.values() if v != ignore_index]
    void, notes = {}, []
    if (
        ignore_index is None
        and 255 in targets
        and len(set(targets)) > 1
        and max(set(targets) - {255}) < MAX_ID_CLASSES
    ):
        targets = [v for v in targets if v != 255]
        void = {"ignore_index": 255}
        notes.append(
            "--value-map sends values to 255: read as void (the ignore index); pass --ignore-index to change."
        )
    n = max(targets) + 1
    return Encoding(
        fields={
            "class_names": table.names_by_id(n) if table is not None else _names(n),
            "mask_encoding": "value_map",
            "value_map": sorted(value_map.items()),
            **void,
        },
        lookup=dict(value_map),
        stored=[", ".join(str(k) for k, v in value_map.items() if v == c) or "-" for c in range(n)],
        description=f"stored values mapped by --value-map {_map_text(value_map)}",
        notes=notes,
        problems=_check_values(scans, set(value_map), "values not in --value-map"),
    )


def _table_ids(scans: Sequence[FileScan], kind: str, table: ClassTable, ignore_index: int | None) -> Encoding:
    n = max(i for i in table.ids if i != ignore_index) + 1
    valid = set(range(n)) | ({ignore_index} if ignore_index is not None else set())
    return Encoding(
        fields={
            "class_names": table.names_by_id(n),
            "mask_encoding": "palette" if kind == "palette" else "index",
        },
        lookup={i: i for i in range(n)},
        stored=[str(i) for i in range(n)],
        description="class ids (names from the class table)",
        problems=_check_values(
            scans, valid, f"values that are neither class ids 0..{n - 1} nor the ignore index"
        ),
    )


def _void_255(values: list[int]) -> bool:
    """Whether 255 among other small values is the void label (PASCAL VOC's convention)."""
    return 255 in values and len(values) > 2 and max(v for v in values if v != 255) < MAX_ID_CLASSES


def _palette(values: list[int], seen: set[int], palette: dict[int, tuple[int, int, int]]) -> Encoding:
    notes = []
    if _void_255(values) and max(values) + 1 > 1:
        values = [v for v in values if v != 255]
        notes.append("palette index 255 is read as void (the ignore index), as in PASCAL VOC.")
    n = max(values) + 1 if values else 0
    fill = default_colors(n)
    void = {"ignore_index": 255} if 255 in seen and 255 not in values else {}
    return Encoding(
        fields={
            "class_names": _names(n),
            "colors": [palette.get(i, fill[i]) for i in range(n)],
            "mask_encoding": "palette",
            **void,
        },
        lookup={i: i for i in range(n)},
        stored=[str(i) for i in range(n)],
        description=f"palette masks, {n} classes (palette index = class id)",
        notes=notes,
    )


def _stored_values(values: list[int], ignore_index: int | None) -> Encoding:
    if set(values) <= {0, 255} and 255 in values:
        vmap = {0: 0, 255: 1}
        return Encoding(
            fields={
                "class_names": ["background", "foreground"],
                "mask_encoding": "value_map",
                "value_map": sorted(vmap.items()),
            },
            lookup=vmap,
            stored=["0", "255"],
            description="binary 0/255 masks",
            notes=[
                "binary masks stored as 0/255: read with the value map 0:0,255:1 (background, foreground)."
            ],
        )
    notes = []
    if ignore_index is None and _void_255(values):
        values = [v for v in values if v != 255]
        ignore_index = 255
        notes.append(
            "value 255 is read as void (the ignore index, as in PASCAL VOC); if 255 is a class, pass --value-map."
        )
    if not values:
        return _failed("the masks hold no class values at all (every pixel is the ignore index).")
    if max(values) < MAX_ID_CLASSES:
        n = max(values) + 1
        if n == 1:
            return _failed(
                "every mask holds only the value 0: one class cannot be learned. If the masks are empty by mistake, "
                "check --masks; else pass --value-map or --classes."
            )
        void = {"ignore_index": ignore_index} if ignore_index is not None else {}
        return Encoding(
            fields={"class_names": _names(n), "mask_encoding": "index", **void},
            lookup={i: i for i in range(n)},
            stored=[str(i) for i in range(n)],
            description=f"class ids 0..{n - 1}",
            notes=notes,
        )
    vmap = {v: i for i, v in enumerate(values)}
    notes.append(
        f"the masks hold {len(values)} sparse values ({', '.join(map(str, values[:12]))}); each becomes a class, "
        f"in value order: value map {_map_text(vmap)}."
    )
    return Encoding(
        fields={
            "class_names": _names(len(values)),
            "mask_encoding": "value_map",
            "value_map": sorted(vmap.items()),
        },
        lookup=vmap,
        stored=[str(v) for v in values],
        description="stored values mapped to classes in value order",
        notes=notes,
    )


def _names(n: int) -> list[str]:
    return ["background", "foreground"] if n == 2 else [f"class_{i}" for i in range(n)]


def _map_text(vmap: Mapping[int, int]) -> str:
    return ",".join(f"{k}:{v}" for k, v in sorted(vmap.items()))


def _check_values(scans: Sequence[FileScan], valid: set[int], what: str, colors: bool = False) -> list[str]:
    """One problem per mask holding values outside ``valid`` (the 8 commonest shown)."""
    problems = []
    for s in scans:
        bad = {v: c for v, c in s.values.items() if v not in valid}
        if bad:
            shown = ", ".join(
                f"{_color_text(v) if colors else v}: {c} px"
                for v, c in sorted(bad.items(), key=lambda x: -x[1])[:8]
            )
            problems.append(f"mask {s.sample.mask}: {what}: {shown}.")
    return problems


def scan_folder(
    root: str | os.PathLike[str],
    *,
    images: str = "images",
    masks: str = "masks",
    roi: str | None = None,
    match: str | None = None,
    value_map: Mapping[int, int] | None = None,
    classes: str | os.PathLike[str] | None = None,
    ignore_index: int | None = None,
    workers: int = 0,
    on_file: Callable[[int], None] | None = None,
) -> ScanResult:
    """Pair, decode and check every file of a dataset folder; infer its DatasetSpec.

    Args:
        root: The dataset folder.
        images, masks, roi: Subfolders of images, masks and (optional) region-of-interest masks.
        match: Pairing regex (first capture group = key); default: the file stem.
        value_map: Stored mask value -> class id, when given.
        classes: Class table CSV ``id,name,r,g,b``: names (and colours of RGB masks).
        ignore_index: The void value; default: 255 (it also marks pixels outside the ROI and the
            padding of crops), unless 255 is a class.
        workers: Decoding threads (0: one per core).
        on_file: Called with the number of samples scanned so far (a progress bar).

    Raises:
        DataError: listing every corrupt file, size mismatch and unexpected value.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"dataset folder {root} does not exist.")
    for option, sub in (("--images", images), ("--masks", masks), ("--roi", roi)):
        if sub is not None and not (root / sub).is_dir():
            have = sorted(p.name for p in root.iterdir() if p.is_dir())
            raise DataError(
                f"{option} {sub!r}: {root / sub} is not a folder; "
                f"{root} holds the folders: {', '.join(have) or '(none)'}."
            )
    samples = pair_samples(root / images, root / masks, root / roi if roi else None, match=match)
    if len(samples) < 2:
        raise DataError(
            f"{root} has {len(samples)} image/mask pair; training needs at least 2 (one for validation)."
        )
    table = read_class_table(classes) if classes is not None else None
    if table is not None:  # ids 0..C-1 plus optionally the void row, as everywhere (else InputError)
        spec_from_class_table(table, name=root.name, ignore_index=ignore_index)
    scans: list[FileScan] = []
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        for i, scan in enumerate(pool.map(_scan_one, samples), start=1):
            scans.append(scan)
            if on_file is not None:
                on_file(i)
    problems = [p for s in scans for p in s.problems]
    scans = with_gray_palettes(scans)
    enc = infer_encoding(
        [s for s in scans if s.kind], value_map=value_map, table=table, ignore_index=ignore_index
    )
    problems += enc.problems
    notes = list(enc.notes)
    fields, lookup, stored, encoding_text = enc.fields, enc.lookup, enc.stored, enc.description
    if problems:
        shown = "\n  ".join(problems[:50]) + (
            f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        )
        raise DataError(
            f"{len(problems)} problems in {root} (nothing was written; fix them and run segwise data init again):\n  "
            f"{shown}"
        )
    n = len(fields["class_names"])
    ignore_index = fields.pop("ignore_index", ignore_index)
    if ignore_index is None:
        ignore_index = 255 if n <= 255 else n
        notes.append(
            f"ignore index {ignore_index}: no mask pixel is void; it marks "
            + ("pixels outside the ROI and " if roi else "")
            + "the padding of training crops."
        )
    if 0 <= ignore_index < n:
        raise InputError(
            f"--ignore-index {ignore_index} is a class id (0..{n - 1}); use a value outside, e.g. 255."
        )
    class_pixels = np.zeros(n, np.int64)
    class_images = np.zeros(n, np.int64)
    for s in scans:
        here = np.zeros(n, bool)
        for v, c in s.values.items():
            k = lookup.get(v)
            if k is not None and 0 <= k < n and c > 0:
                class_pixels[k] += c
                here[k] = True
        class_images += here
    gray = all(s.gray for s in scans)
    in_channels = 1 if gray else 3
    total = sum(s.pixels for s in scans)
    mean = sum(s.channel_sum for s in scans) / total  # type: ignore[misc]
    var = sum(s.channel_sq for s in scans) / total - mean**2  # type: ignore[operator]
    std = np.sqrt(np.maximum(var, 1e-12))
    if gray:
        mean, std = mean[:1], std[:1]
    spec = DatasetSpec(
        name=root.resolve().name,
        ignore_index=ignore_index,
        in_channels=in_channels,
        mean=tuple(round(float(m), 4) for m in mean),
        std=tuple(max(round(float(x), 4), 1e-3) for x in std),
        **fields,
    ).validate()
    absent = [spec.class_names[i] for i in range(n) if class_pixels[i] == 0]
    if absent:
        notes.append(
            f"classes with no pixel in any mask: {', '.join(absent)} (check the encoding if unexpected)."
        )
    return ScanResult(
        root=root,
        images=images,
        masks=masks,
        roi=roi,
        match=match,
        samples=samples,
        spec=spec,
        sizes=[s.size for s in scans if s.size is not None],
        class_pixels=class_pixels,
        class_images=class_images,
        stored=stored,
        encoding_text=encoding_text,
        notes=notes,
    )
