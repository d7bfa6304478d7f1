"""The ``segwise`` command line: a thin typer layer over the Python API.

Each command parses its options, calls one API function and prints. Errors that bad input can
cause (:class:`segwise.errors.SegwiseError`) are printed without a traceback, exit status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from segwise import __version__
from segwise.errors import SegwiseError

app = typer.Typer(
    name="segwise",
    help="Semantic segmentation: evaluate honestly, train, compare and report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # never wrap paths in messages


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
    gt: Annotated[Path, typer.Option("--gt", help="Folder of ground-truth masks.")],
    pred: Annotated[Path, typer.Option("--pred", help="Folder of predicted masks (paired by file stem).")],
    num_classes: Annotated[int, typer.Option("--num-classes", help="Number of evaluated classes C.")],
    ignore_index: Annotated[
        int | None, typer.Option("--ignore-index", help="Ground-truth value to leave out (e.g. 11, 255).")
    ] = None,
    classes: Annotated[
        Path | None, typer.Option("--classes", help="CSV id,name,r,g,b: class names and RGB mask colours.")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result as JSON here.")] = None,
    csv_out: Annotated[
        Path | None, typer.Option("--csv", help="Write the per-class table as CSV here.")
    ] = None,
    allow_missing: Annotated[
        bool, typer.Option("--allow-missing", help="Skip unpaired files with a warning instead of failing.")
    ] = False,
    workers: Annotated[int, typer.Option("--workers", help="Decoding threads (0 = one per core).")] = 0,
) -> None:
    """Evaluate a folder of predicted masks against a folder of ground-truth masks."""
    from segwise.evaluate import evaluate_folders, print_result, write_csv

    result = evaluate_folders(
        gt,
        pred,
        num_classes=num_classes,
        ignore_index=ignore_index,
        classes=classes,
        allow_missing=allow_missing,
        workers=workers,
        warn=lambda msg: err_console.print(f"[yellow]warning:[/] {msg}"),
    )
    print_result(result, console)
    if json_out is not None:
        from segwise._io import write_json

        write_json(json_out, result)
        console.print(f"wrote {json_out}")
    if csv_out is not None:
        write_csv(csv_out, result)
        console.print(f"wrote {csv_out}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``segwise`` console script."""
    try:
        app(args=argv, standalone_mode=False)
    except SegwiseError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err_console.print("aborted")
        return 130
    except Exception as exc:  # click usage errors carry their own formatting
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
