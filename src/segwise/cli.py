"""The ``segwise`` command line: a thin typer layer over the Python API.

Each command parses its options, calls one API function and prints. Errors that bad input can
cause (:class:`segwise.errors.SegwiseError`) are printed without a traceback, exit status 2.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from segwise import __version__
from segwise.errors import InputError, SegwiseError

_STARTED = time.perf_counter()  # train --auto counts its budget from here (the command's start)
app = typer.Typer(
    name="segwise",
    help="Semantic segmentation: evaluate honestly, train, compare and report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # never wrap paths in messages


# Options shared by several commands, declared once.
NumClassesOpt = Annotated[
    int | None,
    typer.Option(
        "--num-classes",
        help="Number of evaluated classes C (default: from --spec, --classes or --value-map).",
    ),
]
IgnoreOpt = Annotated[
    int | None, typer.Option("--ignore-index", help="Ground-truth value to leave out (e.g. 11, 255).")
]
ClassesOpt = Annotated[
    Path | None, typer.Option("--classes", help="CSV id,name,r,g,b: class names and RGB mask colours.")
]
SpecOpt = Annotated[
    Path | None,
    typer.Option(
        "--spec", help="DatasetSpec JSON (e.g. ROOT/spec.json of segwise data init): how masks are stored."
    ),
]
ValueMapOpt = Annotated[
    str | None,
    typer.Option(
        "--value-map", help="Ground truth stored as other values: STORED:CLASS pairs, e.g. 0:0,255:1."
    ),
]
PredValueMapOpt = Annotated[
    str | None,
    typer.Option(
        "--pred-value-map", help="Predictions stored as other values than class ids, e.g. 0:0,255:1."
    ),
]
RoiOpt = Annotated[
    Path | None,
    typer.Option(
        "--roi", help="Folder of region-of-interest masks: pixels where they are 0 are not evaluated."
    ),
]
MatchOpt = Annotated[
    str | None,
    typer.Option(
        "--match", help="Pair files by the first capture group of this regex in each stem, e.g. '^(\\d+)_'."
    ),
]
RoiSubdirOpt = Annotated[
    str | None,
    typer.Option(
        "--roi", help="Subfolder of region-of-interest masks (0 = not used), paired like the masks."
    ),
]
WorkersOpt = Annotated[int, typer.Option("--workers", help="Decoding threads (0 = one per core).")]
SpacingOpt = Annotated[
    str | None,
    typer.Option(
        "--spacing",
        help="Pixel size in physical order X,Y (width, then height), e.g. 0.8,0.8 for mm: surface metrics in "
        "physical units (default: pixels).",
    ),
]
HdModeOpt = Annotated[
    str,
    typer.Option(
        "--hd-mode",
        help="HD95: max (larger of the two directed 95th percentiles, as MONAI) or pooled (95th percentile of "
        "both directions together, as MedPy).",
    ),
]
EmptyDistanceOpt = Annotated[
    str,
    typer.Option(
        "--empty-distance",
        help="Surface distances when only one of prediction/ground truth has the class: nan (counted, left "
        "out) or max (the image diagonal).",
    ),
]


def _warn(msg: str) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(msg)}", highlight=False)


def _version(value: bool) -> None:
    if value:
        console.print(f"segwise {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """segwise: semantic segmentation toolkit."""


@app.command("eval")
def eval_cmd(
    gt: Annotated[
        Path,
        typer.Option(
            "--gt", help="Folder of ground-truth masks, or of label volumes (.nii.gz, .nrrd, .mha)."
        ),
    ],
    pred: Annotated[
        Path | None,
        typer.Option(
            "--pred", help="Folder of predicted masks (paired by stem or --match); optional with --probs."
        ),
    ] = None,
    probs: Annotated[
        Path | None,
        typer.Option(
            "--probs",
            help="Folder of class probabilities <stem>.npy (C,H,W) of predict --save probs: adds ROC AUC, AP, "
            "calibration (ECE, MCE), Brier and NLL; their argmax is the prediction when --pred is not given.",
        ),
    ] = None,
    calibration_bins: Annotated[
        int, typer.Option("--calibration-bins", help="Equal-width confidence bins of ECE/MCE with --probs.")
    ] = 15,
    num_classes: NumClassesOpt = None,
    ignore_index: IgnoreOpt = None,
    classes: ClassesOpt = None,
    spec: SpecOpt = None,
    value_map: ValueMapOpt = None,
    pred_value_map: PredValueMapOpt = None,
    roi: RoiOpt = None,
    match: MatchOpt = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result as JSON here.")] = None,
    csv_out: Annotated[
        Path | None, typer.Option("--csv", help="Write the per-class table as CSV here.")
    ] = None,
    allow_missing: Annotated[
        bool, typer.Option("--allow-missing", help="Skip unpaired files with a warning instead of failing.")
    ] = False,
    workers: WorkersOpt = 0,
    boundary: Annotated[
        bool, typer.Option("--boundary", help="Add boundary metrics: BF, Boundary IoU, trimap.")
    ] = False,
    regions: Annotated[
        bool, typer.Option("--regions", help="Add object metrics: connected components matched at IoU > 0.5.")
    ] = False,
    ci: Annotated[
        bool, typer.Option("--ci", help="Add bootstrap 95% confidence intervals over images.")
    ] = False,
    surface: Annotated[
        bool,
        typer.Option(
            "--surface",
            help="Add surface distances per image and class: HD, HD95, ASSD, NSD (see --spacing).",
        ),
    ] = False,
    spacing: SpacingOpt = None,
    hd_mode: HdModeOpt = "max",
    hd_percentile: Annotated[
        float, typer.Option("--hd-percentile", help="Percentile of the robust Hausdorff distance (hd95).")
    ] = 95.0,
    nsd_tolerance: Annotated[
        str, typer.Option("--nsd-tolerance", help="NSD tolerances in physical units, e.g. 1,2 (--surface).")
    ] = "1",
    empty_distance: EmptyDistanceOpt = "nan",
    per_case: Annotated[
        Path | None,
        typer.Option(
            "--per-case", help="Write a CSV with one row per image and class: IoU, Dice (+ surface metrics)."
        ),
    ] = None,
    all_metrics: Annotated[bool, typer.Option("--all", help="Same as --boundary --regions --ci.")] = False,
    uncertainty: Annotated[
        Path | None,
        typer.Option(
            "--uncertainty",
            help="Folder of <key>.npy uncertainty maps (predict --save uncertainty): add error AUROC, risk-coverage.",
        ),
    ] = None,
    uncertainty_bins: Annotated[
        int, typer.Option("--uncertainty-bins", help="Histogram bins over [0, log C] for --uncertainty.")
    ] = 4096,
    bf_theta: Annotated[
        float | None, typer.Option("--bf-theta", help="BF tolerance in px (default 0.75% of the diagonal).")
    ] = None,
    biou_d: Annotated[
        int | None, typer.Option("--biou-d", help="Boundary IoU width in px (default 2% of the diagonal).")
    ] = None,
    resamples: Annotated[int, typer.Option("--resamples", help="Bootstrap resamples for --ci.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write a self-contained HTML report here.")
    ] = None,
    images: Annotated[
        Path | None, typer.Option("--images", help="Input images, shown in the report's gallery.")
    ] = None,
) -> None:
    """Evaluate a folder of predicted masks against a folder of ground-truth masks.

    Ground truth is read as --spec, --classes or --value-map say; predictions are class ids (what
    segwise predict writes to index/). With --roi only pixels inside the ROI masks count. With
    --probs (probs/ of segwise predict --save probs) threshold-free scores and calibration are added.
    Label volumes (NIfTI, NRRD, MetaImage) are evaluated case by case, in voxels (docs/volumes.md).
    """
    from segwise.data.masks import mask_reader
    from segwise.evaluate import evaluate_folders, print_result, write_csv, write_per_case
    from segwise.metrics.families import select_families

    reader = mask_reader(
        num_classes=num_classes, classes=classes, spec=spec, value_map=value_map, ignore_index=ignore_index,
        pred_value_map=pred_value_map,
    )  # fmt: skip
    requested = {
        "boundary": boundary, "regions": regions, "surface": surface, "ci": ci,
        "uncertainty": uncertainty is not None,
    }  # fmt: skip
    families = select_families(requested, everything=all_metrics)
    options = {
        "bf_theta": bf_theta, "biou_d": biou_d, "resamples": resamples, "seed": seed,
        "calibration_bins": calibration_bins, "uncertainty_bins": uncertainty_bins, "hd_mode": hd_mode,
        "hd_percentile": hd_percentile, "nsd_tolerance": nsd_tolerance, "empty_distance": empty_distance, "spacing": spacing,
    }  # fmt: skip
    result = evaluate_folders(
        gt, pred, allow_missing=allow_missing, workers=workers, warn=_warn, roi_dir=roi, match=match,
        reader=reader, families=families, family_options=options, probs_dir=probs,
        inputs={"uncertainty": uncertainty} if uncertainty is not None else None, keep_matrices=per_case is not None,
    )  # fmt: skip
    matrices = result.pop("image_matrices", None)
    print_result(result, console)
    if per_case is not None:
        write_per_case(per_case, result, matrices)
        console.print(f"wrote {per_case}")
    if json_out is not None:
        from segwise.io_utils import write_json

        write_json(json_out, result)
        console.print(f"wrote {json_out}")
    if csv_out is not None:
        write_csv(csv_out, result)
        console.print(f"wrote {csv_out}")
    if report is not None:
        from segwise.report import write_report

        write_report(result, report, images=images, classes=classes)
        console.print(f"wrote {report}")


models_app = typer.Typer(help="Model architectures: list them with size and cost.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("list")
def models_list_cmd(
    encoder: Annotated[
        str | None,
        typer.Option("--encoder", help="Encoder for the archs that take one (default: each arch's)."),
    ] = None,
    arch: Annotated[list[str] | None, typer.Option("--arch", help="Only these archs (repeatable).")] = None,
    size: Annotated[
        str, typer.Option("--size", help="HxW of the FLOPs estimate (batch 1, 3 channels).")
    ] = "360x480",
    num_classes: Annotated[int, typer.Option("--num-classes", help="Classes of the head.")] = 11,
    flops: Annotated[bool, typer.Option("--flops/--no-flops", help="Estimate GFLOPs.")] = True,
) -> None:
    """List the architectures with encoder, parameters and GFLOPs (random weights, nothing downloaded)."""
    from rich.table import Table

    from segwise.errors import InputError
    from segwise.models import model_table

    try:
        height, width = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise InputError(f"--size must look like 360x480 (HxW), got {size!r}.") from None
    rows = model_table(
        arch, encoder=encoder, num_classes=num_classes, input_shape=(1, 3, height, width), flops=flops
    )
    table = Table(title=f"segwise models ({num_classes} classes, GFLOPs at 1x3x{height}x{width})")
    for col in ("arch", "encoder", "params (M)", "GFLOPs", "pretrained"):
        table.add_column(col, justify="right" if col in ("params (M)", "GFLOPs") else "left")
    for row in rows:
        params = f"{row.params / 1e6:.2f}"
        if row.params_used != row.params:
            params = f"{row.params_used / 1e6:.2f} (+{(row.params - row.params_used) / 1e6:.2f} unused)"
        gflops = "-" if row.gflops is None else f"{row.gflops:.1f}"
        table.add_row(row.arch, row.encoder, params, gflops, row.pretrained)
    console.print(table)
    for row in rows:
        console.print(f"[bold]{row.arch}[/]: {row.summary}", highlight=False)
    console.print(
        "GFLOPs: convolutions and matrix products (2 per multiply-add) at the padded input size. "
        "'unused': encoder stages the architecture never calls. Options: segwise.models.arch_options(arch, encoder).",
        highlight=False,
    )


@app.command("compare-preds")
def compare_preds_cmd(
    gt: Annotated[Path, typer.Option("--gt", help="Folder of ground-truth masks.")],
    pred: Annotated[
        list[Path], typer.Option("--pred", help="Prediction folder (repeat; the first is the baseline).")
    ],
    num_classes: NumClassesOpt = None,
    ignore_index: IgnoreOpt = None,
    classes: ClassesOpt = None,
    spec: SpecOpt = None,
    value_map: ValueMapOpt = None,
    pred_value_map: PredValueMapOpt = None,
    roi: RoiOpt = None,
    match: MatchOpt = None,
    resamples: Annotated[int, typer.Option("--resamples", help="Paired bootstrap resamples.")] = 1000,
    permutations: Annotated[
        int, typer.Option("--permutations", help="Permutations of the paired test.")
    ] = 10000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap and the permutations.")] = 0,
    alpha: Annotated[
        float, typer.Option("--alpha", help="Significance level (CI level is 1 - alpha).")
    ] = 0.05,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the comparison as JSON here.")
    ] = None,
    workers: WorkersOpt = 0,
    metric: Annotated[
        str,
        typer.Option(
            "--metric",
            help="Score to compare (CI, p-value, verdict), from the summed confusion matrix: "
            "miou (default), pixel_accuracy, mean_accuracy, mean_dice, fwiou, or one class K: iou:K, "
            "dice:K (= f1:K), precision:K, recall:K, with K a class id or name (e.g. dice:1, iou:vessel); "
            "or a surface metric compared over images: hd, hd95, assd, nsd@TOL, hd95:K (lower is better).",
        ),
    ] = "miou",
    spacing: SpacingOpt = None,
    hd_mode: HdModeOpt = "max",
    empty_distance: EmptyDistanceOpt = "nan",
) -> None:
    """Paired comparison of prediction sets on the same ground truth: Δ of a metric (mIoU by default)
    with a bootstrap CI, a permutation-test p-value, per-class Δ IoU and a verdict."""
    from rich.table import Table

    from segwise.data.masks import mask_reader
    from segwise.evaluate import compare_predictions

    reader = mask_reader(
        num_classes=num_classes, classes=classes, spec=spec, value_map=value_map, ignore_index=ignore_index,
        pred_value_map=pred_value_map,
    )  # fmt: skip
    result = compare_predictions(
        gt, pred, num_resamples=resamples, num_permutations=permutations, seed=seed, alpha=alpha,
        workers=workers, warn=_warn, reader=reader, roi_dir=roi, match=match,
        metric=metric, family_options={"spacing": spacing, "hd_mode": hd_mode, "empty_distance": empty_distance},
    )  # fmt: skip

    def pts(x: float | None) -> str:
        return "–" if x is None else f"{100 * x:+.2f}"

    unit = "cases" if "volumes" in result["policy"] else "images"

    for cmp in result["comparisons"]:
        table = Table(
            title=f"{cmp['candidate']} − {cmp['baseline']}: per-class Δ IoU (points, {result['num_images']} {unit})"
        )
        for col in ("id", "class", "IoU base %", "IoU cand %", "Δ", "CI low", "CI high"):
            table.add_column(col, justify="left" if col == "class" else "right")
        for row in cmp["per_class"]:
            base, cand = row["iou_baseline"], row["iou_candidate"]
            table.add_row(
                str(row["id"]), row["name"],
                "–" if base is None else f"{100 * base:.2f}", "–" if cand is None else f"{100 * cand:.2f}",
                pts(row["delta"]), pts(row["low"]), pts(row["high"]),
            )  # fmt: skip
        console.print(table)
    console.print(
        f"compared metric: {result['policy']['metric_definition']}", highlight=False, soft_wrap=True
    )
    for cmp in result["comparisons"]:
        console.print(cmp["verdict"], highlight=False, soft_wrap=True)
    if json_out is not None:
        from segwise.io_utils import write_json

        write_json(json_out, result)
        console.print(f"wrote {json_out}")


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
    from segwise.data.command import stats_options
    from segwise.data.stats import class_stats, plot_class_shares, print_class_stats

    options = stats_options(
        dataset, root, spec=spec, classes=classes, num_classes=num_classes, ignore_index=ignore_index,
        encoding=encoding, value_map=value_map, split_file=split_file, unknown_colors=unknown_colors,
        layout={"images": images, "masks": masks, "roi": roi, "match": match},
    )  # fmt: skip
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

    from segwise.data.command import parse_value_map
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
        TextColumn("[bold]scan"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console,
        transient=True,
    ) as bar:  # fmt: skip
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
                root, images=images, masks=masks, roi=roi, match=match, value_map=vmap, classes=classes,
                ignore_index=ignore_index, workers=workers, on_file=on_file,
            )  # fmt: skip
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
            + (f", ROI {roi}/" if roi else "") + (f", paired by --match '{match}'" if match else ", paired by stem")
            + f"); images {size_text} (WxH), {spec.in_channels} channel(s); masks: {scan.encoding_text}",
            highlight=False,
        )  # fmt: skip
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


@app.command("train")
def train_cmd(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML config (defaults when omitted).")
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a config value: section.key=value (repeatable)."),
    ] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue the run in this folder.")] = None,
    auto: Annotated[
        str | None,
        typer.Option(
            "--auto",
            help="Plan the run yourself for this dataset folder (with spec.json; or 'camvid') and --minutes.",
        ),
    ] = None,
    minutes: Annotated[
        float | None, typer.Option("--minutes", help="--auto: the budget, planning and validation included.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="--auto: folder for plan.json, config.toml and run/.")
    ] = None,
    device: Annotated[str, typer.Option("--device", help="--auto: cpu, cuda, cuda:N or auto.")] = "auto",
    seed: Annotated[int, typer.Option("--seed", help="--auto: seed of the run.")] = 0,
    plan_only: Annotated[
        bool, typer.Option("--plan-only", help="--auto: write and print the plan, do not train.")
    ] = False,
    remeasure: Annotated[
        bool,
        typer.Option(
            "--remeasure", help="--auto: time this machine again instead of reusing its stored timings."
        ),
    ] = False,
    screen: Annotated[
        bool,
        typer.Option(
            "--screen/--no-screen",
            help="--auto: screen a few candidate recipes on the validation split when the budget allows.",
        ),
    ] = True,
) -> None:
    """Train a model from a TOML config (see examples/), or with --auto from a plan fitted to a time
    budget (docs/auto.md). Works under torchrun for several processes."""
    from segwise.train.config import load_config
    from segwise.train.loop import train

    if auto is not None:
        from segwise.train.auto import run_auto

        if config is not None or overrides or resume is not None:
            raise InputError(
                "--auto plans its own config; drop --config/--set/--resume (resume with --resume OUT/run)."
            )
        if minutes is None or minutes <= 0:
            raise InputError("--auto needs --minutes M, the time budget (e.g. --minutes 15).")
        plan_dir, _ = run_auto(
            auto, minutes, out=str(out) if out else None, device=device, seed=seed, plan_only=plan_only,
            console=console, started=_STARTED, remeasure=remeasure, screen=screen,
        )  # fmt: skip
        console.print(f"plan: {plan_dir / 'plan.json'}, config: {plan_dir / 'config.toml'}")
        if not plan_only:
            console.print(f"run folder: {plan_dir / 'run'}")
        return
    if minutes is not None or out is not None or plan_only or remeasure or not screen:
        raise InputError("--minutes, --out, --plan-only, --remeasure and --no-screen go with --auto ROOT.")
    if resume is not None and (config is not None or overrides):
        raise InputError("--resume continues a run with its saved config; drop --config/--set.")
    cfg = load_config(config, overrides or [])
    run_dir = train(cfg, resume=resume, console=console)
    console.print(f"run folder: {run_dir}")


@app.command("compare")
def compare_cmd(
    config: Annotated[Path, typer.Option("--config", "-c", help="Base TOML config.")],
    vary: Annotated[
        list[str], typer.Option("--vary", help="key=v1,v2,... e.g. loss=ce,dice,focal (repeatable).")
    ],
    seeds: Annotated[int, typer.Option("--seeds", help="Runs per variant (different seeds).")] = 1,
    out: Annotated[Path, typer.Option("--out", help="Folder for the runs and the comparison.")] = Path(
        "runs/compare"
    ),
    overrides: Annotated[list[str] | None, typer.Option("--set", help="Override for every variant.")] = None,
) -> None:
    """Train the same model on the same data with different settings and compare them on val."""
    from segwise.train.compare import run_comparison, to_markdown

    result = run_comparison(
        config, vary, seeds=seeds, out_dir=out, overrides=overrides or [], console=console
    )
    console.print(to_markdown(result))
    console.print(f"wrote {out / 'comparison.md'}, .csv, .json, .png")


@app.command("demo")
def demo_cmd(
    out: Annotated[Path, typer.Option("--out", help="Folder for the synthetic data and the run.")] = Path(
        "runs/demo"
    ),
    epochs: Annotated[
        int, typer.Option("--epochs", help="Training epochs (about 10 s each on 2 cores).")
    ] = 12,
    minutes: Annotated[
        float, typer.Option("--minutes", help="Stop training after this long (0: no limit).")
    ] = 0.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of data generation and training.")] = 0,
) -> None:
    """Generate a synthetic dataset, train a small U-Net, evaluate it and write a report. No download."""
    from segwise.demo import run_demo

    run_demo(out, minutes=minutes, seed=seed, epochs=epochs, console=console)


@app.command("predict")
def predict_cmd(
    input_path: Annotated[Path, typer.Option("--input", help="An image file or a folder of images.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (index/, color/, overlay/, probs/).")],
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", help="A segwise checkpoint (best.pt).")
    ] = None,
    onnx: Annotated[
        Path | None, typer.Option("--onnx", help="A model from segwise export, run by onnxruntime.")
    ] = None,
    save: Annotated[
        str, typer.Option("--save", help="Outputs: index,color,overlay,probs,uncertainty.")
    ] = "index,color,overlay",
    tile: Annotated[
        int | None, typer.Option("--tile", help="Sliding-window side in px (default: whole image).")
    ] = None,
    overlap: Annotated[float, typer.Option("--overlap", help="Window overlap, fraction of --tile.")] = 0.25,
    tta: Annotated[
        str | None, typer.Option("--tta", help="Test-time augmentation: flip,scales=0.75,1,1.25.")
    ] = None,
    mc_dropout: Annotated[
        int,
        typer.Option(
            "--mc-dropout", help="MC dropout: N stochastic passes (dropout active) averaged; 0 = off."
        ),
    ] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the MC-dropout masks.")] = 0,
    metrics: Annotated[
        str | None,
        typer.Option(
            "--metrics",
            help="With --eval-gt, add metric families: boundary,regions,ci,probs,uncertainty or all "
            "(probs: AUC/AP/ECE/NLL of the predicted probabilities; uncertainty: error detection by entropy and, with --mc-dropout or --tta, mutual information).",
        ),
    ] = None,
    calibration_bins: Annotated[
        int,
        typer.Option("--calibration-bins", help="Equal-width confidence bins of ECE/MCE (--metrics probs)."),
    ] = 15,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Windows per forward pass.")] = 1,
    device: Annotated[
        str, typer.Option("--device", help="cpu, cuda, cuda:N or auto (PyTorch only).")
    ] = "cpu",
    eval_gt: Annotated[
        Path | None,
        typer.Option("--eval-gt", help="Ground-truth masks: evaluate in the same pass (eval.json)."),
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="With --eval-gt: write an HTML report.")
    ] = None,
    roi: Annotated[
        Path | None,
        typer.Option(
            "--roi", help="Region-of-interest masks: outside them index/ holds the ignore value (255)."
        ),
    ] = None,
    match: MatchOpt = None,
) -> None:
    """Predict images with a checkpoint or an ONNX model: class-id PNGs, colours, overlays, probabilities."""
    from segwise.infer.command import run_predict

    run_predict(
        inputs=input_path, out=out, checkpoint=checkpoint, onnx=onnx, save=save, tile=tile, overlap=overlap,
        tta=tta, batch_size=batch_size, device=device, eval_gt=eval_gt, report=report, console=console,
        err_console=err_console, roi=roi, match=match, mc_dropout=mc_dropout, seed=seed, metrics=metrics,
        calibration_bins=calibration_bins,
    )  # fmt: skip


@app.command("export")
def export_cmd(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="A segwise checkpoint (best.pt).")],
    out: Annotated[Path, typer.Option("--out", help="The model file to write, e.g. model.onnx.")],
    fmt: Annotated[str, typer.Option("--format", help="Export format: onnx.")] = "onnx",
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset (>= 17).")] = 17,
    verify: Annotated[
        bool, typer.Option("--verify/--no-verify", help="Check the graph against PyTorch.")
    ] = True,
) -> None:
    """Export a checkpoint to ONNX (dynamic batch, height and width; DatasetSpec in the metadata)."""
    from segwise.infer.command import run_export

    path = run_export(checkpoint, fmt, out, opset, verify)
    console.print(f"wrote {path}")


@app.command("calibrate")
def calibrate_cmd(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="A run's checkpoint (RUN/best.pt).")],
    split: Annotated[str, typer.Option("--split", help="Split of the run's dataset to fit on.")] = "val",
    out: Annotated[
        Path | None, typer.Option("--out", help="Calibrated checkpoint to write (default RUN/calibrated.pt).")
    ] = None,
    per_class_bias: Annotated[
        bool, typer.Option("--per-class-bias", help="Also fit one bias per class (can change the argmax).")
    ] = False,
    eval_split: Annotated[
        str | None, typer.Option("--eval-split", help="Also report NLL and ECE on this split, e.g. test.")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per forward pass.")] = 4,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda, cuda:N or auto.")] = "cpu",
) -> None:
    """Fit a temperature (softmax(logits / T)) on a split by NLL and write a calibrated checkpoint."""
    from segwise.train.calibrate import calibrate_checkpoint

    run = calibrate_checkpoint(
        checkpoint, split=split, out=out, per_class_bias=per_class_bias, eval_split=eval_split,
        batch_size=batch_size, device=device,
    )  # fmt: skip
    for line in run.lines():
        console.print(line, highlight=False)


@app.command("report")
def report_cmd(
    result: Annotated[Path, typer.Argument(help="An evaluation result JSON (segwise eval --json).")],
    out: Annotated[Path, typer.Option("--out", help="The HTML file to write.")] = Path("report.html"),
    run: Annotated[
        Path | None, typer.Option("--run", help="Training run folder: adds training curves.")
    ] = None,
    images: Annotated[Path | None, typer.Option("--images", help="Input images, for the gallery.")] = None,
    gt: Annotated[
        Path | None, typer.Option("--gt", help="Ground-truth masks (default: from the result).")
    ] = None,
    pred: Annotated[
        Path | None, typer.Option("--pred", help="Predicted masks (default: from the result).")
    ] = None,
    compare: Annotated[
        Path | None,
        typer.Option("--compare", help="comparison.json (segwise compare / compare-preds --json)."),
    ] = None,
    classes: ClassesOpt = None,
    top_k: Annotated[int, typer.Option("--top-k", help="Images in the worst and the best gallery.")] = 4,
    title: Annotated[str | None, typer.Option("--title", help="Page title.")] = None,
) -> None:
    """Write a self-contained HTML report (scores, charts, confusion matrix, worst/best images)."""
    from segwise.report import write_report

    path = write_report(
        result, out, run=run, images=images, gt=gt, pred=pred, comparison=compare, classes=classes, k=top_k,
        title=title,
    )  # fmt: skip
    console.print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``segwise`` console script.

    Returns the exit status: 0 on success, 2 for a usage error (unknown command or option, missing
    or malformed value) and for :class:`~segwise.errors.SegwiseError`, printed without a traceback.
    """
    try:
        rv = app(args=argv, prog_name="segwise", standalone_mode=False)
    except SegwiseError as exc:
        # escaped: messages name config sections such as [data], which rich would take for markup
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        return 2
    except Exception as exc:
        errors, exits, aborts = _parser_exception_types()
        if isinstance(exc, exits):
            return exc.exit_code  # type: ignore[attr-defined]
        if isinstance(exc, aborts):
            err_console.print("aborted")
            return 130
        if isinstance(exc, errors) and hasattr(exc, "exit_code"):
            _show_usage_error(exc)
            return exc.exit_code  # type: ignore[attr-defined]
        raise
    # standalone_mode=False: typer returns the command's result (None), or the code of a typer.Exit
    return rv if type(rv) is int else 0


