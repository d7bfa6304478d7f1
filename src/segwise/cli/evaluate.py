"""``segwise eval`` and ``segwise compare-preds``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from segwise.cli.app import (
    ClassesOpt,
    EmptyDistanceOpt,
    HdModeOpt,
    IgnoreOpt,
    IncludeBackgroundOpt,
    MatchOpt,
    NumClassesOpt,
    PredValueMapOpt,
    RoiOpt,
    SpacingOpt,
    SpecOpt,
    ValueMapOpt,
    WorkersOpt,
    app,
    console,
    family_default,
    warn,
    with_family_options,
)
from segwise.metrics.families import get_family, registered_families, select_families

# --all: every family fed from the predictions alone (boundary, regions, ci)
ALL_HELP = f"Same as {' '.join(str(get_family(n).flag) for n in select_families({}, everything=True))}."


@app.command("eval")
@with_family_options
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
    per_case: Annotated[
        Path | None,
        typer.Option(
            "--per-case", help="Write a CSV with one row per image and class: IoU, Dice (+ surface metrics)."
        ),
    ] = None,
    all_metrics: Annotated[bool, typer.Option("--all", help=ALL_HELP)] = False,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write a self-contained HTML report here.")
    ] = None,
    images: Annotated[
        Path | None, typer.Option("--images", help="Input images, shown in the report's gallery.")
    ] = None,
    **families: Any,
) -> None:
    """Evaluate a folder of predicted masks against a folder of ground-truth masks.

    Ground truth is read as --spec, --classes or --value-map say; predictions are class ids (what
    segwise predict writes to index/). With --roi only pixels inside the ROI masks count. With
    --probs (probs/ of segwise predict --save probs) threshold-free scores and calibration are added.
    Label volumes (NIfTI, NRRD, MetaImage) are evaluated case by case, in voxels (docs/volumes.md).
    """
    from segwise.cli.render import print_result
    from segwise.evaluate import EvalOptions, evaluate_folders, write_csv, write_per_case

    # the metric families' flags and options (with_family_options): a switch, or the folder a
    # family reads (--probs, --uncertainty), then each family's options by name
    flags = {f.name: families.pop(f.name) for f in registered_families().values() if f.flag is not None}
    folders = {name: Path(value) for name, value in flags.items() if get_family(name).reads_folder and value}
    probs = next((folders[n] for n in folders if get_family(n).needs == "probs"), None)
    inputs = {i: folders[n] for n in folders for i in get_family(n).inputs}
    chosen = select_families({name: bool(value) for name, value in flags.items()}, everything=all_metrics)
    reading = {
        "num_classes": num_classes,
        "classes": classes,
        "spec": spec,
        "value_map": value_map,
        "ignore_index": ignore_index,
        "pred_value_map": pred_value_map,
    }
    result = evaluate_folders(
        gt,
        pred,
        EvalOptions(**reading),
        allow_missing=allow_missing,
        workers=workers,
        warn=warn,
        roi_dir=roi,
        match=match,
        families=chosen,
        family_options=families,
        probs_dir=probs,
        inputs=inputs or None,
        keep_matrices=per_case is not None,
    )
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
    spacing: SpacingOpt = family_default("surface", "spacing"),
    hd_mode: HdModeOpt = family_default("surface", "hd_mode"),
    empty_distance: EmptyDistanceOpt = family_default("surface", "empty_distance"),
    include_background: IncludeBackgroundOpt = family_default("surface", "include_background"),
) -> None:
    """Paired comparison of prediction sets on the same ground truth: Δ of a metric (mIoU by default)
    with a bootstrap CI, a permutation-test p-value, per-class Δ IoU and a verdict."""
    from rich.table import Table

    from segwise.evaluate import compare_predictions

    result = compare_predictions(
        gt,
        pred,
        metric,
        num_resamples=resamples,
        num_permutations=permutations,
        seed=seed,
        alpha=alpha,
        num_classes=num_classes,
        classes=classes,
        spec=spec,
        value_map=value_map,
        ignore_index=ignore_index,
        pred_value_map=pred_value_map,
        workers=workers,
        warn=warn,
        roi_dir=roi,
        match=match,
        family_options={
            "spacing": spacing,
            "hd_mode": hd_mode,
            "empty_distance": empty_distance,
            "include_background": include_background,
        },
    )

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
                str(row["id"]),
                row["name"],
                "–" if base is None else f"{100 * base:.2f}",
                "–" if cand is None else f"{100 * cand:.2f}",
                pts(row["delta"]),
                pts(row["low"]),
                pts(row["high"]),
            )
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
