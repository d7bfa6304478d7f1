"""Large tiles (e.g. 6000x6000 aerial images) read as windows.

Each tile is decoded once into the decode cache; samples are windows read from the memory-mapped
cache entry, so a sample costs a window's worth of reading, not a tile decode. Training draws
random windows (``samples_per_tile`` per tile and epoch); evaluation walks a grid of windows that
covers every pixel exactly once (edge windows are padded with the ignore index).

The folder layout, spec and splits are those of :class:`~segwise.data.folder.FolderDataset`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from segwise.data.base import CacheArg, Transform
from segwise.data.folder import FolderDataset
from segwise.data.spec import DatasetSpec
from segwise.errors import DataError, InputError


@dataclass(frozen=True)
class Window:
    """A window of tile ``tile`` (file index) at ``(y, x)``; ``height x width`` of it lie inside the tile."""

    tile: int
    y: int
    x: int
    height: int
    width: int


def grid_windows(
    height: int, width: int, window: tuple[int, int], stride: tuple[int, int]
) -> list[tuple[int, int]]:
    """Top-left corners of a grid of windows covering a ``height x width`` tile.

    Corners step by ``stride`` until the tile is covered; the last row/column may reach past the
    edge (it is padded).

    Example:
        >>> grid_windows(5, 4, (2, 4), (2, 4))
        [(0, 0), (2, 0), (4, 0)]
    """
    (wh, ww), (sh, sw) = window, stride
    ys = list(range(0, max(height - wh, 0) + 1, sh))
    xs = list(range(0, max(width - ww, 0) + 1, sw))
    if ys[-1] + wh < height:
        ys.append(ys[-1] + sh)
    if xs[-1] + ww < width:
        xs.append(xs[-1] + sw)
    return [(y, x) for y in ys for x in xs]


def _pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(int(v) for v in value)
    if len(pair) != 2 or min(pair) < 1:
        raise InputError(f"{name} must be a positive int or (height, width); got {value!r}.")
    return pair  # type: ignore[return-value]


class TileDataset(FolderDataset):
    """Windows of large tiles in ``root/images`` and ``root/masks`` (paired by file stem).

    Args:
        root: The dataset folder (layout as for the folder dataset).
        split: ``"train"``, ``"val"``, ``"test"``, ``"trainval"`` or ``"all"``.
        transforms: Joint transforms applied to each window (``None``: normalise only).
        spec: A DatasetSpec, a dict, or a JSON file; ``None`` reads ``root/spec.json``.
        window: Window size, an int or ``(height, width)``.
        stride: Grid step (default: ``window``, no overlap).
        mode: ``"random"`` windows (default for ``train``), a ``"grid"`` (default otherwise), or
            ``"whole"``: one sample per tile, unpadded (statistics, sliding-window prediction).
        samples_per_tile: Random mode: windows per tile and epoch.
        split_file, val_fraction, test_fraction, split_seed, images, masks, roi, match: As for the
            folder dataset.
        seed: Seed of window positions and augmentation.
        cache: Decode cache; tiles need it (``False`` is refused).
        unknown_colors: ``rgb`` masks: ``"error"`` or ``"ignore"``.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        transforms: Transform | None = None,
        *,
        spec: DatasetSpec | str | os.PathLike[str] | Mapping[str, Any] | None = None,
        window: int | tuple[int, int] = 512,
        stride: int | tuple[int, int] | None = None,
        mode: Literal["random", "grid", "whole"] | None = None,
        samples_per_tile: int = 16,
        split_file: str | os.PathLike[str] | None = None,
        val_fraction: float = 0.2,
        test_fraction: float = 0.0,
        split_seed: int = 0,
        images: str = "images",
        masks: str = "masks",
        roi: str | None = None,
        match: str | None = None,
        seed: int = 0,
        cache: CacheArg = True,
        unknown_colors: str = "error",
    ) -> None:
        if root is None:
            raise InputError("the tiles dataset needs root=DIR (a folder with images/ and masks/).")
        if cache is False:
            raise InputError(
                "the tiles dataset reads windows from decoded tiles in the decode cache; cache=False is not "
                "supported (pass a cache folder instead)."
            )
        FolderDataset.__init__(  # same files, split and spec as the folder dataset
            self,
            root,
            split,
            transforms,
            spec=spec,
            split_file=split_file,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            split_seed=split_seed,
            images=images,
            masks=masks,
            roi=roi,
            match=match,
            seed=seed,
            cache=cache,
            unknown_colors=unknown_colors,
        )
        self.window = _pair(window, "window")
        self.stride = _pair(stride, "stride") if stride is not None else self.window
        self.mode = mode or ("random" if split == "train" else "grid")
        if self.mode not in ("random", "grid", "whole"):
            raise InputError(f"mode must be 'random', 'grid' or 'whole'; got {self.mode!r}.")
        if samples_per_tile < 1:
            raise InputError(f"samples_per_tile must be >= 1; got {samples_per_tile}.")
        self.samples_per_tile = int(samples_per_tile)
        self.tile_sizes = [self._header_size(j) for j in range(len(self.files))]
        self.windows: list[Window] = []
        if self.mode == "whole":
            self.windows = [Window(j, 0, 0, h, w) for j, (h, w) in enumerate(self.tile_sizes)]
            return
        if self.mode == "grid":
            for j, (h, w) in enumerate(self.tile_sizes):
                for y, x in grid_windows(h, w, self.window, self.stride):
                    self.windows.append(
                        Window(j, y, x, min(self.window[0], h - y), min(self.window[1], w - x))
                    )
        needs_pad = any(h < self.window[0] or w < self.window[1] for h, w in self.tile_sizes) or any(
            (win.height, win.width) != self.window for win in self.windows
        )
        if needs_pad and self.spec.ignore_index is None:
            raise InputError(
                f"tiles of sizes {sorted(set(self.tile_sizes))} need padded windows of {self.window}, but the spec "
                f"{self.spec.name!r} has no ignore_index for the padding; set ignore_index, or choose a window and "
                "stride that divide the tile size."
            )

    def _header_size(self, j: int) -> tuple[int, int]:
        """Tile height and width from the file headers (no decoding); image and mask must agree."""
        sizes = []
        for path in (self.files[j].image, self.files[j].mask):
            try:
                with Image.open(path) as img:
                    sizes.append((img.height, img.width))
            except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
                raise DataError(
                    f"cannot read {path}: {exc}. The file is truncated or not an image."
                ) from None
        self.check_sizes(j, (*sizes[0], 3), sizes[1])
        return sizes[0]

    def __len__(self) -> int:
        if self.mode != "random":
            return len(self.windows)
        return len(self.files) * self.samples_per_tile

    def window_at(self, index: int, epoch: int | None = None) -> Window:
        """The window of sample ``index``: fixed in grid mode, drawn from ``(seed, epoch, index)`` in random mode."""
        if self.mode != "random":
            return self.windows[index]
        j = index // self.samples_per_tile
        h, w = self.tile_sizes[j]
        wh, ww = self.window
        rng = np.random.default_rng([self.seed, self.epoch if epoch is None else epoch, index, 1])
        y = int(rng.integers(0, max(h - wh, 0) + 1))
        x = int(rng.integers(0, max(w - ww, 0) + 1))
        return Window(j, y, x, min(wh, h - y), min(ww, w - x))

    def _read_window(self, win: Window) -> tuple[np.ndarray, np.ndarray]:
        image = self.load_file_image(win.tile, mmap=True)
        mask = self.load_file_mask(win.tile, mmap=True)
        self.check_sizes(win.tile, image.shape, mask.shape)
        ys, xs = slice(win.y, win.y + win.height), slice(win.x, win.x + win.width)
        img, msk = np.array(image[ys, xs]), np.array(mask[ys, xs])  # copies only the window
        wh, ww = self.window
        if self.mode != "whole" and (win.height, win.width) != (wh, ww):
            fill = np.array([round(m * 255) for m in self.spec.mean], dtype=np.uint8)
            full_img = np.empty((wh, ww, img.shape[2]), np.uint8)
            full_img[:] = fill
            full_img[: win.height, : win.width] = img
            full_msk = np.full((wh, ww), self.spec.ignore_index, dtype=msk.dtype)
            full_msk[: win.height, : win.width] = msk
            img, msk = full_img, full_msk
        return img, msk

    def load_raw(self, index: int, epoch: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Untransformed window ``index``: ``((h, w, C) uint8, (h, w) class ids)``, padded at tile edges."""
        return self._read_window(self.window_at(index, epoch))

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        index, epoch = self._index(key)
        image, mask = self.load_raw(index, epoch)
        return self.transforms(image, mask, self.sample_rng(index, epoch))
