"""Pairing files across folders: one rule for images, masks, ROI masks and predictions.

A file's *key* is its stem (the name without its suffix; double suffixes such as ``.nii.gz`` are
removed whole: ``case_001.nii.gz`` has the stem ``case_001``), or, with a ``match`` regex, the first
capture group of the regex searched in the stem. ``--match '^(\\d+)_'`` gives ``21_training.tif``,
``21_manual1.gif`` and ``21_training_mask.gif`` the same key ``21``. With a regex, every file of a
folder must match it and no key may occur twice in one folder; both are errors that list the files.
Without a regex, the stem is the key, and predictions and ROI masks may also pair by prefix (see
:func:`pair_to`).

Every command that pairs files (``data init``, training on a folder, ``eval``, ``compare-preds``,
``predict --eval-gt/--roi``) goes through this module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from segwise.data.volumes import volume_stem
from segwise.errors import DataError, InputError, some

SEPARATORS = ("_", "-", ".")
# nnU-Net / Medical Segmentation Decathlon: image channels are <case>_0000, <case>_0001, ...
CHANNEL_SUFFIX = re.compile(r"(.+)_(\d{4})")  # nnU-Net/MSD channel files: case_0000
PAIRING_RULE = (
    "files pair by key: the file stem, or with --match REGEX the first capture group of REGEX searched in "
    "the stem; without --match a prediction or ROI file may also pair with the ground truth whose stem is "
    "the longest prefix of its stem followed by '_', '-' or '.'"
)


def compile_match(match: str | re.Pattern[str] | None, what: str = "--match") -> re.Pattern[str] | None:
    """Compile a pairing regex; it must have at least one capture group.

    >>> compile_match(r"^(\\d+)_").pattern
    '^(\\\\d+)_'
    >>> compile_match("^abc")  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    segwise.errors.InputError: --match '^abc' has no capture group; the first group (...) is the pairing key,
    e.g. --match '^(\\d+)_'.
    """
    if match is None or match == "":
        return None
    if isinstance(match, re.Pattern):
        pattern = match
    else:
        try:
            pattern = re.compile(match)
        except re.error as exc:
            raise InputError(f"{what} '{match}' is not a valid regular expression: {exc}.") from None
    if pattern.groups < 1:
        raise InputError(
            f"{what} '{pattern.pattern}' has no capture group; the first group (...) is the pairing key, "
            r"e.g. --match '^(\d+)_'."
        )
    return pattern


def file_stem(path: Path) -> str:
    """The stem a key is taken from: the name without its suffix, double suffixes such as
    ``.nii.gz`` included.

    >>> file_stem(Path("case_001.nii.gz")), file_stem(Path("a.b.png"))
    ('case_001', 'a.b')
    """
    return volume_stem(path)


def has_suffix(path: Path, suffixes: Sequence[str]) -> bool:
    """Whether the name of ``path`` ends with one of ``suffixes`` (case-insensitive; ``.nii.gz`` works)."""
    name = path.name.lower()
    return any(name.endswith(s.lower()) for s in suffixes)


def list_files(folder: Path, suffixes: Sequence[str], role: str) -> list[Path]:
    """The files of ``folder`` with one of ``suffixes`` (case-insensitive), sorted; hidden files skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{role} folder {folder} does not exist; expected files {', '.join(suffixes)} there.")
    return sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and has_suffix(p, suffixes)
    )


def keyed_files(
    folder: str | Path,
    suffixes: Sequence[str],
    role: str,
    match: str | re.Pattern[str] | None = None,
) -> dict[str, Path]:
    """``{key: path}`` of the files in ``folder``: keys are stems, or the first group of ``match``.

    Raises :class:`DataError` naming every file the regex does not match and every key that two
    files share.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> for n in ("21_manual1.gif", "22_manual1.gif"):
        ...     _ = (d / n).write_bytes(b"")
        >>> sorted(keyed_files(d, (".gif",), "mask", r"^(\\d+)_"))
        ['21', '22']
    """
    folder = Path(folder)
    pattern = compile_match(match)
    files: dict[str, Path] = {}
    unmatched: list[str] = []
    dups: dict[str, list[str]] = {}
    for p in list_files(folder, suffixes, role):
        stem = file_stem(p)
        if pattern is None:
            key = stem
        else:
            m = pattern.search(stem)
            if m is None or m.group(1) is None:
                unmatched.append(p.name)
                continue
            key = m.group(1)
        if key in files:
            dups.setdefault(key, [files[key].name]).append(p.name)
        else:
            files[key] = p
    problems = []
    if unmatched:
        problems.append(
            f"{len(unmatched)} files in {role} folder {folder} do not match --match '{pattern.pattern}': "  # type: ignore[union-attr]
            f"{some(sorted(unmatched))}"
        )
    if dups:
        how = "stem" if pattern is None else "key"
        listed = "; ".join(
            f"two files with the {how} {k!r}: {' and '.join(v)}" for k, v in sorted(dups.items())[:10]
        )
        of = "" if pattern is None else f" (keys: first group of --match '{pattern.pattern}')"
        problems.append(f"{role} folder {folder} has {listed}{of}")
    if problems:
        raise DataError(
            "; ".join(problems)
            + ". Each file needs exactly one partner: fix the regex (its first group is the "
            "key), or move the extra files away."
        )
    return files


