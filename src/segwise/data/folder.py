"""A folder of images and masks paired by file stem, with split files or a seeded random split.

Layout::

    root/
      images/   a.jpg, b.png, ...      (PNG, JPEG, TIFF, GIF, BMP)
      masks/    a.png, b.png, ...      (lossless; encoding as the spec says)
      roi/      a.png, ...              optional (roi=): region-of-interest masks, 0 = not used
      spec.json                         optional: the DatasetSpec (else pass spec=)
      splits/   train.txt, val.txt ...  optional: one file stem, or one "image mask [roi]" path pair, per line

Files pair by stem, or by the first capture group of ``match`` (see :mod:`segwise.data.pairing`).
``segwise data init ROOT`` checks such a folder and writes ``spec.json`` and a starter config.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from segwise.data.base import CacheArg, SegmentationDataset, Transform
from segwise.data.files import (
    SPLITS,
    Sample,
    check_split_name,
    pair_samples,
    random_split,
    read_pair_list,
    read_split_file,
)
from segwise.data.spec import DatasetSpec, load_spec
from segwise.errors import DataError, InputError


def split_file_of(root: Path, split: str, split_file: str | os.PathLike[str] | None) -> list[Path] | None:
    """The split file(s) that define ``split``: ``split_file``, else ``root/splits/{split}.txt``
    (train + val for ``trainval``), else ``None`` (a seeded random split)."""
    if split_file is not None:
        return [Path(split_file)]
    check_split_name(split, SPLITS)
    split_dir = root / "splits"
    if split == "all" or not split_dir.is_dir():
        return None
    paths = (
        [split_dir / "train.txt", split_dir / "val.txt"]
        if split == "trainval"
        else [split_dir / f"{split}.txt"]
    )
    for path in paths:
        if not path.is_file():
            have = sorted(p.stem for p in split_dir.glob("*.txt"))
            raise DataError(
                f"split {split!r} has no file {path}; {split_dir} holds splits: {', '.join(have) or '(none)'}. "
                "Write the file (one stem per line), pass split_file=, or remove splits/ for a random split."
            )
    return paths


def select_split(
    root: Path,
    split: str,
    files: list[Sample],
    *,
    split_file: str | os.PathLike[str] | None = None,
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    split_seed: int = 0,
) -> list[Sample]:
    """Samples of ``split``: from ``split_file``, else ``root/splits/{split}.txt``, else a seeded random split."""
    paths = split_file_of(root, split, split_file)
    if paths is not None:
        return [s for path in paths for s in read_split_file(path, files)]
    if split == "all":
        return files
    return random_split(files, split, val_fraction=val_fraction, test_fraction=test_fraction, seed=split_seed)


def folder_files(
    root: str | os.PathLike[str],
    split: str,
    *,
    images: str = "images",
    masks: str = "masks",
    roi: str | None = None,
    match: str | None = None,
    split_file: str | os.PathLike[str] | None = None,
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    split_seed: int = 0,
) -> tuple[Path, list[Sample]]:
    """The root folder and the paired samples of ``split`` (shared by the folder and tiles datasets).

    A split file that lists ``image mask [roi]`` paths defines its samples itself; otherwise the
    folders are paired (by stem or ``match``) and the split chosen from them.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"dataset folder {root} does not exist.")
    paths = split_file_of(root, split, split_file)
    if paths is not None:
        listed = [read_pair_list(p, root) for p in paths]
        if all(x is not None for x in listed):
            return root, [s for part in listed for s in part]  # type: ignore[union-attr]
    files = pair_samples(root / images, root / masks, root / roi if roi else None, match=match)
    chosen = select_split(
        root,
        split,
        files,
        split_file=split_file,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        split_seed=split_seed,
    )
    return root, chosen


class FolderDataset(SegmentationDataset):
    """Images and masks in ``root/images`` and ``root/masks``, paired by file stem.

    Args:
        root: The dataset folder.
        split: ``"train"``, ``"val"``, ``"test"``, ``"trainval"`` or ``"all"``.
        transforms: Joint transforms (``None``: normalise only).
        spec: A DatasetSpec, a dict, or a JSON file; ``None`` reads ``root/spec.json``.
        split_file: A file of stems to use instead of ``split``.
        val_fraction: Random split only: share of samples in ``val``.
        test_fraction: Random split only: share of samples in ``test``.
        split_seed: Random split only: its seed (fixed, so splits do not move between runs).
        images: Name of the image subfolder.
        masks: Name of the mask subfolder.
        roi: Name of a subfolder of region-of-interest masks (e.g. a retina's field of view), paired like
            the masks: pixels where the ROI mask is 0 become the spec's ignore_index, so they are
            neither trained on nor evaluated. Needs an ignore_index in the spec.
        match: A regex whose first capture group, searched in each file stem, is the pairing key
            (e.g. ``^(\\d+)_`` pairs ``21_training.tif`` with ``21_manual1.gif``); default: the stem.
        seed: Seed of the per-sample augmentation.
        cache: Decode cache (see :class:`~segwise.data.base.SegmentationDataset`).
        unknown_colors: ``rgb`` masks: ``"error"`` or ``"ignore"`` for colours not in the spec.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        transforms: Transform | None = None,
        *,
        spec: DatasetSpec | str | os.PathLike[str] | Mapping[str, Any] | None = None,
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
            raise InputError("the folder dataset needs root=DIR (a folder with images/ and masks/).")
        self.root, files = folder_files(
            root,
            split,
            images=images,
            masks=masks,
            roi=roi,
            match=match,
            split_file=split_file,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            split_seed=split_seed,
        )
        self.split = split
        super().__init__(
            files,
            load_spec(spec, self.root),
            transforms,
            seed=seed,
            cache=cache,
            unknown_colors=unknown_colors,
        )
