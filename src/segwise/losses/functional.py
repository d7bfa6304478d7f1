"""Segmentation losses, functional form: ``loss(logits, target, ...) -> scalar tensor``.

Conventions (docs/losses.md has the full definitions and where they differ from smp):

* ``logits`` are raw scores ``(N, C, H, W)``; ``target`` holds class ids ``(N, H, W)``.
* Pixels whose target equals ``ignore_index`` take no part: they add nothing to any sum and get
  zero gradient. A batch where every pixel is ignored gives a loss of exactly 0, connected to the
  graph (``backward`` works, gradients are zero), never NaN.
* Pixel losses (cross-entropy, focal, OHEM) are weighted means over the valid pixels: the weight
  of a pixel is the class weight of its target (1 without class weights), as in
  ``torch.nn.functional.cross_entropy``.
* Region losses (Dice, Jaccard, Tversky, Focal-Tversky) are computed per class over the whole
  batch (sums over N, H, W), then averaged over the classes present in the batch's valid target
  (``classes="present"``, the default) or over all classes (``classes="all"``, needs
  ``smooth > 0``), weighted by the class weights.
* Lovasz-Softmax averages its per-class losses the same way, over the batch or per image.
* Maths run in float32 (float64 inputs stay float64), whatever the logits' precision.

Each public function validates its options, calls :func:`~segwise.losses._validation.prepare`
and a private ``_*_core(prepared, ...)``; the loss modules and :class:`CompositeLoss` call the
same cores, so a composite validates its inputs once for all its terms.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F

from segwise.errors import InputError
from segwise.losses._validation import (
    Prepared,
    as_class_weights,
    check_ignore_index,
    check_nonnegative,
    finite_mean_denominator,
    prepare,
)

__all__ = [
    "cross_entropy",
    "dice_loss",
    "focal_loss",
    "focal_tversky_loss",
    "jaccard_loss",
    "lovasz_softmax_loss",
    "ohem_cross_entropy",
    "tversky_loss",
]

ClassSet = Literal["present", "all"]
Weights = torch.Tensor | list[float] | tuple[float, ...] | None


def _prepare(
    logits: Any, target: Any, ignore_index: Any, class_weights: Any, check_targets: bool
) -> Prepared:
    return prepare(
        logits,
        target,
        ignore_index=check_ignore_index(ignore_index),
        class_weights=as_class_weights(class_weights),
        check_targets=check_targets,
    )


# --------------------------------------------------------------------------- option checks
def check_smoothing(label_smoothing: Any) -> float:
    value = check_nonnegative("label_smoothing", label_smoothing)
    if value > 1:
        raise InputError(f"Expected argument `label_smoothing` to be in [0, 1], but got {label_smoothing!r}.")
    return value


def check_classes(classes: Any, smooth: float | None = None) -> ClassSet:
    if classes not in ("present", "all"):
        raise InputError(f"Expected argument `classes` to be 'present' or 'all', but got {classes!r}.")
    if classes == "all" and smooth is not None and smooth <= 0:
        raise InputError(
            "`classes='all'` needs `smooth` > 0 (e.g. 1.0): without it, a class absent from the target "
            "and not predicted scores 0 instead of 1."
        )
    return classes


def check_ohem(thresh: Any, min_kept: Any) -> tuple[float | None, int]:
    if thresh is not None and (
        isinstance(thresh, bool) or not isinstance(thresh, int | float) or not 0 <= float(thresh) <= 1
    ):
        raise InputError(
            f"Expected argument `thresh` to be a probability in [0, 1] or None, but got {thresh!r}."
        )
    if isinstance(min_kept, bool) or not isinstance(min_kept, int) or min_kept < 1:
        raise InputError(f"Expected argument `min_kept` to be an integer >= 1, but got {min_kept!r}.")
    return (None if thresh is None else float(thresh)), min_kept


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"Expected argument `{name}` to be a bool, but got {value!r}.")
    return value


# --------------------------------------------------------------------------- pixel losses
def _ce_core(p: Prepared, label_smoothing: float, keep: torch.Tensor | None = None) -> torch.Tensor:
    """PyTorch's mean cross-entropy over valid (and kept) pixels, without its NaN for empty sums.

    With ``reduction="none"`` PyTorch already weights each pixel (``w[y_i]`` on the likelihood
    term, ``w_c`` inside the smoothing term); its mean divides the sum by ``sum_i w[y_i]``.
    """
    per_pixel = F.cross_entropy(
        p.logits, p.target, weight=p.weights, reduction="none", label_smoothing=label_smoothing
    )
    mask = p.valid.to(per_pixel.dtype)
    if keep is not None:
        mask = mask * keep
    return (per_pixel * mask).sum() / finite_mean_denominator((p.pixel_weights() * mask).sum())


def cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    label_smoothing: float = 0.0,
    class_weights: Weights = None,
    ignore_index: int | None = None,
    check_targets: bool = True,
) -> torch.Tensor:
    """Softmax cross-entropy, the weighted mean over valid pixels (PyTorch's definition).

    ``loss = sum_i l_i / sum_i w[y_i]`` over non-ignored pixels ``i``, where ``l_i`` is the
    per-pixel loss of :func:`torch.nn.functional.cross_entropy` (``w[y_i] * -log p_i`` without
    label smoothing). Equal to ``F.cross_entropy(..., reduction="mean")`` except that an
    all-ignored batch gives 0 instead of NaN.

    Shape:
        - logits: ``(N, C, H, W)``
        - target: ``(N, H, W)`` integer class ids
        - output: scalar

    >>> logits = torch.tensor([[[[2.0]], [[0.0]]]])
    >>> round(cross_entropy(logits, torch.tensor([[[0]]])).item(), 4)
    0.1269
    """
    smoothing = check_smoothing(label_smoothing)
    return _ce_core(_prepare(logits, target, ignore_index, class_weights, check_targets), smoothing)


def _ohem_core(p: Prepared, thresh: float | None, min_kept: int, label_smoothing: float) -> torch.Tensor:
    with torch.no_grad():
        prob = p.logits.softmax(dim=1).gather(1, p.target.unsqueeze(1)).squeeze(1)
        prob = torch.where(p.valid, prob, torch.full_like(prob, float("inf")))
        k = min(min_kept, prob.numel())
        kth = prob.flatten().kthvalue(k).values  # inf when fewer than k pixels are valid: keep all
        threshold = kth if thresh is None else torch.clamp(kth, min=thresh)
        keep = (p.valid & (prob <= threshold)).to(p.logits.dtype)
    return _ce_core(p, label_smoothing, keep)


def ohem_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    thresh: float | None = 0.7,
    min_kept: int = 100_000,
    label_smoothing: float = 0.0,
    class_weights: Weights = None,
    ignore_index: int | None = None,
    check_targets: bool = True,
) -> torch.Tensor:
    """Cross-entropy over the hard pixels only (online hard example mining).

    A valid pixel is *hard* if the softmax probability of its true class is at most
    ``t = max(thresh, p_(k))``, where ``p_(k)`` is the ``k``-th smallest such probability in the
    batch and ``k = min(min_kept, number of valid pixels)``: every pixel the model is less than
    ``thresh`` sure about, and at least ``min_kept`` pixels. ``thresh=None`` keeps exactly the
    ``min_kept`` hardest pixels (and ties). The loss is :func:`cross_entropy`'s weighted mean over
    the hard pixels; the selection itself carries no gradient.

    Shape:
        - logits: ``(N, C, H, W)``
        - target: ``(N, H, W)`` integer class ids
        - output: scalar

    >>> logits = torch.tensor([[[[4.0, 0.0]], [[0.0, 0.0]]]])  # pixel 0 easy, pixel 1 hard
    >>> target = torch.tensor([[[0, 0]]])
    >>> ohem = ohem_cross_entropy(logits, target, min_kept=1)
    >>> bool(ohem == cross_entropy(logits[..., 1:], target[..., 1:]))
    True
    """
    thresh, min_kept = check_ohem(thresh, min_kept)
    smoothing = check_smoothing(label_smoothing)
    p = _prepare(logits, target, ignore_index, class_weights, check_targets)
    return _ohem_core(p, thresh, min_kept, smoothing)


def _focal_core(p: Prepared, gamma: float) -> torch.Tensor:
    log_pt = p.logits.log_softmax(dim=1).gather(1, p.target.unsqueeze(1)).squeeze(1)
    if gamma == 0:
        per_pixel = -log_pt
    else:  # 1 - p_t as -expm1(log p_t), accurate near p_t = 1; the clamp keeps gamma < 1 finite there
        one_minus_pt = (-torch.expm1(log_pt)).clamp_min(torch.finfo(log_pt.dtype).eps)
        per_pixel = -(one_minus_pt**gamma) * log_pt
    weights = p.pixel_weights()
    return (per_pixel * weights).sum() / finite_mean_denominator(weights.sum())


def focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    gamma: float = 2.0,
    class_weights: Weights = None,
    ignore_index: int | None = None,
    check_targets: bool = True,
) -> torch.Tensor:
    """Softmax focal loss (Lin et al., 2017), the weighted mean over valid pixels.

    ``FL_i = -(1 - p_i)^gamma * log(p_i)`` with ``p_i`` the softmax probability of pixel ``i``'s
    true class; ``loss = sum_i a[y_i] FL_i / sum_i a[y_i]`` where ``a`` are the class weights
    (the paper's alpha, per class; 1 without). With ``gamma=0`` this is exactly
    :func:`cross_entropy` with the same class weights.

    Shape:
        - logits: ``(N, C, H, W)``
        - target: ``(N, H, W)`` integer class ids
        - output: scalar

    >>> logits = torch.tensor([[[[2.0]], [[0.0]]]])
    >>> round(focal_loss(logits, torch.tensor([[[0]]]), gamma=2.0).item(), 6)
    0.001804
    """
    gamma = check_nonnegative("gamma", gamma)
    return _focal_core(_prepare(logits, target, ignore_index, class_weights, check_targets), gamma)


# --------------------------------------------------------------------------- region losses
def _region_sums(p: Prepared) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per class, over the batch's valid pixels: soft intersection, predicted mass, target count."""
    valid = p.valid.unsqueeze(1).to(p.logits.dtype)
    probs = p.logits.softmax(dim=1) * valid
    onehot = F.one_hot(p.target, p.num_classes).permute(0, 3, 1, 2).to(probs.dtype) * valid
    dims = (0, 2, 3)
    return (probs * onehot).sum(dims), probs.sum(dims), onehot.sum(dims)


def _class_mean(
    per_class: torch.Tensor, counts: torch.Tensor, p: Prepared, classes: ClassSet
) -> torch.Tensor:
    """Weighted mean of per-class losses over the present (``counts > 0``) or all classes."""
    included = (counts > 0).to(per_class.dtype) if classes == "present" else torch.ones_like(per_class)
    weights = included if p.weights is None else included * p.weights
    return (per_class * weights).sum(dim=-1) / finite_mean_denominator(weights.sum(dim=-1))


def _tversky_core(
    p: Prepared, alpha: float, beta: float, smooth: float, classes: ClassSet, gamma: float = 1.0
) -> torch.Tensor:
    """``mean_c (1 - TI_c)^gamma`` with ``TI_c = (I + s) / (I + alpha FP + beta FN + s)``."""
    intersection, predicted, counts = _region_sums(p)
    fp, fn = predicted - intersection, counts - intersection
    index = (intersection + smooth) / finite_mean_denominator(intersection + alpha * fp + beta * fn + smooth)
    per_class = 1 - index
    if gamma != 1:  # the clamp keeps the gradient finite at TI = 1 when gamma < 1
        per_class = per_class.clamp_min(torch.finfo(per_class.dtype).eps) ** gamma
    return _class_mean(per_class, counts, p, classes)


def dice_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    smooth: float = 0.0,
    classes: ClassSet = "present",
    class_weights: Weights = None,
    ignore_index: int | None = None,
    check_targets: bool = True,
) -> torch.Tensor:
    """Soft multiclass Dice loss over the batch: ``1 - (2 I_c + s) / (P_c + G_c + s)``, averaged.

    For class ``c``, over all valid pixels of the batch: ``I_c = sum p_c * [y = c]``,
    ``P_c = sum p_c`` and ``G_c = sum [y = c]``, with ``p`` the softmax probabilities and ``s``
    = ``smooth``. The per-class losses are averaged over the classes present in the target
    (``G_c > 0``) or over all classes, weighted by ``class_weights``.

    Shape:
        - logits: ``(N, C, H, W)``
        - target: ``(N, H, W)`` integer class ids
        - output: scalar

    >>> logits = torch.tensor([[[[10.0, -10.0]], [[-10.0, 10.0]]]])  # confident and right
    >>> dice_loss(logits, torch.tensor([[[0, 1]]])).item() < 1e-6
    True
    """
    smooth = check_nonnegative("smooth", smooth)
    classes = check_classes(classes, smooth)
    p = _prepare(logits, target, ignore_index, class_weights, check_targets)
    # (2I + s) / (P + G + s) = (I + s/2) / (I + FP/2 + FN/2 + s/2): Tversky with alpha = beta = 1/2
    return _tversky_core(p, 0.5, 0.5, smooth / 2, classes)


def jaccard_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    smooth: float = 0.0,
    classes: ClassSet = "present",
    class_weights: Weights = None,
    ignore_index: int | None = None,
    check_targets: bool = True,
) -> torch.Tensor:
    """Soft Jaccard (IoU) loss over the batch: ``1 - (I_c + s) / (P_c + G_c - I_c + s)``, averaged.

    Same sums and class averaging as :func:`dice_loss`.

    Shape:
        - logits: ``(N, C, H, W)``
        - target: ``(N, H, W)`` integer class ids
        - output: scalar

    >>> logits = torch.zeros(1, 2, 1, 2)  # p = 0.5 everywhere
    >>> round(jaccard_loss(logits, torch.tensor([[[0, 1]]])).item(), 4)  # I=0.5, P=1, G=1: 1 - 0.5/1.5
    0.6667
    """
    smooth = check_nonnegative("smooth", smooth)
    classes = check_classes(classes, smooth)
    p = _prepare(logits, target, ignore_index, class_weights, check_targets)
    return _tversky_core(p, 1.0, 1.0, smooth, classes)


