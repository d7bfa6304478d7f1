"""``segwise eval`` and ``segwise compare-preds``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from segwise.cli.app import (
    ClassesOpt,
    EmptyDistanceOpt,
    HdModeOpt,
    IgnoreOpt,
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
    warn,
)


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
    from segwise.cli.render import print_result
    from segwise.data.masks import mask_reader
    from segwise.evaluate import evaluate_folders, write_csv, write_per_case
    from segwise.metrics.families import select_families

    reader = mask_reader(
        num_classes=num_classes,
        classes=classes,
        spec=spec,
        value_map=value_map,
        ignore_index=ignore_index,
        pred_value_map=pred_value_map,
    )
    requested = {
        "boundary": boundary,
        "regions": regions,
        "surface": surface,
        "ci": ci,
        "uncertainty": uncertainty is not None,
    }
    families = select_families(requested, everything=all_metrics)
    options = {
        "bf_theta": bf_theta,
        "biou_d": biou_d,
        "resamples": resamples,
        "seed": seed,
        "calibration_bins": calibration_bins,
        "uncertainty_bins": uncertainty_bins,
        "hd_mode": hd_mode,
        "hd_percentile": hd_percentile,
        "nsd_tolerance": nsd_tolerance,
        "empty_distance": empty_distance,
        "spacing": spacing,
    }
    result = evaluate_folders(
        gt,
        pred,
        allow_missing=allow_missing,
        workers=workers,
        warn=warn,
        roi_dir=roi,
        match=match,
        reader=reader,
        families=families,
        family_options=options,
        probs_dir=probs,
        inputs={"uncertainty": uncertainty} if uncertainty is not None else None,
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
        num_classes=num_classes,
        classes=classes,
        spec=spec,
        value_map=value_map,
        ignore_index=ignore_index,
        pred_value_map=pred_value_map,
    )
    result = compare_predictions(
        gt,
        pred,
        num_resamples=resamples,
        num_permutations=permutations,
        seed=seed,
        alpha=alpha,
        workers=workers,
        warn=warn,
        reader=reader,
        roi_dir=roi,
        match=match,
        metric=metric,
        family_options={"spacing": spacing, "hd_mode": hd_mode, "empty_distance": empty_distance},
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
