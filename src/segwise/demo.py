"""``segwise demo``: generate a synthetic dataset, train a small U-Net, evaluate it on held-out
images and write the run folder. Needs no download; about two minutes on two CPU cores."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from segwise.io_utils import write_json
from segwise.train.config import Config, config_from_dict

DEMO_CONFIG: dict[str, Any] = {
    "data": {
        "dataset": "folder",
        "crop_size": [96, 128],
        "batch_size": 8,
        "val_batch_size": 16,
        "workers": 0,
        "augment": "light",
        "options": {"val_fraction": 0.15, "test_fraction": 0.15, "split_seed": 0},
    },
    "model": {"arch": "unet", "encoder": "classic", "options": {"base_width": 16, "depth": 3}},
    "loss": {"name": "ce+dice"},
    "optim": {"name": "adamw", "lr": 3e-3, "weight_decay": 1e-4},
    "schedule": {"name": "onecycle"},
    "train": {"epochs": 12, "seed": 0, "early_stopping_patience": 0},
}


def demo_config(out_dir: Path, minutes: float, seed: int, epochs: int) -> Config:
    data = {k: dict(v) for k, v in DEMO_CONFIG.items()}
    data["data"]["root"] = str(out_dir / "data")
    data["train"].update(
        {"out_dir": str(out_dir / "run"), "time_limit_minutes": minutes, "seed": seed, "epochs": epochs}
    )
    return config_from_dict(data)


def run_demo(
    out_dir: str | Path = "runs/demo",
    minutes: float = 0.0,
    seed: int = 0,
    epochs: int = 12,
    console: Any = None,
    show_result: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run the whole demo; returns the held-out evaluation result (also written to ``eval.json``;
    ``show_result`` prints it: the CLI passes its renderer)."""
    from rich.console import Console

    from segwise.demo_data import make_shapes_dataset
    from segwise.metrics import build_result
    from segwise.models import model_from_checkpoint
    from segwise.train.loop import train
    from segwise.train.runs import evaluate_model

    console = console or Console()
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    make_shapes_dataset(out_dir / "data", num_images=240, seed=seed)
    console.print(
        f"[bold]1/3[/] synthetic dataset: 240 images of shapes in {out_dir / 'data'} ({time.perf_counter() - t0:.0f}s)"
    )
    cfg = demo_config(out_dir, minutes, seed, epochs)
    run_dir = Path(cfg.train.out_dir)
    resume = run_dir if (run_dir / "last.pt").exists() else None
    budget = f", at most {minutes:g} min" if minutes else ""
    console.print(
        f"[bold]2/3[/] training a small U-Net for {epochs} epochs{budget}" + (" (resuming)" if resume else "")
    )
    run_dir = train(cfg, resume=resume, console=console)

    console.print("[bold]3/3[/] evaluating the best checkpoint on the held-out test images")
    model, _ = model_from_checkpoint(run_dir / "best.pt")
    state, test_set = evaluate_model(model, cfg, "test", per_image=True, batch_size=16)  # native size, fp32
    result = build_result(state, list(test_set.spec.class_names))
    result["source"] = {"checkpoint": str(run_dir / "best.pt"), "split": "test", "dataset": cfg.data.root}
    if show_result is not None:
        show_result(result)
    write_json(run_dir / "eval.json", result)
    _write_report(model, test_set, state, result, run_dir, Path(cfg.data.root))
    console.print(
        f"held-out test mIoU {100 * result['miou']:.2f}%  ·  run folder {run_dir}  ·  "
        f"{time.perf_counter() - t0:.0f}s total"
    )
    console.print(f"report: {run_dir / 'report.html'}")
    return result


def _write_report(
    model: Any, test_set: Any, state: Any, result: dict[str, Any], run_dir: Path, root: Path
) -> None:
    """report.html: the held-out result, training curves, and the worst/best test images (predicted here)."""
    from segwise.evaluate import per_image_scores
    from segwise.infer import Predictor, predict_paths
    from segwise.report import write_report

    spec = test_set.spec
    images = [f.image for f in test_set.files]
    predict_paths(Predictor(model, spec), images, run_dir / "test_pred", save=("index",))
    report_result = {
        **result,
        "per_image": per_image_scores(state.image_matrices, test_set.ids, spec.ignore_index),
        "spec": spec.to_dict(),
        "source": {
            **result["source"],
            "images": str(root / "images"),
            "gt": str(root / "masks"),
            "pred": str(run_dir / "test_pred" / "index"),
        },
    }
    title = "segwise demo: held-out test images"
    write_report(report_result, run_dir / "report.html", run=run_dir, title=title)
