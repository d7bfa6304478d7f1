"""The dataset base class: file pairs -> cached uint8 arrays -> joint transforms -> tensors."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segwise.data.cache import DecodeCache
from segwise.data.files import Sample
from segwise.data.readers import apply_roi, exif_orientation, read_image, read_roi, read_spec_mask
from segwise.data.spec import DatasetSpec
from segwise.errors import DataError, InputError

Transform = Callable[..., tuple[torch.Tensor, torch.Tensor]]
CacheArg = bool | str | os.PathLike[str] | DecodeCache


def make_cache(cache: CacheArg) -> DecodeCache:
    """``True``: the default folder; ``False``: no cache; a path: that folder; or a :class:`DecodeCache`."""
    if isinstance(cache, DecodeCache):
        return cache
    if isinstance(cache, bool):
        return DecodeCache(enabled=cache)
    return DecodeCache(cache)


def mask_tag(spec: DatasetSpec) -> str:
    """Cache tag of a decoded mask: changes whenever the decoding would (encoding, colours, map)."""
    key = repr((spec.mask_encoding, spec.colors, spec.ignore_index, spec.ignore_color, spec.value_map))
    return "mask:" + hashlib.sha1(key.encode()).hexdigest()[:16]


class SegmentationDataset(torch.utils.data.Dataset):
    """(image, mask) pairs from files, decoded once into a cache, then jointly transformed.

    ``dataset[i]`` returns ``(image, mask)``: a normalised float ``(C, H, W)`` tensor and an int64
    ``(H, W)`` tensor. The key may also be ``(i, epoch)`` (what :class:`EpochSampler` yields), so the
    random augmentation of sample ``i`` depends only on ``(seed, epoch, i)``, not on which worker
    loads it. :meth:`load_raw` gives the untransformed uint8 arrays.

    Args:
        files: The (image, mask) file pairs.
        spec: The dataset spec (validated here).
        transforms: A callable ``(image, mask, rng) -> (tensor, tensor)`` such as
            :func:`~segwise.data.transforms.build_transforms`; ``None`` normalises only.
        seed: Seed of the per-sample augmentation generators.
        cache: Decode cache: ``True`` (default folder), ``False``, a folder, or a ``DecodeCache``.
        unknown_colors: For ``rgb`` masks: ``"error"`` or ``"ignore"`` (map to the ignore index).
    """

    def __init__(
        self,
        files: Sequence[Sample],
        spec: DatasetSpec,
        transforms: Transform | None = None,
        *,
        seed: int = 0,
        cache: CacheArg = True,
        unknown_colors: str = "error",
    ) -> None:
        if unknown_colors not in ("error", "ignore"):
            raise InputError(f"unknown_colors must be 'error' or 'ignore'; got {unknown_colors!r}.")
        self.files = list(files)
        self.spec = spec.validate()
        if transforms is None:
            from segwise.data.transforms import build_transforms

            transforms = build_transforms("none", spec, train=False)
        self.transforms = transforms
        self.seed = int(seed)
        self.epoch = 0
        self.cache = make_cache(cache)
        self.unknown_colors = unknown_colors
        self._mask_tag = mask_tag(spec)
        if any(f.roi is not None for f in self.files) and spec.ignore_index is None:
            raise InputError(
                f"the dataset {spec.name!r} has region-of-interest masks, but its spec has no ignore_index to mark "
                'the pixels outside them; add "ignore_index": 255 to the spec (segwise data init --roi does).'
            )
        self._image_tag = f"image:{spec.in_channels}"

    def __len__(self) -> int:
        return len(self.files)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec.name!r}, {len(self)} samples, {self.cache!r})"

    @property
    def ids(self) -> list[str]:
        """Sample ids (file stems), in index order."""
        return [f.id for f in self.files]

    def set_epoch(self, epoch: int) -> None:
        """Epoch used for integer keys (keys ``(i, epoch)`` carry their own)."""
        self.epoch = int(epoch)

    def sample_rng(self, index: int, epoch: int | None = None) -> np.random.Generator:
        """The generator of sample ``index`` in ``epoch``: a function of ``(seed, epoch, index)`` only."""
        return np.random.default_rng([self.seed, self.epoch if epoch is None else int(epoch), int(index)])

    # -- decoding (cached) -------------------------------------------------------------------
    def load_file_image(self, j: int, *, mmap: bool = False) -> np.ndarray:
        """Decoded image of file pair ``j``: ``(H, W, C)`` uint8."""
        path = self.files[j].image
        return self.cache.load(path, self._image_tag, self._decode_image, mmap=mmap)

    def load_file_mask(self, j: int, *, mmap: bool = False) -> np.ndarray:
        """Decoded, checked mask of file pair ``j``: ``(H, W)`` class ids or the ignore index.

        With a region-of-interest mask, pixels where it is 0 hold the ignore index.
        """
        f = self.files[j]
        if f.roi is None:
            return self.cache.load(f.mask, self._mask_tag, self._decode_mask, mmap=mmap)
        roi_tag = f"{self._mask_tag}:roi:{f.roi}:{f.roi.stat().st_mtime_ns}"
        return self.cache.load(f.mask, roi_tag, lambda path: self._decode_mask_in_roi(path, f.roi), mmap=mmap)

    def _decode_mask_in_roi(self, path: Path, roi_path: Path) -> np.ndarray:
        mask = self._decode_mask(path)
        return apply_roi(mask, read_roi(roi_path), self.spec.ignore_index, source=f"{path} (ROI {roi_path})")

    def _decode_image(self, path: Path) -> np.ndarray:
        return read_image(path, self.spec.in_channels)

    def _decode_mask(self, path: Path) -> np.ndarray:
        return read_spec_mask(path, self.spec, unknown_colors=self.unknown_colors)  # type: ignore[arg-type]

    def check_sizes(self, j: int, image_shape: tuple[int, ...], mask_shape: tuple[int, ...]) -> None:
        """Raise :class:`DataError` when image and mask of pair ``j`` differ in size."""
        if tuple(image_shape[:2]) == tuple(mask_shape[:2]):
            return
        f = self.files[j]
        (ih, iw), (mh, mw) = image_shape[:2], mask_shape[:2]
        hint = ""
        if exif_orientation(f.image) in (5, 6, 7, 8) and (ih, iw) == (mw, mh):
            hint = (
                " The image carries an EXIF rotation, which segwise does not apply (pixels are used as stored): "
                "save the image with the rotation applied, or the mask without it."
            )
        raise DataError(
            f"image {f.image} is {ih}x{iw} (HxW) but its mask {f.mask} is {mh}x{mw}; they must be the same size. "
            f"Resize the mask with nearest-neighbour interpolation, or check the pairing.{hint}"
        )

    def warm_cache(self, workers: int = 0) -> None:
        """Decode every file into the cache now, ``workers`` threads at a time (0: one per core).

        Optional: the cache also fills as samples are read. Decoding releases the GIL, so threads help.
        """
        from concurrent.futures import ThreadPoolExecutor

        def one(j: int) -> None:
            self.load_file_image(j, mmap=True)
            self.load_file_mask(j, mmap=True)

        with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
            list(pool.map(one, range(len(self.files))))

    def num_files(self) -> int:
        """Number of (image, mask) file pairs (for windowed datasets, fewer than ``len(self)``)."""
        return len(self.files)

    # -- samples -----------------------------------------------------------------------------
    def load_raw(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Untransformed sample ``index``: ``((H, W, C) uint8, (H, W) class ids)``."""
        image, mask = self.load_file_image(index), self.load_file_mask(index)
        self.check_sizes(index, image.shape, mask.shape)
        return image, mask

    def _index(self, key: Any) -> tuple[int, int | None]:
        if isinstance(key, tuple):
            index, epoch = key
        else:
            index, epoch = key, None
        index = int(index)
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"sample index {index} is out of range for {n} samples")
        return index % n, epoch

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        index, epoch = self._index(key)
        image, mask = self.load_raw(index)
        return self.transforms(image, mask, self.sample_rng(index, epoch))
