"""Finding (image, mask) file pairs on disk and choosing a split of them.

Pure file-system logic, no decoding: pairing by file stem, split files, seeded random splits.
Every problem (empty folder, unpaired files, unknown split entries) is a :class:`DataError` that
names the folder or file, what was found and the fix.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segwise.data.readers import IMAGE_SUFFIXES, LOSSY_SUFFIXES, MASK_SUFFIXES
from segwise.errors import DataError, InputError


@dataclass(frozen=True)
class Sample:
    """One image and its mask. ``id`` is the shared file stem."""

    id: str
    image: Path
    mask: Path


def _list_files(folder: Path, suffixes: Sequence[str], role: str) -> dict[str, Path]:
    if not folder.is_dir():
        raise DataError(f"{role} folder {folder} does not exist; expected files {', '.join(suffixes)} there.")
    files: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if not p.is_file() or p.name.startswith(".") or p.suffix.lower() not in suffixes:
            continue
        if p.stem in files:
            raise DataError(
                f"{role} folder {folder} has two files with the stem {p.stem!r}: {files[p.stem].name} and {p.name}; "
                "keep one, since images and masks are paired by stem."
            )
        files[p.stem] = p
    return files


def _some(names: Sequence[str], limit: int = 10) -> str:
    names = sorted(names)
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def pair_by_stem(images_dir: str | os.PathLike[str], masks_dir: str | os.PathLike[str]) -> list[Sample]:
    """Pair every image in ``images_dir`` with the mask of the same file stem in ``masks_dir``.

    Raises :class:`DataError` for a missing or empty folder, lossy (JPEG) masks, or unpaired files
    (all of them listed, so one run shows every problem).

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> for sub, name in [("images", "a.jpg"), ("masks", "a.png")]:
        ...     (d / sub).mkdir(exist_ok=True)
        ...     _ = (d / sub / name).write_bytes(b"")
        >>> [s.id for s in pair_by_stem(d / "images", d / "masks")]
        ['a']
    """
    images_dir, masks_dir = Path(images_dir), Path(masks_dir)
    images = _list_files(images_dir, IMAGE_SUFFIXES, "image")
    masks = _list_files(masks_dir, MASK_SUFFIXES + LOSSY_SUFFIXES, "mask")
    if not images:
        raise DataError(f"image folder {images_dir} is empty: no {', '.join(IMAGE_SUFFIXES)} files found.")
    if not masks:
        raise DataError(f"mask folder {masks_dir} is empty: no {', '.join(MASK_SUFFIXES)} files found.")
    lossy = [p.name for p in masks.values() if p.suffix.lower() in LOSSY_SUFFIXES]
    if lossy:
        raise DataError(
            f"mask folder {masks_dir} holds JPEG masks ({_some(lossy)}): lossy compression changes class ids "
            "at edges. Store masks as PNG."
        )
    no_mask = [images[s].name for s in images if s not in masks]
    no_image = [masks[s].name for s in masks if s not in images]
    if no_mask or no_image:
        parts = []
        if no_mask:
            parts.append(f"{len(no_mask)} images in {images_dir} have no mask: {_some(no_mask)}")
        if no_image:
            parts.append(f"{len(no_image)} masks in {masks_dir} have no image: {_some(no_image)}")
        raise DataError(
            "; ".join(parts)
            + ". Images and masks are paired by file stem (a.jpg <-> a.png): rename or remove "
            "the unpaired files."
        )
    return [Sample(s, images[s], masks[s]) for s in sorted(images)]


def read_split_file(path: str | os.PathLike[str], samples: Sequence[Sample]) -> list[Sample]:
    """Select the samples listed in a split file, in the file's order.

    Each non-empty line names one sample: a stem (``0001TP_006690``), a file name or a path (its
    stem is used), or SegNet-style ``image_path mask_path`` (the first path's stem is used). Lines
    starting with ``#`` are comments.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "val.txt").write_text("b\\n# a comment\\n/any/dir/a.png /any/dir/a_mask.png\\n")
        >>> s = [Sample(n, pathlib.Path(n + ".jpg"), pathlib.Path(n + ".png")) for n in "abc"]
        >>> [x.id for x in read_split_file(d / "val.txt", s)]
        ['b', 'a']
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise DataError(f"cannot read split file {path}: {exc.strerror or exc}.") from None
    by_id = {s.id: s for s in samples}
    chosen: list[Sample] = []
    unknown: list[str] = []
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        stem = Path(line.split()[0].replace("\\", "/")).stem
        if stem in seen:
            raise DataError(
                f"split file {path}, line {lineno}: {stem!r} is listed twice (also line {seen[stem]})."
            )
        seen[stem] = lineno
        if stem in by_id:
            chosen.append(by_id[stem])
        else:
            unknown.append(stem)
    if unknown:
        hint = difflib.get_close_matches(unknown[0], list(by_id), n=1)
        did = f" (did you mean {hint[0]!r} for {unknown[0]!r}?)" if hint else ""
        raise DataError(
            f"split file {path} lists {len(unknown)} samples that are not in the dataset: {_some(unknown)}{did}. "
            f"The dataset has {len(by_id)} samples (e.g. {_some(list(by_id), 3)}); fix the file or the dataset root."
        )
    if not chosen:
        raise DataError(f"split file {path} lists no samples; write one file stem per line.")
    return chosen


SPLITS = ("train", "val", "test", "trainval", "all")


def random_split(
    samples: Sequence[Sample],
    split: str,
    *,
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    seed: int = 0,
) -> list[Sample]:
    """A seeded random split: the same ``seed`` and fractions always give the same samples.

    ``split`` is ``"train"``, ``"val"``, ``"test"``, ``"trainval"`` (train + val) or ``"all"``. The
    split sizes are ``round(n * fraction)`` for val and test; train gets the rest.

    Example:
        >>> s = [Sample(str(i), Path(f"{i}.png"), Path(f"{i}.png")) for i in range(10)]
        >>> len(random_split(s, "train")), len(random_split(s, "val"))
        (8, 2)
        >>> set(x.id for x in random_split(s, "train")).isdisjoint(x.id for x in random_split(s, "val"))
        True
    """
    check_split_name(split)
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise InputError(
            f"val_fraction={val_fraction} and test_fraction={test_fraction} must be in [0, 1) with a sum below 1."
        )
    ordered = sorted(samples, key=lambda s: s.id)
    n = len(ordered)
    perm = np.random.default_rng(seed).permutation(n)
    n_val, n_test = round(n * val_fraction), round(n * test_fraction)
    parts = {
        "val": perm[:n_val],
        "test": perm[n_val : n_val + n_test],
        "train": perm[n_val + n_test :],
    }
    parts["trainval"] = np.concatenate([parts["train"], parts["val"]])
    parts["all"] = np.arange(n)
    chosen = sorted(parts[split].tolist())
    if not chosen:
        raise DataError(
            f"the random split {split!r} of {n} samples is empty (val_fraction={val_fraction}, "
            f"test_fraction={test_fraction}); raise the fraction or add samples."
        )
    return [ordered[i] for i in chosen]


def check_split_name(split: str, valid: Sequence[str] = SPLITS) -> None:
    """Raise :class:`InputError` for an unknown split name, with a suggestion."""
    if split not in valid:
        hint = difflib.get_close_matches(split, list(valid), n=1)
        did = f"did you mean {hint[0]!r}? " if hint else ""
        raise InputError(f"unknown split {split!r}; {did}expected one of {', '.join(valid)}.")