def _parser_exception_types() -> tuple[tuple[type, ...], tuple[type, ...], tuple[type, ...]]:
    """The (usage error, exit, abort) classes that typer's command parser can raise.

    Recent typer (0.29 here) vendors click as ``typer._click``: its ``ClickException``, the base
    of every usage error, derives from the public ``typer.TyperException``. Older typer raises the
    ``click`` package's classes, as does any code that uses click directly; both are covered.
    """
    errors: list[type] = [getattr(typer, "TyperException", None)]
    exits: list[type] = [typer.Exit]
    aborts: list[type] = [typer.Abort]
    try:
        import click
    except ImportError:
        pass
    else:
        errors.append(click.ClickException)
        exits.append(click.exceptions.Exit)
        aborts.append(click.Abort)
    return tuple(t for t in errors if t is not None), tuple(exits), tuple(aborts)


def _show_usage_error(exc: Exception) -> None:
    """Print a parser error the way typer does: usage line, help hint, one-panel message."""
    try:
        from typer.rich_utils import rich_format_error
    except ImportError:  # typer without rich support: click's plain three lines
        exc.show()  # type: ignore[attr-defined]
    else:
        rich_format_error(exc)  # type: ignore[arg-type]  # prints nothing after no_args_is_help's help


if __name__ == "__main__":
    sys.exit(main())
