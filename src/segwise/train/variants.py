"""``segwise compare``: one model and data set, several settings (e.g. losses), one table.

Each variant × seed is a normal training run in ``OUT/<variant>/seed<k>``; a finished run is
reused and an interrupted one resumed, so an interrupted comparison continues where it stopped.
Every best checkpoint is evaluated on the validation split, and the table gives the mean ± std
over seeds: mIoU, pixel and mean accuracy, per-class IoU, and the calibration of the raw softmax
(top-label ECE with 15 bins, NLL, Brier score; docs/metrics.md), where losses differ most.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from segwise.data.spec import DatasetSpec
from segwise.errors import InputError
from segwise.io_utils import atomic_path, atomic_write_text, write_json
from segwise.metrics.probs import ProbabilityAccumulator
from segwise.models.checkpoint import load_checkpoint
from segwise.train.config import load_config

CALIBRATION_KEYS = ("ece", "nll", "brier")
"""Calibration scores of the raw softmax in every comparison (lower is better)."""

SHORTHANDS = {
    "loss": "loss.name",
    "lr": "optim.lr",
    "arch": "model.arch",
    "optim": "optim.name",
    "augment": "data.augment",
    "class_weights": "data.class_weights",
    "schedule": "schedule.name",
}


def parse_vary(items: list[str]) -> list[tuple[str, list[str]]]:
    """``["loss=ce,dice", "optim.lr=1e-3,3e-4"]`` → ``[("loss.name", ["ce", "dice"]), ...]``."""
    out = []
    for item in items:
        if "=" not in item:
            raise InputError(f"--vary expects key=v1,v2,...; got {item!r} (e.g. loss=ce,dice,focal).")
        key, values = item.split("=", 1)
        key = SHORTHANDS.get(key.strip(), key.strip())
        vals = [v.strip() for v in values.split(",") if v.strip()]
        if not vals:
            raise InputError(f"--vary {item!r} lists no values.")
        out.append((key, vals))
    return out


def _variant_name(assignment: list[tuple[str, str]]) -> str:
    return ",".join(f"{k.split('.')[-1]}={v}" for k, v in assignment)


def _folder_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "=.-_+" else "_" for c in name)


def run_comparison(
    config: str | os.PathLike[str],
    vary: list[str],
    *,
    seeds: int = 1,
    out_dir: str | os.PathLike[str] = "runs/compare",
    overrides: list[str] | None = None,
    console: Any = None,
) -> dict[str, Any]:
    """Train every variant × seed and tabulate validation scores; returns the comparison dict."""
    from segwise.train.loop import train
    from segwise.train.runs import evaluate_checkpoint

    if seeds < 1:
        raise InputError(f"--seeds must be >= 1, got {seeds}.")
    axes = parse_vary(vary)
    out_dir = Path(out_dir)
    base = load_config(config, overrides or [])  # validates the config and overrides up front
    plan = []  # every variant's configs are loaded, and so checked, before the first run trains
    for combo in itertools.product(*[[(k, v) for v in vals] for k, vals in axes]):
        name = _variant_name(list(combo))
        seed_runs = []
        for s in range(seeds):
            run_dir = out_dir / _folder_name(name) / f"seed{s}"
            sets = [
                *(overrides or []),
                *[f"{k}={v}" for k, v in combo],
                f"train.seed={base.train.seed + s}",
                f'train.out_dir="{run_dir}"',
            ]
            seed_runs.append((s, run_dir, load_config(config, sets)))
        plan.append((combo, name, seed_runs))
    variants = []
    for combo, name, seed_runs in plan:
        runs = []
        for s, run_dir, cfg in seed_runs:
            last = run_dir / "last.pt"
            finished = last.exists() and load_checkpoint(last).get("finished", False)
            if not finished:
                if console is not None:
                    console.print(
                        f"[bold]variant {name}, seed {s}[/]" + (" (resuming)" if last.exists() else "")
                    )
                train(cfg, resume=run_dir if last.exists() else None, console=console)
            best = run_dir / "best.pt"
            ckpt_spec = DatasetSpec.from_json(load_checkpoint(best)["spec"])
            probs = ProbabilityAccumulator(ckpt_spec.num_classes, ckpt_spec.ignore_index)
            state, spec = evaluate_checkpoint(best, cfg.data.val_split, probs=probs)
            scores = state.compute()
            calib = probs.result(state, spec.class_names)
            runs.append(
                {
                    "seed": base.train.seed + s,
                    "run": str(run_dir),
                    "miou": scores["miou"],
                    "pixel_accuracy": scores["pixel_accuracy"],
                    "mean_accuracy": scores["mean_accuracy"],
                    **{k: calib[k] for k in CALIBRATION_KEYS},
                    "iou": [float(x) for x in scores["iou"]],
                }
            )
        variants.append({"name": name, "settings": dict(combo), "runs": runs, **_aggregate(runs)})
    result = {
        "kind": "segwise.comparison",
        "config": str(config),
        "split": base.data.val_split,
        "seeds": seeds,
        "class_names": list(spec.class_names),
        "variants": variants,
    }
    write_outputs(result, out_dir)
    return result


def _aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("miou", "pixel_accuracy", "mean_accuracy", *CALIBRATION_KEYS):
        vals = np.array([r[key] for r in runs], dtype=float)
        out[key] = float(np.nanmean(vals))
        out[f"{key}_std"] = float(np.nanstd(vals, ddof=1)) if len(vals) > 1 else 0.0
    iou = np.array([r["iou"] for r in runs], dtype=float)
    with np.errstate(all="ignore"):
        out["iou"] = [None if math.isnan(x) else float(x) for x in np.nanmean(iou, axis=0)]
    return out


def _pm(mean: float, std: float, seeds: int) -> str:
    return f"{100 * mean:.2f}" + (f" ± {100 * std:.2f}" if seeds > 1 else "")


def _plain(mean: float, std: float, seeds: int) -> str:
    return f"{mean:.4f}" + (f" ± {std:.4f}" if seeds > 1 else "")


def to_markdown(result: dict[str, Any]) -> str:
    names = result["class_names"]
    seeds = result["seeds"]
    head = ["variant", "mIoU", "pixel acc", "mean acc", "ECE", "NLL", "Brier", *names]
    lines = [
        f"# Comparison on the {result['split']} split ({seeds} seed{'s' if seeds > 1 else ''}, mean ± std, %)",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    best = max(v["miou"] for v in result["variants"])
    for v in result["variants"]:
        miou = _pm(v["miou"], v["miou_std"], seeds)
        cells = [
            v["name"],
            f"**{miou}**" if v["miou"] == best else miou,
            _pm(v["pixel_accuracy"], v["pixel_accuracy_std"], seeds),
            _pm(v["mean_accuracy"], v["mean_accuracy_std"], seeds),
            _pm(v["ece"], v["ece_std"], seeds),
            _plain(v["nll"], v["nll_std"], seeds),
            _plain(v["brier"], v["brier_std"], seeds),
            *["–" if x is None else f"{100 * x:.1f}" for x in v["iou"]],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "Per-class columns are IoU. Scores are dataset-level (docs/metrics.md), from each run's best.pt. "
        "ECE (top label, 15 equal-width bins, %), NLL (nats per pixel) and Brier score (sum over classes, "
        "mean over pixels) are of the raw softmax, before any `segwise calibrate`; lower is better."
    )
    return "\n".join(lines) + "\n"


def write_outputs(result: dict[str, Any], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "comparison.json", result)
    atomic_write_text(out_dir / "comparison.md", to_markdown(result))
    buf = io.StringIO()
    w = csv.writer(buf)
    keys = ["miou", "pixel_accuracy", "mean_accuracy", *CALIBRATION_KEYS]
    w.writerow(
        [
            "variant",
            *[k + s for k in keys for s in ("", "_std")],
            *[f"iou_{n}" for n in result["class_names"]],
        ]
    )
    for v in result["variants"]:
        w.writerow(
            [
                v["name"],
                *[v[k + s] for k in keys for s in ("", "_std")],
                *["" if x is None else x for x in v["iou"]],
            ]
        )
    atomic_write_text(out_dir / "comparison.csv", buf.getvalue())
    plot_comparison(result, out_dir / "comparison.png")


def plot_comparison(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = result["variants"]
    names = result["class_names"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [1, 3]})
    x = np.arange(len(variants))
    ax1.bar(x, [100 * v["miou"] for v in variants], yerr=[100 * v["miou_std"] for v in variants], capsize=4)
    ax1.set_xticks(x, [v["name"] for v in variants], rotation=30, ha="right")
    ax1.set_ylabel("val mIoU (%)")
    width = 0.8 / max(1, len(variants))
    cx = np.arange(len(names))
    for i, v in enumerate(variants):
        ax2.bar(cx + i * width, [0 if y is None else 100 * y for y in v["iou"]], width, label=v["name"])
    ax2.set_xticks(cx + 0.4 - width / 2, names, rotation=30, ha="right")
    ax2.set_ylabel("val IoU (%)")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
