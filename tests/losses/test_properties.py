"""Properties every registered loss must have: ignore index, all-ignored batches, gradients, errors."""

from __future__ import annotations

import pytest
import torch

from segwise.errors import InputError
from segwise.losses import create_loss, list_losses
from segwise.losses import functional as L
from segwise.losses._registry import get_loss_class

IGNORE = 255
ALL = list(list_losses())
# small-batch options: OHEM's default min_kept (100k) would keep every pixel of a test batch
OPTIONS = {"ohem": {"min_kept": 8}, "dice": {}, "lovasz": {}}


def build(name: str, **kwargs):
    return get_loss_class(name)(**{**OPTIONS.get(name, {}), **kwargs})


def batch(seed=0, n=2, c=3, h=4, w=5, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, c, h, w, generator=g, dtype=dtype)
    target = torch.randint(0, c, (n, h, w), generator=g)
    target[:, 0, :2] = IGNORE
    return logits, target


def test_registry_has_the_issue_losses() -> None:
    assert ALL == ["ce", "ohem", "focal", "dice", "jaccard", "tversky", "focal_tversky", "lovasz"]


@pytest.mark.parametrize("name", ALL)
def test_all_ignored_batch_gives_zero_and_zero_gradients(name: str) -> None:
    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    target = torch.full((2, 4, 4), IGNORE)
    loss = build(name, ignore_index=IGNORE, class_weights=[1.0, 2.0, 3.0])(logits, target)
    assert loss.item() == 0.0 and torch.isfinite(loss)
    loss.backward()
    assert logits.grad is not None and torch.equal(logits.grad, torch.zeros_like(logits))


@pytest.mark.parametrize("name", ALL)
def test_ignored_pixels_have_no_influence(name: str) -> None:
    logits, target = batch()
    logits.requires_grad_(True)
    loss_fn = build(name, ignore_index=IGNORE)
    loss = loss_fn(logits, target)
    loss.backward()
    ignored = (target == IGNORE).unsqueeze(1).expand_as(logits)
    assert torch.all(logits.grad[ignored] == 0)
    changed = logits.detach().clone()
    changed[ignored] = 100.0 * torch.randn(int(ignored.sum()), dtype=changed.dtype)
    assert loss_fn(changed, target).item() == pytest.approx(loss.item(), rel=1e-12)


@pytest.mark.parametrize("name", ALL)
def test_ignore_index_inside_the_class_range(name: str) -> None:
    # ignore_index = 0 means class 0's pixels take no part
    logits, target = batch(seed=3)
    target[target == IGNORE] = 0
    as_id = build(name, ignore_index=0)(logits, target)
    remapped = target.clone()
    remapped[target == 0] = IGNORE
    assert as_id.item() == pytest.approx(build(name, ignore_index=IGNORE)(logits, remapped).item(), rel=1e-12)


@pytest.mark.parametrize("name", ALL)
def test_gradcheck_float64(name: str) -> None:
    logits, target = batch(seed=1, n=1, c=3, h=3, w=3)
    logits.requires_grad_(True)
    loss_fn = build(name, ignore_index=IGNORE, class_weights=[0.5, 1.0, 2.0])
    assert torch.autograd.gradcheck(lambda x: loss_fn(x, target), (logits,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("name", ALL)
def test_gradients_finite_on_confident_predictions(name: str) -> None:
    # saturated softmax (p = 1 for the true class) is where 0^gamma and 0/0 would appear
    target = torch.randint(0, 3, (2, 4, 4))
    logits = (torch.nn.functional.one_hot(target, 3).permute(0, 3, 1, 2).float() * 200.0).requires_grad_(True)
    loss = build(name, ignore_index=IGNORE)(logits, target)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("name", ALL)
def test_uniform_class_weights_change_nothing(name: str) -> None:
    logits, target = batch(seed=2)
    plain = build(name, ignore_index=IGNORE)(logits, target)
    uniform = build(name, ignore_index=IGNORE, class_weights=[2.5, 2.5, 2.5])(logits, target)
    assert uniform.item() == pytest.approx(plain.item(), rel=1e-12)


@pytest.mark.parametrize("name", ALL)
def test_low_precision_logits_are_computed_in_float32(name: str) -> None:
    logits, target = batch(seed=4, dtype=torch.float32)
    full = build(name)(logits, target.clamp(max=2))
    half = build(name)(logits.bfloat16(), target.clamp(max=2))
    assert half.dtype == torch.float32
    assert half.item() == pytest.approx(full.item(), rel=0.05, abs=1e-3)


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize(
    ("logits", "target", "match"),
    [
        (torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 5)), r"`target` must have shape \(N,H,W\)"),
        (torch.randn(2, 3, 4, 4), torch.rand(2, 4, 4), "integer class ids"),
        (torch.randn(2, 3, 4, 4), torch.rand(2, 3, 4, 4), r"argmax\(1\)"),
        (torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 1, 4, 4)), r"squeeze\(1\)"),
        (
            torch.randn(2, 3, 16),
            torch.randint(0, 3, (2, 16)),
            r"`logits` must be float scores of shape \(N,C,H,W\)",
        ),
        (torch.randint(0, 3, (2, 3, 4, 4)), torch.randint(0, 3, (2, 4, 4)), "`logits` must be float"),
        (torch.randn(2, 1, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long), "at least 2 classes"),
        (torch.randn(2, 3, 4, 4), torch.full((2, 4, 4), 3), r"outside \[0, 3\).*\[3\]"),
        (torch.randn(2, 3, 4, 4), torch.full((2, 4, 4), -1), r"outside \[0, 3\).*ignore_index=255"),
        ([[1.0]], torch.zeros(1, 1, 1, dtype=torch.long), "`logits` must be a torch.Tensor"),
    ],
)
def test_bad_inputs_are_input_errors(name, logits, target, match) -> None:
    with pytest.raises(InputError, match=match):
        build(name, ignore_index=IGNORE)(logits, target)


