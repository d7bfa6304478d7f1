"""The report's charts: matplotlib (Agg) figures returned as inline ``data:image/png`` URIs.

Every function takes plain numbers (lists, arrays) and returns a URI string, so the HTML needs no
file next to it and no network.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

_DPI = 110
_ABSENT = "#bbbbbb"


def _plt() -> Any:
    """pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_uri(fig: Any) -> str:
    """Render a matplotlib figure to a ``data:image/png;base64,...`` URI and close it."""
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def png_uri(data: bytes, mime: str = "image/png") -> str:
    """Inline already-encoded image bytes as a data URI.

    >>> png_uri(b"abc")
    'data:image/png;base64,YWJj'
    """
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def _hex(color: Sequence[int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in color[:3]))


def _value(x: float | None) -> float:
    return float("nan") if x is None else float(x)


def confusion_heatmap(matrix: Sequence[Sequence[int]], names: Sequence[str]) -> str:
    """Row-normalised confusion matrix (rows: ground truth, columns: prediction), in percent.

    Rows without ground-truth pixels stay blank. Cells are annotated when there are at most 20 classes.
    """
    plt = _plt()
    cm = np.asarray(matrix, dtype=np.float64)
    rows = cm.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = np.where(rows > 0, cm / rows, np.nan) * 100
    c = len(names)
    side = min(16.0, max(5.0, 0.55 * c + 2.5))
    fig, ax = plt.subplots(figsize=(side + 1.2, side))
    im = ax.imshow(np.ma.masked_invalid(norm), cmap="Blues", vmin=0, vmax=100)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="% of the ground-truth row")
    if c <= 60:
        ax.set_xticks(range(c), labels=list(names), rotation=45, ha="right", fontsize=9)
        ax.set_yticks(range(c), labels=list(names), fontsize=9)
    if c <= 20:
        for i in range(c):
            for j in range(c):
                v = norm[i, j]
                if not math.isnan(v) and (v >= 0.05 or i == j):
                    ax.text(
                        j,
                        i,
                        f"{v:.1f}" if v < 99.95 else "100",
                        ha="center",
                        va="center",
                        fontsize=7.5,
                        color="white" if v > 55 else "#222",
                    )
    ax.set_xlabel("predicted class")
    ax.set_ylabel("ground-truth class")
    ax.set_title("Confusion matrix, row-normalised (%)")
    return figure_uri(fig)


def per_class_bars(
    names: Sequence[str],
    values: Sequence[float | None],
    colors: Sequence[Sequence[int]],
    title: str,
    mean: float | None = None,
) -> str:
    """Horizontal bars of a per-class score in percent; absent (NaN) classes are marked, not drawn as 0."""
    plt = _plt()
    c = len(names)
    vals = np.array([_value(v) * 100 for v in values])
    fig, ax = plt.subplots(figsize=(6.2, max(2.4, 0.32 * c + 1.1)))
    y = np.arange(c)
    ax.barh(y, np.nan_to_num(vals), color=[_hex(col) for col in colors], edgecolor="#333", linewidth=0.6)
    for i, v in enumerate(vals):
        ax.text(
            1 if math.isnan(v) else v + 1,
            i,
            "absent" if math.isnan(v) else f"{v:.1f}",
            va="center",
            fontsize=8,
            color=_ABSENT if math.isnan(v) else "#222",
        )
    if mean is not None and not math.isnan(mean):
        ax.axvline(100 * mean, color="#c0392b", linestyle="--", linewidth=1.2, label=f"mean {100 * mean:.1f}")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_yticks(y, labels=list(names), fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, 108)
    ax.set_xlabel("%")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return figure_uri(fig)


def frequency_vs_iou(
    names: Sequence[str],
    shares: Sequence[float],
    iou: Sequence[float | None],
    colors: Sequence[Sequence[int]],
) -> str:
    """Pixel share of each class (log scale) next to its IoU, classes sorted from frequent to rare."""
    plt = _plt()
    order = sorted(range(len(names)), key=lambda i: -shares[i])
    c = len(names)
    fig, (ax1, ax2) = plt.subplots(1, 2, sharey=True, figsize=(9.5, max(2.4, 0.32 * c + 1.2)))
    y = np.arange(c)
    cols = [_hex(colors[i]) for i in order]
    share = np.array([max(shares[i] * 100, 1e-4) for i in order])
    ax1.barh(y, share, color=cols, edgecolor="#333", linewidth=0.6)
    ax1.set_xscale("log")
    ax1.xaxis.set_major_locator(LogLocator(base=10))
    ax1.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}%"))
    ax1.xaxis.set_minor_formatter(NullFormatter())
    low = 10 ** math.floor(math.log10(share.min()))
    ax1.set_xlim(max(100.0, share.max() * 1.05), low)  # inverted: bars grow leftwards from the middle
    for i, v in enumerate(share):
        ax1.text(v * 1.15, i, f"{v:.2g}%", va="center", ha="right", fontsize=8, color="#222")
    ax1.set_yticks(y, labels=[names[i] for i in order], fontsize=9)
    ax1.invert_yaxis()
    ax1.set_xlabel("share of ground-truth pixels (%, log scale)")
    ax1.set_title("class frequency")
    ax1.grid(axis="x", alpha=0.3)
    vals = np.array([_value(iou[i]) * 100 for i in order])
    ax2.barh(y, np.nan_to_num(vals), color=cols, edgecolor="#333", linewidth=0.6)
    for i, v in enumerate(vals):
        ax2.text(
            1 if math.isnan(v) else v + 1,
            i,
            "absent" if math.isnan(v) else f"{v:.1f}",
            va="center",
            fontsize=8,
            color=_ABSENT if math.isnan(v) else "#222",
        )
    ax2.set_xlim(0, 108)
    ax2.set_xlabel("IoU (%)")
    ax2.set_title("IoU")
    ax2.grid(axis="x", alpha=0.3)
    fig.suptitle("Rare classes score lower: frequency (left) next to IoU (right)", fontsize=11)
    fig.tight_layout()
    return figure_uri(fig)


