"""The HTML report: one self-contained file (charts and images inlined, no network) from an
evaluation result, optionally with a training run and a comparison.

Sections: summary cards (with confidence intervals when the result has them), a sortable
per-class table, per-class IoU and BF bars, class frequency next to IoU, the row-normalised
confusion matrix, the trimap curve, a reliability diagram (results with probabilities), the
worst-k and best-k images, training curves and a comparison table. See docs/report.md.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from segwise.errors import DataError, InputError
from segwise.io_utils import atomic_write_text, check_writable_dir
from segwise.version import __version__

RESULT_KIND = "segwise.eval_result"
COMPARISON_KINDS = ("segwise.comparison", "segwise.compare_result")
TEMPLATE = "report.html.j2"


def _read_json(path: Path, what: str, fix: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{what} {path} is not readable JSON ({exc}). {fix}") from None
    if not isinstance(data, dict):
        raise InputError(f"{what} {path} holds a JSON {type(data).__name__}, not an object. {fix}")
    return data


def load_result(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a segwise evaluation result (``segwise eval --json``); refuse anything else with a clear error."""
    path = Path(path)
    fix = "Write one with segwise eval --json RESULT.json (or segwise predict --eval-gt)."
    data = _read_json(path, "result", fix)
    check_result(data, str(path))
    return data


def _what_segwise_json(data: Mapping[str, Any]) -> str:
    """What a segwise JSON other than an evaluation result holds (``""`` when not recognised)."""
    if data.get("kind") in COMPARISON_KINDS:
        return f"a comparison ({data['kind']}, from segwise compare or compare-preds --json)"
    if "kind" not in data and {"dataset", "split", "classes", "weights", "labelled_pixels"} <= data.keys():
        return "the class statistics of a dataset split (segwise data stats --json)"
    if "kind" not in data and {"class_names", "mask_encoding"} <= data.keys():
        return "a dataset spec (spec.json: classes, ignore index, mask encoding)"
    return ""


def check_result(result: Mapping[str, Any], source: str = "result") -> None:
    """Raise :class:`InputError` unless ``result`` is a segwise evaluation result with its main keys."""
    kind = result.get("kind")
    if kind != RESULT_KIND:
        what = _what_segwise_json(result)
        if what:
            problem = f"{source} holds {what}, not an evaluation result."
        else:
            problem = (
                f"{source} is not a segwise evaluation result (kind {kind!r}, expected {RESULT_KIND!r}), so "
                "it cannot be reported."
            )
        if kind in COMPARISON_KINDS:
            problem = problem[:-1] + ": pass it with --compare, next to one."
        raise InputError(
            f"{problem} segwise report takes an evaluation result: write one with segwise eval --json "
            "RESULT.json (or segwise predict --eval-gt, which writes eval.json)."
        )
    missing = [
        k for k in ("num_classes", "class_names", "per_class", "confusion_matrix", "miou") if k not in result
    ]
    if missing:
        raise InputError(
            f"{source} lacks {missing}; it is incomplete. Write it again with segwise eval --json."
        )
    c = result["num_classes"]
    rows, matrix = result["per_class"], result["confusion_matrix"]
    well_formed = (
        isinstance(c, int)
        and len(result["class_names"]) == c
        and isinstance(rows, list)
        and len(rows) == c
        and all(isinstance(r, Mapping) and {"id", "name", "iou", "gt_pixels"} <= r.keys() for r in rows)
        and isinstance(matrix, list)
        and len(matrix) == c
        and all(isinstance(row, list) and len(row) == c for row in matrix)
    )
    if not well_formed:
        raise InputError(
            f"{source} is malformed: num_classes, class_names, per_class rows and the {c}x{c} confusion "
            "matrix do not agree. Write it again with segwise eval --json."
        )


