"""One way to read ground-truth, predicted and region-of-interest masks for evaluation.

:class:`MaskReader` holds a :class:`~segwise.data.spec.DatasetSpec` and reads every mask through it,
so ``eval``, ``compare-preds``, ``predict --eval-gt`` and training agree on what a stored value means:

* ground truth is read as the spec says (class ids, palette indices, colours or a value map), and
  every value must be a class id or the spec's ignore index;
* predictions are class-id masks (what ``segwise predict`` writes to ``index/``), colour masks in
  the spec's colours, or stored values mapped by ``pred_value_map``;
* ROI masks mark the evaluated region: where they are 0, the ground truth becomes the ignore
  value (the spec's ignore index, or :func:`roi_ignore_value` when the spec has none).

:func:`mask_reader` builds one from command-line style options (a spec file, a class table, a
class count, a value map).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segwise.data.readers import (
    ClassTable,
    _decode_class_ids,
    apply_value_map,
    check_mask_values,
    class_table_from_spec,
    parse_value_map,
    read_class_table,
    read_spec_mask,
    rgb_to_index,
    stored_values,
)
from segwise.data.spec import DatasetSpec, default_colors, load_spec, make_spec
from segwise.data.volumes import Geometry, read_label_volume
from segwise.errors import DataError, InputError


def roi_ignore_value(num_classes: int, ignore_index: int | None) -> int:
    """The value that marks pixels outside a region of interest: the ignore index, else 255
    (``num_classes`` when 255 is a class id).

    >>> roi_ignore_value(2, None), roi_ignore_value(11, 11), roi_ignore_value(300, None)
    (255, 11, 300)
    """
    if ignore_index is not None:
        return int(ignore_index)
    return 255 if num_classes <= 255 else int(num_classes)


@dataclass(frozen=True)
class MaskReader:
    """Reads masks as class ids through a spec.

    Args:
        spec: Classes, ignore index and mask encoding of the ground truth.
        table: A class table (``eval --classes CSV`` without a spec): ground truth and predictions may
            be class-id masks *or* colour masks in the table's colours.
        pred_value_map: ``(stored, class id)`` pairs for predictions not stored as class ids.
        source: Where the spec came from, for the result's policy.
        in_range_ignore: An ignore index that is also a class id (``eval --ignore-index 3`` with 5
            classes: class 3 is not evaluated). A DatasetSpec cannot hold one, so it lives here.
    """

    spec: DatasetSpec
    table: ClassTable | None = None
    pred_value_map: tuple[tuple[int, int], ...] | None = None
    source: str = "options"
    in_range_ignore: int | None = None

    @property
    def num_classes(self) -> int:
        return self.spec.num_classes

    @property
    def ignore_index(self) -> int | None:
        return self.spec.ignore_index if self.in_range_ignore is None else self.in_range_ignore

    def eval_ignore_index(self, roi: bool) -> int | None:
        """The ignore value evaluation counts with: the spec's, or the ROI's when there is an ROI."""
        return roi_ignore_value(self.num_classes, self.ignore_index) if roi else self.ignore_index

    def read_target(self, path: str | os.PathLike[str]) -> np.ndarray:
        """Ground truth as class ids (or the ignore index); a value that is neither is a DataError."""
        path = Path(path)
        if self.table is None:
            return read_spec_mask(path, self.spec)  # an in-range ignore index is a class id: it passes
        arr = _decode_class_ids(path, self.num_classes, self.ignore_index)
        if arr.ndim == 3:
            mask = rgb_to_index(arr, self.table, ignore_index=self.ignore_index, source=str(path))
        else:
            mask = arr
        check_mask_values(mask, self.num_classes, self.ignore_index, source=str(path))
        return mask

    def read_prediction(self, path: str | os.PathLike[str]) -> np.ndarray:
        """A predicted mask as class ids: stored ids, spec colours, or mapped by ``pred_value_map``."""
        path = Path(path)
        if self.pred_value_map is not None:
            arr = stored_values(path, [k for k, _ in self.pred_value_map])
            if arr.ndim == 2:
                return apply_value_map(arr, self.pred_value_map, source=str(path))
        arr = _decode_class_ids(path, self.num_classes, self.ignore_index)
        if arr.ndim == 3:
            table = self.table or class_table_from_spec(self.spec)
            return rgb_to_index(arr, table, ignore_index=self.ignore_index, source=str(path))
        return arr

    def read_target_volume(self, path: str | os.PathLike[str]) -> tuple[np.ndarray, Geometry]:
        """A ground-truth label volume (``.nii.gz``, ``.nrrd``, ``.mha``, ...) as class ids ``(z, y, x)``
        and its geometry. Voxels are class ids (also under a palette encoding), or mapped by the spec's
        value map; an RGB encoding is refused (a voxel holds one value, not a colour)."""
        path = Path(path)
        arr, geometry = read_label_volume(path, "ground-truth volume")
        s = self.spec
        if self.table is None and s.mask_encoding == "rgb":
            raise DataError(
                f"ground-truth volume {path}: the dataset spec {s.name!r} says masks are colour-coded "
                f"(mask_encoding={s.mask_encoding!r}), but a volume holds one value per voxel. Evaluate volumes "
                "with class ids (--num-classes N) or a value map (--value-map STORED:CLASS,...)."
            )
        if self.table is None and s.mask_encoding == "value_map" and s.value_map:
            arr = apply_value_map(arr, s.value_map, ignore_index=s.ignore_index, source=str(path))
        check_mask_values(arr, self.num_classes, self.ignore_index, source=str(path))
        hi = max(self.num_classes - 1, self.ignore_index or 0)
        wanted = np.uint8 if hi < 256 and (self.ignore_index or 0) >= 0 else np.int32
        return arr.astype(wanted, copy=False), geometry

    def read_prediction_volume(self, path: str | os.PathLike[str]) -> tuple[np.ndarray, Geometry]:
        """A predicted label volume as class ids ``(z, y, x)`` (mapped by ``pred_value_map`` when given)
        and its geometry; its values are checked when the confusion matrix is counted."""
        path = Path(path)
        arr, geometry = read_label_volume(path, "predicted volume")
        if self.pred_value_map is not None:
            arr = apply_value_map(arr, self.pred_value_map, source=str(path))
        return arr, geometry

    def policy(self) -> dict[str, Any]:
        """How masks were read, for the result's ``policy``."""
        s = self.spec
        gt = {
            "index": "stored values are class ids",
            "palette": "palette indices are class ids",
            "rgb": "colours of the class table",
            "value_map": f"stored values mapped {dict(s.value_map or ())}",
        }
        text = gt[s.mask_encoding]
        if self.table is not None:
            text = "class ids, or colours of the class table for RGB masks"
        pred = "class ids (RGB predictions: the class colours)"
        if self.pred_value_map is not None:
            pred = f"stored values mapped {dict(self.pred_value_map)}"
        return {"ground_truth_masks": f"{text} (spec from {self.source})", "prediction_masks": pred}