def tversky_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    alpha: float = 0.3,
    beta: float = 0.7,
    smooth: float = 0.0,
    classes: ClassSet = "present",
    class_weights: Weights = None,
    ignore_index: int | None = None,
    check_targets: bool = True,
) -> torch.Tensor:
    """Tversky loss (Salehi et al., 2017): ``1 - (I_c + s) / (I_c + alpha FP_c + beta FN_c + s)``, averaged.

    ``FP_c = P_c - I_c`` and ``FN_c = G_c - I_c`` in the sums of :func:`dice_loss`; ``alpha``
    weighs false positives and ``beta`` false negatives (the defaults 0.3 / 0.7 favour recall, as in
    the paper; 0.5 / 0.5 is Dice, 1 / 1 is Jaccard). Class averaging as in :func:`dice_loss`.

    Shape:
        - logits: ``(N, C, H, W)``
        - target: ``(N, H, W)`` integer class ids
        - output: scalar

    >>> logits, target = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    >>> torch.allclose(tversky_loss(logits, target, alpha=0.5, beta=0.5), dice_loss(logits, target))
    True
    """
    alpha = check_nonnegative("alpha", alpha)
    beta = check_nonnegative("beta", beta)
    smooth = check_nonnegative("smooth", smooth)
    classes = check_classes(classes, smooth)
    p = _prepare(logits, target, ignore_index, class_weights, check_targets)
    return _tversky_core(p, alpha, beta, smooth, classes)


