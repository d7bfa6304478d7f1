"""The ``segwise`` app: the typer application, the consoles, the options several commands share, and
:func:`main`, which turns bad input into a message and exit status 2 (never a traceback)."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from segwise.errors import SegwiseError
from segwise.metrics.families import get_family, registered_families
from segwise.version import __version__

STARTED = time.perf_counter()  # train --auto counts its budget from here (the command's start)
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


def family_option(family: str, option: str) -> Any:
    """The typer annotation of a metric family's option: its flag, help and value type as the family
    declares them (:attr:`segwise.metrics.families.MetricFamily.cli`)."""
    declared = get_family(family).cli[option]
    return Annotated[declared.type, typer.Option(declared.flag, help=declared.help)]


def family_default(family: str, option: str) -> Any:
    """The command-line default of a metric family's option (its build default unless it names one)."""
    f = get_family(family)
    declared = f.cli[option]
    return f.options[option] if declared.default is ... else declared.default


def with_family_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` (which takes ``**families``) one parameter per registered metric family's flag
    (a switch, or the folder it reads) and one per option it offers, in registry order, as the
    registry declares them; typer reads them from the signature. A new family needs no change here."""
    signature = inspect.signature(command, eval_str=True)
    params = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    for f in registered_families().values():
        if f.flag is None:
            continue
        flag_type = Path | None if f.reads_folder else bool
        flag = Annotated[flag_type, typer.Option(f.flag, help=f.flag_help)]
        params.append(_keyword(f.name, flag, None if f.reads_folder else False))
        params += [
            _keyword(name, family_option(f.name, name), family_default(f.name, name)) for name in f.cli
        ]
    command.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    return command


def _keyword(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)


# the surface family's options that compare-preds shares with eval, as the family declares them
SpacingOpt = family_option("surface", "spacing")
HdModeOpt = family_option("surface", "hd_mode")
EmptyDistanceOpt = family_option("surface", "empty_distance")
IncludeBackgroundOpt = family_option("surface", "include_background")


def warn(msg: str) -> None:
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
