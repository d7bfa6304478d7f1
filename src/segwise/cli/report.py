"""``segwise report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from segwise.cli.app import ClassesOpt, app, console


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
        result,
        out,
        run=run,
        images=images,
        gt=gt,
        pred=pred,
        comparison=compare,
        classes=classes,
        k=top_k,
        title=title,
    )
    console.print(f"wrote {path}")
