"""User-facing error types, and the one lookup of a named choice ("did you mean ...").

Every error that bad input can cause is raised as one of these, with a message that names the
argument or file, what was received and what to do. The CLI prints the message (no traceback) and
exits with status 2.

A name chosen from a registry (a loss, an architecture, a dataset, a schedule, ...) is looked up
with :func:`lookup`; an unknown name says what exists and suggests the closest one. Messages with
their own wording use :func:`did_you_mean` (or :func:`closest`) for the suggestion.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any


class SegwiseError(Exception):
    """Base class of errors whose message is meant for the user."""


class InputError(SegwiseError, ValueError):
    """An argument, file or array was not what the function needs."""


class DataError(InputError):
    """A file on disk (image, mask, split list, class table) is missing, corrupt or inconsistent."""


class CheckpointError(InputError):
    """A checkpoint or exported model cannot be used (truncated, other version, wrong content)."""


def some(names: Iterable[Any], limit: int = 10) -> str:
    """The first ``limit`` of ``names`` and how many more, for error messages.

    Example:
        >>> some(["a", "b", "c"], 2), some(["a"])
        ('a, b and 1 more', 'a')
    """
    names = [str(n) for n in names]
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def closest(name: Any, options: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The option most similar to ``name`` (difflib ratio at least ``cutoff``), or ``None``.

    Example:
        >>> closest("dcie", ["ce", "dice", "focal"]), closest("xyz", ["ce", "dice"])
        ('dice', None)
    """
    close = difflib.get_close_matches(str(name), [str(o) for o in options], n=1, cutoff=cutoff)
    return close[0] if close else None


def did_you_mean(name: Any, options: Iterable[str], *, cutoff: float = 0.6) -> str:
    """``"did you mean 'x'? "`` for the option closest to ``name``, or ``""`` when none is close.

    Example:
        >>> did_you_mean("unte", ["unet", "fpn"])
        "did you mean 'unet'? "
        >>> did_you_mean("zzz", ["unet", "fpn"])
        ''
    """
    match = closest(name, options, cutoff=cutoff)
    return f"did you mean {match!r}? " if match is not None else ""


def lookup(name: Any, options: Mapping[str, Any] | Iterable[str], what: str, *, cutoff: float = 0.6) -> Any:
    """``options[name]`` (or ``name`` itself when ``options`` is a list of names).

    An unknown name raises :class:`InputError`:
    ``unknown {what} 'x'; did you mean 'y'? available: a, b, c.``

    Example:
        >>> lookup("sgd", {"adam": 1, "sgd": 2}, "optimizer")
        2
        >>> lookup("adamm", ["adam", "adamw", "sgd"], "optimizer")
        Traceback (most recent call last):
        ...
        segwise.errors.InputError: unknown optimizer 'adamm'; did you mean 'adam'? available: adam, adamw, sgd.
    """
    names = list(options)
    if isinstance(name, str) and name in names:
        return options[name] if isinstance(options, Mapping) else name
    raise InputError(
        f"unknown {what} {name!r}; {did_you_mean(name, names, cutoff=cutoff)}available: {', '.join(names)}."
    )
