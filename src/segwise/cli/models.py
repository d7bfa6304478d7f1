"""``segwise models list``."""

from __future__ import annotations

from typing import Annotated

import typer

from segwise.cli.app import app, console
from segwise.errors import InputError

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
