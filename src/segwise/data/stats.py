"""Class statistics of a dataset split and the class weights that class-imbalance handling needs.

Per class ``c`` (ignored pixels are left out everywhere):

* ``pixels[c]``: its pixel count; ``share[c] = pixels[c] / sum(pixels)``;
* ``images[c]``: how many images contain it;
* median-frequency balancing (Eigen & Fergus 2015, as used by SegNet):
  ``freq[c] = pixels[c] / (labelled pixels of the images that contain c)`` and
  ``w[c] = median(freq) / freq[c]``, so the median class gets exactly 1.0 (odd class count);
* inverse frequency: ``w[c] = 1 / (K * share[c])`` with ``K`` the number of present classes, so
  that the mean weight per pixel is 1 (scikit-learn's "balanced");
* ENet (Paszke et al. 2016): ``w[c] = 1 / ln(1.02 + share[c])``.

A class with no pixels gets weight 0 under every scheme (it cannot appear in a loss target, and 0
keeps a weight vector finite) and is left out of the median.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from segwise.data.readers import check_mask_values, read_spec_mask
from segwise.data.spec import DatasetSpec
from segwise.errors import InputError, lookup

ENET_C = 1.02


def pixel_counts(mask: np.ndarray, num_classes: int, ignore_index: int | None = None) -> np.ndarray:
    """Pixels per class in one mask; ignored pixels are not counted.

    Shape:
        - mask: ``(H, W)`` integer class ids (or the ignore index)
        - output: ``(num_classes,)`` int64

    Example:
        >>> pixel_counts(np.array([[0, 1, 1], [255, 2, 1]]), 3, 255).tolist()
        [1, 3, 1]
    """
    if mask.dtype.kind not in "ui":
        raise InputError(f"mask must hold integer class ids; got {mask.dtype}.")
    check_mask_values(mask, num_classes, ignore_index)
    flat = mask.reshape(-1)
    if flat.dtype.kind == "i" and flat.size and flat.min() < 0:
        flat = flat[flat >= 0]  # a negative ignore index
    return np.bincount(flat, minlength=num_classes)[:num_classes].astype(np.int64)


def median_frequency_weights(counts: np.ndarray) -> np.ndarray:
    """Median-frequency balancing from per-image class pixel counts.

    ``freq[c] = sum_i counts[i, c] / sum_{i: counts[i, c] > 0} sum_k counts[i, k]`` and
    ``w[c] = median(freq over present classes) / freq[c]``; absent classes get 0.

    Shape:
        - counts: ``(N, C)`` pixel counts per image and class (ignored pixels excluded)
        - output: ``(C,)`` float64

    Example:
        >>> median_frequency_weights(np.array([[3, 1, 0], [0, 2, 2]])).round(3).tolist()
        [0.667, 1.333, 1.0]
    """
    counts = np.asarray(counts, dtype=np.int64)
    pixels = counts.sum(0)
    labelled = counts.sum(1)
    present_in = counts > 0
    image_pixels = (present_in * labelled[:, None]).sum(0)
    out = np.zeros(counts.shape[1])
    ok = pixels > 0
    if ok.any():
        freq = pixels[ok] / image_pixels[ok]
        out[ok] = np.median(freq) / freq
    return out


def inverse_frequency_weights(pixels: np.ndarray) -> np.ndarray:
    """``w[c] = 1 / (K * share[c])`` over the ``K`` present classes (mean weight per pixel 1); absent: 0.

    Shape:
        - pixels: ``(C,)`` pixel counts
        - output: ``(C,)`` float64

    Example:
        >>> inverse_frequency_weights(np.array([75, 25, 0])).tolist()
        [0.6666666666666666, 2.0, 0.0]
    """
    pixels = np.asarray(pixels, dtype=np.float64)
    out = np.zeros_like(pixels)
    ok = pixels > 0
    if ok.any():
        share = pixels[ok] / pixels.sum()
        out[ok] = 1.0 / (ok.sum() * share)
    return out


def enet_weights(pixels: np.ndarray, c: float = ENET_C) -> np.ndarray:
    """ENet's ``w[class] = 1 / ln(c + share[class])`` with ``c = 1.02``; absent classes: 0.

    Shape:
        - pixels: ``(C,)`` pixel counts
        - output: ``(C,)`` float64

    Example:
        >>> enet_weights(np.array([50, 50])).round(4).tolist()
        [2.3883, 2.3883]
    """
    pixels = np.asarray(pixels, dtype=np.float64)
    out = np.zeros_like(pixels)
    total = pixels.sum()
    ok = pixels > 0
    if ok.any():
        out[ok] = 1.0 / np.log(c + pixels[ok] / total)
    return out


# The class weightings by name (``data.class_weights`` of the training config, besides "none").
WEIGHTINGS: dict[str, Callable[[ClassStats], np.ndarray]] = {
    "median_frequency": lambda stats: median_frequency_weights(stats.counts),
    "inverse_frequency": lambda stats: inverse_frequency_weights(stats.pixels),
    "enet": lambda stats: enet_weights(stats.pixels),
}


@dataclass(frozen=True)
class ClassStats:
    """Per-class pixel statistics of a set of masks, and three class weightings.

    Build it with :func:`class_stats` (a dataset) or :meth:`from_counts` (per-image counts).
    """

    class_names: tuple[str, ...]
    counts: np.ndarray = field(repr=False)  # (N, C) pixels per image and class
    ignored_pixels: int = 0
    colors: tuple[tuple[int, int, int], ...] = ()
    dataset: str = ""
    split: str = ""
    image_ids: tuple[str, ...] = field(default=(), repr=False)
    units: tuple[str, str] = ("images", "pixels")  # what is counted: ("cases", "voxels") for volumes

    @classmethod
    def from_counts(cls, counts: np.ndarray, class_names: Sequence[str], **meta: Any) -> ClassStats:
        """From an ``(N, C)`` array of per-image class pixel counts.

        Example:
            >>> s = ClassStats.from_counts(np.array([[3, 1], [0, 4]]), ["a", "b"])
            >>> s.pixels.tolist(), s.images.tolist(), s.share.tolist()
            ([3, 5], [1, 2], [0.375, 0.625])
        """
        counts = np.asarray(counts, dtype=np.int64)
        if counts.ndim != 2 or counts.shape[1] != len(class_names):
            raise InputError(
                f"counts must be (images, classes) = (N, {len(class_names)}); got shape {counts.shape}."
            )
        return cls(tuple(class_names), counts, **meta)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_images(self) -> int:
        return int(self.counts.shape[0])

    @property
    def pixels(self) -> np.ndarray:
        """``(C,)`` pixels per class."""
        return self.counts.sum(0)

    @property
    def total_pixels(self) -> int:
        """Labelled (not ignored) pixels."""
        return int(self.counts.sum())

    @property
    def share(self) -> np.ndarray:
        """``(C,)`` share of the labelled pixels (NaN when nothing is labelled)."""
        total = self.total_pixels
        return self.pixels / total if total else np.full(self.num_classes, math.nan)

    @property
    def images(self) -> np.ndarray:
        """``(C,)`` number of images that contain each class."""
        return (self.counts > 0).sum(0)

    @property
    def frequency(self) -> np.ndarray:
        """``(C,)`` median-frequency ``freq[c]``: pixels of c / labelled pixels of images containing c
        (NaN if absent)."""
        image_pixels = ((self.counts > 0) * self.counts.sum(1)[:, None]).sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(image_pixels > 0, self.pixels / np.maximum(image_pixels, 1), math.nan)

    def weights(self, kind: str = "median_frequency") -> np.ndarray:
        """``(C,)`` class weights: ``"median_frequency"``, ``"inverse_frequency"`` or ``"enet"``."""
        return lookup(kind, WEIGHTINGS, "class weighting")(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: totals, one entry per class, and the weight vectors."""
        weights = {k: self.weights(k) for k in WEIGHTINGS}
        share, freq = self.share, self.frequency
        classes = [
            {
                "id": c,
                "name": name,
                "pixels": int(self.pixels[c]),
                "share": float(share[c]),
                "images": int(self.images[c]),
                "frequency": float(freq[c]),
                "weights": {k: float(w[c]) for k, w in weights.items()},
            }
            for c, name in enumerate(self.class_names)
        ]
        return {
            "dataset": self.dataset,
            "split": self.split,
            "num_images": self.num_images,
            "labelled_pixels": self.total_pixels,
            "ignored_pixels": int(self.ignored_pixels),
            "classes": classes,
            "weights": {k: [float(v) for v in w] for k, w in weights.items()},
            "absent_classes": [n for n, p in zip(self.class_names, self.pixels, strict=True) if p == 0],
        }


