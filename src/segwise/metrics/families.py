"""Metric families: the groups of scores an evaluation can add to its result, each registered once.

A family is one stateful metric (:class:`~segwise.metrics.state.MetricState`) and what the
evaluation needs to know about it: the ``segwise eval`` flag that adds it, how to build its state
from ``(num_classes, ignore_index, options)``, which result keys it writes and the summary lines
printed after the pixel table. ``segwise eval``, ``predict --eval-gt`` (pixel scores by default),
``compare-preds`` and the report find the families here, through :mod:`segwise.evaluate`.

Registered, in evaluation order:

* ``pixel`` (always): :class:`~segwise.metrics.ConfusionMatrix` with per-image matrices;
* ``boundary`` (``--boundary``): :class:`~segwise.metrics.boundary.BoundaryAccumulator`;
* ``regions`` (``--regions``): :class:`~segwise.metrics.regions.RegionAccumulator`;
* ``surface`` (``--surface``): :class:`~segwise.metrics.surface.SurfaceAccumulator` (HD, HD95, ASSD,
  NSD per case and class; takes the voxel spacing: ``geometry=True``; not part of ``--all``);
* ``ci`` (``--ci``): :class:`~segwise.metrics.stats.BootstrapCI`, over the pixel state and, when
  evaluated, the boundary and surface states;
* ``probs`` (``--probs DIR``): :class:`~segwise.metrics.probs.ProbabilityAccumulator`, fed with the
  class probabilities instead of the class ids (``needs="probs"``; not part of ``--all``).
* ``uncertainty`` (``--uncertainty DIR``): :class:`~segwise.metrics.uncertainty.UncertaintyAccumulator`,
  fed per image with the extra input ``uncertainty`` (a family's ``inputs``).

A new family is one module in :mod:`segwise.metrics` with its ``MetricState`` and one
:func:`register_family` call below. The registration declares everything the layers above read:
the ``segwise eval`` flag and options (:class:`FamilyOption`; ``cli/`` builds the command's
parameters from them), whether it takes volumes (``volumes``), the summary lines printed after the
pixel table, and what the HTML report shows (:class:`Card` numbers, :class:`Column` class-table
columns and :class:`Chart` figures; a family with no cards shows its summary lines in the report
instead).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from segwise.errors import InputError, did_you_mean
from segwise.metrics.boundary import BoundaryAccumulator
from segwise.metrics.confusion import ConfusionMatrix
from segwise.metrics.probs import ProbabilityAccumulator
from segwise.metrics.regions import RegionAccumulator
from segwise.metrics.state import MetricState
from segwise.metrics.stats import BootstrapCI
from segwise.metrics.surface import SurfaceAccumulator, surface_metric_label
from segwise.metrics.uncertainty import UncertaintyAccumulator

__all__ = [
    "Card",
    "Chart",
    "Column",
    "FamilyOption",
    "MetricFamily",
    "build_states",
    "families_in",
    "get_family",
    "register_family",
    "registered_families",
    "select_families",
    "summary_lines",
]


@dataclass(frozen=True)
class FamilyOption:
    """How ``segwise eval`` offers one option of a family: its flag, help, value type and default
    (``...``: the family's own default in :attr:`MetricFamily.options`)."""

    flag: str
    help: str
    type: Any
    default: Any = ...


@dataclass(frozen=True)
class Card:
    """A headline number of a family in the HTML report: ``result[key]`` with its interval when the
    result has one. ``distance``: a surface distance in the result's units (else a share, in %);
    ``always``: shown as "–" with "run eval with FLAG" when the result lacks it."""

    label: str
    key: str
    note: str = ""
    distance: bool = False
    always: bool = False


@dataclass(frozen=True)
class Column:
    """A per-class column of a family in the report's class table: each row's ``key`` (a share in %,
    or with ``distance`` a surface distance whose title gets the result's unit)."""

    title: str
    key: str
    distance: bool = False


@dataclass(frozen=True)
class Chart:
    """A figure of a family in the HTML report, drawn when the result holds ``key``.

    ``kind``: ``"per_class"`` (bars of every class's ``key`` beside the per-class IoU), or a figure of
    its own section: ``"trimap"``, ``"reliability"``, ``"risk_coverage"`` (the figures of
    :mod:`segwise.report.plots`; a new kind adds its figure there). ``hint`` says how to read it."""

    kind: str
    key: str
    title: str
    hint: str = ""
    headline: str = ""  # per_class: the result key of the mean drawn as a line (e.g. "miou")
    alt: str = ""  # the image's text alternative (default: the title)


def _no_cards(result: Mapping[str, Any]) -> list[Card]:
    return []


def _no_columns(result: Mapping[str, Any]) -> list[Column]:
    return []


@dataclass(frozen=True)
class MetricFamily:
    """What the evaluation pipeline knows about one metric family.

    Attributes:
        name: registry key, e.g. ``"boundary"``.
        flag: the ``segwise eval`` flag that adds the family (``--all`` adds every one); ``None``
            for a family that is always evaluated.
        description: one line: what it adds.
        build: ``build(num_classes, ignore_index, built, **options)`` returns the family's empty
            state; ``built`` maps the names of the families built before it to their states.
        result_keys: top-level keys the family writes into a result (how a reader tells whether a
            result holds it).
        summary: ``summary(result) -> lines`` printed after the pixel table (none when the result
            does not hold the family).
        options: the family's options and their defaults, passed to ``build`` by keyword.
        needs: what its ``update`` takes as first argument: ``"labels"`` (predicted class ids) or
            ``"probs"`` (class probabilities ``(C, H, W)``; such a family is not part of ``--all``).
        inputs: names of extra per-image arrays the family's ``update`` takes by keyword besides
            ``(pred, target)``, e.g. ``("uncertainty",)``; the evaluation must be given them, so
            ``--all`` does not add such a family.
        geometry: whether its ``update`` takes the case's voxel size, ``spacing=`` (array axis order,
            ``None`` when unknown): :meth:`segwise.evaluate.Evaluation.add` forwards its ``spacing``
            to such families only.
        in_all: whether ``--all`` adds it (with ``needs="labels"`` and no ``inputs``); the surface
            family is left out: per-case distances are a choice for volumes and objects, and ``--all``
            keeps giving the results it gave before.
        flag_help: the help of ``flag`` in ``segwise eval``. The flag is a switch, or for a family that
            reads files (``needs="probs"`` or ``inputs``) the folder it reads them from.
        cli: how ``segwise eval`` offers ``options``, by option name; an option left out is not offered.
        volumes: ``""`` when the family evaluates label volumes; else why it does not and what to use
            instead (the volume evaluation refuses it with this text).
        cards: ``cards(result) -> [Card]``: its headline numbers in the HTML report.
        columns: ``columns(result) -> [Column]``: its per-class columns in the report's class table.
        charts: its figures in the HTML report.
    """

    name: str
    flag: str | None
    description: str
    build: Callable[..., MetricState]
    result_keys: tuple[str, ...]
    summary: Callable[[Mapping[str, Any]], list[str]]
    options: Mapping[str, Any] = field(default_factory=dict)
    needs: str = "labels"
    inputs: tuple[str, ...] = ()
    geometry: bool = False
    in_all: bool = True
    flag_help: str = ""
    cli: Mapping[str, FamilyOption] = field(default_factory=dict)
    volumes: str = ""
    cards: Callable[[Mapping[str, Any]], list[Card]] = _no_cards
    columns: Callable[[Mapping[str, Any]], list[Column]] = _no_columns
    charts: tuple[Chart, ...] = ()

    @property
    def reads_folder(self) -> bool:
        """Whether its flag names a folder (of probabilities or of its ``inputs``) rather than a switch."""
        return self.needs == "probs" or bool(self.inputs)


_FAMILIES: dict[str, MetricFamily] = {}


def register_family(family: MetricFamily) -> MetricFamily:
    """Add ``family`` to the registry (after the ones already there); a name, flag or option
    registered twice is an error."""
    if family.name in _FAMILIES and _FAMILIES[family.name] is not family:
        raise RuntimeError(f"metric family {family.name!r} is registered twice")
    for other in _FAMILIES.values():
        if other is family:
            continue
        if family.flag is not None and other.flag == family.flag:
            raise RuntimeError(f"flag {family.flag} of family {family.name!r} is taken by {other.name!r}")
        shared = set(other.options) & set(family.options)
        if shared:
            raise RuntimeError(
                f"options {sorted(shared)} of family {family.name!r} are taken by {other.name!r}"
            )
    _FAMILIES[family.name] = family
    return family


def registered_families() -> dict[str, MetricFamily]:
    """A copy of the registry, in evaluation order.

    >>> list(registered_families())
    ['pixel', 'boundary', 'regions', 'surface', 'ci', 'probs', 'uncertainty']
    """
    return dict(_FAMILIES)


def get_family(name: str) -> MetricFamily:
    """The family registered as ``name``; an unknown name raises :class:`InputError` with the list.

    >>> get_family("boundary").flag
    '--boundary'
    """
    if name not in _FAMILIES:
        raise InputError(
            f"unknown metric family {name!r}; {did_you_mean(name, _FAMILIES, cutoff=0.5)}"
            f"available: {', '.join(_FAMILIES)}."
        )
    return _FAMILIES[name]


def select_families(requested: Mapping[str, bool], everything: bool = False) -> tuple[str, ...]:
    """The optional families to evaluate, in registry order, from ``{name: flag given}`` (the
    command-line flags) and ``everything`` (``--all``: every family fed with class ids, with no extra
    ``inputs`` and ``in_all``: boundary, regions, ci).

    >>> select_families({"boundary": False, "regions": True, "ci": False})
    ('regions',)
    >>> select_families({}, everything=True)
    ('boundary', 'regions', 'ci')
    """
    for name in requested:
        get_family(name)
    return tuple(
        f.name
        for f in _FAMILIES.values()
        if f.flag is not None
        and (
            (everything and f.in_all and f.needs == "labels" and not f.inputs) or requested.get(f.name, False)
        )
    )


def build_states(
    families: Iterable[str],
    num_classes: int,
    ignore_index: int | None = None,
    options: Mapping[str, Any] | None = None,
) -> dict[str, MetricState]:
    """Empty states of the pixel family and of ``families``, in registry order.

    Args:
        families: names of optional families (the pixel family is always built).
        num_classes: number of evaluated classes C.
        ignore_index: the ignore index of the evaluation (with an ROI: the value outside it).
        options: options of the families (``None`` values mean the default); an option no family
            has is an error that lists the valid ones.

    Example:
        >>> states = build_states(["ci", "boundary"], 3, 255, {"bf_theta": 2.0, "resamples": 100})
        >>> {name: type(s).__name__ for name, s in states.items()}
        {'pixel': 'ConfusionMatrix', 'boundary': 'BoundaryAccumulator', 'ci': 'BootstrapCI'}
    """
    wanted = {get_family(name).name for name in families} | {"pixel"}
    options = dict(options or {})
    valid = [opt for f in _FAMILIES.values() for opt in f.options]
    unknown = [k for k in options if k not in valid]
    if unknown:
        raise InputError(
            f"unknown metric option {unknown[0]!r}; {did_you_mean(unknown[0], valid, cutoff=0.5)}"
            f"valid: {', '.join(valid)}."
        )
    built: dict[str, MetricState] = {}
    for family in _FAMILIES.values():
        if family.name in wanted:
            kwargs = {
                k: default if options.get(k) is None else options[k] for k, default in family.options.items()
            }
            built[family.name] = family.build(num_classes, ignore_index, dict(built), **kwargs)
    return built


def families_in(result: Mapping[str, Any]) -> list[str]:
    """The families whose scores a result holds, in registry order.

    >>> families_in({"miou": 0.5, "objects": {}})
    ['pixel', 'regions']
    """
    return [f.name for f in _FAMILIES.values() if any(k in result for k in f.result_keys)]


def summary_lines(result: Mapping[str, Any]) -> list[str]:
    """The summary lines of every family in ``result``, printed after the pixel table."""
    return [line for family in _FAMILIES.values() for line in family.summary(result)]


# ----------------------------------------------------------------------------- summary formatting


def _pct(x: float | None) -> str:
    return "–" if x is None or x != x else f"{100 * x:.2f}%"


def _with_ci(result: Mapping[str, Any], key: str) -> str:
    c = (result.get("ci") or {}).get(key)
    return _pct(result.get(key)) + (f"  [{_pct(c['low'])}, {_pct(c['high'])}]" if c else "")


# ----------------------------------------------------------------------------- the families


def _build_pixel(num_classes: int, ignore_index: int | None, built: Mapping[str, MetricState]) -> MetricState:
    return ConfusionMatrix(num_classes, ignore_index, per_image=True)


def _pixel_summary(result: Mapping[str, Any]) -> list[str]:
    """With intervals, the headline pixel scores again (the table has them without)."""
    ci = result.get("ci")
    if not ci:
        return []
    level = f" ({100 * ci['level']:g}% CI, {ci['num_resamples']} resamples)"
    labels = (("miou", "mIoU"), ("pixel_accuracy", "pixel accuracy"), ("mean_accuracy", "mean accuracy"))
    return [f"{label}: {_with_ci(result, key)}{level}" for key, label in labels]


register_family(
    MetricFamily(
        name="pixel",
        flag=None,
        description="pixel scores from the dataset-level confusion matrix (always)",
        build=_build_pixel,
        result_keys=("miou", "confusion_matrix"),
        summary=_pixel_summary,
        cards=lambda result: [
            Card("mIoU", "miou", "dataset-level mean IoU"),
            Card("pixel accuracy", "pixel_accuracy"),
            Card("mean accuracy", "mean_accuracy", "mean per-class recall"),
            Card("fwIoU", "fwiou", "IoU weighted by class frequency"),
            Card("mean Dice", "mean_dice"),
            Card("mIoU per image", "miou_per_image", "mean of per-image mIoU"),
        ],
        columns=lambda result: [
            Column("IoU", "iou"),
            Column("Accuracy", "accuracy"),
            Column("Precision", "precision"),
            Column("Dice", "dice"),
        ],
        charts=(Chart("per_class", "iou", "IoU per class (%)", headline="miou", alt="Per-class IoU"),),
    )
)


def _build_boundary(
    num_classes: int,
    ignore_index: int | None,
    built: Mapping[str, MetricState],
    *,
    bf_theta: float | None,
    biou_d: int | None,
) -> MetricState:
    return BoundaryAccumulator(num_classes, ignore_index, theta=bf_theta, d=biou_d)


def _boundary_summary(result: Mapping[str, Any]) -> list[str]:
    if "bf" not in result:
        return []
    tri = result["trimap"]
    bands = ", ".join(f"{w}px {_pct(m)}" for w, m in zip(tri["widths"], tri["miou"], strict=True))
    return [
        f"BF: {_with_ci(result, 'bf')}   Boundary IoU: {_with_ci(result, 'biou')}",
        f"trimap mIoU: {bands}",
    ]


register_family(
    MetricFamily(
        name="boundary",
        flag="--boundary",
        description="boundary metrics: BF, Boundary IoU, trimap",
        build=_build_boundary,
        result_keys=("bf", "biou", "trimap"),
        summary=_boundary_summary,
        options={"bf_theta": None, "biou_d": None},
        flag_help="Add boundary metrics: BF, Boundary IoU, trimap.",
        cli={
            "bf_theta": FamilyOption(
                "--bf-theta", "BF tolerance in px (default 0.75% of the diagonal).", float | None
            ),
            "biou_d": FamilyOption(
                "--biou-d", "Boundary IoU width in px (default 2% of the diagonal).", int | None
            ),
        },
        volumes="--boundary (BF, Boundary IoU, trimap) is defined on 2-D images in pixels; for volumes use "
        "spacing-aware surface distances (--surface: HD95, ASSD, NSD in mm), or export the slices as 2-D masks "
        "and evaluate those",
        cards=lambda result: [
            Card("BF", "bf", "boundary F1", always=True),
            Card("Boundary IoU", "biou"),
        ],
        columns=lambda result: [Column("BF", "bf"), Column("Boundary IoU", "biou")],
        charts=(
            Chart("per_class", "bf", "Boundary F1 per class (%)", headline="bf", alt="Per-class BF"),
            Chart(
                "trimap",
                "trimap",
                "Trimap",
                "Scores restricted to bands of growing width around the ground-truth boundaries: a low "
                "start means errors concentrate at object edges.",
                alt="trimap curve",
            ),
        ),
    )
)


def _build_regions(
    num_classes: int, ignore_index: int | None, built: Mapping[str, MetricState]
) -> MetricState:
    return RegionAccumulator(num_classes, ignore_index)


def _regions_summary(result: Mapping[str, Any]) -> list[str]:
    if "objects" not in result:
        return []
    o = result["objects"]
    return [
        f"objects: F1 {_pct(o['f1'])}, SQ {_pct(o['sq'])}, PQ {_pct(o['pq'])} "
        f"(TP {o['tp']}, FP {o['fp']}, FN {o['fn']}; means over classes)"
    ]


register_family(
    MetricFamily(
        name="regions",
        flag="--regions",
        description="object metrics: connected components matched at IoU > 0.5",
        build=_build_regions,
        result_keys=("objects",),
        summary=_regions_summary,
        flag_help="Add object metrics: connected components matched at IoU > 0.5.",
        volumes="--regions (2-D connected components matched at IoU > 0.5) is defined on 2-D images; export the "
        "slices as 2-D masks to score objects per slice",
    )
)


def _build_surface(
    num_classes: int,
    ignore_index: int | None,
    built: Mapping[str, MetricState],
    *,
    hd_mode: str,
    hd_percentile: float,
    nsd_tolerance: Any,
    empty_distance: str,
    spacing: Any,
    include_background: bool,
) -> MetricState:
    return SurfaceAccumulator(
        num_classes,
        ignore_index,
        hd_mode=hd_mode,
        hd_percentile=hd_percentile,  # type: ignore[arg-type]
        nsd_tolerance=nsd_tolerance,
        empty_distance=empty_distance,
        spacing=spacing,  # type: ignore[arg-type]
        include_background=include_background,
    )


def _dist(x: float | None) -> str:
    return "–" if x is None or x != x else f"{x:.3g}"


def _surface_summary(result: Mapping[str, Any]) -> list[str]:
    s = result.get("surface")
    if not s:
        return []
    ci = result.get("ci") or {}
    parts = []
    for name in s["metrics"]:
        c = ci.get(f"mean_{name}")
        show = _num if name.startswith("nsd") else _dist
        parts.append(
            f"{name} {show(result[f'mean_{name}'])}"
            + (f" [{show(c['low'])}, {show(c['high'])}]" if c else "")
        )
    empty = s["empty"]
    units = "px" if result["policy"].get("surface_units", "").startswith("pixels") else "physical units"
    background = "with" if "included" in result["policy"].get("surface_background", "") else "without"
    return [
        f"surface ({s['num_cases']} cases, {units}; mean over cases of each case's mean over classes, {background} "
        "the background): " + ", ".join(parts),
        f"empty masks (case x class): gt only empty {sum(empty['gt_empty'])}, prediction only empty "
        f"{sum(empty['pred_empty'])}, both {sum(empty['both_empty'])} (distances then: "
        f"{'NaN, left out' if result['policy'].get('empty_distance') == 'nan' else 'the diagonal'})",
    ]


def _surface_cards(result: Mapping[str, Any]) -> list[Card]:
    """The mean over cases of each surface metric but HD (NSD a share, the others distances)."""
    metrics = (result.get("surface") or {}).get("metrics", [])
    return [
        Card(surface_metric_label(m), f"mean_{m}", "mean over cases", distance=not m.startswith("nsd"))
        for m in metrics
        if m != "hd"
    ]


register_family(
    MetricFamily(
        name="surface",
        flag="--surface",
        description="surface distances per case and class: HD, HD95, ASSD, NSD (physical units)",
        build=_build_surface,
        result_keys=("surface",),
        summary=_surface_summary,
        options={
            "hd_mode": "max",
            "hd_percentile": 95.0,
            "nsd_tolerance": (1.0,),
            "empty_distance": "nan",
            "spacing": None,
            "include_background": False,
        },
        geometry=True,
        in_all=False,
        flag_help="Add surface distances per image and class: HD, HD95, ASSD, NSD (see --spacing).",
        cli={
            "spacing": FamilyOption(
                "--spacing",
                "Pixel size in physical order X,Y (width, then height), e.g. 0.8,0.8 for mm: surface metrics in "
                "physical units (default: pixels).",
                str | None,
            ),
            "hd_mode": FamilyOption(
                "--hd-mode",
                "HD95: max (larger of the two directed 95th percentiles, as MONAI) or pooled (95th percentile of "
                "both directions together, as MedPy).",
                str,
            ),
            "hd_percentile": FamilyOption(
                "--hd-percentile", "Percentile of the robust Hausdorff distance (hd95).", float
            ),
            "nsd_tolerance": FamilyOption(
                "--nsd-tolerance", "NSD tolerances in physical units, e.g. 1,2 (--surface).", str, "1"
            ),
            "empty_distance": FamilyOption(
                "--empty-distance",
                "Surface distances when only one of prediction/ground truth has the class: nan (counted, left "
                "out) or max (the image diagonal).",
                str,
            ),
            "include_background": FamilyOption(
                "--include-background",
                "Count class 0 (the background) in the surface means over classes (default: left out, as "
                "MONAI's include_background=False).",
                bool,
            ),
        },
        cards=_surface_cards,
        columns=lambda result: [
            Column(surface_metric_label(m), m, distance=not m.startswith("nsd"))
            for m in (result.get("surface") or {}).get("metrics", [])
        ],
    )
)


def _build_ci(
    num_classes: int, ignore_index: int | None, built: Mapping[str, MetricState], *, resamples: int, seed: int
) -> MetricState:
    return BootstrapCI(
        num_resamples=resamples, seed=seed, boundary=built.get("boundary"), surface=built.get("surface")
    )


def _ci_summary(result: Mapping[str, Any]) -> list[str]:
    return []  # every family prints its own scores with their intervals


register_family(
    MetricFamily(
        name="ci",
        flag="--ci",
        description="bootstrap 95% confidence intervals over images",
        build=_build_ci,
        result_keys=("ci",),
        summary=_ci_summary,
        options={"resamples": 1000, "seed": 0},
        flag_help="Add bootstrap 95% confidence intervals over images.",
        cli={
            "resamples": FamilyOption("--resamples", "Bootstrap resamples for --ci.", int),
            "seed": FamilyOption("--seed", "Seed of the bootstrap.", int),
        },
    )
)


def _build_probs(
    num_classes: int, ignore_index: int | None, built: Mapping[str, MetricState], *, calibration_bins: int
) -> MetricState:
    return ProbabilityAccumulator(num_classes, ignore_index, calibration_bins=calibration_bins)


def _num(x: float | None, digits: int = 4) -> str:
    return "–" if x is None or x != x else f"{x:.{digits}f}"


def _probs_summary(result: Mapping[str, Any]) -> list[str]:
    if "ece" not in result:
        return []
    lines = [
        f"probabilities: mean ROC AUC {_num(result['mean_roc_auc'])}, mean AP {_num(result['mean_average_precision'])} "
        "(one-vs-rest, over classes where defined)",
        f"calibration: ECE {_pct(result['ece'])} ({result['calibration']['bins']} bins), class-wise ECE "
        f"{_pct(result['classwise_ece'])}, MCE {_pct(result['mce'])}, Brier {_num(result['brier'])}, "
        f"NLL {_num(result['nll'])}",
    ]
    if "sensitivity" in result:
        best = (result.get("best_threshold") or {}).get("f1")
        at = (
            f"; best F1 {_pct(best['f1'])} at p1 >= {best['threshold']:.4g} (precision {_pct(best['precision'])}, "
            f"recall {_pct(best['recall'])})"
            if best
            else ""
        )
        lines.append(
            f"sensitivity {_pct(result['sensitivity'])}, specificity {_pct(result['specificity'])} (argmax){at}"
        )
    return lines


register_family(
    MetricFamily(
        name="probs",
        flag="--probs",
        description="ROC AUC, average precision, calibration (ECE, MCE), Brier, NLL of class probabilities",
        build=_build_probs,
        result_keys=("roc_auc", "ece", "calibration"),
        summary=_probs_summary,
        options={"calibration_bins": 15},
        needs="probs",
        flag_help="Folder of class probabilities <stem>.npy (C,H,W) of predict --save probs: adds ROC AUC, AP, "
        "calibration (ECE, MCE), Brier and NLL; their argmax is the prediction when --pred is not given.",
        cli={
            "calibration_bins": FamilyOption(
                "--calibration-bins", "Equal-width confidence bins of ECE/MCE with --probs.", int
            )
        },
        volumes="--probs reads (C, H, W) .npy files of 2-D images; evaluate the argmax label volumes with --pred",
        charts=(
            Chart(
                "reliability",
                "calibration",
                "Reliability diagram",
                "Accuracy of the pixels in each confidence bin against their confidence: a calibrated model "
                "follows the diagonal.",
            ),
        ),
    )
)


def _build_uncertainty(
    num_classes: int, ignore_index: int | None, built: Mapping[str, MetricState], *, uncertainty_bins: int
) -> MetricState:
    return UncertaintyAccumulator(num_classes, ignore_index, bins=uncertainty_bins)


def _uncertainty_summary(result: Mapping[str, Any]) -> list[str]:
    u = result.get("uncertainty")
    if not u:
        return []
    auc = (u["error_auroc_entropy"], u["error_auroc_mi"])
    text = ["–" if a is None else f"{a:.3f}" for a in auc]
    return [
        f"uncertainty: error AUROC entropy {text[0]}, MI {text[1]}; AURC {_pct(u['aurc'])} "
        f"(risk at 50% coverage {_pct(u['risk_coverage']['risk'][4])})"
    ]


register_family(
    MetricFamily(
        name="uncertainty",
        flag="--uncertainty",
        description="how well uncertainty maps find errors: error AUROC, risk-coverage, AURC",
        build=_build_uncertainty,
        result_keys=("uncertainty",),
        summary=_uncertainty_summary,
        options={"uncertainty_bins": 4096},
        inputs=("uncertainty",),
        flag_help="Folder of <key>.npy uncertainty maps (predict --save uncertainty): add error AUROC, "
        "risk-coverage.",
        cli={
            "uncertainty_bins": FamilyOption(
                "--uncertainty-bins", "Histogram bins over [0, log C] for --uncertainty.", int
            )
        },
        volumes="--uncertainty reads (2, H, W) .npy maps of 2-D images; it does not take volumes",
        charts=(
            Chart(
                "risk_coverage",
                "uncertainty",
                "Uncertainty",
                "Error rate of the most certain pixels (lowest predictive entropy) as fewer are kept: a curve "
                "that falls to the left means the uncertainty finds the errors.",
                alt="risk-coverage curve",
            ),
        ),
    )
)
