"""create_loss: names, weights, option routing, the total and its terms, config round trip."""

from __future__ import annotations

import json

import pytest
import torch

from segwise.errors import InputError
from segwise.losses import CompositeLoss, LossOutput, create_loss
from segwise.losses import functional as L

IGNORE = 255


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, 3, 6, 6, generator=g, requires_grad=True)
    target = torch.randint(0, 3, (2, 6, 6), generator=g)
    target[0, :2] = IGNORE
    return logits, target


def test_total_is_the_weighted_sum_and_terms_are_logged() -> None:
    logits, target = batch()
    loss = create_loss("ce + dice", weights=[1.0, 0.5], class_weights=[1.0, 2.0, 1.0], ignore_index=IGNORE)
    assert isinstance(loss, CompositeLoss)
    total = loss(logits, target)
    ce = L.cross_entropy(logits, target, class_weights=[1.0, 2.0, 1.0], ignore_index=IGNORE)
    dice = L.dice_loss(logits, target, class_weights=[1.0, 2.0, 1.0], ignore_index=IGNORE)
    assert total.item() == pytest.approx(ce.item() + 0.5 * dice.item(), rel=1e-6)
    assert list(loss.last_terms) == ["ce", "dice"]
    assert loss.last_terms["ce"].item() == pytest.approx(ce.item(), rel=1e-6)
    assert not loss.last_terms["dice"].requires_grad
    total.backward()
    assert torch.isfinite(logits.grad).all()


def test_forward_with_terms_keeps_gradients() -> None:
    logits, target = batch(1)
    out = create_loss("focal+lovasz", ignore_index=IGNORE).forward_with_terms(logits, target)
    assert isinstance(out, LossOutput)
    assert out.terms["lovasz"].requires_grad
    assert out.total.item() == pytest.approx(sum(v.item() for v in out.terms.values()), rel=1e-6)


def test_single_loss_is_a_composite_too() -> None:
    logits, target = batch(2)
    loss = create_loss("jaccard", weights=2.0)
    assert loss(logits, target.clamp(max=2)).item() == pytest.approx(
        2 * L.jaccard_loss(logits, target.clamp(max=2)).item(), rel=1e-6
    )
    assert list(loss.last_terms) == ["jaccard"]


def test_options_are_routed_to_the_terms_that_have_them() -> None:
    loss = create_loss("dice+jaccard+ce", smooth=1.0, **{"jaccard.smooth": 2.0, "label_smoothing": 0.1})
    dice, jaccard, ce = loss.losses
    assert (dice.smooth, jaccard.smooth, ce.label_smoothing) == (1.0, 2.0, 0.1)


def test_config_round_trips_through_json() -> None:
    loss = create_loss(
        "ohem+focal_tversky", weights=[1, 3], class_weights=[1, 2, 3], ignore_index=IGNORE, min_kept=10
    )
    config = json.loads(json.dumps(loss.config))
    assert config["ohem.min_kept"] == 10 and config["focal_tversky.gamma"] == 0.75
    rebuilt = create_loss(**config)
    assert rebuilt.config == loss.config
    logits, target = batch(3)
    assert rebuilt(logits, target).item() == loss(logits, target).item()


def test_all_ignored_composite_is_zero() -> None:
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    loss = create_loss("ce+ohem+focal+dice+jaccard+tversky+focal_tversky+lovasz", ignore_index=IGNORE)
    total = loss(logits, torch.full((1, 4, 4), IGNORE))
    total.backward()
    assert total.item() == 0.0 and not logits.grad.any()
    assert all(v.item() == 0.0 for v in loss.last_terms.values())


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("ce+dcie",), {}, r"unknown loss 'dcie'; did you mean 'dice'\? available: ce, ohem, focal"),
        (("ce+",), {}, "empty term"),
        (("ce+ce",), {}, "repeats ce"),
        (("",), {}, "loss name"),
        (("ce+dice",), {"weights": [1.0]}, "2 numbers"),
        (("ce+dice",), {"weights": [1.0, -1.0]}, ">= 0"),
        (("ce+dice",), {"weights": [0, 0]}, "not all be 0"),
        (("ce+dice",), {"smoth": 1.0}, r"did you mean 'smooth'\?"),
        (("ce",), {"gamma": 2.0}, "valid options: ce.label_smoothing, label_smoothing"),
        (("ce+dice",), {"dice.gamma": 2.0}, "unknown option 'dice.gamma'"),
        (("ce+dice",), {"focal.gamma": 2.0}, "unknown option 'focal.gamma'"),
        (("ce+dice",), {"dice.ignore_index": 3}, "pass class_weights / ignore_index"),
        (("dice",), {"classes": "all"}, "needs `smooth` > 0"),
    ],
)
def test_create_loss_errors(args, kwargs, match) -> None:
    with pytest.raises(InputError, match=match):
        create_loss(*args, **kwargs)


def test_composite_validates_targets_once() -> None:
    logits = torch.randn(1, 3, 2, 2)
    with pytest.raises(InputError, match="outside"):
        create_loss("ce+dice")(logits, torch.full((1, 2, 2), 7))
