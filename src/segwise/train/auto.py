"""``segwise train --auto``: fingerprint a dataset, time this machine, plan a run that fits a budget.

Three steps, kept apart so the middle one is a pure function (docs/auto.md gives the rules and the
runs behind each):

1. :func:`fingerprint_dataset` reads the training split once: image sizes and channels, class pixel
   shares, how many images hold each class, typical object sizes (connected components), the mask
   encoding and the ROI.
2. :func:`measure_machine` times a few training steps of the candidate networks at two or three
   crop sizes (under the autocast precision ``train.amp = "auto"`` would use), a validation
   forward pass and the data loading. Timings are rounded to a quarter octave (about 19%) before
   planning, so runs on the same kind of machine get the same plan.
3. :func:`make_plan` turns (fingerprint, budget, machine) into a :class:`Plan`: a normal
   :class:`~segwise.train.config.Config` and one line of reason per choice. The same inputs give the
   same plan; ``plan.json`` records all three, and :func:`plan_from_json` replans from it.

:func:`run_auto` runs the three steps, writes ``OUT/plan.json`` and ``OUT/config.toml`` (which
``segwise train --config`` reproduces) and trains with ``train.time_limit_minutes`` counting
validation, so the run ends within the budget.
"""

from __future__ import annotations

import copy
import json
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from segwise.errors import InputError
from segwise.io_utils import atomic_write_text, write_json
from segwise.train.config import Config, StageConfig, config_from_dict, config_to_dict, config_to_toml
from segwise.train.screen import Candidate, candidate_config, rule_screen, run_screening

PLAN_VERSION = 5

# --- the rules' constants (docs/auto.md says what backs each) ----------------------------------------
CROP_SHARE = 2 / 3  # training crop side as a share of the image side (CamVid: 256x320 of 360x480)
SMALL_IMAGE = 256  # image sides up to this are trained whole (crops of the smallest image)
MAX_CROP = 512  # longest crop side
MIN_SIDE = 64  # no crop side below this where the image allows; no half-resolution crops below it
BOTTLENECK_PX = 2  # the encoder's deepest features keep at least this many pixels of the smallest side
HALF_RES_SHARE = 0.35  # share of the training time at half resolution (CamVid recipe, fp32: 36%)
HALF_RES_MIN_WIDTH = 8.0  # structures narrower than this (px) are not trained at half resolution
UPRIGHT_SHIFT = 0.1  # a class this far (share of the height) from the middle on average: images are upright
MIN_SCALED_WIDTH = 4.0  # scale augmentation never shrinks the typical structure below this width (px)
TIME_SHARE_TRAIN = 0.97  # share of the time limit the stages may plan to fill (the rest: rounding)
VAL_SHARE = 0.10  # at most this share of the budget goes to validation
MAX_VALIDATIONS = 20
VAL_OVERHEAD = 1.1  # loading and scoring on top of the timed forward pass (vessels: 1.0; CamVid: 1.0-1.3)
RARE_BINARY = 0.15  # binary task: foreground below this share of labelled pixels -> CE + Dice
EXTREME_RARE = 0.001  # several classes: a present class below this share -> square-root MFB weights
BIG_NET_PASSES = 150.0  # full-resolution passes over the data a bigger network must still get
QUANTUM = 2**0.25  # timings are rounded to a power of this (a quarter octave)
# batch: about this many crop pixels per step (the CamVid recipe's 4 crops of 256x320), within bounds
BATCH_PIXELS = {"cpu": 4 * 256 * 320, "cuda": 16 * 256 * 320}
BATCH_RANGE = {"cpu": (4, 32), "cuda": (8, 64)}
MIN_STEPS_PER_EPOCH = (
    8  # the batch leaves at least this many optimizer steps per epoch (above the range's low end)
)
CPU_BATCH, GPU_BATCH = 4, 16  # the batch the machine's steps are timed at
SETUP_RESERVE = 20.0  # seconds kept for building the data and the model, and for the last checkpoint
CONTEXT_SLICES = 2  # volumes: neighbouring slices on each side stacked as input channels (2.5D)
EXIT_RESERVE = 3.0  # seconds kept after training for the process to finish (the data build counts inside)

# name -> (encoder, decoder channels of a depth-5 encoder); the first is the default and the CamVid
# recipe's network. A shallower encoder keeps the last channels (depth 4: [64, 32, 16, 16]).
NETWORKS: dict[str, tuple[str, list[int]]] = {
    "unet-resnet18-slim": ("resnet18", [128, 64, 32, 16, 16]),
    "unet-resnet34-slim": ("resnet34", [128, 64, 32, 16, 16]),
    "unet-resnet18": ("resnet18", [256, 128, 64, 32, 16]),
}
DEFAULT_NET = "unet-resnet18-slim"


# ----------------------------------------------------------------------------- 1. fingerprint


@dataclass
class Fingerprint:
    """What the planner knows about a dataset (all JSON-ready)."""

    data: dict[str, Any]  # the [data] keys that load it: dataset, root, options, splits
    class_names: list[str]
    ignore_index: int | None
    in_channels: int
    mask_encoding: str
    roi: bool
    num_train: int  # training samples (images, or slices for volumes)
    num_val: int
    image_size: list[int]  # median [H, W] of the training images
    min_size: list[int]  # smallest [H, W] seen
    max_size: list[int]  # largest [H, W] seen
    class_share: list[float]  # share of the labelled training pixels, per class
    class_images: list[float]  # share of the training images that hold the class
    object_area: list[float | None]  # median connected-component area per class, pixels (None: absent)
    # typical width of each class's structures in pixels (structure_width; None: absent)
    class_width: list[float | None] = field(default_factory=list)
    color: bool = True  # the images hold colour (3 channels that differ), not grey levels or intensities
    # per class, the mean row of its pixels as a share of the image height (0 top, 1 bottom; None: absent)
    class_row: list[float | None] = field(default_factory=list)
    # volumes: the neighbouring slices on each side the data's spec or options give (None: not volumes)
    volume_context: int | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def _even_sample(n: int, k: int) -> list[int]:
    return sorted({round(i * (n - 1) / max(k - 1, 1)) for i in range(min(n, k))}) if n else []


