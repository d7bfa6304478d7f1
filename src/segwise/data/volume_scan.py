"""``segwise data init`` on a folder of volumes: pair cases, check every label against its image,
infer the classes, the modality and the slicing axis, and build the spec of the ``volumes`` dataset.

Every problem (unpaired case, unreadable file, a label on another voxel grid than its image,
fractional label values) is collected before one :class:`DataError` lists them all.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segwise.data.files import Sample
from segwise.data.scan import MAX_ID_CLASSES  # label values below it are class ids
from segwise.data.slices import VolumeCase, pair_volume_cases
from segwise.data.spec import DatasetSpec, VolumeSlicing
from segwise.data.volumes import check_same_geometry, read_volume
from segwise.errors import DataError, InputError

CT_BELOW = -500.0  # an image intensity below this (HU of air and lung) marks CT
ANISOTROPY = 2.0  # spacing ratio from which slices are cut across the thick axis


@dataclass
class CaseScan:
    """What one case holds (filled in a worker thread)."""

    case: VolumeCase
    problems: list[str] = field(default_factory=list)
    shape: tuple[int, ...] = ()
    spacing: tuple[float, ...] = ()  # array order (z, y, x)
    minimum: float = float("inf")
    values: dict[int, int] = field(default_factory=dict)  # label value -> voxels


def _scan_case(case: VolumeCase) -> CaseScan:
    out = CaseScan(case)
    first = None
    for path in case.images:
        try:
            arr, geo = read_volume(path)
        except DataError as exc:
            out.problems.append(str(exc))
            continue
        if arr.ndim != 3:
            out.problems.append(
                f"{path} has shape {arr.shape}; "
                "expected a 3D scalar volume (split 4D files into case_0000, case_0001, ...)."
            )
            continue
        out.minimum = min(out.minimum, float(arr.min()))
        if first is None:
            first = (path, arr.shape, geo)
            out.shape, out.spacing = arr.shape, geo.array_spacing
        else:
            try:
                check_same_geometry(first[0], first[1], first[2], path, arr.shape, geo)
            except DataError as exc:
                out.problems.append(str(exc))
    try:
        label, lgeo = read_volume(case.label)  # type: ignore[arg-type]
    except DataError as exc:
        out.problems.append(str(exc))
        return out
    if first is not None:
        try:
            check_same_geometry(first[0], first[1], first[2], case.label, label.shape, lgeo)  # type: ignore[arg-type]
        except DataError as exc:
            out.problems.append(f"label {case.label} does not lie on its image's voxel grid: {exc}")
    if label.dtype.kind == "f" and not np.all(label == np.round(label)):
        out.problems.append(
            f"label {case.label} holds fractional values; labels must be integer class ids (resample label maps "
            "with nearest-neighbour interpolation)."
        )
        return out
    values, counts = np.unique(label.astype(np.int64), return_counts=True)
    out.values = {int(v): int(c) for v, c in zip(values, counts, strict=True)}
    return out


@dataclass
class VolumeScan:
    """What :func:`scan_volume_folder` found; the fields :func:`~segwise.train.starter.starter_config` reads."""

    root: Path
    images: str
    masks: str
    samples: list[Sample]
    spec: DatasetSpec
    sizes: list[tuple[int, int]]  # slice sizes (H, W) along the chosen axis
    num_slices: int
    class_pixels: np.ndarray  # (C,) voxels per class
    class_images: np.ndarray  # (C,) cases holding the class
    stored: list[str]
    encoding_text: str
    notes: list[str] = field(default_factory=list)
    roi: str | None = None
    match: str | None = None

    @property
    def shares(self) -> np.ndarray:
        total = self.class_pixels.sum()
        return self.class_pixels / total if total else np.zeros_like(self.class_pixels, dtype=float)

    @property
    def imbalance(self) -> float:
        present = self.class_pixels[self.class_pixels > 0]
        return float(present.max() / present.min()) if present.size else 1.0


def has_volumes(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` holds volume files (then ``data init`` scans it as a volume dataset)."""
    from segwise.data.volumes import is_volume

    folder = Path(folder)
    return folder.is_dir() and any(p.is_file() and is_volume(p) for p in folder.iterdir())


def volume_only_flags(**flags: object) -> None:
    """Raise :class:`InputError` for ``data init`` options that apply to image folders only."""
    given = [f"--{k.replace('_', '-')}" for k, v in flags.items() if v is not None]
    if given:
        raise InputError(
            f"{', '.join(given)} apply to folders of 2D images and masks; a volume folder's labels hold class ids "
            "(its classes come from the label values). Drop them."
        )


