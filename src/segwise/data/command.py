"""``segwise data stats``: the glue between the CLI options and :func:`~segwise.data.stats.class_stats`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from segwise.data.spec import load_spec, make_spec
from segwise.errors import InputError


def parse_value_map(text: str) -> dict[int, int]:
    """Parse ``"0:0,255:1"`` into ``{0: 0, 255: 1}``.

    >>> parse_value_map("0:0, 255:1")
    {0: 0, 255: 1}
    """
    out: dict[int, int] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        try:
            key, value = (int(v) for v in part.split(":"))
        except ValueError:
            raise InputError(
                f"--value-map entry {part.strip()!r} is not STORED:CLASS; write e.g. --value-map 0:0,255:1."
            ) from None
        out[key] = value
    if not out:
        raise InputError("--value-map is empty; write e.g. --value-map 0:0,255:1.")
    return out


def stats_options(
    dataset: str,
    root: Path | None,
    *,
    spec: Path | None = None,
    classes: Path | None = None,
    num_classes: int | None = None,
    ignore_index: int | None = None,
    encoding: str | None = None,
    value_map: str | None = None,
    split_file: Path | None = None,
    in_channels: int = 3,
    unknown_colors: str = "error",
    layout: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """Dataset options from the command line: the spec of a folder/tiles dataset, its split file and its
    layout (``layout``: images/masks/roi subfolders and the pairing regex ``match``; None entries unset)."""
    layout = {k: v for k, v in (layout or {}).items() if v is not None}
    spec_flags = {
        "--spec": spec,
        "--classes": classes,
        "--num-classes": num_classes,
        "--ignore-index": ignore_index,
        "--encoding": encoding,
        "--value-map": value_map,
        "--split-file": split_file,
        **{f"--{k}": v for k, v in layout.items()},
    }
    if dataset == "camvid":
        given = [k for k, v in spec_flags.items() if v is not None]
        if given:
            raise InputError(f"{', '.join(given)} do not apply to camvid (its spec is built in); drop them.")
        if unknown_colors != "error":
            raise InputError(
                "--unknown-colors applies to rgb masks of folder/tiles datasets; camvid masks are index PNGs."
            )
        return {}
    options: dict[str, Any] = {"unknown_colors": unknown_colors, **layout}
    if dataset == "volumes":  # label volumes hold class ids: no colours, no ROI masks, pairing by case
        given = [f"--{k}" for k in ("roi", "match") if k in layout] + (
            ["--unknown-colors"] if unknown_colors != "error" else []
        )
        if given:
            raise InputError(f"{', '.join(given)} do not apply to the volumes dataset; drop them.")
        del options["unknown_colors"]
    if split_file is not None:
        options["split_file"] = split_file
    if spec is not None:
        if classes is not None or num_classes is not None:
            raise InputError("give either --spec FILE or --classes/--num-classes, not both.")
        options["spec"] = load_spec(spec, Path(root or "."))
    elif classes is not None or num_classes is not None or value_map is not None:
        name = Path(root).name if root is not None else dataset
        vmap = parse_value_map(value_map) if value_map else None
        if num_classes is None and classes is None and vmap is not None:  # the value map gives the classes
            num_classes = max(v for v in vmap.values() if v != ignore_index) + 1
        options["spec"] = make_spec(
            name,
            num_classes=num_classes,
            classes=classes,
            ignore_index=ignore_index,
            mask_encoding=encoding,
            value_map=vmap,
            in_channels=in_channels,
        )
    elif any(v is not None for v in (ignore_index, encoding)):
        raise InputError(
            "--ignore-index and --encoding describe a spec: add --num-classes, --classes or --value-map."
        )
    return options