def _counts_of(
    load: Any, n: int, num_classes: int, ignore_index: int | None, workers: int
) -> tuple[np.ndarray, int]:
    def one(j: int) -> tuple[np.ndarray, int]:
        mask = load(j)
        counts = pixel_counts(mask, num_classes, ignore_index)
        return counts, int(mask.size - counts.sum())

    if n == 0:
        raise InputError("no masks to count: the dataset split is empty.")
    workers = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:  # decoding releases the GIL
        results = list(pool.map(one, range(n)))
    counts = np.stack([c for c, _ in results])
    return counts, sum(i for _, i in results)


def class_stats_from_masks(
    masks: Iterable[np.ndarray], spec: DatasetSpec, *, dataset: str = "", split: str = ""
) -> ClassStats:
    """Statistics of decoded masks (class ids or the spec's ignore index)."""
    rows, ignored = [], 0
    for mask in masks:
        counts = pixel_counts(np.asarray(mask), spec.num_classes, spec.ignore_index)
        rows.append(counts)
        ignored += int(np.asarray(mask).size - counts.sum())
    if not rows:
        raise InputError("no masks to count.")
    return ClassStats.from_counts(
        np.stack(rows),
        spec.class_names,
        ignored_pixels=ignored,
        colors=spec.colors,
        dataset=dataset or spec.name,
        split=split,
    )