def scan_volume_folder(
    root: str | os.PathLike[str],
    *,
    images: str = "imagesTr",
    masks: str = "labelsTr",
    modality: str | None = None,
    axis: int | None = None,
    workers: int = 0,
    on_file: Callable[[int], None] | None = None,
) -> VolumeScan:
    """Pair and read every case of a volume folder; infer the spec of the ``volumes`` dataset.

    Args:
        root: The dataset folder.
        images, masks: Subfolders of image volumes (``case_0000.nii.gz`` ...) and label volumes.
        modality: ``"ct"``, ``"mri"`` or ``"none"``; default: CT when an image goes below -500, else MRI.
        axis: Slicing axis (array order z, y, x); default: the axis of the largest voxel spacing when
            it is at least twice the others (thick slices), else 0.
        workers: Reading threads (0: one per core).
        on_file: Called with the number of cases read so far.

    Raises:
        DataError: listing every unpaired case, unreadable file and geometry mismatch.
    """
    root = Path(root).expanduser()
    cases = pair_volume_cases(root / images, root / masks)
    if len(cases) < 2:
        raise DataError(f"{root} has {len(cases)} case; training needs at least 2 (one for validation).")
    scans: list[CaseScan] = []
    with ThreadPoolExecutor(max_workers=workers or min(4, os.cpu_count() or 1)) as pool:
        for i, scan in enumerate(pool.map(_scan_case, cases), start=1):
            scans.append(scan)
            if on_file is not None:
                on_file(i)
    problems = [p for s in scans for p in s.problems]
    notes: list[str] = []
    seen = sorted(set().union(*(s.values for s in scans)))
    if not problems and len(seen) < 2:
        problems.append(
            f"every label volume holds only the value {seen[0] if seen else '?'}: nothing to learn."
        )
    if problems:
        shown = "\n  ".join(problems[:50]) + (
            f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        )
        raise DataError(
            f"{len(problems)} problems in {root} (nothing was written; fix them and run segwise data init again):\n  "
            f"{shown}"
        )
    if min(seen) >= 0 and max(seen) < MAX_ID_CLASSES:
        n = max(seen) + 1
        lookup = {v: v for v in range(n)}
        encoding: dict[str, object] = {"mask_encoding": "index"}
        text = f"label volumes of class ids 0..{n - 1}"
    else:
        lookup = {v: i for i, v in enumerate(seen)}
        n = len(seen)
        encoding = {"mask_encoding": "value_map", "value_map": sorted(lookup.items())}
        text = "label values mapped to classes in value order"
        notes.append(
            f"the labels hold {n} sparse values ({', '.join(map(str, seen[:12]))}); each becomes a class."
        )
    names = ["background", "foreground"] if n == 2 else [f"class_{i}" for i in range(n)]
    minimum = min(s.minimum for s in scans)
    if modality is None:
        modality = "ct" if minimum < CT_BELOW else "mri"
        why = f"intensities go down to {minimum:g}" + (
            " (air in HU)" if modality == "ct" else ", none below -500"
        )
        notes.append(f"modality {modality!r}: {why}; pass --modality to change.")
    spacing = np.median(np.array([s.spacing for s in scans]), axis=0)
    if axis is None:
        thick = int(np.argmax(spacing))
        others = np.delete(spacing, thick)
        axis = thick if spacing[thick] >= ANISOTROPY * others.max() else 0
        notes.append(
            f"slices along array axis {axis} (median spacing z, y, x = {', '.join(f'{v:g}' for v in spacing)})"
            + ("" if axis == 0 or axis != thick else ": across the thick axis")
            + "; data.options.axis changes it."
        )
    channels = len(cases[0].images)
    try:
        slicing = VolumeSlicing(axis=axis, context=0, modality=modality, channels=channels)
    except InputError as exc:
        raise InputError(f"segwise data init: {exc}") from None
    ignore_index = 255 if n < 255 else n
    spec = DatasetSpec(
        name=root.resolve().name,
        class_names=tuple(names),
        ignore_index=ignore_index,
        in_channels=slicing.in_channels,
        mean=(0.0,) * slicing.in_channels,
        std=(1.0,) * slicing.in_channels,
        volume=slicing,
        **encoding,  # type: ignore[arg-type]
    ).validate()
    class_pixels = np.zeros(n, np.int64)
    class_images = np.zeros(n, np.int64)
    sizes: list[tuple[int, int]] = []
    num_slices = 0
    for s in scans:
        for v, c in s.values.items():
            class_pixels[lookup[v]] += c
            class_images[lookup[v]] += c > 0
        plane = tuple(d for a, d in enumerate(s.shape) if a != axis)
        sizes.append(plane)  # type: ignore[arg-type]
        num_slices += s.shape[axis]
    return VolumeScan(
        root=root,
        images=images,
        masks=masks,
        samples=[Sample(c.id, c.images[0], c.label) for c in cases],  # type: ignore[arg-type]
        spec=spec,
        sizes=sizes,
        num_slices=num_slices,
        class_pixels=class_pixels,
        class_images=class_images,
        stored=[str(v) for v in sorted(lookup, key=lookup.__getitem__)],
        encoding_text=text,
        notes=notes,
    )