def focal_tversky_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    alpha: float = 0.3,
    beta: float = 0.7,
    gamma: float = 0.75,
    smooth: float = 0.0,
    classes: ClassSet = "present",
    class_weights: Weights = None,
    ignore_index: int | None = None,
    check_targets: bool = True,
) -> torch.Tensor:
    """Focal Tversky loss (Abraham & Khan, 2019): per class ``(1 - TI_c)^gamma``, then averaged.

    ``TI_c`` is the Tversky index of :func:`tversky_loss`. ``gamma`` is the exponent itself: the
    paper writes ``(1 - TI)^(1/gamma)`` and recommends its gamma = 4/3, i.e. ``gamma=0.75`` here
    (the default). ``gamma=1`` is :func:`tversky_loss`. Class averaging as in :func:`dice_loss`.

    Shape:
        - logits: ``(N, C, H, W)``
        - target: ``(N, H, W)`` integer class ids
        - output: scalar

    >>> logits, target = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    >>> torch.allclose(focal_tversky_loss(logits, target, gamma=1.0), tversky_loss(logits, target))
    True
    """
    alpha = check_nonnegative("alpha", alpha)
    beta = check_nonnegative("beta", beta)
    gamma = check_nonnegative("gamma", gamma, positive=True)
    smooth = check_nonnegative("smooth", smooth)
    classes = check_classes(classes, smooth)
    p = _prepare(logits, target, ignore_index, class_weights, check_targets)
    return _tversky_core(p, alpha, beta, smooth, classes, gamma)


