"""Joint image/mask augmentation, built on :mod:`torchvision.transforms.v2` kernels.

Every random choice is drawn from a :class:`numpy.random.Generator` passed in by the caller (the
dataset derives one per sample from ``(seed, epoch, index)``), so a pipeline gives the same result
for the same sample whatever the number of loader workers.

Images are :class:`tv_tensors.Image` and masks :class:`tv_tensors.Mask`, so torchvision dispatches
masks to its nearest-neighbour kernels. Areas padded or rotated in take the ignore index in the
mask and the mean colour in the image (0 after normalisation). A transformed mask therefore only
holds values of the original mask and the ignore index.

Steps are configured by name, e.g. from the training config::

    augment = ["random_scale", "random_crop", "hflip", {"name": "rotate", "degrees": 5}, "normalize"]

or by preset (``"none"``, ``"light"``, ``"strong"``), with a ``strength`` in ``[0, 1]`` that scales
every magnitude (for staged training).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as F

from segwise.data.spec import DatasetSpec
from segwise.errors import InputError, did_you_mean, lookup


@dataclass(frozen=True)
class _Context:
    """What steps need besides the sample: the fills and the size the sample came in with."""

    image_fill: tuple[float, ...]  # per channel, uint8 scale: the mean colour
    mask_fill: int | None  # the ignore index
    input_size: tuple[int, int]


def _check(cond: bool, step: str, msg: str) -> None:
    if not cond:
        raise InputError(f"transform {step!r}: {msg}")


@dataclass(frozen=True)
class RandomScale:
    """Resize by a factor drawn log-uniformly from ``range`` (bilinear image, nearest mask)."""

    name: ClassVar[str] = "random_scale"
    range: tuple[float, float] = (0.5, 2.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "range", tuple(float(v) for v in self.range))
        lo, hi = self.range
        _check(0 < lo <= hi, self.name, f"range must be 0 < low <= high; got {self.range}.")

    def scaled(self, strength: float) -> RandomScale:
        lo, hi = self.range
        return replace(self, range=(lo**strength, hi**strength))

    def __call__(self, image: Any, mask: Any, rng: np.random.Generator, ctx: _Context) -> tuple[Any, Any]:
        lo, hi = self.range
        factor = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        if factor == 1.0:
            return image, mask
        h, w = image.shape[-2:]
        size = [max(1, round(h * factor)), max(1, round(w * factor))]
        image = F.resize(image, size, interpolation=InterpolationMode.BILINEAR, antialias=True)
        mask = F.resize(mask, size, interpolation=InterpolationMode.NEAREST)
        return image, mask


@dataclass(frozen=True)
class RandomCrop:
    """Crop a random window of ``size`` (``(h, w)``; default: the size the sample came in with).

    A sample smaller than ``size`` is first padded (mean colour / ignore index) at a random offset.

    With probability ``class_focus`` the window is placed around one pixel of one class: the class
    is drawn uniformly from those present in the mask (the ignore index excluded), the pixel
    uniformly from that class's pixels, and the window uniformly among those that hold the pixel.
    Rare and thin classes (poles, signs, cyclists) then appear in far more crops than their pixel
    share gives them; nnU-Net's foreground oversampling does the same. ``class_focus = 0`` (the
    default) draws no extra random numbers, so earlier pipelines give the same crops.
    """

    name: ClassVar[str] = "random_crop"
    size: tuple[int, int] | None = None
    class_focus: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_focus", float(self.class_focus))
        _check(
            0 <= self.class_focus <= 1, self.name, f"class_focus must be in [0, 1]; got {self.class_focus}."
        )
        if self.size is not None:
            size = (self.size, self.size) if isinstance(self.size, int) else tuple(int(v) for v in self.size)
            object.__setattr__(self, "size", size)
            _check(
                len(size) == 2 and min(size) > 0,
                self.name,
                f"size must be (height, width) > 0; got {self.size}.",
            )

    def scaled(self, strength: float) -> RandomCrop:
        return self

    def __call__(self, image: Any, mask: Any, rng: np.random.Generator, ctx: _Context) -> tuple[Any, Any]:
        th, tw = self.size or ctx.input_size
        h, w = image.shape[-2:]
        ph, pw = max(th - h, 0), max(tw - w, 0)
        if ph or pw:
            if ctx.mask_fill is None:
                raise InputError(
                    f"transform 'random_crop' must pad a {h}x{w} sample to {th}x{tw}, but the dataset spec has no "
                    "ignore_index for the padded mask area; set ignore_index in the spec, or crop no larger than "
                    "the images."
                )
            left, top = int(rng.integers(0, pw + 1)), int(rng.integers(0, ph + 1))
            padding = [left, top, pw - left, ph - top]
            image = F.pad(image, padding, fill=list(ctx.image_fill))
            mask = F.pad(mask, padding, fill=ctx.mask_fill)
            h, w = h + ph, w + pw
        focus = (
            _focus_pixel(mask, ctx.mask_fill, rng)
            if self.class_focus and rng.random() < self.class_focus
            else None
        )
        if focus is None:
            y, x = int(rng.integers(0, h - th + 1)), int(rng.integers(0, w - tw + 1))
        else:  # a window holding the focus pixel (py, px), uniformly among those inside the sample
            py, px = focus
            y = int(rng.integers(max(0, py - th + 1), min(h - th, py) + 1))
            x = int(rng.integers(max(0, px - tw + 1), min(w - tw, px) + 1))
        return F.crop(image, y, x, th, tw), F.crop(mask, y, x, th, tw)


def _focus_pixel(mask: Any, ignore_index: int | None, rng: np.random.Generator) -> tuple[int, int] | None:
    """A pixel of a class drawn uniformly from the classes in ``mask``; ``None`` if it holds none."""
    flat = mask.as_subclass(torch.Tensor).reshape(-1).numpy()
    counts = np.bincount(flat)
    if ignore_index is not None and ignore_index < counts.size:
        counts[ignore_index] = 0
    present = np.flatnonzero(counts)
    if present.size == 0:
        return None
    cls = present[rng.integers(0, present.size)]
    index = int(np.flatnonzero(flat == cls)[rng.integers(0, counts[cls])])
    w = mask.shape[-1]
    return index // w, index % w


@dataclass(frozen=True)
class CenterCrop:
    """Crop (or pad, with mean colour / ignore index) the centre to ``size`` ``(h, w)``; deterministic.

    The evaluation counterpart of ``random_crop``: gives every image one size so they batch.
    """

    name: ClassVar[str] = "center_crop"
    size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.size is None:
            raise InputError("transform 'center_crop' needs size=(height, width).")
        size = (self.size, self.size) if isinstance(self.size, int) else tuple(int(v) for v in self.size)
        object.__setattr__(self, "size", size)
        _check(
            len(size) == 2 and min(size) > 0, self.name, f"size must be (height, width) > 0; got {self.size}."
        )

    def scaled(self, strength: float) -> CenterCrop:
        return self

    def __call__(self, image: Any, mask: Any, rng: np.random.Generator, ctx: _Context) -> tuple[Any, Any]:
        th, tw = self.size  # type: ignore[misc]
        h, w = image.shape[-2:]
        ph, pw = max(th - h, 0), max(tw - w, 0)
        if ph or pw:
            if ctx.mask_fill is None:
                raise InputError(
                    f"transform 'center_crop' must pad a {h}x{w} sample to {th}x{tw}, but the dataset spec has no "
                    "ignore_index for the padded mask area; set ignore_index in the spec, or crop no larger than "
                    "the images."
                )
            padding = [pw // 2, ph // 2, pw - pw // 2, ph - ph // 2]
            image = F.pad(image, padding, fill=list(ctx.image_fill))
            mask = F.pad(mask, padding, fill=ctx.mask_fill)
            h, w = h + ph, w + pw
        y, x = (h - th) // 2, (w - tw) // 2
        return F.crop(image, y, x, th, tw), F.crop(mask, y, x, th, tw)


@dataclass(frozen=True)
class HFlip:
    """Mirror left-right with probability ``p``."""

    name: ClassVar[str] = "hflip"
    p: float = 0.5

    def __post_init__(self) -> None:
        _check(0 <= self.p <= 1, self.name, f"p must be in [0, 1]; got {self.p}.")

    def scaled(self, strength: float) -> HFlip:
        return self if strength > 0 else replace(self, p=0.0)

    def __call__(self, image: Any, mask: Any, rng: np.random.Generator, ctx: _Context) -> tuple[Any, Any]:
        if rng.random() < self.p:
            return F.horizontal_flip(image), F.horizontal_flip(mask)
        return image, mask


@dataclass(frozen=True)
class VFlip:
    """Mirror top-bottom with probability ``p`` (for aerial or medical images, not road scenes)."""

    name: ClassVar[str] = "vflip"
    p: float = 0.5

    def __post_init__(self) -> None:
        _check(0 <= self.p <= 1, self.name, f"p must be in [0, 1]; got {self.p}.")

    def scaled(self, strength: float) -> VFlip:
        return self if strength > 0 else replace(self, p=0.0)

    def __call__(self, image: Any, mask: Any, rng: np.random.Generator, ctx: _Context) -> tuple[Any, Any]:
        if rng.random() < self.p:
            return F.vertical_flip(image), F.vertical_flip(mask)
        return image, mask


@dataclass(frozen=True)
class Rotate:
    """Rotate by an angle uniform in ``[-degrees, degrees]`` with probability ``p``, keeping the size.

    Corners rotated in take the mean colour and the ignore index.
    """

    name: ClassVar[str] = "rotate"
    degrees: float = 10.0
    p: float = 0.5

    def __post_init__(self) -> None:
        _check(0 <= self.degrees <= 180, self.name, f"degrees must be in [0, 180]; got {self.degrees}.")
        _check(0 <= self.p <= 1, self.name, f"p must be in [0, 1]; got {self.p}.")

    def scaled(self, strength: float) -> Rotate:
        return replace(self, degrees=self.degrees * strength)

    def __call__(self, image: Any, mask: Any, rng: np.random.Generator, ctx: _Context) -> tuple[Any, Any]:
        if self.degrees == 0 or rng.random() >= self.p:
            return image, mask
        angle = float(rng.uniform(-self.degrees, self.degrees))
        image = F.rotate(image, angle, interpolation=InterpolationMode.BILINEAR, fill=list(ctx.image_fill))
        mask = F.rotate(mask, angle, interpolation=InterpolationMode.NEAREST, fill=ctx.mask_fill)
        return image, mask


@dataclass(frozen=True)
class ColorJitter:
    """With probability ``p``, scale brightness, contrast and saturation by factors uniform in
    ``[1 - x, 1 + x]`` and shift the hue by up to ``hue`` (image only; hue costs ~15 ms per image).

    Saturation and hue apply to the RGB channels only (none for grayscale).
    """

    name: ClassVar[str] = "color_jitter"
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    hue: float = 0.0
    p: float = 0.8

    def __post_init__(self) -> None:
        for key in ("brightness", "contrast", "saturation"):
            v = getattr(self, key)
            _check(0 <= v < 1, self.name, f"{key} must be in [0, 1); got {v}.")
        _check(0 <= self.hue <= 0.5, self.name, f"hue must be in [0, 0.5]; got {self.hue}.")
        _check(0 <= self.p <= 1, self.name, f"p must be in [0, 1]; got {self.p}.")

    def scaled(self, strength: float) -> ColorJitter:
        return replace(
            self,
            brightness=self.brightness * strength,
            contrast=self.contrast * strength,
            saturation=self.saturation * strength,
            hue=self.hue * strength,
        )

    def __call__(self, image: Any, mask: Any, rng: np.random.Generator, ctx: _Context) -> tuple[Any, Any]:
        if image.dtype.is_floating_point:
            raise InputError(
                "transform 'color_jitter' changes the colours of 8-bit photos; slices of volumes are float "
                'intensities. Drop it from data.augment (e.g. augment = ["random_scale", "random_crop", '
                "\"hflip\", \"rotate\"]); the presets 'light' and 'strong' include it."
            )
        draws = rng.uniform(-1, 1, size=4)  # drawn always, so later steps see the same stream
        if rng.random() >= self.p:
            return image, mask
        b, c, s = 1 + self.brightness * draws[0], 1 + self.contrast * draws[1], 1 + self.saturation * draws[2]
        rgb, extra = (image[:3], image[3:]) if image.shape[0] == 4 else (image, None)
        rgb = F.adjust_brightness(rgb, b)
        rgb = F.adjust_contrast(rgb, c)
        if rgb.shape[0] == 3:
            rgb = F.adjust_saturation(rgb, s)
            if self.hue > 0:
                rgb = F.adjust_hue(rgb, float(self.hue * draws[3]))
        if extra is not None:
            rgb = tv_tensors.Image(torch.cat([rgb, extra], dim=0))
        return rgb, mask


@dataclass(frozen=True)
class Normalize:
    """Scale to ``[0, 1]`` floats and normalise with the spec's mean and std.

    A marker: :class:`JointTransforms` always normalises last, with the spec it holds.
    """

    name: ClassVar[str] = "normalize"

    def scaled(self, strength: float) -> Normalize:
        return self


TRANSFORMS: dict[str, type] = {
    cls.name: cls
    for cls in (RandomScale, RandomCrop, CenterCrop, HFlip, VFlip, Rotate, ColorJitter, Normalize)
}
DEFAULT_STEPS: tuple[str, ...] = (
    "random_scale",
    "random_crop",
    "hflip",
    "rotate",
    "color_jitter",
    "normalize",
)
PRESETS: dict[str, tuple[tuple[str, ...], float]] = {
    "none": ((), 0.0),
    "light": (DEFAULT_STEPS, 0.5),
    "strong": (DEFAULT_STEPS, 1.0),
}


class JointTransforms:
    """A pipeline of joint steps ending in normalisation, called on one (image, mask) pair.

    Args:
        steps: Step objects (from :data:`TRANSFORMS`), without ``Normalize`` (always applied last).
        spec: The dataset spec: mean/std, in_channels and ignore index.
        seed: Seed of the internal generator used when a call passes no ``rng``.

    Shape:
        - image: ``(H, W, C)`` uint8 numpy array, or a ``(C, H, W)`` uint8 tensor; float32 images
          (slices of volumes, already scaled by the ``volumes`` dataset) are not divided by 255
        - mask: ``(H, W)`` integer numpy array or tensor
        - output: ``((C, h, w) float32 tensor, (h, w) int64 tensor)``
    """

    def __init__(self, steps: Sequence[Any], spec: DatasetSpec, *, seed: int = 0) -> None:
        self.steps = tuple(s for s in steps if not isinstance(s, Normalize))
        self.spec = spec
        self._rng = np.random.default_rng(seed)
        self._mean = list(spec.mean)
        self._std = list(spec.std)
        self._fill = tuple(float(round(m * 255)) for m in spec.mean)

    def __repr__(self) -> str:
        inner = ", ".join(repr(s) for s in self.steps)
        return f"JointTransforms([{inner}{', ' if inner else ''}Normalize()])"

    def describe(self) -> list[dict[str, Any]]:
        """The steps as ``{"name": ..., option: value}`` dicts, as accepted by :func:`build_transforms`."""
        out = [{"name": s.name, **{f.name: getattr(s, f.name) for f in fields(s)}} for s in self.steps]
        return [*out, {"name": "normalize"}]

    def __call__(
        self,
        image: np.ndarray | torch.Tensor,
        mask: np.ndarray | torch.Tensor,
        rng: np.random.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        rng = self._rng if rng is None else rng
        with _single_thread():
            img_t, mask_t = _as_tv(image, mask)
            # float images (volume slices) are already scaled: their fill is the mean itself
            fill = tuple(self._mean) if img_t.dtype.is_floating_point else self._fill
            ctx = _Context(fill[: img_t.shape[0]], self.spec.ignore_index, tuple(img_t.shape[-2:]))
            for step in self.steps:
                img_t, mask_t = step(img_t, mask_t, rng, ctx)
            out = F.to_dtype(img_t, torch.float32, scale=True)
            out = F.normalize(out, self._mean, self._std)
            return out.as_subclass(torch.Tensor).contiguous(), mask_t.as_subclass(torch.Tensor).to(
                torch.int64
            )


@contextlib.contextmanager
def _single_thread() -> Iterator[None]:
    """Run one sample's kernels on one thread, then restore the caller's thread count.

    Intra-op threads gain little on one image, and when the cores are shared (a training step,
    other processes) OpenMP's waiting threads made the pipeline 10x slower in our measurements
    (docs/benchmarks.md). Setting the count costs well under a microsecond.
    """
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _as_tv(image: np.ndarray | torch.Tensor, mask: np.ndarray | torch.Tensor) -> tuple[Any, Any]:
    if isinstance(image, np.ndarray):
        if image.ndim == 2:
            image = image[..., None]
        if image.ndim != 3 or image.dtype not in (np.uint8, np.float32):
            raise InputError(
                "image must be (H, W, C) uint8, or float32 already scaled (volume slices); "
                f"got {image.dtype} {image.shape}."
            )
        # CHW copy at uint8 (a quarter of the bytes of the float image): later kernels run on dense memory.
        image = (
            torch.from_numpy(image if image.flags.writeable else image.copy()).permute(2, 0, 1).contiguous()
        )
    if isinstance(mask, np.ndarray):
        if mask.dtype != np.uint8:
            mask = mask.astype(np.int64)
        mask = torch.from_numpy(mask if mask.flags.writeable else mask.copy())
    elif mask.dtype != torch.uint8:
        mask = mask.to(torch.int64)
    if tuple(image.shape[-2:]) != tuple(mask.shape[-2:]):
        raise InputError(
            f"image {tuple(image.shape)} and mask {tuple(mask.shape)} differ in height/width; they must match."
        )
    return tv_tensors.Image(image), tv_tensors.Mask(mask)


def _parse_step(item: str | Mapping[str, Any]) -> tuple[str, type, dict[str, Any]]:
    """The name, class and options of a step given by name or as ``{"name": ..., option: value}``."""
    if isinstance(item, str):
        name, options = item, {}
    elif isinstance(item, Mapping):
        if "name" not in item:
            raise InputError(
                f"transform entry {dict(item)} lacks 'name'; e.g. {{'name': 'rotate', 'degrees': 5}}."
            )
        name, options = item["name"], {k: v for k, v in item.items() if k != "name"}
    else:
        raise InputError(f"transform entries are names or dicts with 'name'; got {item!r}.")
    cls = lookup(name, TRANSFORMS, "transform")
    valid = [f.name for f in fields(cls)]
    for key in options:
        if key not in valid:
            did = did_you_mean(key, valid)
            raise InputError(
                f"transform {name!r} has no option {key!r}; {did}options: {', '.join(valid) or '(none)'}."
            )
    return name, cls, options


def _make_step(item: str | Mapping[str, Any], defaults: Mapping[str, dict[str, Any]]) -> Any:
    name, cls, options = _parse_step(item)
    merged = {**defaults.get(name, {}), **options}
    try:
        return cls(**merged)
    except TypeError as exc:
        raise InputError(f"transform {name!r}: bad options {merged}: {exc}.") from None


def _preset(name: str) -> tuple[tuple[str, ...], float]:
    if name not in PRESETS:
        did = did_you_mean(name, [*PRESETS, *TRANSFORMS])
        raise InputError(
            f"unknown augmentation preset {name!r}; {did}presets: {', '.join(PRESETS)}, or give a list of "
            f"steps from: {', '.join(TRANSFORMS)}."
        )
    return PRESETS[name]


def check_augment(augment: str | Sequence[str | Mapping[str, Any]]) -> None:
    """Check the ``augment`` of :func:`build_transforms` without a dataset spec: a preset name, or a
    list of steps with known names and options. Raises :class:`InputError` where it would.

    Example:
        >>> check_augment(["hflip", {"name": "rotate", "degrees": 5}])
        >>> check_augment("strng")
        Traceback (most recent call last):
        ...
        segwise.errors.InputError: unknown augmentation preset 'strng'; did you mean 'strong'? presets: ...
    """
    if isinstance(augment, str):
        _preset(augment)
        return
    for item in augment:
        _parse_step(item)


def build_transforms(
    augment: str | Sequence[str | Mapping[str, Any]] = "strong",
    spec: DatasetSpec | None = None,
    *,
    train: bool = True,
    crop_size: int | tuple[int, int] | None = None,
    scale_range: tuple[float, float] | None = None,
    strength: float | None = None,
    crop_focus: float | None = None,
    seed: int = 0,
) -> JointTransforms:
    """Build a joint transform pipeline by name.

    Args:
        augment: A preset (``"none"``, ``"light"``, ``"strong"``) or a list of step names / dicts
            ``{"name": ..., option: value}``; names are in :data:`TRANSFORMS`. ``normalize`` is
            always the last step (added if absent).
        spec: The dataset spec (mean/std, ignore index for padded areas).
        train: ``False`` gives the evaluation pipeline: normalisation only, after a deterministic
            ``center_crop`` to ``crop_size`` when one is given.
        crop_size: Default ``size`` of ``random_crop`` (``(h, w)`` or one int); without it, the crop
            restores the size the sample came in with. With ``train=False``: the centre crop size.
        scale_range: Default ``range`` of ``random_scale``.
        strength: In ``[0, 1]``: scales the scale range (as an exponent), rotation angle and colour
            jitter; 0 turns flips off. Presets set it (light 0.5, strong 1.0); a value given here wins.
        crop_focus: Default ``class_focus`` of ``random_crop``: the probability of a crop placed
            around a pixel of a class drawn uniformly from those present (see :class:`RandomCrop`).
        seed: Seed for calls that pass no generator (datasets pass one per sample).

    Options given in a step dict win over ``crop_size``, ``scale_range`` and ``crop_focus``.

    Example:
        >>> from segwise.data.spec import DatasetSpec
        >>> spec = DatasetSpec("toy", ("bg", "fg"), ignore_index=255)
        >>> t = build_transforms(["hflip", {"name": "rotate", "degrees": 5}], spec)
        >>> img, mask = t(np.zeros((8, 8, 3), np.uint8), np.ones((8, 8), np.uint8), np.random.default_rng(0))
        >>> tuple(img.shape), img.dtype, tuple(mask.shape), mask.dtype
        ((3, 8, 8), torch.float32, (8, 8), torch.int64)
    """
    if spec is None:
        raise InputError("build_transforms needs the dataset spec (mean/std and ignore index); pass spec=.")
    preset_strength = 1.0
    if isinstance(augment, str):
        items, preset_strength = _preset(augment)
    else:
        items = tuple(augment)
    if not train:
        items = ({"name": "center_crop", "size": crop_size},) if crop_size is not None else ()
    strength = preset_strength if strength is None else float(strength)
    if not 0 <= strength <= 1:
        raise InputError(f"strength must be in [0, 1]; got {strength}.")
    defaults: dict[str, dict[str, Any]] = {}
    if crop_size is not None:
        defaults["random_crop"] = {"size": crop_size}
    if crop_focus is not None:
        defaults.setdefault("random_crop", {})["class_focus"] = crop_focus
    if scale_range is not None:
        defaults["random_scale"] = {"range": scale_range}
    steps = [_make_step(item, defaults).scaled(strength) for item in items]
    if any(isinstance(s, Normalize) for s in steps[:-1]):
        raise InputError(
            "'normalize' must be the last transform step (it turns the uint8 image into floats)."
        )
    if spec.ignore_index is None:
        pads = [s.name for s in steps if (isinstance(s, Rotate) and s.degrees > 0 and s.p > 0)]
        if any(isinstance(s, RandomScale) and s.range[0] < 1 for s in steps) and any(
            isinstance(s, RandomCrop) for s in steps
        ):
            pads.append("random_scale below 1 + random_crop")
        if pads:
            raise InputError(
                f"transforms {pads} fill areas of the mask with the ignore index, but the dataset spec "
                f"{spec.name!r} has none; set ignore_index in the spec, or drop these steps."
            )
    return JointTransforms(steps, spec, seed=seed)
