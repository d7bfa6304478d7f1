"""DatasetSpec: everything about a dataset that a checkpoint, a result or a report needs to know.

A spec names the classes (ids ``0..C-1``), their display colours, the ignore index, how masks are
encoded on disk and how images are normalised. It is frozen, validated, and serialised to JSON so
that it travels with every checkpoint and result.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

from segwise.errors import DataError, InputError, did_you_mean

MaskEncoding = Literal["index", "palette", "rgb", "value_map"]
MASK_ENCODINGS: tuple[str, ...] = ("index", "palette", "rgb", "value_map")
SPEC_FORMAT = 1

# ImageNet statistics: the default for datasets whose own statistics are unknown, and the right
# choice for encoders pre-trained on ImageNet.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Color = tuple[int, int, int]
MODALITIES: tuple[str, ...] = ("mri", "ct", "none")
DEFAULT_CT_WINDOW = (-1000.0, 1000.0)


@dataclass(frozen=True)
class VolumeSlicing:
    """How 2D samples are cut from volumes (the ``volumes`` dataset) and how their voxels are scaled.

    A checkpoint trained on slices carries it in its spec, so ``segwise predict`` cuts and scales a
    volume the same way.

    Attributes:
        axis: The array axis slices are taken along (arrays are ``(z, y, x)``; 0 = axial slices).
        context: Neighbouring slices on each side stacked as extra channels (2.5D); edges replicate.
        modality: ``"mri"`` (z-score over the non-zero voxels of each volume and channel), ``"ct"``
            (clip to ``window`` and scale to ``[0, 1]``) or ``"none"`` (voxels as stored).
        window: The CT window ``(low, high)`` in HU.
        channels: Image files (modalities) per case: ``case_0000``, ``case_0001``, ...

    Example:
        >>> v = VolumeSlicing(axis=0, context=1, modality="ct", channels=2)
        >>> v.in_channels, VolumeSlicing.from_dict(v.to_dict()) == v
        (6, True)
    """

    axis: int = 0
    context: int = 0
    modality: str = "mri"
    window: tuple[float, float] = DEFAULT_CT_WINDOW
    channels: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "window", tuple(float(v) for v in self.window))
        if self.axis not in (0, 1, 2):
            raise InputError(f"axis must be 0, 1 or 2 (array order z, y, x); got {self.axis!r}.")
        if not isinstance(self.context, int) or self.context < 0:
            raise InputError(f"context must be an int >= 0 (slices on each side); got {self.context!r}.")
        if self.modality not in MODALITIES:
            raise InputError(
                f"modality must be one of {', '.join(MODALITIES)}; {did_you_mean(str(self.modality), MODALITIES)}"
                f"got {self.modality!r}."
            )
        if len(self.window) != 2 or not self.window[0] < self.window[1]:
            raise InputError(f"ct_window must be [low, high] with low < high (HU); got {list(self.window)}.")
        if not isinstance(self.channels, int) or self.channels < 1:
            raise InputError(f"channels must be an int >= 1; got {self.channels!r}.")

    @property
    def in_channels(self) -> int:
        """Model input channels: ``channels * (2 * context + 1)``."""
        return self.channels * (2 * self.context + 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "axis": self.axis,
            "context": self.context,
            "modality": self.modality,
            "window": list(self.window),
            "channels": self.channels,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VolumeSlicing:
        valid = [f.name for f in fields(cls)]
        unknown = [k for k in data if k not in valid]
        if unknown:
            k = unknown[0]
            raise InputError(
                f"volume settings have unknown key {k!r}; {did_you_mean(k, valid)}valid keys: {', '.join(valid)}."
            )
        return cls(**data)


@dataclass(frozen=True)
class DatasetSpec:
    """Classes, colours, ignore index, mask encoding and image normalisation of a dataset.

    Class ids are ``0..num_classes-1`` in the order of ``class_names``. How the files on disk map
    to these ids is given by ``mask_encoding``:

    * ``"index"``: the pixel value is the class id (PNG mode L, 16-bit, or P read as indices);
    * ``"palette"``: VOC-style P-mode PNGs; the palette index is the class id (read like ``index``,
      and ``colors`` is the palette written for predictions);
    * ``"rgb"``: colour-coded masks; ``colors[c]`` is the colour of class ``c`` and
      ``ignore_color`` (optional) the colour of ignored pixels;
    * ``"value_map"``: pixel values are mapped through ``value_map`` pairs, e.g. ``((0, 0), (255, 1))``
      for binary masks stored as 0/255.

    Args:
        name: Dataset name (``"camvid"``, a folder name, ...).
        class_names: One name per class, in id order.
        colors: One ``(r, g, b)`` display colour per class; generated when empty.
        ignore_index: Mask value left out of training and evaluation, or ``None``. It must not be a
            class id.
        mask_encoding: ``"index"``, ``"palette"``, ``"rgb"`` or ``"value_map"``.
        value_map: ``(stored value, class id or ignore_index)`` pairs for ``"value_map"``.
        ignore_color: For ``"rgb"``: the colour that marks ignored pixels (e.g. CamVid's void black).
        in_channels: Image channels the model sees: 1 (grayscale), 3 (RGB) or 4 (RGBA / RGB+IR).
        mean: Per-channel mean of images scaled to ``[0, 1]``. Defaults to ImageNet's (averaged to
            one value for ``in_channels=1``; a 4th channel gets 0.5).
        std: Per-channel standard deviation of images scaled to ``[0, 1]`` (ImageNet's by default;
            0.25 for a 4th channel).
        volume: For models trained on slices of volumes: a :class:`VolumeSlicing` (or its dict); then
            ``in_channels`` is its ``channels * (2 * context + 1)`` and images are float slices already
            scaled by the modality's normalisation.

    Example:
        >>> spec = DatasetSpec("toy", ("bg", "fg"), ignore_index=255)
        >>> spec.num_classes, spec.colors[1]
        (2, (128, 0, 0))
        >>> DatasetSpec.from_json(spec.to_json()) == spec
        True
    """

    name: str
    class_names: tuple[str, ...]
    colors: tuple[Color, ...] = ()
    ignore_index: int | None = None
    mask_encoding: MaskEncoding = "index"
    value_map: tuple[tuple[int, int], ...] | None = None
    ignore_color: Color | None = None
    in_channels: int = 3
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    volume: VolumeSlicing | None = None

    def __post_init__(self) -> None:
        if isinstance(self.volume, Mapping):
            object.__setattr__(self, "volume", VolumeSlicing.from_dict(self.volume))
        # Normalise lists (from JSON or users) to tuples so the spec is hashable and comparable.
        object.__setattr__(self, "class_names", tuple(str(n) for n in self.class_names))
        colors = tuple(tuple(int(v) for v in c) for c in self.colors)
        if not colors:
            colors = default_colors(len(self.class_names))
        object.__setattr__(self, "colors", colors)
        if self.value_map is not None:
            pairs = self.value_map.items() if isinstance(self.value_map, Mapping) else self.value_map
            object.__setattr__(self, "value_map", tuple((int(k), int(v)) for k, v in pairs))
        if self.ignore_color is not None:
            object.__setattr__(self, "ignore_color", tuple(int(v) for v in self.ignore_color))
        mean, std = self.mean, self.std
        if _is_imagenet_default(mean, std) and self.in_channels == 1:
            mean, std = (sum(IMAGENET_MEAN) / 3,), (sum(IMAGENET_STD) / 3,)
        elif _is_imagenet_default(mean, std) and self.in_channels == 4:
            mean, std = (*IMAGENET_MEAN, 0.5), (*IMAGENET_STD, 0.25)
        object.__setattr__(self, "mean", tuple(float(v) for v in mean))
        object.__setattr__(self, "std", tuple(float(v) for v in std))

    @property
    def num_classes(self) -> int:
        """Number of classes ``C`` (the ignore index is not a class)."""
        return len(self.class_names)

    @property
    def class_ids(self) -> tuple[int, ...]:
        """The class ids ``0..C-1``."""
        return tuple(range(self.num_classes))

    def validate(self) -> DatasetSpec:
        """Check every field; return ``self`` so calls chain. Raises :class:`InputError` naming the field.

        >>> DatasetSpec("x", ("a", "b"), ignore_index=1).validate()  # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ...
        segwise.errors.InputError: DatasetSpec 'x': ignore_index 1 is also a class id (0..1);
        use a value outside the classes, e.g. 255.
        """
        who = f"DatasetSpec {self.name!r}"
        c = self.num_classes
        if c < 1:
            raise InputError(f"{who}: class_names is empty; give one name per class.")
        if len(set(self.class_names)) != c:
            dup = sorted({n for n in self.class_names if self.class_names.count(n) > 1})
            raise InputError(f"{who}: class names must be unique; repeated: {dup}.")
        if len(self.colors) != c:
            raise InputError(
                f"{who}: {len(self.colors)} colours for {c} classes; give one (r, g, b) per class."
            )
        for i, col in enumerate((*self.colors, *([self.ignore_color] if self.ignore_color else []))):
            if len(col) != 3 or not all(0 <= v <= 255 for v in col):
                raise InputError(f"{who}: colour {i} is {col}; expected (r, g, b) with values 0..255.")
        if self.ignore_index is not None and 0 <= self.ignore_index < c:
            raise InputError(
                f"{who}: ignore_index {self.ignore_index} is also a class id (0..{c - 1}); "
                "use a value outside the classes, e.g. 255."
            )
        if self.mask_encoding not in MASK_ENCODINGS:
            raise InputError(
                f"{who}: unknown mask_encoding {self.mask_encoding!r}; "
                f"{did_you_mean(self.mask_encoding, MASK_ENCODINGS)}expected one of {', '.join(MASK_ENCODINGS)}."
            )
        if self.mask_encoding == "value_map":
            if not self.value_map:
                raise InputError(
                    f"{who}: mask_encoding 'value_map' needs value_map pairs, e.g. {{0: 0, 255: 1}}."
                )
            keys = [k for k, _ in self.value_map]
            if len(set(keys)) != len(keys):
                raise InputError(f"{who}: value_map maps a stored value twice: {self.value_map}.")
            bad = [(k, v) for k, v in self.value_map if not (0 <= v < c or v == self.ignore_index)]
            if bad:
                raise InputError(
                    f"{who}: value_map targets {bad} are neither class ids 0..{c - 1} nor the ignore_index "
                    f"{self.ignore_index}."
                )
        elif self.value_map is not None:
            raise InputError(
                f"{who}: value_map is set but mask_encoding is {self.mask_encoding!r}; use 'value_map'."
            )
        if self.mask_encoding == "rgb":
            if len(set(self.colors)) != c:
                raise InputError(f"{who}: rgb masks need a distinct colour per class; got {self.colors}.")
            if self.ignore_color is not None:
                if self.ignore_index is None:
                    raise InputError(
                        f"{who}: ignore_color {self.ignore_color} needs an ignore_index to map to."
                    )
                if self.ignore_color in self.colors:
                    raise InputError(f"{who}: ignore_color {self.ignore_color} is also a class colour.")
        if self.volume is not None:
            if self.in_channels != self.volume.in_channels:
                raise InputError(
                    f"{who}: in_channels is {self.in_channels} but the volume slicing gives "
                    f"{self.volume.channels} channel(s) x {2 * self.volume.context + 1} slices "
                    f"= {self.volume.in_channels}."
                )
        elif self.in_channels not in (1, 3, 4):
            raise InputError(
                f"{who}: in_channels is {self.in_channels}; expected 1 (gray), 3 (RGB) or 4 (RGBA)."
            )
        if len(self.mean) != self.in_channels or len(self.std) != self.in_channels:
            raise InputError(
                f"{who}: mean/std have {len(self.mean)}/{len(self.std)} values for in_channels={self.in_channels}; "
                "give one per channel."
            )
        if not all(math.isfinite(s) and s > 0 for s in self.std):
            raise InputError(f"{who}: std must be positive and finite; got {self.std}.")
        return self

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (lists instead of tuples) with a ``format`` version."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.volume is None:
            del out["volume"]  # specs of 2D datasets stay as they were
        else:
            out["volume"] = self.volume.to_dict()
        return {"format": SPEC_FORMAT, **json.loads(json.dumps(out))}

    def to_json(self) -> str:
        """Serialise to a JSON string (what checkpoints, results and reports store)."""
        return json.dumps(self.to_dict(), sort_keys=False)

    @classmethod
    def from_json(cls, data: str | bytes | Mapping[str, Any]) -> DatasetSpec:
        """Rebuild a spec from :meth:`to_json` output (a JSON string) or :meth:`to_dict` output (a dict).

        Unknown keys are refused, so a typo or a newer format does not silently change meaning.
        """
        if isinstance(data, str | bytes):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                raise InputError(f"DatasetSpec JSON cannot be parsed: {exc}.") from None
        if not isinstance(data, Mapping):
            raise InputError(f"DatasetSpec JSON must be an object; got {type(data).__name__}.")
        data = dict(data)
        fmt = data.pop("format", SPEC_FORMAT)
        if fmt != SPEC_FORMAT:
            raise InputError(
                f"DatasetSpec format {fmt} is not supported by this segwise (format {SPEC_FORMAT})."
            )
        valid = [f.name for f in fields(cls)]
        unknown = [k for k in data if k not in valid]
        if unknown:
            k = unknown[0]
            raise InputError(
                f"DatasetSpec JSON has unknown key {k!r}; {did_you_mean(k, valid)}valid keys: {', '.join(valid)}."
            )
        missing = [k for k in ("name", "class_names") if k not in data]
        if missing:
            raise InputError(f"DatasetSpec JSON lacks {missing}; it needs at least name and class_names.")
        return cls(**data).validate()

    def replace(self, **changes: Any) -> DatasetSpec:
        """A copy with some fields changed (validated). Unknown field names are refused."""
        valid = [f.name for f in fields(self)]
        for k in changes:
            if k not in valid:
                raise InputError(
                    f"DatasetSpec has no field {k!r}; {did_you_mean(k, valid)}fields: {', '.join(valid)}."
                )
        return replace(self, **changes).validate()


def _is_imagenet_default(mean: Sequence[float], std: Sequence[float]) -> bool:
    return tuple(map(float, mean)) == IMAGENET_MEAN and tuple(map(float, std)) == IMAGENET_STD


def default_colors(n: int) -> tuple[Color, ...]:
    """The PASCAL VOC colour map: distinct display colours for ``n`` classes.

    >>> default_colors(3)
    ((0, 0, 0), (128, 0, 0), (0, 128, 0))
    """
    out = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        out.append((r, g, b))
    return tuple(out)


def spec_from_class_table(
    table: Any,
    *,
    name: str,
    ignore_index: int | None = None,
    mask_encoding: MaskEncoding = "rgb",
    in_channels: int = 3,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> DatasetSpec:
    """Build a spec from a :class:`~segwise.data.readers.ClassTable` (CSV ``id,name,r,g,b``).

    The table's ids must be ``0..C-1``, plus optionally one row whose id is ``ignore_index``: its
    colour becomes ``ignore_color`` (e.g. CamVid's ``11,Void,0,0,0``).

    Example:
        >>> from segwise.data.readers import ClassTable
        >>> t = ClassTable((0, 1, 255), ("bg", "fg", "void"), ((0, 0, 0), (255, 0, 0), (255, 255, 255)))
        >>> s = spec_from_class_table(t, name="toy", ignore_index=255)
        >>> s.class_names, s.ignore_color
        (('bg', 'fg'), (255, 255, 255))
    """
    rows = sorted(zip(table.ids, table.names, table.colors, strict=True))
    ignore_color = None
    classes = []
    for cid, cname, color in rows:
        if ignore_index is not None and cid == ignore_index:
            ignore_color = color
        else:
            classes.append((cid, cname, color))
    ids = [cid for cid, _, _ in classes]
    if ids != list(range(len(ids))):
        raise InputError(
            f"class table ids must be 0..C-1 (plus optionally the ignore index {ignore_index}); got {ids}. "
            "Renumber the classes, or pass ignore_index for the void row."
        )
    return DatasetSpec(
        name=name,
        class_names=tuple(n for _, n, _ in classes),
        colors=tuple(c for _, _, c in classes),
        ignore_index=ignore_index,
        mask_encoding=mask_encoding,
        ignore_color=ignore_color if mask_encoding == "rgb" else None,
        in_channels=in_channels,
        mean=tuple(mean),
        std=tuple(std),
    ).validate()


# CamVid, 11-class SegNet split. Names and colours from the data's README. The mean/std were
# computed once from the 367 train images scaled to [0, 1] (per channel, over all pixels):
#   a = np.stack([np.asarray(Image.open(f).convert("RGB"), np.float64) / 255 for f in train])
#   a.mean((0, 1, 2)), a.std((0, 1, 2))  ->  (0.4119, 0.4251, 0.4327), (0.3071, 0.3116, 0.3072)
CAMVID_SPEC = DatasetSpec(
    name="camvid",
    class_names=(
        "Sky",
        "Building",
        "Pole",
        "Road",
        "Pavement",
        "Tree",
        "SignSymbol",
        "Fence",
        "Car",
        "Pedestrian",
        "Bicyclist",
    ),
    colors=(
        (128, 128, 128),
        (128, 0, 0),
        (192, 192, 128),
        (128, 64, 128),
        (60, 40, 222),
        (128, 128, 0),
        (192, 128, 128),
        (64, 64, 128),
        (64, 0, 128),
        (64, 64, 0),
        (0, 128, 192),
    ),
    ignore_index=11,
    mask_encoding="index",
    ignore_color=None,
    in_channels=3,
    mean=(0.4119, 0.4251, 0.4327),
    std=(0.3071, 0.3116, 0.3072),
).validate()


SPEC_FILE = "spec.json"


def load_spec(
    spec: DatasetSpec | str | os.PathLike[str] | Mapping[str, Any] | None, root: Path
) -> DatasetSpec:
    """The spec of a folder dataset: given, a JSON file, or ``root/spec.json``."""
    if isinstance(spec, DatasetSpec):
        return spec.validate()
    if isinstance(spec, Mapping):
        return DatasetSpec.from_json(spec)
    path = Path(spec) if spec is not None else root / SPEC_FILE
    if not path.is_file():
        if spec is None:
            raise InputError(
                f"the folder dataset {root} needs a DatasetSpec (class names, ignore index, mask encoding), and "
                f"{path} does not exist. Write it with `segwise data init {root} --images SUBDIR --masks SUBDIR`, "
                'or point to one: `segwise train`: data.options.spec = "FILE.json" in the config; `segwise data '
                "stats`: --spec FILE (or --num-classes N / --classes CSV); Python: spec=DatasetSpec(...)."
            )
        raise DataError(f"spec file {path} does not exist.")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read spec file {path}: {exc.strerror or exc}.") from None
    try:
        return DatasetSpec.from_json(text)
    except InputError as exc:
        raise DataError(f"spec file {path}: {exc}") from None


def make_spec(
    name: str,
    *,
    num_classes: int | None = None,
    classes: str | os.PathLike[str] | None = None,
    ignore_index: int | None = None,
    mask_encoding: str | None = None,
    value_map: Mapping[int, int] | None = None,
    in_channels: int = 3,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
) -> DatasetSpec:
    """A spec from command-line style options: a class table CSV or a class count.

    With ``classes`` (CSV ``id,name,r,g,b``) the encoding defaults to ``"rgb"``; with ``num_classes``
    classes are named ``"0".."C-1"`` and the encoding defaults to ``"index"`` (``"value_map"`` when
    ``value_map`` is given).

    Example:
        >>> make_spec("cells", num_classes=2, value_map={0: 0, 255: 1}).mask_encoding
        'value_map'
    """
    mean = tuple(mean) if mean is not None else None
    std = tuple(std) if std is not None else None
    norm = {"mean": mean or IMAGENET_MEAN, "std": std or IMAGENET_STD}
    if (mean is None) != (std is None):
        raise InputError("give both mean and std, or neither (ImageNet statistics are the default).")
    if classes is not None:
        from segwise.data.readers import read_class_table

        table = read_class_table(classes)
        encoding = mask_encoding or "rgb"
        if encoding == "value_map":
            raise InputError(
                "a class table gives colours for rgb masks; value_map masks need num_classes instead."
            )
        return spec_from_class_table(
            table,
            name=name,
            ignore_index=ignore_index,
            mask_encoding=encoding,
            in_channels=in_channels,
            **norm,
        )
    if num_classes is None:
        raise InputError("a spec needs the classes: pass num_classes=N or classes=CSV (id,name,r,g,b).")
    encoding = mask_encoding or ("value_map" if value_map else "index")
    return DatasetSpec(
        name=name,
        class_names=tuple(str(i) for i in range(num_classes)),
        ignore_index=ignore_index,
        mask_encoding=encoding,  # type: ignore[arg-type]
        value_map=tuple(value_map.items()) if value_map else None,
        in_channels=in_channels,
        **norm,
    ).validate()
