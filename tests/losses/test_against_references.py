"""Each loss against a hand-checked value, the independent numpy re-statement and smp where it agrees."""

from __future__ import annotations

import math

import numpy as np
import pytest
import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segwise.losses import functional as L
from tests.losses import reference as ref

IGNORE = 255


def make_batch(seed: int, n=2, c=4, h=5, w=6, ignore_fraction=0.2, absent=()):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, c, h, w, generator=g, dtype=torch.float64) * 2
    target = torch.randint(0, c, (n, h, w), generator=g)
    for k in absent:
        target[target == k] = (k + 1) % c
    target[torch.rand(n, h, w, generator=g) < ignore_fraction] = IGNORE
    return logits, target


WEIGHTS = [0.5, 2.0, 1.0, 3.0]

# (segwise functional, reference, options)
CASES = {
    "ce": (L.cross_entropy, ref.cross_entropy, {}),
    "ce_smoothing": (L.cross_entropy, ref.cross_entropy, {"label_smoothing": 0.1}),
    "focal": (L.focal_loss, ref.focal, {"gamma": 2.0}),
    "focal_half": (L.focal_loss, ref.focal, {"gamma": 0.5}),
    "ohem": (L.ohem_cross_entropy, ref.ohem, {"thresh": 0.7, "min_kept": 10}),
    "ohem_topk": (L.ohem_cross_entropy, ref.ohem, {"thresh": None, "min_kept": 7}),
    "dice": (L.dice_loss, ref.dice, {}),
    "dice_all": (L.dice_loss, ref.dice, {"smooth": 1.0, "classes": "all"}),
    "jaccard": (L.jaccard_loss, ref.jaccard, {"smooth": 0.5}),
    "tversky": (L.tversky_loss, ref.tversky, {"alpha": 0.3, "beta": 0.7}),
    "focal_tversky": (L.focal_tversky_loss, lambda *a, **k: ref.tversky(*a, **k), {"gamma": 0.75}),
    "lovasz": (L.lovasz_softmax_loss, ref.lovasz, {}),
    "lovasz_per_image": (L.lovasz_softmax_loss, ref.lovasz, {"per_image": True}),
    "lovasz_all": (L.lovasz_softmax_loss, ref.lovasz, {"classes": "all"}),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_reference_with_ignore_and_class_weights(case: str, weighted: bool) -> None:
    ours, theirs, options = CASES[case]
    logits, target = make_batch(seed=hash(case) % 1000, absent=(2,))
    weights = WEIGHTS if weighted else None
    got = ours(logits, target, ignore_index=IGNORE, class_weights=weights, **options)
    want = theirs(logits.numpy(), target.numpy(), ignore_index=IGNORE, class_weights=weights, **options)
    assert got.dtype == torch.float64
    assert got.item() == pytest.approx(want, rel=1e-10, abs=1e-12)


# ------------------------------------------------------------------ hand-checked values
def test_hand_checked_uniform_prediction() -> None:
    # Two pixels, two classes, p = 0.5 everywhere; targets [0, 1].
    logits = torch.zeros(1, 2, 1, 2)
    target = torch.tensor([[[0, 1]]])
    half_log2 = math.log(2)
    assert L.cross_entropy(logits, target).item() == pytest.approx(half_log2)  # -log 0.5
    assert L.focal_loss(logits, target, gamma=2).item() == pytest.approx(0.25 * half_log2)  # (1-.5)^2 log 2
    # per class I = 0.5, P = 1, G = 1: Dice 2*.5/2 = .5, Jaccard .5/1.5, Tversky .5/(.5+.3*.5+.7*.5) = .5
    assert L.dice_loss(logits, target).item() == pytest.approx(0.5)
    assert L.jaccard_loss(logits, target).item() == pytest.approx(1 - 1 / 3)
    assert L.tversky_loss(logits, target).item() == pytest.approx(0.5)
    assert L.focal_tversky_loss(logits, target).item() == pytest.approx(0.5**0.75)
    # Lovasz, class 0: errors (.5, .5); Delta({p0}) = 1, Delta({p0, p1}) = 1 -> .5*1 + .5*0
    assert L.lovasz_softmax_loss(logits, target).item() == pytest.approx(0.5)


def test_hand_checked_weighted_ce_and_ignore() -> None:
    # pixel 0: class 0 with p0 = e^2/(e^2+1); pixel 1: class 1 with p1 = 0.5; pixel 2 ignored.
    logits = torch.tensor([[[[2.0, 0.0, 9.0]], [[0.0, 0.0, -9.0]]]])
    target = torch.tensor([[[0, 1, 7]]])
    l0 = math.log(1 + math.exp(-2))
    l1 = math.log(2)
    got = L.cross_entropy(logits, target, class_weights=[1.0, 3.0], ignore_index=7)
    assert got.item() == pytest.approx((1 * l0 + 3 * l1) / 4)


def test_hand_checked_ohem_selection() -> None:
    # p_true of the 4 pixels: ~0.98, 0.5, ~0.12, ~0.88. thresh .7 keeps 0.5 and 0.12; min_kept 3 adds 0.88.
    logits = torch.tensor([[[[4.0, 0.0, -2.0, 2.0]], [[0.0, 0.0, 0.0, 0.0]]]])
    target = torch.zeros(1, 1, 4, dtype=torch.long)
    per_pixel = F.cross_entropy(logits, target, reduction="none").flatten()
    assert L.ohem_cross_entropy(logits, target, thresh=0.7, min_kept=1).item() == pytest.approx(
        per_pixel[[1, 2]].mean().item()
    )
    assert L.ohem_cross_entropy(logits, target, thresh=0.7, min_kept=3).item() == pytest.approx(
        per_pixel[[1, 2, 3]].mean().item()
    )
    assert L.ohem_cross_entropy(logits, target, thresh=None, min_kept=1).item() == pytest.approx(
        per_pixel[2].item()
    )


# ------------------------------------------------------------------ PyTorch's cross-entropy is the definition
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_is_torch_cross_entropy(smoothing: float, weighted: bool) -> None:
    logits, target = make_batch(seed=3)
    weights = torch.tensor(WEIGHTS, dtype=torch.float64) if weighted else None
    want = F.cross_entropy(logits, target, weight=weights, ignore_index=IGNORE, label_smoothing=smoothing)
    got = L.cross_entropy(
        logits, target, class_weights=weights, ignore_index=IGNORE, label_smoothing=smoothing
    )
    assert got.item() == pytest.approx(want.item(), rel=1e-12)


def test_focal_with_gamma_zero_is_weighted_cross_entropy() -> None:
    logits, target = make_batch(seed=4)
    args = {"class_weights": WEIGHTS, "ignore_index": IGNORE}
    assert L.focal_loss(logits, target, gamma=0.0, **args).item() == pytest.approx(
        L.cross_entropy(logits, target, **args).item()
    )


# ------------------------------------------------------------------ smp, where the definitions coincide
def test_dice_matches_smp_when_all_classes_are_present() -> None:
    logits, target = make_batch(seed=5)
    smp_loss = smp.losses.DiceLoss(mode="multiclass", ignore_index=IGNORE)
    assert L.dice_loss(logits, target, ignore_index=IGNORE).item() == pytest.approx(
        smp_loss(logits, target).item(), rel=1e-9
    )
    # smp's `smooth` s gives (2I + 2s) / (P + G + 2s): ours with smooth = 2s
    smooth = smp.losses.DiceLoss(mode="multiclass", ignore_index=IGNORE, smooth=0.5)
    assert L.dice_loss(logits, target, ignore_index=IGNORE, smooth=1.0).item() == pytest.approx(
        smooth(logits, target).item(), rel=1e-9
    )


def test_dice_differs_from_smp_by_the_present_class_share() -> None:
    # smp averages over all C classes with absent ones counted as 0; segwise over present classes only
    logits, target = make_batch(seed=6, absent=(1,))
    ours = L.dice_loss(logits, target, ignore_index=IGNORE).item()
    theirs = smp.losses.DiceLoss(mode="multiclass", ignore_index=IGNORE)(logits, target).item()
    assert theirs == pytest.approx(ours * 3 / 4, rel=1e-9)


def test_jaccard_and_tversky_match_smp() -> None:
    logits, target = make_batch(seed=7)
    jaccard = smp.losses.JaccardLoss(mode="multiclass", ignore_index=IGNORE, smooth=0.3)
    assert L.jaccard_loss(logits, target, ignore_index=IGNORE, smooth=0.3).item() == pytest.approx(
        jaccard(logits, target).item(), rel=1e-9
    )
    tversky = smp.losses.TverskyLoss(mode="multiclass", ignore_index=IGNORE, alpha=0.3, beta=0.7)
    assert L.tversky_loss(logits, target, ignore_index=IGNORE).item() == pytest.approx(
        tversky(logits, target).item(), rel=1e-9
    )
    weighted = smp.losses.DiceLoss(mode="multiclass", ignore_index=IGNORE, class_weights=WEIGHTS)
    assert L.dice_loss(logits, target, ignore_index=IGNORE, class_weights=WEIGHTS).item() == pytest.approx(
        weighted(logits, target).item(), rel=1e-6
    )


def test_focal_matches_smp_softmax_focal() -> None:
    from segmentation_models_pytorch.losses._functional import softmax_focal_loss_with_logits

    logits, target = make_batch(seed=8, ignore_fraction=0.0)  # smp's softmax focal has no ignore_index
    want = softmax_focal_loss_with_logits(logits, target, gamma=2.0, reduction="mean")
    assert L.focal_loss(logits, target, gamma=2.0).item() == pytest.approx(want.item(), rel=1e-9)


@pytest.mark.parametrize("per_image", [False, True])
def test_lovasz_matches_smp(per_image: bool) -> None:
    logits, target = make_batch(seed=9, absent=(3,))
    logits = logits.float()  # smp's Lovasz mixes float32 into its dot product: compare in float32
    smp_loss = smp.losses.LovaszLoss(mode="multiclass", per_image=per_image, ignore_index=IGNORE)
    assert L.lovasz_softmax_loss(
        logits, target, ignore_index=IGNORE, per_image=per_image
    ).item() == pytest.approx(smp_loss(logits, target).item(), rel=1e-5)


# ------------------------------------------------------------------ random shapes
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 2),
    c=st.integers(2, 4),
    h=st.integers(1, 4),
    w=st.integers(1, 4),
    seed=st.integers(0, 10_000),
    ignore_fraction=st.sampled_from([0.0, 0.3, 1.0]),
)
def test_random_shapes_against_reference(n, c, h, w, seed, ignore_fraction) -> None:
    logits, target = make_batch(seed, n=n, c=c, h=h, w=w, ignore_fraction=ignore_fraction)
    np_logits, np_target = logits.numpy(), target.numpy()
    for ours, theirs, options in (
        CASES["ce"][:2] + ({},),
        CASES["dice"],
        CASES["lovasz_per_image"],
        CASES["ohem"],
    ):
        got = ours(logits, target, ignore_index=IGNORE, **options).item()
        want = theirs(np_logits, np_target, ignore_index=IGNORE, **options)
        assert np.isfinite(got)
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12)
