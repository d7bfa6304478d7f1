"""Every rich table the command line prints: an evaluation result, the plan of ``train --auto`` and a
dataset's class statistics. Library modules return data; rendering it for a terminal happens here."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from segwise.data.stats import WEIGHTINGS, ClassStats
from segwise.metrics.families import summary_lines


def _fmt(x: float | None, pct: bool = True) -> str:
    if x is None:
        return "–"
    return f"{100 * x:.2f}" if pct else f"{x:.4f}"


def print_result(result: dict[str, Any], console: Any) -> None:
    """Print the per-class table and the summary rows (percentages) with rich."""
    volumes = (result.get("source") or {}).get("kind") == "volumes"
    images, pixels, px = ("cases (volumes)", "voxels", "vox") if volumes else ("images", "pixels", "px")
    table = Table(title=f"{result['num_images']} {images}, {result['num_pixels']:,} evaluated {pixels}")
    for col in ("id", "class", "IoU %", "Acc %", "Prec %", "Dice %", f"GT {px}", f"pred {px}"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for row in result["per_class"]:
        table.add_row(
            str(row["id"]),
            row["name"],
            _fmt(row["iou"]),
            _fmt(row["accuracy"]),
            _fmt(row["precision"]),
            _fmt(row["dice"]),
            f"{row['gt_pixels']:,}",
            f"{row['pred_pixels']:,}",
        )
    console.print(table)
    summary = Table(title="summary (dataset-level unless named)")
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    for label, key in (
        ("mIoU", "miou"),
        ("voxel accuracy" if volumes else "pixel accuracy", "pixel_accuracy"),
        ("mean accuracy", "mean_accuracy"),
        ("mean Dice", "mean_dice"),
        ("fwIoU", "fwiou"),
        ("mIoU per case" if volumes else "mIoU per image", "miou_per_image"),
    ):
        summary.add_row(label, _fmt(result[key]) + " %")
    summary.add_row("kappa", _fmt(result["kappa"], pct=False))
    console.print(summary)
    if result["num_classes"] == 2:  # binary tasks are published with the foreground's scores
        fg = result["per_class"][1]
        console.print(
            f"foreground (class 1 {fg['name']!r}): IoU {_fmt(fg['iou'])} %, Dice/F1 {_fmt(fg['dice'])} %, "
            f"precision {_fmt(fg['precision'])} %, recall (sensitivity) {_fmt(fg['recall'])} %, "
            f"specificity {_fmt(result['per_class'][0]['recall'])} %",
            highlight=False,
        )
    notes = []
    if result["absent_classes"]:
        notes.append(f"absent classes (NaN, left out of means): {result['absent_classes']}")
    if result.get("ignored_classes"):
        notes.append(f"not evaluated (ignore index): {result['ignored_classes']}")
    if result.get("policy", {}).get("roi"):
        notes.append(f"ROI: {result['policy']['roi']}")
    elif result["ignore_index"] is not None:
        spec = result.get("spec") or {}
        mapped = (
            f" (after the value map {dict(map(tuple, spec['value_map']))} of the stored values)"
            if spec.get("mask_encoding") == "value_map" and spec.get("value_map")
            else ""
        )
        notes.append(f"pixels with ground truth {result['ignore_index']} are ignored{mapped}")
    for note in notes:
        console.print(f"[dim]{note}[/]")
    for line in summary_lines(result):  # the other families' scores (boundary, objects, intervals)
        console.print(line)


def print_plan(doc: dict[str, Any], console: Any) -> None:
    """The plan's choices and reasons as a table."""
    fp, m = doc["fingerprint"], doc["machine"]
    console.print(
        f"dataset: {fp['num_train']} training / {fp['num_val']} validation images, median size "
        f"{fp['image_size'][0]}x{fp['image_size'][1]}, {len(fp['class_names'])} classes; machine: {m['device']} "
        f"({m['name']}, {m['cores']} cores, {m['amp']}); timings of {m['measured_at']} (set-up took "
        f"{m['setup_seconds']:.0f} s; --remeasure times again)"
    )
    table = Table(title=f"plan for {doc['budget_minutes']:g} minutes")
    table.add_column("choice")
    table.add_column("why")
    for key, why in doc["reasons"].items():
        table.add_row(key, why)
    console.print(table)
    e = doc["expected_seconds"]
    console.print(f"expected: {e['total'] / 60:.1f} min in all ({e['train'] / 60:.1f} min of training)")


def print_class_stats(stats: ClassStats, console: Any) -> None:
    """Print the per-class table (share, images, frequency, the three weightings) with rich."""
    title = " ".join(x for x in (stats.dataset, stats.split) if x)
    items, cells = stats.units
    table = Table(title=f"{title}: {stats.num_images} {items}, {stats.total_pixels:,} labelled {cells}")
    for col in ("id", "class", "share %", items, "freq", "median freq", "inverse freq", "ENet"):
        if col == "class":
            table.add_column(col, no_wrap=True, min_width=max(len(n) for n in stats.class_names))
        else:
            table.add_column(col, justify="right")
    share, freq = stats.share, stats.frequency
    weights = [stats.weights(k) for k in WEIGHTINGS]
    for c, name in enumerate(stats.class_names):
        table.add_row(
            str(c),
            name,
            f"{share[c] * 100:.2f}",
            str(int(stats.images[c])),
            f"{freq[c]:.4f}",
            *(f"{w[c]:.4f}" for w in weights),
        )
    console.print(table)
    if stats.ignored_pixels:
        pct = 100 * stats.ignored_pixels / (stats.ignored_pixels + stats.total_pixels)
        console.print(f"ignored {cells}: {stats.ignored_pixels:,} ({pct:.2f}%), left out of every column")
    absent = [n for n, p in zip(stats.class_names, stats.pixels, strict=True) if p == 0]
    if absent:
        console.print(f"absent classes (weight 0): {', '.join(absent)}")