def load_comparison(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``comparison.json`` (``segwise compare``) or a ``segwise compare-preds --json`` result."""
    path = Path(path)
    data = _read_json(path, "comparison", "Write one with segwise compare or segwise compare-preds --json.")
    if data.get("kind") not in COMPARISON_KINDS:
        raise InputError(
            f"--compare {path} is not a segwise comparison (kind {data.get('kind')!r}, expected one of "
            f"{', '.join(COMPARISON_KINDS)}). Write one with segwise compare or segwise compare-preds --json."
        )
    return data


def read_metrics_csv(run: str | os.PathLike[str]) -> list[dict[str, str]]:
    """Rows of a run's ``metrics.csv`` (``run`` is the run folder or the CSV itself)."""
    run = Path(run)
    path = run / "metrics.csv" if run.is_dir() else run
    if not path.is_file():
        raise InputError(f"--run {run}: no metrics.csv found; give a segwise train run folder.")
    try:
        rows = list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {path}: {exc}.") from None
    if rows and "epoch" not in rows[0]:
        raise DataError(f"{path} has no 'epoch' column; is it a segwise metrics.csv?")
    return rows


# ----------------------------------------------------------------------------------- formatting
def _num(x: Any) -> float:
    return float("nan") if x is None else float(x)


def pct(x: float | None, digits: int = 2) -> str:
    """``0.6231 -> '62.31'``; ``None``/NaN -> ``'–'``.

    >>> pct(0.6231), pct(None)
    ('62.31', '–')
    """
    return "–" if x is None or math.isnan(x) else f"{100 * x:.{digits}f}"


def _card(label: str, key: str, result: Mapping[str, Any], note: str = "") -> dict[str, Any] | None:
    value = result.get(key)
    if key not in result:
        return None
    ci = (result.get("ci") or {}).get(key)
    level = (result.get("ci") or {}).get("level", 0.95)
    return {
        "label": label,
        "value": pct(value),
        "unit": "%" if value is not None else "",
        "ci": f"{100 * level:g}% CI {pct(ci['low'])} – {pct(ci['high'])}" if ci else "",
        "note": note,
    }


def _colors(result: Mapping[str, Any], classes: Any) -> list[tuple[int, int, int]]:
    from segwise.data.spec import default_colors

    c = int(result["num_classes"])
    spec = result.get("spec")
    if isinstance(spec, Mapping) and len(spec.get("colors") or []) == c:
        return [tuple(col) for col in spec["colors"]]
    if classes is not None:
        lookup = dict(zip(classes.ids, classes.colors, strict=True))
        defaults = default_colors(c)
        return [tuple(lookup.get(i, defaults[i])) for i in range(c)]
    return list(default_colors(c))


def _class_rows(
    result: Mapping[str, Any], colors: Sequence[Sequence[int]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The class table: the per-class columns of every family in the result (``MetricFamily.columns``),
    then each class's pixel share and counts."""
    from segwise.metrics.families import families_in, get_family

    per_class = result["per_class"]
    total = sum(int(r.get("gt_pixels") or 0) for r in per_class) or 1
    unit = _surface_unit(result)
    family_columns = [c for name in families_in(result) for c in get_family(name).columns(result)]
    columns = [
        *[f"{c.title} ({unit})" if c.distance and unit else c.title for c in family_columns],
        "pixel share",
        "GT pixels",
        "predicted pixels",
    ]
    rows = []
    for r, col in zip(per_class, colors, strict=True):
        share = int(r.get("gt_pixels") or 0) / total
        values = [
            _distance_cell(r.get(c.key)) if c.distance else (pct(r.get(c.key)), _num(r.get(c.key)))
            for c in family_columns
        ]
        values.append((f"{100 * share:.2f}", share))
        values.append((f"{int(r.get('gt_pixels') or 0):,}", float(r.get("gt_pixels") or 0)))
        values.append((f"{int(r.get('pred_pixels') or 0):,}", float(r.get("pred_pixels") or 0)))
        rows.append(
            {
                "id": r["id"],
                "name": r["name"],
                "color": "#{:02x}{:02x}{:02x}".format(*col),
                "absent": r.get("iou") is None,
                "cells": [{"text": t, "sort": "" if math.isnan(v) else repr(v)} for t, v in values],
            }
        )
    return rows, columns


def _surface_unit(result: Mapping[str, Any]) -> str:
    units = str((result.get("policy") or {}).get("surface_units", ""))
    return "px" if units.startswith("pixels") else "mm" if units else ""


def _distance_cell(value: Any) -> tuple[str, float]:
    v = _num(value)
    return ("–" if math.isnan(v) else f"{v:.2f}"), v


def _family_card(card: Any, flag: str | None, result: Mapping[str, Any]) -> dict[str, Any] | None:
    """A metric family's :class:`~segwise.metrics.families.Card`: the number with its interval, a
    placeholder naming the flag when the card is ``always`` shown, else nothing when the result lacks it."""
    if card.key not in result:
        if not card.always:
            return None
        return {"label": card.label, "value": "–", "unit": "", "ci": "", "note": f"run eval with {flag}"}
    if not card.distance:
        return _card(card.label, card.key, result, card.note)
    ci = (result.get("ci") or {}).get(card.key)
    level = (result.get("ci") or {}).get("level", 0.95)
    low, high = (_distance_cell(ci[k])[0] for k in ("low", "high")) if ci else ("", "")
    return {
        "label": card.label,
        "value": _distance_cell(result.get(card.key))[0],
        "unit": _surface_unit(result),
        "ci": f"{100 * level:g}% CI {low} – {high}" if ci else "",
        "note": card.note,
    }


def _family_parts(
    result: Mapping[str, Any], names: Sequence[str], colors: Sequence[Sequence[int]]
) -> tuple[list[dict[str, Any]], list[tuple[str, str]], list[dict[str, Any]], list[str]]:
    """What each metric family declares for the report (:mod:`segwise.metrics.families`): summary
    cards, per-class bar charts, figure sections, and the summary lines of the families in the result
    that show no card."""
    from segwise.metrics.families import families_in, registered_families
    from segwise.report import plots

    present = families_in(result)
    per_class = result["per_class"]
    cards, charts, sections, lines = [], [], [], []
    for f in registered_families().values():
        shown = [_family_card(card, f.flag, result) for card in f.cards(result)]
        cards += [c for c in shown if c is not None]
        for chart in f.charts:
            if chart.kind == "per_class" and any(chart.key in r for r in per_class):
                values = [r.get(chart.key) for r in per_class]
                uri = plots.per_class_bars(names, values, colors, chart.title, result.get(chart.headline))
                charts.append((chart.alt or chart.title, uri))
            elif chart.kind != "per_class" and result.get(chart.key):
                section = {
                    "id": chart.key,
                    "title": chart.title,
                    "hint": chart.hint,
                    "alt": chart.alt or chart.title,
                }
                sections.append(section | {"figure": plots.family_figure(chart.kind, result, chart.key)})
        if f.name in present and not any(shown):
            lines += f.summary(result)
    return cards, charts, sections, lines


def _comparison_table(comparison: Mapping[str, Any]) -> dict[str, Any]:
    names = list(comparison.get("class_names") or [])
    if comparison["kind"] == "segwise.comparison":
        seeds = int(comparison.get("seeds", 1))
        sets = comparison["variants"]

        def fmt(v: Mapping[str, Any], key: str) -> str:
            return pct(v.get(key)) + (f" ± {pct(v.get(key + '_std'))}" if seeds > 1 else "")

        title = (
            f"Training variants on the {comparison.get('split', 'val')} split "
            f"({seeds} seed{'s' * (seeds > 1)}; mean ± std, %)"
        )
    else:
        sets = comparison["predictions"]

        def fmt(v: Mapping[str, Any], key: str) -> str:
            return pct(v.get(key))

        title = f"Prediction sets on the same {comparison.get('num_images', '?')} images (%)"
    best = max((_num(s.get("miou")) for s in sets), default=float("nan"))
    rows = [
        {
            "name": s["name"],
            "best": _num(s.get("miou")) == best,
            "cells": [
                fmt(s, "miou"),
                fmt(s, "pixel_accuracy"),
                fmt(s, "mean_accuracy"),
                *[pct(x, 1) for x in s.get("iou", [])],
            ],
        }
        for s in sets
    ]
    verdicts = [c.get("verdict", "") for c in comparison.get("comparisons", [])]
    return {
        "title": title,
        "columns": ["mIoU", "pixel acc", "mean acc", *names],
        "rows": rows,
        "verdicts": verdicts,
    }


def _gallery(
    result: Mapping[str, Any],
    images: Path | None,
    gt: Path | None,
    pred: Path | None,
    classes: Any,
    colors: Sequence[Sequence[int]],
    k: int,
) -> dict[str, Any]:
    from segwise.data.readers import read_mask, read_spec_mask
    from segwise.data.spec import DatasetSpec
    from segwise.report.gallery import build_panel, select_images

    per_image = result.get("per_image")
    if not per_image:
        return {
            "message": "This result has no per-image scores; evaluate with segwise eval (this version) to rank images.",
            "groups": [],
            "missing": [],
            "show_image": False,
        }
    source = result.get("source") or {}
    if source.get("kind") == "volumes":
        return {
            "message": f"The {len(per_image)} cases are volumes: the gallery draws 2-D images only. Each case's "
            "mIoU, shape and spacing are in the result's per_image rows.",
            "groups": [],
            "missing": [],
            "show_image": False,
        }
    gt = gt or (Path(source["gt"]) if source.get("gt") else None)
    pred = pred or (Path(source["pred"]) if source.get("pred") else None)
    images = images or (Path(source["images"]) if source.get("images") else None)
    ignore = result.get("ignore_index")
    spec = DatasetSpec.from_json(result["spec"]) if isinstance(result.get("spec"), Mapping) else None

    def read_gt(path: Path) -> Any:
        return (
            read_spec_mask(path, spec) if spec is not None else read_mask(path, classes, ignore_index=ignore)
        )

    def read_pred(path: Path) -> Any:
        return read_mask(path, classes, ignore_index=ignore)

    worst, best = select_images(per_image, k)
    worst, best = (_with_image_names(rows, images, source.get("match")) for rows in (worst, best))
    roi = Path(source["roi"]) if source.get("roi") else None
    kw = {
        "images": images,
        "gt_dir": gt,
        "pred_dir": pred,
        "read_gt": read_gt,
        "read_pred": read_pred,
        "colors": colors,
        "ignore_index": ignore,
        "roi_dir": roi,
    }
    groups = [
        (f"Worst {len(worst)} images by per-image mIoU", [build_panel(r, **kw) for r in worst]),
        (f"Best {len(best)} images by per-image mIoU", [build_panel(r, **kw) for r in best]),
    ]
    missing = [] if images is not None else ["no --images folder given: the image column is empty"]
    return {
        "message": None,
        "groups": [(t, p) for t, p in groups if p],
        "missing": missing,
        "show_image": images is not None,
    }


def _with_image_names(
    rows: Sequence[Mapping[str, Any]], images: Path | None, match: str | None
) -> list[Mapping[str, Any]]:
    """Rows with the ``image`` file that pairs with their ground truth by the result's ``--match`` key
    (``21_manual1.gif`` -> ``21_training.tif``); rows stay as they are without a regex or a match."""
    from segwise.data.pairing import compile_match, keyed_files
    from segwise.data.readers import IMAGE_SUFFIXES

    if images is None or not match or not images.is_dir():
        return list(rows)
    try:
        by_key = keyed_files(images, IMAGE_SUFFIXES, "image", match)
    except (DataError, InputError):  # no pairing by the regex: the panels say the image is missing
        return list(rows)
    pattern = compile_match(match)
    out: list[Mapping[str, Any]] = []
    for row in rows:
        found = pattern.search(Path(str(row.get("gt") or row["name"])).stem)  # type: ignore[union-attr]
        image = by_key.get(found.group(1)) if found is not None and found.group(1) is not None else None
        out.append({**row, "image": image.name} if image is not None and "image" not in row else row)
    return out


def _summary_notes(result: Mapping[str, Any]) -> list[str]:
    names = result["class_names"]
    notes = []
    if result.get("absent_classes"):
        absent = ", ".join(
            names[i] if isinstance(i, int) and i < len(names) else str(i) for i in result["absent_classes"]
        )
        notes.append(
            f"Absent classes (no ground truth and no prediction) score NaN and are left out of every mean: {absent}."
        )
    if result.get("ignored_classes"):
        notes.append(f"Not evaluated (the ignore index is a class id): {result['ignored_classes']}.")
    if result.get("ignore_index") is not None:
        notes.append(f"Ground-truth pixels with value {result['ignore_index']} are ignored.")
    policy = result.get("policy") or {}
    if policy.get("averaging"):
        notes.append(f"Averaging: {policy['averaging']}.")
    return notes


def build_report(
    result: Mapping[str, Any],
    *,
    run: str | os.PathLike[str] | None = None,
    images: str | os.PathLike[str] | None = None,
    gt: str | os.PathLike[str] | None = None,
    pred: str | os.PathLike[str] | None = None,
    comparison: Mapping[str, Any] | None = None,
    classes: str | os.PathLike[str] | None = None,
    k: int = 4,
    title: str | None = None,
) -> str:
    """The report as one HTML string.

    Args:
        result: a segwise evaluation result (``segwise eval --json``).
        run: a training run folder (or its ``metrics.csv``): adds the training curves.
        images: folder of the input images, for the gallery's first column.
        gt, pred: folders of ground-truth and predicted masks (default: the result's ``source``).
        comparison: a ``segwise compare`` / ``compare-preds`` result: adds a comparison table.
        classes: class table CSV ``id,name,r,g,b``: colours, and decoding of RGB masks.
        k: images in each of the worst and best galleries.
        title: page title (default: from the result's source).
    """
    import jinja2

    from segwise.data.readers import read_class_table
    from segwise.report import plots

    check_result(result)
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise InputError(f"--top-k must be an integer >= 0; got {k!r}.")
    table = read_class_table(classes) if classes is not None else None
    names = list(result["class_names"])
    colors = _colors(result, table)
    rows, columns = _class_rows(result, colors)
    per_class = result["per_class"]
    iou = [r.get("iou") for r in per_class]
    total = sum(int(r.get("gt_pixels") or 0) for r in per_class) or 1
    shares = [int(r.get("gt_pixels") or 0) / total for r in per_class]
    cards, charts, sections, family_lines = _family_parts(result, names, colors)
    source = result.get("source") or {}
    context = {
        "title": title or "segwise evaluation report",
        "subtitle": " · ".join(
            f"{k}: {v}" for k, v in source.items() if isinstance(v, str | int | float) and v != ""
        ),
        "generated": _dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "version": __version__,
        "num_images": result.get("num_images"),
        "num_pixels": f"{int(result.get('num_pixels') or 0):,}",
        "num_classes": result["num_classes"],
        "cards": cards,
        "columns": columns,
        "rows": rows,
        "charts": charts,
        "frequency": plots.frequency_vs_iou(names, shares, iou, colors),
        "confusion": plots.confusion_heatmap(result["confusion_matrix"], names),
        "sections": sections,
        "family_lines": family_lines,
        "gallery": _gallery(result, _path(images), _path(gt), _path(pred), table, colors, k) if k else None,
        "training": plots.training_curves(read_metrics_csv(run)) if run is not None else None,
        "run": str(run) if run is not None else None,
        "comparison": _comparison_table(comparison) if comparison is not None else None,
        "notes": _summary_notes(result),
        "legend": [
            {"name": n, "color": "#{:02x}{:02x}{:02x}".format(*c)} for n, c in zip(names, colors, strict=True)
        ],
        "wrong": f"#{230:02x}{30:02x}{30:02x}",
        "ignored": f"#{70:02x}{110:02x}{160:02x}",
    }
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = pct
    return env.get_template(TEMPLATE).render(**context)


def _path(p: str | os.PathLike[str] | None) -> Path | None:
    return None if p is None else Path(p)


def write_report(
    result: Mapping[str, Any] | str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    comparison: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    **options: Any,
) -> Path:
    """Build the report (see :func:`build_report` for the options) and write it atomically to ``out``.

    ``result`` and ``comparison`` may be dicts or paths to their JSON files.
    """
    if not isinstance(result, Mapping):
        result = load_result(result)
    if comparison is not None and not isinstance(comparison, Mapping):
        comparison = load_comparison(comparison)
    out = Path(out)
    if out.is_dir():
        raise InputError(f"--out {out} is a folder; give the HTML file to write, e.g. {out / 'report.html'}.")
    check_writable_dir(out.parent, "--out")
    text = build_report(result, comparison=comparison, **options)
    atomic_write_text(out, text)
    return out
