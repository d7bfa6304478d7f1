"""The loss registry: name -> loss class, filled by ``@register_loss`` in :mod:`segwise.losses.modules`."""

from __future__ import annotations

import inspect
from typing import Any

from segwise.errors import lookup

__all__ = ["COMMON_ARGS", "get_loss_class", "loss_options", "register_loss", "registered_losses"]

# Arguments every loss takes; create_loss passes them to every term.
COMMON_ARGS = ("class_weights", "ignore_index", "check_targets")

_LOSSES: dict[str, type] = {}


def register_loss(cls: type) -> type:
    """Class decorator: add ``cls`` under ``cls.name``; a second class with the same name is an error."""
    name = cls.name  # type: ignore[attr-defined]
    if "+" in name or name != name.strip().lower():
        raise RuntimeError(f"loss name {name!r} must be lower case without '+' or spaces")
    if name in _LOSSES and _LOSSES[name] is not cls:
        raise RuntimeError(f"loss {name!r} is registered twice")
    _LOSSES[name] = cls
    return cls


def registered_losses() -> dict[str, type]:
    """A copy of the registry, in registration order."""
    return dict(_LOSSES)


def get_loss_class(name: str) -> type:
    """The class registered as ``name``; unknown names raise :class:`InputError` with the list."""
    key = name.strip().lower() if isinstance(name, str) else name
    return lookup(key, _LOSSES, "loss", cutoff=0.5)


def loss_options(name: str) -> dict[str, Any]:
    """The options of loss ``name`` (beyond class_weights / ignore_index / check_targets) and their defaults.

    >>> from segwise.losses import modules  # noqa: F401  (fills the registry)
    >>> loss_options("dice")
    {'smooth': 0.0, 'classes': 'present'}
    """
    cls = get_loss_class(name)
    params = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY and p.name not in COMMON_ARGS}
