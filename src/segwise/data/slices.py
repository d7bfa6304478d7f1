"""Training 2D models on the slices of volumes: the ``volumes`` dataset.

Layout (nnU-Net / Medical Segmentation Decathlon naming works as is)::

    root/
      imagesTr/  case_0000.nii.gz, case_0001.nii.gz, ...   one file per channel (modality): _0000, _0001, ...
      labelsTr/  case.nii.gz, ...                          class ids per voxel, same grid as the image
      spec.json                                            written by `segwise data init` (dataset "volumes")
      splits/    train.txt, val.txt ...                    optional: one case name per line

Plain same-name pairs (``images/case.nrrd`` <-> ``labels/case.nrrd``) work too. Suffixes:
``.nii.gz``, ``.nii``, ``.nrrd``, ``.nhdr``, ``.mha``, ``.mhd``.

A sample is one slice along ``axis`` (array order ``(z, y, x)``): a float32 ``(H, W, C')`` image,
``C' = channels * (2 * context + 1)`` (for each offset ``-context..context`` in turn, every
channel; slices past the volume's edge repeat the edge slice), and its ``(H, W)`` class ids. Each
volume is scaled once, as a whole, by its modality (:func:`normalize_volume`), so every slice of a
case shares one scale; the :class:`~segwise.data.spec.VolumeSlicing` in the dataset's spec records
how, and travels with the checkpoint to ``segwise predict``.

Memory: scaled image volumes and label volumes are stored in the decode cache as ``.npy`` files
and memory-mapped, so a sample reads one slice stack from disk (the page cache), never a whole
volume, and resident memory does not grow with the dataset. With ``cache=False`` the last
:data:`LRU_VOLUMES` decoded cases are kept in memory instead (per dataset object and worker).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segwise.data.base import CacheArg, SegmentationDataset, Transform
from segwise.data.files import Sample
from segwise.data.folder import select_split
from segwise.data.pairing import CHANNEL_SUFFIX
from segwise.data.readers import check_mask_values
from segwise.data.spec import DEFAULT_CT_WINDOW, DatasetSpec, VolumeSlicing, load_spec
from segwise.data.volumes import is_volume, read_volume, volume_stem
from segwise.errors import DataError, InputError, some

__all__ = [
    "LRU_VOLUMES",
    "VolumeCase",
    "VolumeSliceDataset",
    "group_channels",
    "normalize_volume",
    "pair_volume_cases",
    "read_case_image",
    "slice_stack",
]

LRU_VOLUMES = 2


@dataclass(frozen=True)
class VolumeCase:
    """One case: its channel files (``_0000``, ``_0001``, ... in order) and its label file (or ``None``)."""

    id: str
    images: tuple[Path, ...]
    label: Path | None = None


def _volume_files(folder: Path, what: str) -> list[Path]:
    if not folder.is_dir():
        raise DataError(f"{what} folder {folder} does not exist.")
    files = sorted(p for p in folder.iterdir() if p.is_file() and is_volume(p) and not p.name.startswith("."))
    if not files:
        raise DataError(f"{what} folder {folder} holds no volumes (.nii.gz, .nii, .nrrd, .nhdr, .mha, .mhd).")
    return files


def group_channels(
    files: Sequence[Path], labels: Mapping[str, Path] | None = None
) -> dict[str, tuple[Path, ...]]:
    """Group image files into cases: ``case_0000``, ``case_0001`` become the channels of ``case``.

    A stem ending in ``_NNNN`` is a channel file unless a label has the full stem (then it is a plain
    case). Channels of a case must be numbered ``0000, 0001, ...`` without gaps.

    Example:
        >>> group_channels([Path("a_0000.nii.gz"), Path("a_0001.nii.gz"), Path("b.nrrd")])
        {'a': (PosixPath('a_0000.nii.gz'), PosixPath('a_0001.nii.gz')), 'b': (PosixPath('b.nrrd'),)}
    """
    grouped: dict[str, dict[int, Path]] = {}
    for path in files:
        stem = volume_stem(path)
        m = CHANNEL_SUFFIX.fullmatch(stem)
        if m and not (labels is not None and stem in labels):
            key, channel = m.group(1), int(m.group(2))
        else:
            key, channel = stem, 0
        if channel in grouped.setdefault(key, {}):
            raise DataError(
                f"{path} and {grouped[key][channel]} are both channel {channel} of case {key!r}; keep one of them."
            )
        grouped[key][channel] = path
    out = {}
    for key, chans in sorted(grouped.items()):
        if sorted(chans) != list(range(len(chans))):
            raise DataError(
                f"case {key!r} has channel files {sorted(chans)} ({', '.join(p.name for p in chans.values())}); "
                "channels must be numbered _0000, _0001, ... without gaps."
            )
        out[key] = tuple(chans[i] for i in range(len(chans)))
    return out


def pair_volume_cases(
    images_dir: str | os.PathLike[str], labels_dir: str | os.PathLike[str]
) -> list[VolumeCase]:
    """Pair the image volumes of ``images_dir`` with the label volumes of ``labels_dir`` by case.

    Raises :class:`DataError` listing every unpaired case and any case whose channel count differs
    from the others.
    """
    images_dir, labels_dir = Path(images_dir), Path(labels_dir)
    labels = {volume_stem(p): p for p in _volume_files(labels_dir, "label")}
    cases = group_channels(_volume_files(images_dir, "image"), labels)
    problems = []
    no_label = sorted(k for k in cases if k not in labels)
    no_image = sorted(k for k in labels if k not in cases)
    if no_label:
        problems.append(
            f"{len(no_label)} cases in {images_dir} have no label in {labels_dir}: {some(no_label, 8)}"
        )
    if no_image:
        problems.append(
            f"{len(no_image)} labels in {labels_dir} have no image in {images_dir}: {some(no_image, 8)}"
        )
    counts: dict[int, list[str]] = {}
    for key, paths in cases.items():
        counts.setdefault(len(paths), []).append(key)
    if len(counts) > 1:
        per = "; ".join(f"{n} channel(s): {some(keys, 3)}" for n, keys in sorted(counts.items()))
        problems.append(f"cases have different channel counts ({per}); every case needs the same channels")
    if problems:
        raise DataError(
            "; ".join(problems) + ". Images pair with labels by case name: case_0000.nii.gz (channel 0) or "
            "case.nii.gz <-> labels case.nii.gz; rename or remove the unpaired files."
        )
    return [VolumeCase(k, cases[k], labels[k]) for k in sorted(cases)]


# ----------------------------------------------------------------------------- intensities


def normalize_volume(
    volume: np.ndarray, modality: str, window: Sequence[float] = DEFAULT_CT_WINDOW
) -> np.ndarray:
    """Scale one channel of a volume as float32.

    * ``"mri"``: z-score with the mean and standard deviation of the non-zero voxels (the
      background outside the body is 0 in most MRI), applied to every voxel; a volume with no
      non-zero voxel stays 0.
    * ``"ct"``: clip to ``window = (low, high)`` HU and scale to ``[0, 1]``.
    * ``"none"``: the stored values as float32.

    Example:
        >>> normalize_volume(np.array([0.0, 2.0, 4.0]), "mri").tolist()
        [-3.0, -1.0, 1.0]
        >>> normalize_volume(np.array([-2000, 0, 500]), "ct", (-1000, 1000)).tolist()
        [0.0, 0.5, 0.75]
    """
    v = np.asarray(volume, dtype=np.float32)
    if modality == "none":
        return v
    if modality == "ct":
        lo, hi = (float(w) for w in window)
        return ((np.clip(v, lo, hi) - lo) / (hi - lo)).astype(np.float32)
    if modality == "mri":
        fg = v[v != 0]
        if fg.size == 0:
            return np.zeros_like(v)
        mean, std = float(fg.mean(dtype=np.float64)), float(fg.std(dtype=np.float64))
        return ((v - mean) / max(std, 1e-8)).astype(np.float32)
    raise InputError(f"modality must be 'mri', 'ct' or 'none'; got {modality!r}.")


def read_case_image(paths: Sequence[Path], slicing: VolumeSlicing) -> tuple[np.ndarray, Any]:
    """The scaled channels of one case, ``(C, z, y, x)`` float32, and the first channel's geometry.

    Raises :class:`DataError` naming the file when a channel is not 3D or its shape differs from
    channel 0's.
    """
    if len(paths) != slicing.channels:
        raise DataError(
            f"case {volume_stem(paths[0])!r} has {len(paths)} channel file(s) but the model was trained on "
            f"{slicing.channels} ({', '.join(p.name for p in paths)}); give _0000 .. _{slicing.channels - 1:04d}."
        )
    out, geometry = [], None
    for path in paths:
        arr, geo = read_volume(path)
        if arr.ndim != 3:
            raise DataError(
                f"{path} has shape {arr.shape}; expected a 3D scalar volume (z, y, x). Split 4D files into one "
                "file per channel (case_0000, case_0001, ...)."
            )
        if out and arr.shape != out[0].shape:
            raise DataError(
                f"{path} has shape {arr.shape} but {paths[0]} has {out[0].shape}; channels must match."
            )
        out.append(normalize_volume(arr, slicing.modality, slicing.window))
        geometry = geometry or geo
    return np.stack(out), geometry


def slice_stack(volume: np.ndarray, axis: int, index: int, context: int) -> np.ndarray:
    """The slice ``index`` along ``axis`` of ``(C, z, y, x)`` with ``context`` neighbours on each side,
    as ``(H, W, C * (2 * context + 1))``: offset ``-context`` first, all channels per offset; slices
    past the edge repeat the edge slice.

    Example:
        >>> v = np.arange(4, dtype=np.float32).reshape(1, 4, 1, 1)  # z = 0..3
        >>> slice_stack(v, 0, 0, 1)[0, 0].tolist(), slice_stack(v, 0, 3, 1)[0, 0].tolist()
        ([0.0, 0.0, 1.0], [2.0, 3.0, 3.0])
    """
    n = volume.shape[axis + 1]
    picks = [min(max(index + o, 0), n - 1) for o in range(-context, context + 1)]
    parts = [np.take(volume, p, axis=axis + 1) for p in picks]  # each (C, H, W)
    return np.ascontiguousarray(np.concatenate(parts, axis=0).transpose(1, 2, 0), dtype=np.float32)


def _label_slice(label: np.ndarray, axis: int, index: int) -> np.ndarray:
    return np.ascontiguousarray(np.take(label, index, axis=axis))


# ----------------------------------------------------------------------------- the dataset


class VolumeSliceDataset(SegmentationDataset):
    """2D slices of 3D volumes (NIfTI, NRRD, MetaImage), for training any 2D architecture.

    Args:
        root: The dataset folder.
        split: ``"train"``, ``"val"``, ``"test"``, ``"trainval"`` or ``"all"`` (of cases, not slices).
        transforms: Joint transforms (``None``: none). Slices are float32, already scaled: leave
            ``color_jitter`` out of ``data.augment``.
        spec: A DatasetSpec, a dict, or a JSON file; ``None`` reads ``root/spec.json``. Its ``volume``
            entry (written by ``segwise data init``) gives the defaults of ``axis``, ``modality`` and
            ``ct_window``.
        axis: Array axis to slice along: 0 (z, axial for most scans), 1 (y) or 2 (x). Default: the
            spec's, else 0.
        context: 2.5D: neighbouring slices on each side stacked as extra input channels (edges
            repeat the edge slice); the model gets ``channels * (2 * context + 1)`` channels. Default:
            the spec's, else 0.
        modality: ``"mri"`` (z-score over each volume's non-zero voxels), ``"ct"`` (clip to
            ``ct_window`` and scale to [0, 1]) or ``"none"``. Default: the spec's, else ``"mri"``.
        ct_window: CT only: ``[low, high]`` in HU (default the spec's, else [-1000, 1000]; a soft-tissue
            window is [-160, 240]).
        empty_slice_fraction: The ``train`` split keeps only this fraction of the slices whose label
            holds no foreground (no class other than 0), drawn once with ``seed``; other splits keep
            every slice, so validation still sees false positives on empty slices. 1 keeps all.
        split_file: A file of case names to use instead of ``split``.
        val_fraction: Random split only: share of cases in ``val``.
        test_fraction: Random split only: share of cases in ``test``.
        split_seed: Random split only: its seed.
        images: Subfolder of image volumes (``imagesTr`` for nnU-Net layouts).
        masks: Subfolder of label volumes (``labelsTr`` for nnU-Net layouts).
        seed: Seed of augmentation and of the choice of empty slices.
        cache: Decode cache: scaled volumes are stored there and memory-mapped (``False``: keep the last
            two decoded cases in memory).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        transforms: Transform | None = None,
        *,
        spec: DatasetSpec | str | os.PathLike[str] | Mapping[str, Any] | None = None,
        axis: int | None = None,
        context: int | None = None,
        modality: str | None = None,
        ct_window: list[float] | None = None,
        empty_slice_fraction: float = 1.0,
        split_file: str | os.PathLike[str] | None = None,
        val_fraction: float = 0.2,
        test_fraction: float = 0.0,
        split_seed: int = 0,
        images: str = "images",
        masks: str = "masks",
        seed: int = 0,
        cache: CacheArg = True,
    ) -> None:
        if root is None:
            raise InputError("the volumes dataset needs root=DIR (a folder with image and label volumes).")
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise DataError(f"dataset folder {self.root} does not exist.")
        if not 0.0 <= float(empty_slice_fraction) <= 1.0:
            raise InputError(f"empty_slice_fraction must be in [0, 1]; got {empty_slice_fraction!r}.")
        cases = pair_volume_cases(self.root / images, self.root / masks)
        self.cases = {c.id: c for c in cases}
        samples = [Sample(c.id, c.images[0], c.label) for c in cases]  # type: ignore[arg-type]
        chosen = select_split(
            self.root,
            split,
            samples,
            split_file=split_file,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            split_seed=split_seed,
        )
        base = load_spec(spec, self.root)
        slicing = resolve_slicing(base.volume, len(cases[0].images), axis, context, modality, ct_window)
        n = slicing.in_channels
        resolved = base.replace(volume=slicing, in_channels=n, mean=(0.0,) * n, std=(1.0,) * n)
        if resolved.mask_encoding not in ("index", "value_map"):
            raise InputError(
                f"label volumes hold class ids; the spec's mask_encoding is {resolved.mask_encoding!r}. "
                "Use 'index' (or 'value_map' to map stored values)."
            )
        self.split = split
        self.slicing = slicing
        if transforms is None:
            from segwise.data.transforms import build_transforms

            transforms = build_transforms("none", resolved, train=False)
        super().__init__(chosen, resolved, transforms, seed=seed, cache=cache)
        self._memory: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self.slices = self._index_slices(float(empty_slice_fraction) if split == "train" else 1.0)

    def __len__(self) -> int:
        return len(self.slices)

    def __repr__(self) -> str:
        return (
            f"VolumeSliceDataset({self.spec.name!r}, {len(self.files)} cases, {len(self)} slices, "
            f"axis {self.slicing.axis}, context {self.slicing.context}, {self.slicing.modality})"
        )

    def _index_slices(self, empty_fraction: float) -> list[tuple[int, int]]:
        """``(case index, slice index)`` of every sample; empty slices thinned to ``empty_fraction``."""
        out: list[tuple[int, int]] = []
        axis = self.slicing.axis
        for j in range(len(self.files)):
            label = self.load_file_mask(j, mmap=True)
            other = tuple(a for a in range(3) if a != axis)
            fg = label != 0
            if self.spec.ignore_index is not None:
                fg &= label != self.spec.ignore_index
            has_fg = fg.any(axis=other)
            keep = has_fg.copy()
            empty = np.flatnonzero(~has_fg)
            if empty.size:
                k = round(empty.size * empty_fraction)
                rng = np.random.default_rng([self.seed, j, 7])
                keep[rng.choice(empty, size=k, replace=False)] = True
            out.extend((j, int(s)) for s in np.flatnonzero(keep))
        if not out:
            raise DataError(
                f"the {self.split} split of {self.root} has no slices (empty_slice_fraction removed every one); "
                "raise empty_slice_fraction."
            )
        return out

    # -- decoding (cached) -------------------------------------------------------------------
    def _tag(self) -> str:
        v = self.slicing
        return f"volume:{v.modality}:{v.window}:{v.channels}"

    def load_file_image(self, j: int, *, mmap: bool = False) -> np.ndarray:
        """Scaled image channels of case ``j``: ``(C, z, y, x)`` float32 (memory-mapped from the cache)."""
        case = self.cases[self.files[j].id]

        def decode(_: Any = None) -> np.ndarray:
            return read_case_image(case.images, self.slicing)[0]

        if not self.cache.enabled:
            return self._remember(("image", j), decode)
        # channel 0 keys the entry (path, size, mtime); the other channels' names and mtimes join the tag
        tag = self._tag() + "".join(f"|{p.resolve()}:{p.stat().st_mtime_ns}" for p in case.images[1:])
        return self._cached(("image", j), case.images[0], tag, decode)

    def load_file_mask(self, j: int, *, mmap: bool = False) -> np.ndarray:
        """Class ids of case ``j``: ``(z, y, x)`` (memory-mapped from the cache)."""
        path = self.files[j].mask
        if not self.cache.enabled:
            return self._remember(("mask", j), lambda: self._decode_mask(path))
        return self._cached(("mask", j), path, self._mask_tag + ":volume", self._decode_mask)

    def _cached(self, key: tuple[str, int], path: Path, tag: str, decode: Any) -> np.ndarray:
        """The memory-mapped cache entry; when the cache cannot store it (a read-only folder), the
        decoded array joins the in-memory LRU instead of being decoded again for every slice."""
        if key in self._memory:
            return self._remember(key, decode)
        arr = self.cache.load(path, tag, decode, mmap=True)
        if not isinstance(arr, np.memmap):
            self._remember(key, lambda: arr)
        return arr

    def _remember(self, key: tuple[str, int], decode: Any) -> np.ndarray:
        if key in self._memory:
            self._memory.move_to_end(key)
            return self._memory[key]
        arr = decode()
        self._memory[key] = arr
        while len(self._memory) > 2 * LRU_VOLUMES:  # image and label of the last cases
            self._memory.popitem(last=False)
        return arr

    def _decode_mask(self, path: Path) -> np.ndarray:
        arr, _ = read_volume(path)
        if arr.ndim != 3:
            raise DataError(f"label volume {path} has shape {arr.shape}; expected a 3D volume (z, y, x).")
        if arr.dtype.kind == "f":
            if not np.all(arr == np.round(arr)):
                raise DataError(
                    f"label volume {path} holds fractional values; labels must be integer class ids "
                    "(resample label maps with nearest-neighbour interpolation)."
                )
        arr = arr.astype(np.int64)
        spec = self.spec
        if spec.mask_encoding == "value_map":
            lut = dict(spec.value_map or ())
            bad = sorted(set(np.unique(arr).tolist()) - set(lut))
            if bad:
                raise DataError(
                    f"label volume {path} holds values {bad[:8]} that are not in the spec's value_map."
                )
            out = np.zeros_like(arr)
            for k, v in lut.items():
                out[arr == k] = v
            arr = out
        check_mask_values(arr, spec.num_classes, spec.ignore_index, source=f"label volume {path}")
        dtype = np.uint8 if max(spec.num_classes, spec.ignore_index or 0) < 256 else np.int32
        return arr.astype(dtype)

    def num_files(self) -> int:
        """Number of cases."""
        return len(self.files)

    # -- samples -----------------------------------------------------------------------------
    def load_raw(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Sample ``index`` untransformed: ``((H, W, C') float32, (H, W) class ids)``."""
        j, s = self.slices[index]
        image, label = self.load_file_image(j), self.load_file_mask(j)
        if tuple(image.shape[1:]) != tuple(label.shape):
            case = self.cases[self.files[j].id]
            raise DataError(
                f"image {case.images[0]} has shape {tuple(image.shape[1:])} (z, y, x) but its label {case.label} "
                f"has {tuple(label.shape)}; resample the label onto the image grid (nearest neighbour)."
            )
        v = self.slicing
        return slice_stack(image, v.axis, s, v.context), _label_slice(label, v.axis, s)

    def warm_cache(self, workers: int = 0) -> None:
        """Decode every case into the cache now (scaled images and labels)."""
        from concurrent.futures import ThreadPoolExecutor

        def one(j: int) -> None:
            self.load_file_image(j)
            self.load_file_mask(j)

        with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
            list(pool.map(one, range(len(self.files))))

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        index, epoch = self._index(key)
        image, mask = self.load_raw(index)
        return self.transforms(image, mask, self.sample_rng(index, epoch))


def resolve_slicing(
    base: VolumeSlicing | None,
    channels: int,
    axis: int | None = None,
    context: int | None = None,
    modality: str | None = None,
    ct_window: Sequence[float] | None = None,
) -> VolumeSlicing:
    """The slicing of a dataset: each option given, else the spec's, else the default.

    Example:
        >>> resolve_slicing(VolumeSlicing(modality="ct"), 1, context=2).to_dict()
        {'axis': 0, 'context': 2, 'modality': 'ct', 'window': [-1000.0, 1000.0], 'channels': 1}
    """
    b = base or VolumeSlicing()
    window = tuple(ct_window) if ct_window is not None else b.window
    if len(window) != 2:
        raise InputError(f"ct_window must be [low, high] in HU; got {list(window)}.")
    return VolumeSlicing(
        axis=b.axis if axis is None else axis,
        context=b.context if context is None else context,
        modality=b.modality if modality is None else modality,
        window=window,  # type: ignore[arg-type]
        channels=channels,
    )