def class_stats_from_files(
    paths: Sequence[str | os.PathLike[str]], spec: DatasetSpec, *, workers: int = 0, split: str = ""
) -> ClassStats:
    """Statistics of mask files, decoded as ``spec`` says, ``workers`` threads at a time (0: per core)."""
    paths = [Path(p) for p in paths]
    ids = tuple(p.stem for p in paths)
    return _stats_of(lambda j: read_spec_mask(paths[j], spec), len(paths), spec, split, ids, workers)


def _stats_of(
    load: Any, n: int, spec: DatasetSpec, split: str, image_ids: tuple[str, ...], workers: int
) -> ClassStats:
    """Count the classes of ``n`` masks read by ``load(j)`` into a :class:`ClassStats` for ``spec``
    (label volumes of a ``volumes`` spec count voxels per case)."""
    counts, ignored = _counts_of(load, n, spec.num_classes, spec.ignore_index, workers)
    return ClassStats.from_counts(
        counts,
        spec.class_names,
        ignored_pixels=ignored,
        colors=spec.colors,
        dataset=spec.name,
        split=split,
        image_ids=image_ids,
        units=("cases", "voxels") if spec.volume is not None else ("images", "pixels"),
    )


def class_stats(
    dataset: Any,
    split: str = "train",
    root: str | os.PathLike[str] | None = None,
    *,
    workers: int = 0,
    **dataset_options: Any,
) -> ClassStats:
    """Per-class pixel share, image count and weights of a dataset split.

    Args:
        dataset: A dataset name (``"camvid"``, ``"folder"``, ``"tiles"``) or a dataset object. Every
            file pair counts once (the whole tile for ``tiles``).
        split: The split, when ``dataset`` is a name.
        root: The data folder, when ``dataset`` is a name.
        workers: Decoding threads (0: one per core, at most 8).
        **dataset_options: Options of the named dataset (e.g. ``spec``, ``cache``).

    Example:
        >>> s = class_stats("camvid", "train")  # doctest: +SKIP
        >>> s.weights("median_frequency").round(4)  # doctest: +SKIP
    """
    if isinstance(dataset, str):
        from segwise.data.datasets import create_dataset

        if dataset == "tiles":
            # Statistics read whole tiles: no window layout, so no padding (or ignore index) is needed.
            dataset_options.setdefault("mode", "whole")
        dataset = create_dataset(dataset, split, root, **dataset_options)
    elif dataset_options or root is not None:
        raise InputError("root and dataset options only apply when the dataset is given by name.")
    spec: DatasetSpec = dataset.spec
    ids = tuple(dataset.ids if hasattr(dataset, "ids") else ())
    return _stats_of(
        dataset.load_file_mask, dataset.num_files(), spec, getattr(dataset, "split", split), ids, workers
    )


def plot_class_shares(stats: ClassStats, path: str | os.PathLike[str]) -> None:
    """Write a horizontal bar chart of the class pixel shares (with image counts) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from segwise.io_utils import atomic_path

    share = np.nan_to_num(stats.share) * 100
    colors = [tuple(v / 255 for v in c) for c in stats.colors] if stats.colors else None
    fig, ax = plt.subplots(figsize=(7, 0.35 * stats.num_classes + 1.5))
    y = np.arange(stats.num_classes)
    ax.barh(y, share, color=colors, edgecolor="black", linewidth=0.5)
    ax.set_yticks(y, stats.class_names)
    ax.invert_yaxis()
    for yi, s, n in zip(y, share, stats.images, strict=True):
        ax.text(s, yi, f" {s:.2f}% ({n} img)", va="center", fontsize=8)
    ax.set_xlabel("share of labelled pixels (%)")
    title = " ".join(x for x in (stats.dataset, stats.split) if x)
    ax.set_title(f"Class pixel shares: {title} ({stats.num_images} images)")
    ax.set_xlim(0, max(share.max(initial=0) * 1.3, 1))
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