def trimap_curve(trimap: Mapping[str, Any]) -> str:
    """mIoU and pixel accuracy inside bands of growing width around the ground-truth boundaries."""
    plt = _plt()
    widths = list(trimap["widths"])
    fig, ax = plt.subplots(figsize=(6.2, 3.6))
    for key, label, style in (("miou", "mIoU", "o-"), ("pixel_accuracy", "pixel accuracy", "s--")):
        vals = [_value(v) * 100 for v in trimap.get(key, [])]
        if vals:
            ax.plot(widths, vals, style, label=label)
    ax.set_xlabel("band width around ground-truth boundaries (px)")
    ax.set_ylabel("%")
    ax.set_title("Trimap: accuracy near boundaries")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure_uri(fig)


def reliability_diagram(calibration: Mapping[str, Any], ece: float | None = None) -> str:
    """Top-label reliability diagram: accuracy against confidence per bin, with the bins' pixel shares."""
    plt = _plt()
    edges = list(calibration["edges"])
    count = list(calibration["count"])
    total = sum(count) or 1
    centres = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=True)]
    widths = [b - a for a, b in zip(edges[:-1], edges[1:], strict=True)]
    acc = [_value(v) for v in calibration["accuracy"]]
    conf = [_value(v) for v in calibration["confidence"]]
    fig, (ax, share) = plt.subplots(
        2, 1, figsize=(4.6, 4.8), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax.plot([0, 1], [0, 1], ":", color="gray", label="perfect calibration")
    ax.bar(centres, acc, width=widths, edgecolor="black", linewidth=0.5, alpha=0.8, label="accuracy")
    ax.plot(conf, acc, "o", color="tab:red", markersize=3, label="mean confidence")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ece_text = "" if ece is None else f" (ECE {100 * ece:.2f}%)"
    ax.set_title(f"Reliability diagram, top label{ece_text}")
    ax.legend(fontsize=7, loc="upper left")
    share.bar(centres, [c / total for c in count], width=widths, color="gray")
    share.set_xlabel("confidence (max probability)")
    share.set_ylabel("pixels")
    share.set_xlim(0, 1)
    fig.tight_layout()
    return figure_uri(fig)


def risk_coverage_curve(uncertainty: Mapping[str, Any]) -> str:
    """Error rate of the most certain pixels against coverage (``segwise eval --uncertainty``)."""
    plt = _plt()
    rc = uncertainty["risk_coverage"]
    fig, ax = plt.subplots(figsize=(6.2, 3.6))
    ax.plot(
        [100 * c for c in rc["coverage"]], [_value(r) * 100 for r in rc["risk"]], "o-", label="by entropy"
    )
    full = _value(rc["risk"][-1]) * 100
    ax.axhline(full, ls="--", color="grey", lw=1, label=f"all pixels ({full:.2f}%)")
    ax.set_xlabel("coverage: most certain pixels kept (%)")
    ax.set_ylabel("error rate (%)")
    ax.set_title(f"Risk-coverage (AURC {_value(uncertainty.get('aurc')) * 100:.2f}%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure_uri(fig)


def training_curves(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """Loss, validation scores and learning rate per epoch from a run's ``metrics.csv`` rows."""
    plt = _plt()

    def series(key: str) -> tuple[list[float], list[float]]:
        pts = [(float(r["epoch"]), float(r[key])) for r in rows if r.get(key) not in (None, "")]
        return [p[0] for p in pts], [p[1] for p in pts]

    panels = [
        ("loss", [("train_loss", "train loss"), ("val_loss", "val loss")]),
        (
            "validation (%)",
            [
                ("val_miou", "val mIoU"),
                ("val_pixel_accuracy", "val pixel acc"),
                ("val_mean_accuracy", "val mean acc"),
            ],
        ),
        ("learning rate", [("lr", "lr")]),
    ]
    panels = [(t, [(k, label) for k, label in keys if series(k)[0]]) for t, keys in panels]
    panels = [p for p in panels if p[1]]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4))
    for ax, (title, keys) in zip(np.atleast_1d(axes), panels, strict=True):
        for key, label in keys:
            x, y = series(key)
            scale = 100 if title.startswith("validation") else 1
            ax.plot(x, [v * scale for v in y], "o-" if len(x) < 30 else "-", markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if title == "learning rate":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
        if len(keys) > 1:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return figure_uri(fig)


def family_figure(kind: str, result: Mapping[str, Any], key: str) -> str:
    """The figure of a metric family's :class:`~segwise.metrics.families.Chart` of ``kind`` (other than
    ``per_class``), drawn from ``result[key]``. A new kind of figure is one function above and one
    entry in :data:`FIGURES`."""
    return FIGURES[kind](result, key)


FIGURES: dict[str, Any] = {
    "trimap": lambda result, key: trimap_curve(result[key]),
    "reliability": lambda result, key: reliability_diagram(result[key], result.get("ece")),
    "risk_coverage": lambda result, key: risk_coverage_curve(result[key]),
}