def pair_to(
    reference: Mapping[str, Path], others: Mapping[str, Path], *, prefix: bool
) -> tuple[dict[str, Path], list[Path]]:
    """Pair each of ``others`` with a key of ``reference``.

    A key pairs with the same key; with ``prefix`` (stem pairing only) it may also pair with the
    longest reference key that prefixes it followed by ``_``, ``-`` or ``.`` (``a_pred`` -> ``a``).

    Returns:
        ``({reference key: other path}, others that pair with nothing)``. Two files pairing with
        the same reference key raise :class:`DataError`.
    """
    paired: dict[str, Path] = {}
    extra: list[Path] = []
    for key, path in others.items():
        match = key if key in reference else None
        if match is None and prefix:
            near = [
                r for r in reference if len(key) > len(r) and key.startswith(r) and key[len(r)] in SEPARATORS
            ]
            match = max(near, key=len) if near else None
        if match is None:
            extra.append(path)
        elif match in paired:
            raise DataError(
                f"two files pair with {reference[match].name}: {paired[match].name} and {path.name}. Keep one "
                "file per image, or pair by --match REGEX."
            )
        else:
            paired[match] = path
    return paired, extra


def unpaired_message(role_a: str, dir_a: Path, missing: Sequence[str], role_b: str) -> str:
    """``"3 images in DIR have no mask: a.png, ..."``."""
    return f"{len(missing)} {role_a} in {dir_a} have no {role_b}: {some(sorted(missing))}"


def pair_inputs(
    inputs: Sequence[Path], masks: Mapping[str, Path], match: str | re.Pattern[str] | None = None
) -> tuple[dict[Path, Path], list[str]]:
    """The mask of each input image, from ``masks`` as :func:`keyed_files` gives them.

    With ``match`` the image's key is the regex's first group in its stem. Without, a mask pairs
    with an image of the same stem, or when exactly one mask stem is ``<image stem>`` followed by
    ``_``, ``-`` or ``.`` and more (``a.jpg`` <-> ``a_mask.png``), or, nnU-Net/MSD naming, when the
    image stem ends with a four-digit channel suffix and the mask has the stem without it
    (``case_0000.nii.gz`` <-> ``case.nii.gz``).

    Returns:
        ``({image: mask}, names of the images without a mask)``.
    """
    pattern = compile_match(match)
    pairs: dict[Path, Path] = {}
    missing: list[str] = []
    for path in inputs:
        stem = file_stem(path)
        if pattern is not None:
            m = pattern.search(stem)
            found = masks.get(m.group(1)) if m is not None and m.group(1) is not None else None
        else:
            found = masks.get(stem)
            if found is None:
                n = len(stem)
                near = [p for k, p in masks.items() if k.startswith(stem) and k[n : n + 1] in SEPARATORS]
                found = near[0] if len(near) == 1 and file_stem(near[0]) != stem else None
            channel = CHANNEL_SUFFIX.fullmatch(stem)
            if found is None and channel is not None:
                found = masks.get(channel.group(1))
        if found is None:
            missing.append(path.name)
        else:
            pairs[path] = found
    return pairs, missing


def suggest_match(stems_a: Sequence[str], stems_b: Sequence[str]) -> str | None:
    """A ``--match`` regex that pairs two folders whose stems differ by a fixed suffix, else None.

    >>> suggest_match(["0001TP_008550", "0001TP_008580"], ["0001TP_008550_L", "0001TP_008580_L"])
    '^(.*?)(?:_L)?$'
    >>> suggest_match(["a", "b"], ["x", "y"]) is None
    True
    """
    for short, long in ((stems_a, stems_b), (stems_b, stems_a)):
        shorts = set(short)
        suffixes = set()
        for s in long:
            heads = [h for h in shorts if s.startswith(h) and len(s) > len(h)]
            if not heads:
                break
            suffixes.add(s[len(max(heads, key=len)) :])
        else:
            if len(suffixes) == 1 and long:
                return f"^(.*?)(?:{re.escape(suffixes.pop())})?$"
    return None
