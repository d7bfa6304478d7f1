"""``segwise train`` (with ``--auto``), ``segwise compare`` and ``segwise demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from segwise.cli.app import STARTED, app, console
from segwise.cli.render import print_plan, print_result
from segwise.errors import InputError


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
            auto,
            minutes,
            out=str(out) if out else None,
            device=device,
            seed=seed,
            plan_only=plan_only,
            console=console,
            started=STARTED,
            remeasure=remeasure,
            screen=screen,
            show_plan=lambda doc: print_plan(doc, console),
        )
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
    from segwise.train.variants import run_comparison, to_markdown

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

    run_demo(
        out,
        minutes=minutes,
        seed=seed,
        epochs=epochs,
        console=console,
        show_result=lambda result: print_result(result, console),
    )