# --------------------------------------------------------------------------- Lovasz
def _lovasz_grad(fg_sorted: torch.Tensor) -> torch.Tensor:
    """Gradient of the Lovasz extension of the Jaccard loss (Berman et al., Alg. 1), along the last dim."""
    total = fg_sorted.sum(dim=-1, keepdim=True)
    intersection = total - fg_sorted.cumsum(dim=-1)
    union = total + (1 - fg_sorted).cumsum(dim=-1)
    jaccard = 1 - intersection / union
    return torch.cat([jaccard[..., :1], jaccard[..., 1:] - jaccard[..., :-1]], dim=-1)


def _lovasz_core(p: Prepared, per_image: bool, classes: ClassSet) -> torch.Tensor:
    valid = p.valid.unsqueeze(1).to(p.logits.dtype)
    probs = p.logits.softmax(dim=1)
    fg = F.one_hot(p.target, p.num_classes).permute(0, 3, 1, 2).to(probs.dtype) * valid
    # Ignored pixels get error 0 and no foreground: sorted after every positive error, they change
    # neither the loss nor its gradient, as if removed (so images need no ragged batching).
    errors = (fg - probs).abs() * valid
    n, c = probs.shape[:2]
    if per_image:
        errors, fg = errors.reshape(n, c, -1), fg.reshape(n, c, -1)
    else:
        errors, fg = errors.transpose(0, 1).reshape(1, c, -1), fg.transpose(0, 1).reshape(1, c, -1)
    errors_sorted, order = torch.sort(errors, dim=-1, descending=True)
    per_class = (errors_sorted * _lovasz_grad(fg.gather(-1, order))).sum(dim=-1)  # (groups, C)
    counts = fg.sum(dim=-1)
    per_group = _class_mean(per_class, counts, p, classes)
    has_pixels = (counts.sum(dim=-1) > 0).to(per_group.dtype)  # groups with at least one valid pixel
    return (per_group * has_pixels).sum() / finite_mean_denominator(has_pixels.sum())