def fingerprint_dataset(data_cfg: Any, *, seed: int = 0, max_images: int = 64) -> Fingerprint:
    """Fingerprint the training split of ``data_cfg`` (a :class:`~segwise.train.config.DataConfig`).

    Sizes and object areas come from up to ``max_images`` evenly spaced training samples; class
    shares and image counts from every training mask.
    """
    from segwise.data.stats import class_stats
    from segwise.metrics.regions import connected_components
    from segwise.train.build import build_datasets

    train_set, val_set = build_datasets(data_cfg, seed)
    spec = train_set.spec
    if len(train_set) == 0:
        raise InputError(f"the training split of {data_cfg.dataset!r} is empty; nothing to plan for.")
    stats = class_stats(train_set)
    sizes, areas = [], [[] for _ in range(spec.num_classes)]
    widths: list[list[np.ndarray]] = [[] for _ in range(spec.num_classes)]
    rows = np.zeros((spec.num_classes, 2))  # per class: sum of relative rows, pixels
    color = False
    for i in _even_sample(len(train_set), max_images):
        image, mask = train_set.load_raw(i)
        sizes.append(mask.shape[:2])
        color = color or is_color(image)
        _, classes, comp_sizes = connected_components(mask, spec.ignore_index)
        for c, a in zip(classes.tolist(), comp_sizes.tolist(), strict=True):
            if 0 <= c < spec.num_classes:
                areas[c].append(a)
        rel = (np.arange(mask.shape[0]) + 0.5) / mask.shape[0]
        for c in range(spec.num_classes):
            if (dist := _inside_distance(mask == c)) is not None:
                widths[c].append(dist)
                per_row = (mask == c).sum(axis=1)
                rows[c] += (float(per_row @ rel), float(per_row.sum()))
    hw = np.array(sizes)
    options = data_cfg.options
    return Fingerprint(
        data={
            "dataset": data_cfg.dataset,
            "root": data_cfg.root,
            "options": dict(options),
            "train_split": data_cfg.train_split,
            "val_split": data_cfg.val_split,
        },
        class_names=list(spec.class_names),
        ignore_index=spec.ignore_index,
        in_channels=int(spec.in_channels),
        mask_encoding=str(spec.mask_encoding),
        roi=bool(options.get("roi")),
        num_train=len(train_set),
        num_val=len(val_set),
        image_size=[int(v) for v in np.median(hw, axis=0)],
        min_size=[int(v) for v in hw.min(axis=0)],
        max_size=[int(v) for v in hw.max(axis=0)],
        class_share=[round(float(v), 6) if math.isfinite(v) else 0.0 for v in stats.share],
        class_images=[round(float(v) / stats.num_images, 4) for v in stats.images],
        object_area=[float(np.median(a)) if a else None for a in areas],
        class_width=[structure_width(np.concatenate(w)) if w else None for w in widths],
        color=bool(color and data_cfg.dataset != "volumes"),
        class_row=[round(r / n, 4) if n else None for r, n in rows],
        volume_context=getattr(getattr(train_set, "slicing", None), "context", None),
    )


def _inside_distance(inside: np.ndarray) -> np.ndarray | None:
    """For each pixel of ``inside``, its Euclidean distance to the nearest pixel outside (1 at the
    edge); None when no pixel is inside. The image border counts as outside only where it is not."""
    from scipy.ndimage import distance_transform_edt

    if not inside.any():
        return None
    padded = np.pad(inside, 1, mode="edge")  # a structure cut by the image border is not thinner for it
    return distance_transform_edt(padded)[1:-1, 1:-1][inside]


def structure_width(distances: np.ndarray) -> float:
    """Typical width in pixels of structures whose pixels lie ``distances`` from their edge: a band
    ``w`` pixels wide has a mean inside distance of about ``w / 4 + 1/2``, so width = 4 x mean - 2.

    Example:
        >>> m = np.zeros((40, 40), bool); m[:, 10:18] = True     # a band 8 pixels wide
        >>> structure_width(_inside_distance(m)), structure_width(_inside_distance(np.eye(40, dtype=bool)))
        (8.0, 2.0)
    """
    return round(max(1.0, 4.0 * float(np.mean(distances)) - 2.0), 2)


def is_color(image: np.ndarray) -> bool:
    """Whether an ``(H, W, C)`` image holds colour: three or more channels of which some differ
    (by more than 2 grey levels at more than 1% of the pixels; greyscale saved as RGB does not)."""
    if image.ndim != 3 or image.shape[2] < 3:
        return False
    a = image[..., :3].astype(np.int16)
    differ = (np.abs(a[..., 0] - a[..., 1]) > 2) | (np.abs(a[..., 1] - a[..., 2]) > 2)
    return bool(differ.mean() > 0.01)


# ----------------------------------------------------------------------------- 2. the machine


@dataclass
class Machine:
    """This machine's timings: seconds per training image of each (network, crop), per validation
    image, and per loaded training image; ``setup_seconds`` is what fingerprinting and measuring took."""

    device: str  # "cpu" or "cuda"
    name: str  # CPU model or GPU name
    cores: int
    amp: str  # the autocast precision of train.amp = "auto": "bf16", "fp16" or "fp32"
    batch_size: int
    train_s: dict[str, float] = field(default_factory=dict)  # "net@HxW" -> seconds per image
    val_s: float = 0.0  # seconds per validation image at the median image size
    load_s: float = 0.0  # seconds per training image loaded and augmented
    save_s: dict[str, float] = field(default_factory=dict)  # network -> seconds to write a checkpoint
    setup_seconds: float = 0.0
    measured_at: str = ""  # when these timings were taken (reused from timings_file() until --remeasure)

    def quantised(self) -> Machine:
        """The timings rounded to a quarter octave, and setup to 10 s up: the machine class plans use."""

        def q(v: float) -> float:
            return float(QUANTUM ** round(math.log(v, QUANTUM))) if v > 0 else 0.0

        out = copy.deepcopy(self)
        out.train_s = {k: q(v) for k, v in self.train_s.items()}
        out.val_s, out.load_s = q(self.val_s), q(self.load_s)
        out.save_s = {k: q(v) for k, v in self.save_s.items()}
        out.setup_seconds = 10.0 * math.ceil(self.setup_seconds / 10.0)
        return out


# ----------------------------------------------------------------------------- the geometry rules
# Each rule is a small pure function of the fingerprint (and where needed the machine and the budget)
# returning its value and the reason plan.json records.


