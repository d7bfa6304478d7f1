"""``segwise predict``, ``segwise export`` and ``segwise calibrate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from segwise.cli.app import MatchOpt, app, console, err_console


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
            "(probs: AUC/AP/ECE/NLL of the predicted probabilities; uncertainty: error detection by entropy "
            "and, with --mc-dropout or --tta, mutual information).",
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
    from segwise.cli.predicting import run_predict

    run_predict(
        inputs=input_path,
        out=out,
        checkpoint=checkpoint,
        onnx=onnx,
        save=save,
        tile=tile,
        overlap=overlap,
        tta=tta,
        batch_size=batch_size,
        device=device,
        eval_gt=eval_gt,
        report=report,
        console=console,
        err_console=err_console,
        roi=roi,
        match=match,
        mc_dropout=mc_dropout,
        seed=seed,
        metrics=metrics,
        calibration_bins=calibration_bins,
    )


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
    from segwise.cli.predicting import run_export

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
        checkpoint,
        split=split,
        out=out,
        per_class_bias=per_class_bias,
        eval_split=eval_split,
        batch_size=batch_size,
        device=device,
    )
    for line in run.lines():
        console.print(line, highlight=False)