def _parse_map(value_map: str | Mapping[int, int] | None) -> dict[int, int] | None:
    if value_map is None or isinstance(value_map, Mapping):
        return None if value_map is None else dict(value_map)
    return parse_value_map(value_map)


def mask_reader(
    *,
    num_classes: int | None = None,
    classes: str | os.PathLike[str] | None = None,
    spec: DatasetSpec | str | os.PathLike[str] | None = None,
    value_map: str | Mapping[int, int] | None = None,
    ignore_index: int | None = None,
    pred_value_map: str | Mapping[int, int] | None = None,
    name: str = "eval",
) -> MaskReader:
    """A :class:`MaskReader` from command-line style options.

    * ``spec`` (a DatasetSpec or a ``spec.json``): the masks are read as it says; ``num_classes``
      and ``ignore_index``, when given, must agree with it, and ``value_map`` replaces its encoding.
    * ``classes`` (CSV ``id,name,r,g,b``): names and colours; masks may be ids or colours.
    * else ``num_classes`` (required), with ``value_map`` for masks stored as e.g. 0/255.

    ``num_classes`` may be left out when a spec, a class table or a value map gives it.

    Example:
        >>> r = mask_reader(value_map="0:0,255:1")
        >>> r.num_classes, r.spec.mask_encoding
        (2, 'value_map')
    """
    vmap = _parse_map(value_map)
    pmap = _parse_map(pred_value_map)
    pred_pairs = tuple(sorted(pmap.items())) if pmap else None
    if spec is not None:
        if classes is not None:
            raise InputError("give either --spec FILE or --classes CSV, not both (a spec names the classes).")
        loaded = spec if isinstance(spec, DatasetSpec) else load_spec(spec, Path("."))
        source = "the given DatasetSpec" if isinstance(spec, DatasetSpec) else str(spec)
        if num_classes is not None and num_classes != loaded.num_classes:
            raise InputError(
                f"--num-classes {num_classes} disagrees with {source}, which has {loaded.num_classes} classes "
                f"({', '.join(loaded.class_names)}); drop --num-classes."
            )
        if ignore_index is not None and ignore_index != loaded.ignore_index:
            raise InputError(
                f"--ignore-index {ignore_index} disagrees with {source} (ignore_index {loaded.ignore_index}); drop "
                "--ignore-index or fix the spec."
            )
        if vmap is not None:
            loaded = loaded.replace(
                mask_encoding="value_map", value_map=tuple(vmap.items()), ignore_color=None
            )
        return MaskReader(loaded, pred_value_map=pred_pairs, source=source)
    if classes is not None:
        table = read_class_table(classes)
        if vmap is not None:
            raise InputError(
                "--value-map maps stored values to class ids; with --classes the masks are ids or colours. Use one."
            )
        if num_classes is not None:
            too_big = [i for i in table.ids if i >= num_classes and i != ignore_index]
            if too_big:
                raise InputError(
                    f"the class table has ids {too_big} >= --num-classes {num_classes}; raise --num-classes or mark "
                    "that id as the --ignore-index."
                )
        ids = [i for i in table.ids if i != ignore_index]
        n = num_classes if num_classes is not None else max(ids) + 1
        colors = dict(zip(table.ids, table.colors, strict=True))
        fill = default_colors(n)
        inside = ignore_index if ignore_index is not None and 0 <= ignore_index < n else None
        built = make_spec(
            name, num_classes=n, ignore_index=None if inside is not None else ignore_index
        ).replace(
            class_names=tuple(table.names_by_id(n)), colors=tuple(colors.get(i, fill[i]) for i in range(n))
        )
        return MaskReader(
            built, table=table, pred_value_map=pred_pairs, source=str(classes), in_range_ignore=inside
        )
    if num_classes is None:
        if vmap is None:
            raise InputError(
                "--num-classes is needed unless --spec FILE, --classes CSV or --value-map gives the classes "
                "(e.g. --num-classes 2, or --value-map 0:0,255:1)."
            )
        targets = [v for v in vmap.values() if v != ignore_index]
        num_classes = max(targets) + 1
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise InputError(f"--num-classes must be an integer >= 1, got {num_classes!r}.")
    inside = ignore_index if ignore_index is not None and 0 <= ignore_index < num_classes else None
    built = make_spec(
        name,
        num_classes=num_classes,
        ignore_index=None if inside is not None else ignore_index,
        value_map=vmap,
    )
    return MaskReader(built, pred_value_map=pred_pairs, in_range_ignore=inside)


def check_same_size(
    shape_a: tuple[int, ...], shape_b: tuple[int, ...], what_a: str, what_b: str, remedy: str = ""
) -> None:
    """Raise :class:`DataError` when two ``(..., H, W)`` shapes differ in height or width; the message
    names both (``what_a``, ``what_b``: e.g. the files) and ends with ``remedy``.

    Example:
        >>> check_same_size((3, 4), (3, 4), "a", "b")
        >>> check_same_size((2, 3, 4), (3, 5), "a", "b", "Resize a.")
        Traceback (most recent call last):
        ...
        segwise.errors.DataError: size mismatch: a is 4x3 (WxH) but b is 5x3. Resize a.
    """
    (ha, wa), (hb, wb) = shape_a[-2:], shape_b[-2:]
    if (ha, wa) != (hb, wb):
        raise DataError(
            f"size mismatch: {what_a} is {wa}x{ha} (WxH) but {what_b} is {wb}x{hb}."
            + (f" {remedy}" if remedy else "")
        )
