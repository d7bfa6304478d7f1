"""``create_loss("ce+dice", ...)``: a weighted sum of registered losses that reports each term.

API: a :class:`CompositeLoss` is called like any loss and returns the total (a scalar tensor to
``backward()``); the per-term values of that call are then in ``loss.last_terms`` (detached,
unweighted, keyed by term name) for logging. :meth:`CompositeLoss.forward_with_terms` returns
both at once as a :class:`LossOutput` without keeping state. ``create_loss`` always returns a
:class:`CompositeLoss`, even for one term, so the logging code never changes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from segwise.errors import InputError, did_you_mean
from segwise.losses import modules as _modules  # noqa: F401  (fills the registry)
from segwise.losses._registry import COMMON_ARGS, get_loss_class, loss_options, registered_losses
from segwise.losses._validation import as_class_weights, check_ignore_index, prepare
from segwise.losses.functional import check_bool
from segwise.losses.modules import SegmentationLoss

__all__ = ["CompositeLoss", "LossOutput", "create_loss", "list_losses", "loss_terms"]


class LossOutput(NamedTuple):
    """``total`` (scalar, with gradient) and ``terms`` (name -> unweighted scalar, with gradient)."""

    total: torch.Tensor
    terms: dict[str, torch.Tensor]


class CompositeLoss(nn.Module):
    """``total = sum_i weight_i * term_i(logits, target)``; inputs are validated once for all terms.

    >>> loss = create_loss("ce+dice", weights=[1.0, 0.5])
    >>> logits, target = torch.randn(2, 3, 8, 8), torch.randint(0, 3, (2, 8, 8))
    >>> total = loss(logits, target)
    >>> sorted(loss.last_terms)
    ['ce', 'dice']
    >>> bool(torch.isclose(total, loss.last_terms["ce"] + 0.5 * loss.last_terms["dice"]))
    True
    """

    def __init__(
        self,
        terms: Sequence[tuple[str, float, SegmentationLoss]],
        *,
        class_weights: torch.Tensor | None = None,
        ignore_index: int | None = None,
        check_targets: bool = True,
    ) -> None:
        super().__init__()
        if not terms:
            raise InputError("a CompositeLoss needs at least one term.")
        self.names = [name for name, _, _ in terms]
        self.weights = [float(weight) for _, weight, _ in terms]
        self.losses = nn.ModuleList(loss for _, _, loss in terms)
        self.register_buffer("class_weights", as_class_weights(class_weights), persistent=False)
        self.ignore_index = check_ignore_index(ignore_index)
        self.check_targets = check_bool("check_targets", check_targets)
        self.last_terms: dict[str, torch.Tensor] = {}

    @property
    def name(self) -> str:
        return "+".join(self.names)

    def forward_with_terms(self, logits: torch.Tensor, target: torch.Tensor) -> LossOutput:
        """The total and every (unweighted) term, all with gradient."""
        p = prepare(
            logits,
            target,
            ignore_index=self.ignore_index,
            class_weights=self.class_weights,
            check_targets=self.check_targets,
        )
        terms = {name: loss.compute(p) for name, loss in zip(self.names, self.losses, strict=True)}
        total = sum(
            (w * terms[n] for n, w in zip(self.names, self.weights, strict=True)),
            start=torch.zeros((), dtype=p.logits.dtype, device=p.logits.device),
        )
        return LossOutput(total, terms)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The total loss; the terms of this call go to ``self.last_terms`` (detached, no device sync)."""
        out = self.forward_with_terms(logits, target)
        self.last_terms = {name: value.detach() for name, value in out.terms.items()}
        return out.total

    @property
    def config(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this loss: ``create_loss(**loss.config)``."""
        config: dict[str, Any] = {
            "name": self.name,
            "weights": list(self.weights),
            "class_weights": None if self.class_weights is None else self.class_weights.tolist(),
            "ignore_index": self.ignore_index,
            "check_targets": self.check_targets,
        }
        for name, loss in zip(self.names, self.losses, strict=True):
            for option, value in loss.options.items():
                config[f"{name}.{option}"] = value
        return config

    def extra_repr(self) -> str:
        return " + ".join(f"{w:g} * {n}" for n, w in zip(self.names, self.weights, strict=True))


def list_losses() -> dict[str, dict[str, Any]]:
    """Every registered loss with its options and their defaults.

    >>> list(list_losses())
    ['ce', 'ohem', 'focal', 'dice', 'jaccard', 'tversky', 'focal_tversky', 'lovasz']
    """
    return {name: loss_options(name) for name in registered_losses()}


def loss_terms(name: str) -> list[str]:
    """The terms of the loss ``name`` (a registered loss, or several joined by ``+``).

    An unknown term raises :class:`InputError` with "did you mean" and the registered losses.

    >>> loss_terms("ce+dice")
    ['ce', 'dice']
    >>> loss_terms("ce+dcie")
    Traceback (most recent call last):
    ...
    segwise.errors.InputError: unknown loss 'dcie'; did you mean 'dice'? available: ce, ohem, focal, ...
    """
    return _parse_names(name)


def _parse_names(name: Any) -> list[str]:
    if not isinstance(name, str) or not name.strip():
        raise InputError(
            f"Expected argument `name` to be a loss name such as 'ce' or 'ce+dice', but got {name!r}."
        )
    names = [part.strip().lower() for part in name.split("+")]
    if "" in names:
        raise InputError(f"loss {name!r} has an empty term; write terms as 'ce+dice'.")
    for part in names:
        get_loss_class(part)  # unknown -> did you mean + list
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InputError(
            f"loss {name!r} repeats {', '.join(duplicates)}; give each term once and use `weights`."
        )
    return names


def _parse_weights(weights: Any, names: list[str]) -> list[float]:
    if weights is None:
        return [1.0] * len(names)
    if isinstance(weights, int | float) and not isinstance(weights, bool) and len(names) == 1:
        weights = [weights]
    if not isinstance(weights, Sequence) or isinstance(weights, str) or len(weights) != len(names):
        raise InputError(
            f"Expected argument `weights` to be {len(names)} numbers (one per term of {'+'.join(names)}), "
            f"but got {weights!r}."
        )
    values = []
    for w in weights:
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w) or w < 0:
            raise InputError(f"`weights` must be finite numbers >= 0, got {weights!r}.")
        values.append(float(w))
    if not any(values):
        raise InputError(f"`weights` must not all be 0, got {weights!r}.")
    return values


def _split_options(options: dict[str, Any], names: list[str]) -> dict[str, dict[str, Any]]:
    """Route ``opt`` (every term that has it) and ``term.opt`` (that term) to the terms."""
    valid = {name: loss_options(name) for name in names}
    routed: dict[str, dict[str, Any]] = {name: {} for name in names}
    every = sorted({f"{n}.{o}" for n in names for o in valid[n]} | {o for n in names for o in valid[n]})
    for key, value in options.items():
        term, _, option = key.rpartition(".")
        targets = [term] if term else [n for n in names if option in valid[n]]
        if (term and (term not in valid or option not in valid[term])) or not targets:
            hint = did_you_mean(key, every)
            raise InputError(
                f"unknown option {key!r} for loss {'+'.join(names)}; {hint}valid options: "
                f"{', '.join(every) or 'none'} (plus weights, class_weights, ignore_index, check_targets)."
            )
        for target in targets:
            routed[target][option] = value
    return routed


def create_loss(
    name: str,
    weights: Sequence[float] | None = None,
    class_weights: Sequence[float] | torch.Tensor | None = None,
    ignore_index: int | None = None,
    check_targets: bool = True,
    **options: Any,
) -> CompositeLoss:
    """Build a loss, or a weighted sum of losses, by name.

    Args:
        name: a registered loss (:func:`list_losses`: ``ce``, ``ohem``, ``focal``, ``dice``,
            ``jaccard``, ``tversky``, ``focal_tversky``, ``lovasz``) or several joined by ``+``,
            e.g. ``"ce+dice"``.
        weights: one weight per term (default: all 1).
        class_weights: per-class weights, given to every term (each uses them as documented in
            docs/losses.md).
        ignore_index: target value whose pixels take no part in any term.
        check_targets: check that target values lie in ``[0, C)`` or equal ``ignore_index`` (one
            device sync per call).
        **options: loss options. ``smooth=1.0`` goes to every term that has ``smooth``;
            ``**{"dice.smooth": 1.0}`` to the ``dice`` term only. An option no term has raises
            :class:`InputError` listing the valid ones.

    Returns:
        A :class:`CompositeLoss`: ``loss(logits, target)`` is the total; ``loss.last_terms`` the
        terms of the last call.

    >>> loss = create_loss("focal+dice", gamma=1.0, ignore_index=255)
    >>> loss.config["focal.gamma"], loss.config["ignore_index"]
    (1.0, 255)
    """
    names = _parse_names(name)
    term_weights = _parse_weights(weights, names)
    class_weights_tensor = as_class_weights(class_weights)
    ignore_index = check_ignore_index(ignore_index)
    clashes = [k for k in options if k.rpartition(".")[2] in COMMON_ARGS]
    if clashes:
        raise InputError(
            f"{', '.join(clashes)}: pass class_weights / ignore_index / check_targets once, for all terms."
        )
    routed = _split_options(options, names)
    terms = []
    for term, weight in zip(names, term_weights, strict=True):
        cls = get_loss_class(term)
        loss = cls(
            class_weights=class_weights_tensor, ignore_index=ignore_index, check_targets=False, **routed[term]
        )
        terms.append((term, weight, loss))
    return CompositeLoss(
        terms, class_weights=class_weights_tensor, ignore_index=ignore_index, check_targets=check_targets
    )
