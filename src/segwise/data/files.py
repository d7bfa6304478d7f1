"""Finding (image, mask) file pairs on disk and choosing a split of them.

Pure file-system logic, no decoding: pairing by file stem, split files, seeded random splits.
Every problem (empty folder, unpaired files, unknown split entries) is a :class:`DataError` that
names the folder or file, what was found and the fix.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segwise.data.pairing import keyed_files, unpaired_message
from segwise.data.readers import IMAGE_SUFFIXES, LOSSY_SUFFIXES, MASK_SUFFIXES
from segwise.errors import DataError, InputError, closest, lookup, some


@dataclass(frozen=True)
class Sample:
    """One image, its mask and (optionally) its region-of-interest mask. ``id`` is the pairing key."""

    id: str
    image: Path
    mask: Path
    roi: Path | None = None


def pair_samples(
    images_dir: str | os.PathLike[str],
    masks_dir: str | os.PathLike[str],
    roi_dir: str | os.PathLike[str] | None = None,
    *,
    match: str | None = None,
) -> list[Sample]:
    """Pair every image in ``images_dir`` with its mask (and ROI mask) by key.

    The key is the file stem, or with ``match`` the first capture group of the regex searched in
    the stem (see :mod:`segwise.data.pairing`). Raises :class:`DataError` for a missing or empty
    folder, lossy (JPEG) masks, or unpaired files (all of them listed, so one run shows every
    problem).

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> for sub, name in [("images", "21_training.tif"), ("masks", "21_manual1.gif"), ("fov", "21_mask.gif")]:
        ...     (d / sub).mkdir(exist_ok=True)
        ...     _ = (d / sub / name).write_bytes(b"")
        >>> s = pair_samples(d / "images", d / "masks", d / "fov", match=r"^(\\d+)_")
        >>> s[0].id, s[0].mask.name, s[0].roi.name
        ('21', '21_manual1.gif', '21_mask.gif')
    """
    images_dir, masks_dir = Path(images_dir), Path(masks_dir)
    images = keyed_files(images_dir, IMAGE_SUFFIXES, "image", match)
    masks = keyed_files(masks_dir, MASK_SUFFIXES + LOSSY_SUFFIXES, "mask", match)
    if not images:
        raise DataError(f"image folder {images_dir} is empty: no {', '.join(IMAGE_SUFFIXES)} files found.")
    if not masks:
        raise DataError(f"mask folder {masks_dir} is empty: no {', '.join(MASK_SUFFIXES)} files found.")
    lossy = [p.name for p in masks.values() if p.suffix.lower() in LOSSY_SUFFIXES]
    if lossy:
        raise DataError(
            f"mask folder {masks_dir} holds JPEG masks ({some(sorted(lossy))}): lossy compression changes class ids "
            "at edges. Store masks as PNG."
        )
    rois: dict[str, Path] = {}
    if roi_dir is not None:
        rois = keyed_files(Path(roi_dir), MASK_SUFFIXES, "ROI mask", match)
    parts = []
    no_mask = [images[k].name for k in images if k not in masks]
    no_image = [masks[k].name for k in masks if k not in images]
    if no_mask:
        parts.append(unpaired_message("images", images_dir, no_mask, "mask"))
    if no_image:
        parts.append(unpaired_message("masks", masks_dir, no_image, "image"))
    if roi_dir is not None:
        no_roi = [images[k].name for k in images if k not in rois]
        if no_roi:
            parts.append(unpaired_message("images", images_dir, no_roi, f"ROI mask in {roi_dir}"))
    if parts and match is None:
        from segwise.data.pairing import suggest_match

        regex = suggest_match([p.stem for p in images.values()], [p.stem for p in masks.values()])
        if regex is not None:
            parts.append(
                f"the mask names look like the image names plus a fixed suffix: try --match '{regex}'"
            )
    if parts:
        how = (
            f"by the first group of --match '{match}'"
            if match
            else "by file stem (a.jpg <-> a.png); pass a --match REGEX (data.options.match) when names differ"
        )
        raise DataError("; ".join(parts) + f". Files are paired {how}: rename, remove or re-pair them.")
    return [Sample(k, images[k], masks[k], rois.get(k)) for k in sorted(images)]


def pair_by_stem(images_dir: str | os.PathLike[str], masks_dir: str | os.PathLike[str]) -> list[Sample]:
    """Pair every image in ``images_dir`` with the mask of the same file stem in ``masks_dir``.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> for sub, name in [("images", "a.jpg"), ("masks", "a.png")]:
        ...     (d / sub).mkdir(exist_ok=True)
        ...     _ = (d / sub / name).write_bytes(b"")
        >>> [s.id for s in pair_by_stem(d / "images", d / "masks")]
        ['a']
    """
    return pair_samples(images_dir, masks_dir)


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
    by_id = {s.image.stem: s for s in samples}  # a listed image stem, or the pairing key (with --match)
    by_id.update({s.id: s for s in samples})
    chosen: list[Sample] = []
    unknown: list[str] = []
    seen: dict[str, int] = {}
    for lineno, tokens in _split_lines(path):
        line = tokens[0]
        stem = Path(line.replace("\\", "/")).stem
        stem = by_id[stem].id if stem in by_id else stem
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
        hint = closest(unknown[0], [x.id for x in samples])
        did = f" (did you mean {hint!r} for {unknown[0]!r}?)" if hint is not None else ""
        raise DataError(
            f"split file {path} lists {len(unknown)} samples that are not in the dataset: "
            f"{some(sorted(unknown))}{did}. "
            f"The dataset has {len(samples)} samples (e.g. {some(sorted(x.id for x in samples), 3)}); "
            "fix the file or the dataset root."
        )
    if not chosen:
        raise DataError(f"split file {path} lists no samples; write one file stem per line.")
    return chosen


def _split_lines(path: Path) -> list[tuple[int, list[str]]]:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise DataError(f"cannot read split file {path}: {exc.strerror or exc}.") from None
    out = []
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            out.append((lineno, line.split()))
    return out


def _resolve(token: str, bases: Sequence[Path]) -> Path | None:
    p = Path(token.replace("\\", "/")).expanduser()
    if p.is_absolute():
        return p if p.is_file() else None
    for base in bases:
        if (base / p).is_file():
            return base / p
    return None


def read_pair_list(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> list[Sample] | None:
    """The samples of a split file that lists explicit ``image mask [roi]`` paths, else ``None``.

    Paths are absolute or relative to ``root`` (or to the split file's folder). The file counts as a
    pair list when the first line's image and mask paths exist; then every line must: a missing
    file is a :class:`DataError` naming the line. Files whose paths do not exist (e.g. SegNet's
    ``/SegNet/CamVid/train/a.png ...`` lists) are read as lists of stems by :func:`read_split_file`.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> for n in ("img/1.tif", "gt/1_manual.gif"):
        ...     (d / n).parent.mkdir(exist_ok=True)
        ...     _ = (d / n).write_bytes(b"")
        >>> _ = (d / "train.txt").write_text("img/1.tif gt/1_manual.gif\\n")
        >>> [(s.id, s.mask.name) for s in read_pair_list(d / "train.txt", d)]
        [('1', '1_manual.gif')]
    """
    path, root = Path(path), Path(root)
    entries = _split_lines(path)
    bases = (root, path.parent)
    if not entries or len(entries[0][1]) < 2 or not all(_resolve(t, bases) for t in entries[0][1][:2]):
        return None
    samples: list[Sample] = []
    seen: dict[str, int] = {}
    for lineno, tokens in entries:
        if len(tokens) not in (2, 3):
            raise DataError(
                f"split file {path}, line {lineno}: expected 'image mask' or 'image mask roi' paths, got "
                f"{len(tokens)} fields."
            )
        found = [_resolve(t, bases) for t in tokens]
        missing = [t for t, f in zip(tokens, found, strict=True) if f is None]
        if missing:
            raise DataError(
                f"split file {path}, line {lineno}: {', '.join(missing)} not found (paths are absolute or relative "
                f"to {root}); fix the path."
            )
        image, mask, *roi = found
        if mask.suffix.lower() in LOSSY_SUFFIXES:  # type: ignore[union-attr]
            raise DataError(f"split file {path}, line {lineno}: mask {mask} is a JPEG; store masks as PNG.")
        sid = image.stem  # type: ignore[union-attr]
        if sid in seen:
            raise DataError(
                f"split file {path}, line {lineno}: image {sid!r} is listed twice (also line {seen[sid]})."
            )
        seen[sid] = lineno
        samples.append(Sample(sid, image, mask, roi[0] if roi else None))  # type: ignore[arg-type]
    return samples


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
    lookup(split, valid, "split")
