"""``segwise data stats`` and ``segwise data init``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from segwise.cli.app import (
    ClassesOpt,
    IgnoreOpt,
    MatchOpt,
    NumClassesOpt,
    RoiSubdirOpt,
    SpecOpt,
    ValueMapOpt,
    WorkersOpt,
    app,
    console,
)
from segwise.data.readers import parse_value_map
from segwise.data.spec import load_spec, make_spec
from segwise.errors import InputError

data_app = typer.Typer(
    help="Datasets: check a folder and write its spec (init), class statistics and weights (stats).",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")


@data_app.command("stats")
def data_stats_cmd(
    dataset: Annotated[str, typer.Argument(help="camvid, folder, tiles or volumes.")],
    split: Annotated[str, typer.Option("--split", help="train, val, test, trainval or all.")] = "train",
    root: Annotated[
        Path | None, typer.Option("--root", help="Data folder (camvid: default $SEGWISE_CAMVID).")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the statistics as JSON (and the chart next to it).")
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Bar chart PNG of the class shares (default: JSON path .png)."),
    ] = None,
    spec: SpecOpt = None,
    classes: ClassesOpt = None,
    num_classes: NumClassesOpt = None,
    ignore_index: IgnoreOpt = None,
    encoding: Annotated[
        str | None, typer.Option("--encoding", help="folder/tiles: index, palette, rgb or value_map.")
    ] = None,
    value_map: ValueMapOpt = None,
    split_file: Annotated[
        Path | None, typer.Option("--split-file", help="folder/tiles: file of stems to use.")
    ] = None,
    unknown_colors: Annotated[
        str, typer.Option("--unknown-colors", help="rgb masks: 'error' or 'ignore' colours not in the table.")
    ] = "error",
    images: Annotated[str | None, typer.Option("--images", help="folder/tiles: image subfolder.")] = None,
    masks: Annotated[str | None, typer.Option("--masks", help="folder/tiles: mask subfolder.")] = None,
    roi: RoiSubdirOpt = None,
    match: MatchOpt = None,
    workers: WorkersOpt = 0,
) -> None:
    """Per-class pixel share, images containing each class, and median-frequency, inverse-frequency and
    ENet class weights of a dataset split."""
    from segwise.cli.render import print_class_stats
    from segwise.data.stats import class_stats, plot_class_shares

    options = stats_options(
        dataset,
        root,
        spec=spec,
        classes=classes,
        num_classes=num_classes,
        ignore_index=ignore_index,
        encoding=encoding,
        value_map=value_map,
        split_file=split_file,
        unknown_colors=unknown_colors,
        layout={"images": images, "masks": masks, "roi": roi, "match": match},
    )
    stats = class_stats(dataset, split, root, workers=workers, **options)
    print_class_stats(stats, console)
    if json_out is not None:
        from segwise.io_utils import write_json

        write_json(json_out, stats.to_dict())
        console.print(f"wrote {json_out}")
    plot = plot or (json_out.with_suffix(".png") if json_out is not None else None)
    if plot is not None:
        plot_class_shares(stats, plot)
        console.print(f"wrote {plot}")


@data_app.command("init")
def data_init_cmd(
    root: Annotated[Path, typer.Argument(help="The dataset folder.")],
    images: Annotated[
        str, typer.Option("--images", help="Subfolder of images (PNG, JPEG, TIFF, GIF, BMP).")
    ] = "images",
    masks: Annotated[
        str, typer.Option("--masks", help="Subfolder of masks (PNG, TIFF, GIF, BMP).")
    ] = "masks",
    roi: RoiSubdirOpt = None,
    match: MatchOpt = None,
    value_map: ValueMapOpt = None,
    classes: ClassesOpt = None,
    ignore_index: Annotated[
        int | None, typer.Option("--ignore-index", help="The void value (default 255, unless it is a class).")
    ] = None,
    workers: WorkersOpt = 0,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing spec.json / train.toml.")
    ] = False,
    modality: Annotated[
        str | None,
        typer.Option("--modality", help="Volumes: ct, mri or none (default: guessed from the intensities)."),
    ] = None,
    axis: Annotated[
        int | None,
        typer.Option(
            "--axis", help="Volumes: slice along array axis 0 (z), 1 (y) or 2 (x) (default: guessed)."
        ),
    ] = None,
) -> None:
    """Scan a folder of images and masks (or of image and label volumes: NIfTI, NRRD, MHA), report every
    problem at once, and write ROOT/spec.json and a starter ROOT/train.toml."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from segwise.data.readers import parse_value_map
    from segwise.data.scan import scan_folder
    from segwise.data.volume_scan import has_volumes, scan_volume_folder, volume_only_flags
    from segwise.io_utils import atomic_write_text
    from segwise.train.starter import starter_config, starter_toml

    targets = [root / "spec.json", root / "train.toml"]
    existing = [str(p) for p in targets if p.exists()]
    if existing and not force:
        raise InputError(f"{' and '.join(existing)} already exist; pass --force to overwrite them.")
    vmap = parse_value_map(value_map) if value_map is not None else None
    with Progress(
        TextColumn("[bold]scan"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("scan", total=None)

        def on_file(done: int) -> None:
            bar.update(task, completed=done)

        if has_volumes(root / images):
            volume_only_flags(
                roi=roi, match=match, value_map=value_map, classes=classes, ignore_index=ignore_index
            )
            scan: Any = scan_volume_folder(
                root,
                images=images,
                masks=masks,
                modality=modality,
                axis=axis,
                workers=workers,
                on_file=on_file,
            )
        else:
            if modality is not None or axis is not None:
                raise InputError(
                    f"--modality and --axis apply to folders of volumes; {root / images} holds no volume files."
                )
            scan = scan_folder(
                root,
                images=images,
                masks=masks,
                roi=roi,
                match=match,
                value_map=vmap,
                classes=classes,
                ignore_index=ignore_index,
                workers=workers,
                on_file=on_file,
            )
    spec = scan.spec
    sizes = sorted(set(scan.sizes))
    size_text = (
        f"{sizes[0][1]}x{sizes[0][0]}"
        if len(sizes) == 1
        else f"{len(sizes)} sizes, {sizes[0][1]}x{sizes[0][0]} to {sizes[-1][1]}x{sizes[-1][0]}"
    )
    if spec.volume is not None:
        console.print(
            f"{len(scan.samples)} cases in {root} (images {images}/, labels {masks}/), {spec.volume.channels} "
            f"channel(s), {scan.num_slices} slices along axis {spec.volume.axis}, {size_text} (WxH); "
            f"modality {spec.volume.modality}; {scan.encoding_text}",
            highlight=False,
        )
    else:
        console.print(
            f"{len(scan.samples)} pairs in {root} (images {images}/, masks {masks}/"
            + (f", ROI {roi}/" if roi else "")
            + (f", paired by --match '{match}'" if match else ", paired by stem")
            + f"); images {size_text} (WxH), {spec.in_channels} channel(s); masks: {scan.encoding_text}",
            highlight=False,
        )
    table = Table(title=f"{spec.num_classes} classes (ignore index {spec.ignore_index})")
    for col in ("id", "class", "stored as", "pixel share %", "images"):
        table.add_column(col, justify="left" if col in ("class", "stored as") else "right")
    for i, name in enumerate(spec.class_names):
        table.add_row(
            str(i), name, scan.stored[i], f"{100 * scan.shares[i]:.2f}", str(int(scan.class_images[i]))
        )
    console.print(table)
    for note in scan.notes:
        console.print(f"[dim]note:[/] {escape(note)}", highlight=False)
    cfg = starter_config(scan)
    atomic_write_text(targets[0], spec.to_json() + "\n")
    atomic_write_text(targets[1], starter_toml(scan, cfg))
    console.print(f"wrote {targets[0]} and {targets[1]}", highlight=False)
    console.print(
        f"next: segwise train --config {targets[1]}   (then: segwise predict --checkpoint "
        f"{cfg.train.out_dir}/best.pt --input DIR --out OUT"
        + (f" --roi DIR --match '{match}'" if roi else "")
        + ")",
        highlight=False,
    )


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
