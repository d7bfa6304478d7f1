"""The glue of ``segwise predict`` and ``segwise export`` (model choice, progress bar, messages). It imports
torch, so `cli/predict.py` imports it when a command runs, not when the CLI loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from segwise.errors import DataError, InputError
from segwise.infer.files import PredictSummary, list_inputs, parse_save, predict_paths
from segwise.infer.predict import TTA, Predictor
from segwise.infer.volumes import check_volume_save, is_volume_input


def run_predict(
    *,
    inputs: Path,
    out: Path,
    checkpoint: Path | None,
    onnx: Path | None,
    save: str,
    tile: int | None,
    overlap: float,
    tta: str | None,
    batch_size: int,
    device: str,
    eval_gt: Path | None,
    report: Path | None,
    console: Any,
    err_console: Any,
    roi: Path | None = None,
    match: str | None = None,
    mc_dropout: int = 0,
    seed: int = 0,
    metrics: str | None = None,
    calibration_bins: int = 15,
) -> PredictSummary:
    """Run ``segwise predict``; raises :class:`DataError` at the end when inputs were skipped."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if (checkpoint is None) == (onnx is None):
        raise InputError("give exactly one of --checkpoint CKPT (PyTorch) or --onnx MODEL (onnxruntime).")
    if report is not None and eval_gt is None:
        raise InputError("--report needs --eval-gt GT: the report shows scores against ground truth.")
    families = parse_metrics(metrics)
    if families and eval_gt is None:
        raise InputError("--metrics adds scores against ground truth; give --eval-gt GT, or drop --metrics.")
    kinds = parse_save(save)
    options = {"tile": tile, "overlap": overlap, "tta": TTA.parse(tta), "batch_size": batch_size}
    volumes = is_volume_input(inputs)
    if volumes:
        kinds = check_volume_save(kinds)
        given = [
            k
            for k, v in (("--eval-gt", eval_gt), ("--roi", roi), ("--report", report), ("--match", match))
            if v
        ]
        if given:
            raise InputError(
                f"{', '.join(given)}: not available when predicting volumes; predict, then score the label volumes "
                f"with segwise eval (--pred {Path(out) / 'index'})."
            )
    paths = [] if volumes else list_inputs(inputs)  # fail on a bad --input before loading the model
    if match is not None and eval_gt is None and roi is None:
        raise InputError(
            "--match pairs images with --eval-gt or --roi masks; give one of them, or drop --match."
        )
    from segwise.data.pairing import compile_match

    compile_match(match)
    from segwise.io_utils import check_writable_dir

    check_writable_dir(out)
    if report is not None:
        check_writable_dir(Path(report).parent, "--report")
    if onnx is not None:
        if device not in ("cpu", "auto"):
            raise InputError(
                "--device applies to --checkpoint; onnxruntime picks CUDA when available, else CPU."
            )
        if mc_dropout:
            raise InputError(
                "--mc-dropout runs a PyTorch model with its dropout layers active; give --checkpoint, not --onnx "
                "(or use --tta for uncertainty from augmentations)."
            )
        predictor = Predictor.from_onnx(onnx, **options)
    else:
        dev = _device(device)
        predictor = Predictor.from_checkpoint(
            checkpoint,  # type: ignore[arg-type]
            device=dev,
            mc_dropout=mc_dropout,
            seed=seed,
            **options,
        )
    if volumes:
        return _predict_volumes(predictor, inputs, out, console, err_console)
    if predictor.spec.volume is not None:
        raise InputError(
            f"{predictor.source} was trained on slices of volumes (dataset 'volumes'); give --input a volume "
            "(.nii.gz, .nii, .nrrd, .mha, ...) or a folder of volumes, not 2D images."
        )
    console.print(
        f"predicting {len(paths)} image{'s' * (len(paths) != 1)} with {predictor.source} "
        f"(tile {tile or 'whole image'}, {predictor.describe_sampling()}, {predictor.describe_calibration()}) -> {out}",
        highlight=False,
    )
    with Progress(
        TextColumn("[bold]predict"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} img/s"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("predict", total=len(paths), rate="–")
        done = {"n": 0}

        def on_image(path: Path, ok: bool) -> None:
            done["n"] += 1
            elapsed = bar.tasks[0].elapsed or 0.0
            rate = f"{done['n'] / elapsed:.2f}" if elapsed > 0 else "–"
            bar.update(task, advance=1, rate=rate)

        summary = predict_paths(
            predictor,
            paths,
            out,
            save=kinds,
            eval_gt=eval_gt,
            on_image=on_image,
            roi=roi,
            match=match,
            families=families,
            family_options={"calibration_bins": calibration_bins} if "probs" in families else None,
        )
    console.print(
        f"wrote {len(summary.predicted)} predictions ({', '.join(kinds)}) to {out} "
        f"in {summary.seconds:.1f}s ({summary.images_per_second:.2f} img/s)",
        highlight=False,
    )
    if summary.result is not None:
        from segwise.cli.render import print_result

        print_result(summary.result, console)
        console.print(f"wrote {out / 'eval.json'}")
        if report is not None:
            from segwise.report import write_report

            write_report(summary.result, report, images=str(inputs) if Path(inputs).is_dir() else None)
            console.print(f"wrote {report}")
    elif report is not None:
        err_console.print("[yellow]warning:[/] no image could be evaluated; no report written.")
    if summary.failed:
        for path, msg in summary.failed:
            err_console.print(f"[yellow]skipped[/] {path}: {msg}", highlight=False)
        raise DataError(
            f"{len(summary.failed)} of {len(paths)} inputs could not be read and were skipped (listed above); "
            f"the {len(summary.predicted)} other predictions in {out} are complete."
        )
    return summary


def parse_metrics(metrics: str | None) -> tuple[str, ...]:
    """``"probs,uncertainty"`` → the metric families ``predict --eval-gt`` adds to the pixel scores;
    ``"all"`` is every family fed from the prediction itself (boundary, regions, ci, probs, uncertainty).

    >>> parse_metrics("uncertainty, probs")
    ('probs', 'uncertainty')
    """
    from segwise.metrics.families import get_family, registered_families

    if not metrics:
        return ()
    names = [m.strip() for m in metrics.split(",") if m.strip()]
    optional = [f.name for f in registered_families().values() if f.flag is not None]
    if names == ["all"]:
        return tuple(optional)
    for name in names:
        if get_family(name).flag is None:
            raise InputError(f"--metrics: {name!r} is always evaluated; choose from {', '.join(optional)}.")
    return tuple(n for n in optional if n in names)


def _predict_volumes(
    predictor: Predictor, inputs: Path, out: Path, console: Any, err_console: Any
) -> PredictSummary:
    from segwise.infer.volumes import check_volume_model, list_volume_cases, predict_volumes

    check_volume_model(predictor)
    v = predictor.spec.volume
    cases = list_volume_cases(inputs, v.channels)  # type: ignore[union-attr]
    console.print(
        f"predicting {len(cases)} volume{'s' * (len(cases) != 1)} slice by slice along axis {v.axis} "  # type: ignore[union-attr]
        f"(context {v.context}, modality {v.modality}) with {predictor.source} -> {out / 'index'}",  # type: ignore[union-attr]
        highlight=False,
    )
    summary = predict_volumes(predictor, cases, out)
    console.print(
        f"wrote {len(summary.predicted)} label volume{'s' * (len(summary.predicted) != 1)} "
        f"to {out / 'index'} in {summary.seconds:.1f}s "
        "(color/overlay are not written for volumes)",
        highlight=False,
    )
    if summary.failed:
        for path, msg in summary.failed:
            err_console.print(f"[yellow]skipped[/] {path}: {msg}", highlight=False)
        raise DataError(
            f"{len(summary.failed)} of {len(cases)} volumes could not be read and were skipped (listed above); "
            f"the {len(summary.predicted)} other predictions in {out / 'index'} are complete."
        )
    return summary


def _device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {device}: CUDA is not available here; use --device cpu.")
    if not (device == "cpu" or device.startswith("cuda") or device == "mps"):
        raise InputError(f"--device must be cpu, cuda, cuda:N, mps or auto; got {device!r}.")
    return device


def run_export(checkpoint: Path, fmt: str, out: Path, opset: int, verify: bool) -> Path:
    """Run ``segwise export``."""
    from segwise.infer.export import export_onnx

    if fmt.lower() != "onnx":
        raise InputError(f"--format {fmt!r} is not supported; segwise exports 'onnx'.")
    return export_onnx(checkpoint, out, opset=opset, verify=verify)