def rule_depth(fp: Fingerprint) -> tuple[int, str]:
    """Encoder depth (halvings of the resolution): the deepest of 5, 4, 3 whose bottleneck keeps at
    least :data:`BOTTLENECK_PX` pixels of the smallest image side.

    Example:
        >>> fp = Fingerprint({}, ["a", "b"], None, 1, "index", False, 10, 2, [50, 36], [40, 32], [55, 38],
        ...                  [0.9, 0.1], [1, 1], [9, 9])
        >>> from dataclasses import replace
        >>> rule_depth(fp)[0], rule_depth(replace(fp, min_size=[360, 480]))[0]
        (4, 5)
    """
    side = min(fp.min_size)
    depth = next((d for d in (5, 4) if side / 2**d >= BOTTLENECK_PX), 3)
    return depth, (
        f"{depth} ({2**depth}x downsampling): the deepest encoder whose bottleneck keeps at least "
        f"{BOTTLENECK_PX} px of the smallest image side ({side} px -> {side / 2**depth:g})"
    )


def crop_for(image_size: list[int], min_size: list[int], multiple: int = 32) -> list[int]:
    """Training crop [H, W], each side a multiple of the network's stride ``multiple`` so that no
    row of the network's input is padding it never learns from: 2/3 of the median side (the whole side
    up to :data:`SMALL_IMAGE` px), at least 64 px, within the smallest image; the longer side at most
    512 (both sides scaled alike). An image side shorter than ``multiple`` gets one stride, padded
    with the ignore index.

    Example:
        >>> crop_for([360, 480], [360, 480]), crop_for([584, 565], [584, 565]), crop_for([50, 36], [40, 32], 16)
        ([256, 320], [384, 384], [32, 32])
        >>> crop_for([2000, 3000], [2000, 3000]), crop_for([20, 30], [20, 30], 8)
        ([320, 512], [16, 24])
    """

    def side(median: int, smallest: int) -> int:
        top = smallest // multiple * multiple  # the largest multiple within the smallest image
        if top < multiple:
            return multiple
        want = median if median <= SMALL_IMAGE else median * CROP_SHARE
        return min(max(MIN_SIDE, math.floor(want / multiple + 0.5) * multiple), top)

    out = [side(m, s) for m, s in zip(image_size, min_size, strict=True)]
    if max(out) > MAX_CROP:
        scale = MAX_CROP / max(out)
        out = [max(multiple, int(v * scale) // multiple * multiple) for v in out]
    return out


def half_crop(crop: list[int], multiple: int = 32) -> list[int] | None:
    """Crops of the half-resolution stage, or None when they would be below 64 px or off the stride."""
    half = [v // 2 for v in crop]
    return half if min(half) >= MIN_SIDE and all(v % multiple == 0 for v in half) else None


def critical_width(fp: Fingerprint) -> float:
    """The width (px) of the structures that matter: the pixel-weighted median of the classes' widths,
    leaving out the most frequent class (the background of most tasks); inf when none is known."""
    pairs = [
        (w, share)
        for c, (w, share) in enumerate(zip(fp.class_width or [], fp.class_share, strict=False))
        if w is not None and share > 0 and c != int(np.argmax(fp.class_share))
    ]
    if not pairs:
        return math.inf
    pairs.sort()
    total, acc = sum(s for _, s in pairs), 0.0
    for w, share in pairs:
        acc += share
        if acc >= total / 2:
            return float(w)
    return float(pairs[-1][0])


def rule_geometry(fp: Fingerprint) -> tuple[int, list[int], list[int] | None, dict[str, str]]:
    """Encoder depth, training crop and half-resolution crop (None: no such stage), with reasons.

    A half-resolution stage is planned only where the structures survive halving (critical width at
    least :data:`HALF_RES_MIN_WIDTH` px) and its crops are at least 64 px; its crop is then a multiple
    of twice the stride.
    """
    depth, depth_why = rule_depth(fp)
    stride = 2**depth
    crop = crop_for(fp.image_size, fp.min_size, stride)
    width = critical_width(fp)
    half, half_why = None, ""
    if width < HALF_RES_MIN_WIDTH:
        half_why = f"structures {width:.1f} px wide (below {HALF_RES_MIN_WIDTH:g}) would not survive halving"
    else:
        double = crop_for(fp.image_size, fp.min_size, 2 * stride)
        half = half_crop(double, stride)
        if half is not None:
            crop = double
        else:
            half_why = f"the half-resolution crops would be below {MIN_SIDE} px"
    reasons = {
        "encoder_depth": depth_why,
        "crop_size": (
            f"{crop[0]}x{crop[1]}: "
            + (
                "the whole image"
                if max(fp.image_size) <= SMALL_IMAGE
                else f"{CROP_SHARE:.0%} of the median image"
            )
            + f" {fp.image_size[0]}x{fp.image_size[1]}, a multiple of the stride {stride}"
            + (" (twice that, for the half-resolution stage)" if half is not None else "")
            + f", within the smallest image {fp.min_size[0]}x{fp.min_size[1]}"
        ),
        "half_resolution": (
            f"{half[0]}x{half[1]} crops of images downscaled by 2 for {HALF_RES_SHARE:.0%} of the time: the "
            f"structures are {width:.1f} px wide (>= {HALF_RES_MIN_WIDTH:g})"
            if half is not None
            else "none: " + half_why
        ),
    }
    return depth, crop, half, reasons


def rule_batch(fp: Fingerprint, crop: list[int], device: str) -> tuple[int, str]:
    """Training batch: about :data:`BATCH_PIXELS` crop pixels per step within :data:`BATCH_RANGE`, and
    no more than the training images.

    Example:
        >>> fp = Fingerprint({}, ["a", "b"], None, 1, "index", False, 2000, 2, [50, 36], [40, 32], [55, 38],
        ...                  [0.9, 0.1], [1, 1], [9, 9])
        >>> (rule_batch(fp, [32, 32], "cpu")[0], rule_batch(fp, [256, 320], "cpu")[0],
        ...  rule_batch(fp, [256, 320], "cuda")[0])
        (32, 4, 16)
    """
    kind = "cpu" if device == "cpu" else "cuda"
    lo, hi = BATCH_RANGE[kind]
    by_pixels = round(BATCH_PIXELS[kind] / (crop[0] * crop[1]))
    by_steps = fp.num_train // MIN_STEPS_PER_EPOCH
    batch = int(min(hi, max(lo, min(by_pixels, by_steps))))
    batch = max(1, min(batch, fp.num_train))
    return batch, (
        f"{batch}: about {BATCH_PIXELS[kind]:,} crop pixels per step on {'a CPU' if kind == 'cpu' else 'a GPU'} "
        f"({crop[0]}x{crop[1]} crops) and at least {MIN_STEPS_PER_EPOCH} steps per epoch ({fp.num_train} "
        f"training images), between {lo} and {hi}"
        + (", and no more than the training images" if batch == fp.num_train else "")
    )


def _key(net: str, crop: list[int]) -> str:
    return f"{net}@{crop[0]}x{crop[1]}"


def network_for(net: str, depth: int) -> tuple[str, list[int]]:
    """Encoder and decoder channels of ``net`` with an encoder of ``depth``."""
    encoder, decoder = NETWORKS[net]
    return encoder, decoder[-depth:]


def candidates(fp: Fingerprint, minutes: float) -> list[tuple[str, list[int]]]:
    """The (network, crop) pairs to time: the default network at the full crop, its half-resolution
    crop (when planned) and (for budgets of 5 minutes and more) the two bigger networks at the full crop."""
    _, crop, half, _ = rule_geometry(fp)
    out = [(DEFAULT_NET, crop)]
    if half is not None:
        out.append((DEFAULT_NET, half))
    if minutes >= 5:
        out += [(net, crop) for net in NETWORKS if net != DEFAULT_NET]
    return out


def _time_steps(
    model: Any,
    loss_fn: Any,
    batch: int,
    crop: list[int],
    channels: int,
    classes: int,
    device: Any,
    amp_dtype: Any,
    steps: int,
) -> tuple[float, float]:
    import torch

    from segwise.train.optim import create_optimizer

    opt = create_optimizer("adamw", list(model.parameters()), 1e-3, weight_decay=1e-4)
    x = torch.randn(batch, channels, *crop, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, classes, (batch, *crop), device=device)

    def step() -> float:
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    # a fast step gets more warm-up and more timed steps (the first few run slower than the rest)
    fast = step() < 1.0
    for _ in range(2 if fast else 0):
        step()
    times = [step() for _ in range(2 * steps if fast else steps)]
    return float(np.median(times)) / batch, _time_save(model, opt)


def _time_save(model: Any, opt: Any) -> float:
    """Seconds to write the weights and the optimizer state (what every epoch's last.pt holds)."""
    import tempfile

    import torch

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, Path(tmp) / "ckpt.pt")
        return time.perf_counter() - t0


def _time_forward(model: Any, size: list[int], channels: int, device: Any, amp_dtype: Any) -> float:
    import torch

    pad = [max(32, math.ceil(v / 32) * 32) for v in size]  # models pad to a multiple of 32
    x = torch.randn(1, channels, *pad, device=device).contiguous(memory_format=torch.channels_last)
    model.eval()
    times = []
    with torch.inference_mode():
        for i in range(6):  # one warm-up, then the median of five (two passes varied 2x between runs)
            t0 = time.perf_counter()
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                model(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i:
                times.append(time.perf_counter() - t0)
    model.train()
    return float(np.median(times))


def _time_loading(data_cfg: Any, crop: list[int], seed: int, n: int = 8) -> float:
    from segwise.train.build import build_datasets, train_transforms

    train_set, _ = build_datasets(data_cfg, seed)
    steps = ["random_scale", "random_crop", "hflip", "rotate"]
    train_set.transforms = train_transforms(data_cfg, train_set.spec, seed, steps, crop)
    idx = _even_sample(len(train_set), n)
    t0 = time.perf_counter()
    for i in idx:
        train_set[i]
    return (time.perf_counter() - t0) / max(len(idx), 1)


def timings_file() -> Path:
    """Where measured timings are kept per machine class and dataset: ``machines.json`` in the
    decode cache folder (``$SEGWISE_CACHE``, else ``~/.cache/segwise/decoded``)."""
    from segwise.data.cache import default_cache_dir

    return default_cache_dir() / "machines.json"


def _timings_key(machine: Machine, fp: Fingerprint, minutes: float) -> str:
    import torch

    data = json.dumps(fp.data, sort_keys=True, default=str)
    nets = ",".join(_key(n, c) for n, c in candidates(fp, minutes))
    return (
        f"{machine.device}|{machine.name}|{machine.cores} cores|{machine.amp}|torch {torch.__version__}|"
        f"batch {machine.batch_size}|{fp.in_channels} ch|{fp.num_classes} classes|{nets}|{data}"
    )


def measure_machine(
    fp: Fingerprint,
    data_cfg: Any,
    minutes: float,
    device_name: str = "auto",
    *,
    seed: int = 0,
    steps: int = 3,
    started: float | None = None,
    remeasure: bool = False,
) -> Machine:
    """Time the :func:`candidates` on ``device_name`` (one warm-up and ``steps`` timed training steps
    each, CE + Lovász, AdamW, channels-last, under ``train.amp = "auto"``), one validation forward
    pass at the median image size, and the loading of a few training images.

    The timings are kept in :func:`timings_file`, keyed on the machine class (device, its name,
    cores, precision, torch version), the batch and the dataset, and reused on the next call for the
    same key unless ``remeasure``: the same dataset on the same kind of machine gets the same plan.
    """
    import torch

    from segwise.losses import create_loss
    from segwise.train.device import autocast_dtype, select_device

    device = select_device(device_name)
    amp_dtype = autocast_dtype("auto", device)
    torch.manual_seed(seed)
    name = (
        torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or _cpu_name())
    )
    batch = GPU_BATCH if device.type == "cuda" else CPU_BATCH
    machine = Machine(
        device=device.type,
        name=name,
        cores=_cores(),
        batch_size=batch,
        amp={torch.bfloat16: "bf16", torch.float16: "fp16", None: "fp32"}[amp_dtype],
    )
    key, path = _timings_key(machine, fp, minutes), timings_file()
    store: dict[str, Any] = {}
    if path.is_file():
        try:
            store = json.loads(path.read_text())
        except (OSError, ValueError):
            store = {}  # a damaged file is measured again and rewritten
    if key in store and not remeasure:
        return Machine(**store[key])
    loss_fn = create_loss("ce+lovasz", ignore_index=fp.ignore_index, check_targets=False)
    for net, crop in candidates(fp, minutes):
        model = _network(net, fp).to(device).to(memory_format=torch.channels_last)
        machine.train_s[_key(net, crop)], save = _time_steps(
            model, loss_fn, batch, crop, fp.in_channels, fp.num_classes, device, amp_dtype, steps
        )
        machine.save_s.setdefault(net, save)
        if net == DEFAULT_NET and not machine.val_s:
            machine.val_s = _time_forward(model, fp.image_size, fp.in_channels, device, amp_dtype)
        del model
    machine.load_s = _time_loading(data_cfg, rule_geometry(fp)[1], seed)
    if started is not None:
        machine.setup_seconds = time.perf_counter() - started
    machine.measured_at = time.strftime("%Y-%m-%d %H:%M:%S")
    store[key] = asdict(machine)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, store)
    except OSError:
        pass  # a read-only cache only costs the reuse
    return machine


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def _network(net: str, fp: Fingerprint) -> Any:
    from segwise.models import create_model

    depth = rule_depth(fp)[0]
    encoder, decoder = network_for(net, depth)
    return create_model(
        "unet",
        fp.num_classes,
        encoder=encoder,
        in_channels=fp.in_channels,
        decoder_channels=decoder,
        encoder_depth=depth,
    )


# ----------------------------------------------------------------------------- 3. the plan


@dataclass
class Plan:
    """A planned run: its config, the reason for each choice, and the time it expects to take."""

    config: Config
    reasons: dict[str, str]
    expected: dict[str, float]  # seconds: setup, per epoch of each stage, validation, total
    # the candidates to screen (empty: none), the seconds of one slice, and why
    screen: list[Candidate] = field(default_factory=list)
    slice_seconds: float = 0.0

    def to_dict(self, fp: Fingerprint, machine: Machine, minutes: float) -> dict[str, Any]:
        return {
            "version": PLAN_VERSION,
            "budget_minutes": minutes,
            "fingerprint": asdict(fp),
            "machine": asdict(machine),
            "machine_class": asdict(machine.quantised()),
            "reasons": self.reasons,
            "expected_seconds": {k: round(v, 1) for k, v in self.expected.items()},
            "config": config_to_dict(self.config),
            "screening": {
                "candidates": [asdict(c) for c in self.screen],
                "slice_seconds": round(self.slice_seconds, 1),
                "reason": self.reasons["screening"],
            },
        }


def _interp(train_s: dict[str, float], net: str, crop: list[int]) -> float:
    """Seconds per image of ``net`` at ``crop``: the measured value, or the nearest measured crop of
    that network (else of the default network) scaled by pixels."""
    if (k := _key(net, crop)) in train_s:
        return train_s[k]
    pix = crop[0] * crop[1]
    known = [(k, v) for k, v in train_s.items() if k.startswith(net + "@")] or [
        (k, v) for k, v in train_s.items() if k.startswith(DEFAULT_NET + "@")
    ]
    if not known:
        raise InputError(f"no timing for {net}; measure the machine first.")

    def pixels(key: str) -> int:
        h, w = key.split("@")[1].split("x")
        return int(h) * int(w)

    k, v = min(known, key=lambda kv: abs(math.log(pixels(kv[0]) / pix)))
    return v * pix / pixels(k)


def upright(fp: Fingerprint) -> bool:
    """Whether the images have an up and a down: some class holding at least 1% of the pixels sits
    on average more than :data:`UPRIGHT_SHIFT` of the height away from the middle (street scenes: sky
    on top, road below); unknown rows count as upright."""
    rows = [(r, s) for r, s in zip(fp.class_row or [], fp.class_share, strict=False) if r is not None]
    if not rows:
        return True
    return any(abs(r - 0.5) > UPRIGHT_SHIFT for r, s in rows if s >= 0.01)


def rule_augment(fp: Fingerprint, scale: float = 1.0) -> tuple[list[Any], str]:
    """Augmentation steps (images first scaled by ``scale``: 0.5 in the half-resolution stage).

    Strength from the training set's size (0.5 from 200 images, 0.75 from 50, else 1), applied through
    the transforms' own ``scaled``; a scale range that never shrinks the typical structure below
    :data:`MIN_SCALED_WIDTH` px; colour jitter (brightness, contrast, saturation) on colour images,
    brightness and contrast on grey images, none on slices of volumes (scaled intensities).
    """
    from segwise.data.transforms import ColorJitter, RandomScale, Rotate

    strength = 0.5 if fp.num_train >= 200 else 0.75 if fp.num_train >= 50 else 1.0
    lo, hi = RandomScale().scaled(strength).range
    width = critical_width(fp)
    floor = min(1.0, MIN_SCALED_WIDTH / width) if math.isfinite(width) else 0.0
    lo = max(lo, floor)
    hi = min(hi, 1.0 / lo)  # symmetric around 1: thin structures are not thickened either
    steps: list[Any] = [
        {"name": "random_scale", "range": [round(lo * scale, 3), round(hi * scale, 3)]},
        "random_crop",
        "hflip",
        {"name": "rotate", "degrees": round(Rotate().scaled(strength).degrees, 2)},
    ]
    flip_v = not upright(fp)
    if flip_v:
        steps.insert(3, "vflip")
    volumes = fp.data.get("dataset") == "volumes"
    thin = width < HALF_RES_MIN_WIDTH
    if not volumes and not thin:
        jitter = ColorJitter().scaled(strength)
        steps.append(
            {
                "name": "color_jitter",
                "brightness": round(jitter.brightness, 3),
                "contrast": round(jitter.contrast, 3),
                "saturation": round(jitter.saturation, 3) if fp.color else 0.0,
            }
        )
    jitter_why = (
        "no intensity jitter (slices of volumes)"
        if volumes
        else f"no colour jitter (structures {width:.1f} px wide: their contrast carries them)"
        if thin
        else "brightness, contrast and saturation jitter (colour images)"
        if fp.color
        else "brightness and contrast jitter, no saturation (grey images)"
    )
    return steps, (
        f"strength {strength} for {fp.num_train} training images (0.5 from 200, 0.75 from 50, else 1); scale "
        f"{lo:.2f}-{hi:.2f}"
        + (
            f" (not below {floor:.2f}: structures {width:.1f} px wide keep "
            f"{MIN_SCALED_WIDTH:g} px; symmetric around 1)"
            if floor > 0.5**strength
            else ""
        )
        + ", rotation, horizontal "
        + (
            "and vertical flips (no class sits high or low in the images)"
            if flip_v
            else "flips (the images are upright)"
        )
        + f", {jitter_why}"
    )


def rule_context(fp: Fingerprint) -> tuple[int | None, str]:
    """Volumes: how many neighbouring slices on each side a 2-D network sees as extra input channels
    (``data.options.context``); ``None`` leaves the data's own setting (not volumes, or set by the user).

    >>> rule_context(Fingerprint({"dataset": "volumes", "options": {}}, ["bg", "a"], None, 1, "index", False,
    ...              100, 20, [50, 35], [40, 32], [56, 40], [0.9, 0.1], [1.0, 0.5], [None, 30.0], volume_context=0))[0]
    2
    """
    if fp.volume_context is None:
        return None, "not volumes: each image alone"
    if fp.volume_context > 0 or "context" in fp.data.get("options", {}):
        return None, f"{fp.volume_context} slice(s) on each side, as the data's spec or options say"
    return CONTEXT_SLICES, (
        f"{CONTEXT_SLICES} neighbouring slices on each side as extra input channels (2.5D): structures continue "
        "across slices (hippocampus-dev, 5-minute runs: Dice 0.850/0.831 against 0.822/0.799 on single slices)"
    )


def rule_loss(fp: Fingerprint) -> tuple[str, str, str]:
    """The loss, the class weighting and their reasons, from the class balance."""
    present = [s for s in fp.class_share if s > 0]
    rarest = min(present) if present else 0.0
    if fp.num_classes == 2:
        fg = fp.class_share[1]
        loss = "ce+dice" if fg < RARE_BINARY else "ce+lovasz"
        loss_why = f"{loss}: binary task, foreground {fg:.1%} of the labelled pixels " + (
            f"(rare: below {RARE_BINARY:.0%})"
            if fg < RARE_BINARY
            else f"(not rare: {RARE_BINARY:.0%} or more)"
        )
    else:
        loss = "ce+lovasz"
        loss_why = (
            f"ce+lovasz: {fp.num_classes} classes; Lovasz-Softmax optimises the mean IoU (CamVid recipe)"
        )
    if fp.num_classes > 2 and rarest < EXTREME_RARE:
        return (
            loss,
            loss_why,
            (
                f"median_frequency^0.5: the rarest present class holds {rarest:.3%} of the pixels "
                f"(below {EXTREME_RARE:.1%})"
            ),
        )
    return (
        loss,
        loss_why,
        (
            f"none: the rarest present class holds {rarest:.2%} of the pixels; the region term of the loss "
            "balances the classes (on CamVid unweighted beat square-root weights on test)"
        ),
    )


def screen_candidates(cfg: Config, net: str, depth: int) -> list[Candidate]:
    """The recipes worth screening against the planned one, most promising first: the other region
    loss (on hippocampus-dev CE + Dice beat the planned CE + Lovász by 1.1 / 0.2 Dice points in 5
    minutes), smp's default (wider) decoder for a slim network (it lost every 15-minute screening of
    session 19: vessels, cvc-dev, hippocampus-dev), and one full-resolution stage where a
    half-resolution stage is planned."""
    out = [Candidate("planned", [], "the recipe the rules chose")]
    other = {"ce+dice": "ce+lovasz", "ce+lovasz": "ce+dice"}.get(cfg.loss.name)
    if other:
        out.append(Candidate(other, [f'loss.name="{other}"'], f"the other region loss ({other})"))
    if net.endswith("-slim"):
        wide = NETWORKS["unet-resnet18"][1][-depth:]
        out.append(
            Candidate(
                "wide-decoder",
                [f"model.options.decoder_channels={wide}"],
                f"smp's default U-Net decoder {wide} (the slim one is CamVid's)",
            )
        )
    if len(cfg.stages) > 1:
        epochs = sum(s.epochs for s in cfg.stages)
        out.append(
            Candidate(
                "full-res-only",
                [f'stages=[{{name = "main", epochs = {epochs}}}]'],
                "no half-resolution stage: all the time at full resolution",
            )
        )
    return out


def make_plan(
    fp: Fingerprint,
    minutes: float,
    machine: Machine,
    *,
    seed: int = 0,
    out_dir: str = "runs/auto",
    screen: bool = True,
) -> Plan:
    """The run that fits ``minutes`` (setup, training and validation together) for this dataset on
    this machine class: a pure function of its arguments (``machine`` is quantised first).

    The run follows its time limit (``train.time_schedule``): each stage gets its share of the time and
    completes its learning-rate schedule when that time is up, whatever the timings turn out to be.
    The timed epochs only seed the first estimate, choose the network and set the validation cadence.

    Example:
        >>> fp = Fingerprint({"dataset": "folder", "root": "d", "options": {}}, ["bg", "vessel"], 255, 3,
        ...                  "value_map", False, 40, 10, [584, 565], [584, 565], [584, 565], [0.9, 0.1], [1.0, 1.0],
        ...                  [9e4, 500.0], [80.0, 3.0], True)
        >>> m = Machine("cpu", "cpu", 2, "fp32", 4, {"unet-resnet18-slim@384x384": 0.3}, val_s=0.5, load_s=0.02,
        ...             setup_seconds=25)
        >>> plan = make_plan(fp, 15, m)
        >>> plan.config.loss.name, plan.config.data.crop_size, [s.crop_size for s in plan.config.stages]
        ('ce+dice', [384, 384], [[]])
        >>> plan.expected["total"] <= 15 * 60, plan.config.train.time_schedule
        (True, True)
    """
    if minutes <= 0:
        raise InputError(f"--minutes must be positive, got {minutes}.")
    m = machine.quantised()
    reasons: dict[str, str] = {}
    budget = 60.0 * minutes - m.setup_seconds - SETUP_RESERVE
    if budget <= 0:
        raise InputError(
            f"--minutes {minutes:g} leaves no time to train: fingerprinting and timing this machine took "
            f"{machine.setup_seconds:.0f} s. Give at least {math.ceil((m.setup_seconds + 40) / 60)} minutes."
        )
    cfg = Config()
    d, t = cfg.data, cfg.train
    for key in ("dataset", "root", "options", "train_split", "val_split"):
        if key in fp.data:
            setattr(d, key, copy.deepcopy(fp.data[key]))
    # whole images are validated: batch them only on a GPU and when every sampled image has one size
    d.workers, d.cache = -1, True
    d.val_batch_size = 8 if m.device != "cpu" and fp.image_size == fp.max_size == fp.min_size else 1

    context, reasons["context"] = rule_context(fp)
    if context is not None:
        d.options["context"] = context

    # geometry and batch
    depth, crop, half, geometry_why = rule_geometry(fp)
    d.crop_size = crop
    reasons.update(geometry_why)
    batch, reasons["batch_size"] = rule_batch(fp, crop, m.device)
    d.batch_size = batch
    steps_per_epoch = max(1, fp.num_train // batch)
    images_per_epoch = steps_per_epoch * batch

    # validation cost and cadence
    val_s = VAL_OVERHEAD * m.val_s * fp.num_val  # one image per forward pass on CPU, as measured
    n_val = max(2, min(MAX_VALIDATIONS, int(VAL_SHARE * budget / max(val_s, 1e-9))))
    usable = TIME_SHARE_TRAIN * budget - (n_val + 1) * val_s  # the stages' training time
    if usable <= 0:
        need = m.setup_seconds + SETUP_RESERVE + 4 * val_s / TIME_SHARE_TRAIN + 60
        raise InputError(
            f"--minutes {minutes:g} leaves no time to train: set-up takes {m.setup_seconds:.0f} s and one "
            f"validation of the {fp.num_val} validation images {val_s:.0f} s on this machine. Give at least "
            f"{math.ceil(need / 60)} minutes (or validate on fewer images: a smaller val split)."
        )

    workers = 0 if m.cores <= 2 else min(m.cores - 1, 8)  # data.workers = -1 (default_num_workers)

    def epoch_s(net: str, c: list[int]) -> float:  # loading in the main process adds; workers overlap
        step = _interp(m.train_s, net, c)
        per_image = step + m.load_s if workers == 0 else max(step, m.load_s / workers)
        return images_per_epoch * per_image + m.save_s.get(net, m.save_s.get(DEFAULT_NET, 0.0))

    def passes(net: str) -> float:  # full-resolution-equivalent passes over the training data
        if half is None:
            return usable / epoch_s(net, crop)
        return (1 - HALF_RES_SHARE) * usable / epoch_s(net, crop) + HALF_RES_SHARE * usable / epoch_s(
            net, half
        ) / 4

    # the network
    net = DEFAULT_NET
    for bigger in ("unet-resnet34-slim", "unet-resnet18"):
        if _key(bigger, crop) in m.train_s and passes(bigger) >= BIG_NET_PASSES:
            net = bigger
            break
    encoder, decoder = network_for(net, depth)
    cfg.model.arch, cfg.model.encoder, cfg.model.encoder_weights = "unet", encoder, "none"
    cfg.model.options = {"decoder_channels": decoder, "encoder_depth": depth}
    reasons["model"] = (
        f"{net} (U-Net, {encoder} encoder of depth {depth} from random weights, decoder {decoder}): "
        + (
            f"the budget gives {passes(net):.0f} full-resolution passes over the data, enough for the "
            f"bigger network (>= {BIG_NET_PASSES:.0f})"
            if net != DEFAULT_NET
            else f"the CamVid recipe's network; {passes(net):.0f} full-resolution passes fit, fewer than the "
            f"{BIG_NET_PASSES:.0f} a bigger network needs"
        )
    )

    # stages: they follow the time limit; their epochs are the first estimate only
    full_s = epoch_s(net, crop)
    steps, reasons["augment"] = rule_augment(fp)
    d.augment = steps
    if half is not None:
        half_s = epoch_s(net, half)
        e_half = max(1, round(HALF_RES_SHARE * usable / half_s))
        e_full = max(1, round((1 - HALF_RES_SHARE) * usable / full_s))
        cfg.stages = [
            StageConfig(
                name="half-res",
                epochs=e_half,
                crop_size=half,
                augment=rule_augment(fp, 0.5)[0],
                time_share=HALF_RES_SHARE,
            ),
            StageConfig(name="full-res", epochs=e_full, lr=5e-4),
        ]
        reasons["schedule"] = (
            f"{HALF_RES_SHARE:.0%} of the time at half resolution (about {e_half} epochs of {half_s:.0f} s), then "
            f"a fresh cosine from lr 5e-4 at full resolution (about {e_full} epochs of {full_s:.0f} s); each stage "
            "ends, its cosine completed, when its share of the time is up (train.time_schedule)"
        )
        epochs = e_half + e_full
    else:
        epochs = max(1, round(usable / full_s))
        cfg.stages = [StageConfig(name="main", epochs=epochs)]
        reasons["schedule"] = (
            f"one stage, about {epochs} epochs of {full_s:.0f} s, ending with its cosine completed when the time "
            "is up (train.time_schedule)"
        )
    expected_train = usable  # the stages fill their time, whatever the epochs turn out to be
    t.epochs = epochs

    # loss and class weights
    cfg.loss.name, reasons["loss"], reasons["class_weights"] = rule_loss(fp)
    if reasons["class_weights"].startswith("median_frequency"):
        d.class_weights, d.class_weights_power = "median_frequency", 0.5
    else:
        d.class_weights = "none"

    # optimiser, schedule, validation, time limit
    cfg.optim.name, cfg.optim.lr, cfg.optim.weight_decay, cfg.optim.grad_clip = "adamw", 1e-3, 1e-4, 5.0
    cfg.schedule.name, cfg.schedule.min_lr_ratio = "cosine", 0.01
    cfg.schedule.warmup_epochs = min(1.0, 0.02 * epochs)  # about 2% of the first stage, at most an epoch
    reasons["optim"] = (
        "AdamW lr 1e-3, weight decay 1e-4, gradient clipping 5, cosine to 1% of the peak with a short warm-up "
        "(CamVid recipe)"
    )
    t.eval_every_minutes = round(max(1.0, (budget - SETUP_RESERVE) / n_val) / 60.0, 3)
    reasons["eval_every"] = (
        f"every {t.eval_every_minutes:g} min: about {n_val} validations of {val_s:.0f} s each "
        f"(at most {VAL_SHARE:.0%} of the budget), and at the end of every stage"
    )
    t.time_limit_minutes = math.floor(budget / 0.6) / 100  # minutes, rounded down
    t.time_limit_includes_validation = True
    t.time_schedule = True
    reasons["time_limit"] = (
        f"{t.time_limit_minutes} min of training and validation (the budget less {m.setup_seconds:.0f} s of "
        f"fingerprinting and timing, and {SETUP_RESERVE:.0f} s to build the data and the model and finish); the "
        "stages follow it, so the run uses it whatever the timings"
    )
    t.seed, t.amp, t.device, t.out_dir = seed, "auto", m.device, out_dir
    expected = {
        "setup": m.setup_seconds + SETUP_RESERVE,
        "epoch_full": full_s,
        "validation": val_s,
        "train": expected_train,
        "total": m.setup_seconds + SETUP_RESERVE + expected_train + (n_val + 1) * val_s,
    }

    # screening: a few recipes briefly on the validation split, when the budget allows
    options = screen_candidates(cfg, net, depth)
    step_s = epoch_s(net, crop) / steps_per_epoch
    if screen:
        chosen, slice_s, reasons["screening"] = rule_screen(options, usable, step_s, val_s)
    else:
        chosen, slice_s, reasons["screening"] = [], 0.0, "off (--no-screen): the rules alone decide"
    return Plan(cfg, reasons, expected, chosen, slice_s)


def plan_from_json(doc: dict[str, Any]) -> tuple[Fingerprint, Machine, float]:
    """The fingerprint, the machine and the budget a ``plan.json`` was made from."""
    if doc.get("version") != PLAN_VERSION:
        raise InputError(f"plan.json version {doc.get('version')!r} is not {PLAN_VERSION}; plan again.")
    return Fingerprint(**doc["fingerprint"]), Machine(**doc["machine"]), float(doc["budget_minutes"])


# ----------------------------------------------------------------------------- running it


def auto_data_config(root: str) -> Any:
    """The [data] section for ``--auto ROOT``: ``ROOT/train.toml``'s (as ``segwise data init`` wrote it)
    when there is one, else a folder dataset ``ROOT`` with ``ROOT/spec.json``; ``camvid`` names the
    built-in CamVid (``$SEGWISE_CAMVID``)."""
    from segwise.data.datasets import DATASETS
    from segwise.train.config import DataConfig, load_config

    path = Path(root)
    if not path.exists() and root in DATASETS:
        return DataConfig(dataset=root, root="")
    if not path.is_dir():
        raise InputError(
            f"--auto {root}: not a folder. Give a dataset folder holding spec.json (`segwise data init "
            f"{root}` writes one) or a built-in dataset name ({', '.join(DATASETS)})."
        )
    toml = path / "train.toml"
    if toml.is_file():
        data = load_config(toml).data
        if data.root and not Path(data.root).is_absolute():
            data.root = str((path / data.root).resolve()) if not Path(data.root).exists() else data.root
        return data
    if not (path / "spec.json").is_file():
        raise InputError(
            f"--auto {root}: no spec.json in that folder. Run `segwise data init {root} --images SUBDIR "
            "--masks SUBDIR` first; it checks the files and writes spec.json and train.toml."
        )
    return DataConfig(dataset="folder", root=str(path.resolve()))


def run_auto(
    root: str,
    minutes: float,
    *,
    out: str | None = None,
    device: str = "auto",
    seed: int = 0,
    plan_only: bool = False,
    console: Any = None,
    started: float | None = None,
    remeasure: bool = False,
    screen: bool = True,
    show_plan: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """``segwise train --auto``: plan, write ``OUT/plan.json`` and ``OUT/config.toml``, screen the
    plan's candidates in ``OUT/screen`` (when the budget allows and ``screen``), then train the winner
    in ``OUT/run`` (unless ``plan_only``). Returns the plan folder and the plan document; its
    ``screening`` entry gives every candidate's scores and times.

    The budget counts from ``started`` (a :func:`time.perf_counter` value; default: now): the CLI
    passes the moment it started, so imports count too.
    """
    started = time.perf_counter() if started is None else started
    data_cfg = auto_data_config(root)
    name = Path(root).name or str(root)
    out_dir = Path(out or f"runs/auto-{name}-{minutes:g}min")
    if (out_dir / "run" / "last.pt").exists() and not plan_only:
        raise InputError(
            f"{out_dir / 'run'} already holds a run; continue it with `segwise train --resume {out_dir / 'run'}` "
            "or pass another --out."
        )
    if (out_dir / "screen").exists() and not plan_only:
        raise InputError(
            f"{out_dir / 'screen'} holds the screening runs of an earlier `train --auto`; pass another --out "
            "(or delete that folder)."
        )
    fp = fingerprint_dataset(data_cfg, seed=seed)
    machine = measure_machine(fp, data_cfg, minutes, device, seed=seed, started=started, remeasure=remeasure)
    plan = make_plan(fp, minutes, machine, seed=seed, out_dir=str(out_dir / "run"), screen=screen)
    doc = plan.to_dict(fp, machine, minutes)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "plan.json", doc)
    header = (
        f"# Planned by `segwise train --auto {root} --minutes {minutes:g}` (plan.json beside this file gives\n"
        "# the fingerprint, the machine's timings and one reason per choice). Reproduce with\n"
        f"#   segwise train --config {out_dir / 'config.toml'}\n"
    )
    atomic_write_text(out_dir / "config.toml", header + config_to_toml(plan.config))
    if show_plan is not None:  # the CLI renders it (segwise.cli.render.print_plan)
        show_plan(doc)
    if plan_only:
        return out_dir, doc
    from segwise.train.loop import train

    cfg = config_from_dict(config_to_dict(plan.config))
    if plan.screen:
        record = run_screening(plan.config, plan.screen, plan.slice_seconds, out_dir / "screen", console)
        doc["screening"].update(record)
        write_json(out_dir / "plan.json", doc)
        winner = next(c for c in plan.screen if c.name == record["winner"])
        cfg = candidate_config(plan.config, winner)
        cfg.model.init_from = record["init_from"]
        if console is not None:
            console.print(f"[bold]{winner.name}[/] wins the screening; it trains for the rest of the budget")
    # the time already spent (fingerprint, timing, screening) is in the plan's budget; what is left
    # bounds the run. Training starts its clock now, so building the data and the model counts inside.
    handover = time.perf_counter()
    left = 60.0 * minutes - (handover - started) - EXIT_RESERVE
    cfg.train.time_limit_minutes = math.floor(max(left, 6.0) / 0.6) / 100
    train(cfg, console=console, started=handover)
    return out_dir, doc


__all__ = [
    "Fingerprint",
    "Machine",
    "Plan",
    "auto_data_config",
    "candidates",
    "crop_for",
    "fingerprint_dataset",
    "make_plan",
    "measure_machine",
    "plan_from_json",
    "run_auto",
]