def lovasz_softmax_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    per_image: bool = False,
    classes: ClassSet = "present",
    class_weights: Weights = None,
    ignore_index: int | None = None,
    check_targets: bool = True,
) -> torch.Tensor:
    """Lovasz-Softmax loss (Berman, Rannen Triki & Blaschko, 2018).

    For each class ``c``, the pixel errors ``e_i = |[y_i = c] - p_ic|`` are sorted in decreasing
    order and dotted with the gradient of the Lovasz extension of the Jaccard loss; the per-class
    losses are averaged over the classes present (or all classes), weighted by ``class_weights``.
    Over the whole batch by default; ``per_image=True`` computes it per image and averages over the
    images that have valid pixels. Ignored pixels are left out.

    Shape:
        - logits: ``(N, C, H, W)``
        - target: ``(N, H, W)`` integer class ids
        - output: scalar

    >>> logits = torch.tensor([[[[10.0, -10.0]], [[-10.0, 10.0]]]])
    >>> lovasz_softmax_loss(logits, torch.tensor([[[0, 1]]])).item() < 1e-6
    True
    """
    classes = check_classes(classes)
    per_image = check_bool("per_image", per_image)
    p = _prepare(logits, target, ignore_index, class_weights, check_targets)
    return _lovasz_core(p, per_image, classes)