def test_target_check_can_be_switched_off() -> None:
    logits, target = torch.randn(1, 3, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long)
    target[0, 0, 0] = 1
    assert torch.isfinite(build("dice", check_targets=False)(logits, target))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"class_weights": [1.0, 2.0]}, "`class_weights` has 2 entries but `logits` has C=3"),
        ({"class_weights": [1.0, -2.0, 1.0]}, "non-negative"),
        ({"class_weights": [0.0, 0.0, 0.0]}, "not all zero"),
        ({"class_weights": "balanced"}, "sequence or 1-D tensor"),
        ({"ignore_index": 2.5}, "ignore_index"),
        ({"ignore_index": True}, "ignore_index"),
    ],
)
def test_bad_common_arguments(kwargs, match) -> None:
    logits, target = torch.randn(1, 3, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long)
    with pytest.raises(InputError, match=match):
        L.dice_loss(logits, target, **kwargs)
    with pytest.raises(InputError, match=match):
        create_loss("ce", **kwargs)(logits, target)


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("ce", {"label_smoothing": 1.5}, "label_smoothing"),
        ("focal", {"gamma": -1.0}, "gamma"),
        ("focal", {"alpha": [1, 1, 1], "class_weights": [1, 1, 1]}, "not both"),
        ("dice", {"classes": "some"}, "classes"),
        ("dice", {"classes": "all"}, "needs `smooth` > 0"),
        ("tversky", {"alpha": float("nan")}, "alpha"),
        ("focal_tversky", {"gamma": 0}, "gamma"),
        ("ohem", {"thresh": 1.5}, "thresh"),
        ("ohem", {"min_kept": 0}, "min_kept"),
        ("lovasz", {"per_image": "yes"}, "per_image"),
    ],
)
def test_bad_options(name, kwargs, match) -> None:
    with pytest.raises(InputError, match=match):
        get_loss_class(name)(**kwargs)


def test_focal_alpha_is_class_weights() -> None:
    logits, target = batch(seed=5)
    alpha = get_loss_class("focal")(alpha=[1.0, 2.0, 3.0], ignore_index=IGNORE)(logits, target)
    weights = get_loss_class("focal")(class_weights=[1.0, 2.0, 3.0], ignore_index=IGNORE)(logits, target)
    assert alpha.item() == weights.item()


def test_module_equals_functional_and_moves_its_weights() -> None:
    logits, target = batch(seed=6)
    module = get_loss_class("tversky")(
        alpha=0.4, beta=0.6, class_weights=[1.0, 2.0, 3.0], ignore_index=IGNORE
    )
    functional = L.tversky_loss(
        logits, target, alpha=0.4, beta=0.6, class_weights=[1.0, 2.0, 3.0], ignore_index=IGNORE
    )
    assert module(logits, target).item() == pytest.approx(functional.item(), rel=1e-12)
    assert module.double().class_weights.dtype == torch.float64  # a buffer: follows .to()/.double()
    assert "class_weights" not in module.state_dict()  # derived from the config, not saved
