"""The architecture registry: one :class:`ArchEntry` per name, filled by the defining modules.

Each architecture module (``unet.py``, ``fcn.py``, ``segnet.py``, ``smp_adapter.py``) calls
:func:`register_arch` for what it defines; :mod:`segwise.models.factory` imports those modules by
name, so the registry's content never depends on what the user happened to import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from segwise.errors import lookup

__all__ = ["ArchEntry", "get_arch", "register_arch", "registered_archs"]


@dataclass(frozen=True)
class ArchEntry:
    """What the factory needs to know about one architecture.

    Attributes:
        name: registry key, e.g. ``"unet"``.
        summary: one line for ``segwise models list``.
        default_encoder: the encoder used when ``create_model`` gets ``encoder=None``.
        check_encoder: raises :class:`InputError` (listing valid names) for an unusable encoder.
        options_for: ``encoder -> {option: default}``, the architecture options that encoder
            accepts (``**arch_options`` of ``create_model``).
        build: ``build(num_classes, *, encoder, in_channels, dropout, pad_mode, **options)``
            returning a randomly initialised :class:`~segwise.models.SegmentationModel`; the
            factory loads encoder weights afterwards (:mod:`segwise.models.weights`).
    """

    name: str
    summary: str
    default_encoder: str
    check_encoder: Callable[[str], None]
    options_for: Callable[[str], Mapping[str, Any]]
    build: Callable[..., Any]


_REGISTRY: dict[str, ArchEntry] = {}


def register_arch(entry: ArchEntry) -> ArchEntry:
    """Add ``entry`` to the registry; a second entry with the same name is an error."""
    if entry.name in _REGISTRY and _REGISTRY[entry.name] is not entry:
        raise RuntimeError(f"architecture {entry.name!r} is registered twice")
    _REGISTRY[entry.name] = entry
    return entry


def registered_archs() -> dict[str, ArchEntry]:
    """A copy of the registry, in registration order."""
    return dict(_REGISTRY)


def get_arch(name: str) -> ArchEntry:
    """The entry for ``name``; an unknown name raises :class:`InputError` listing the known ones."""
    key = name.lower() if isinstance(name, str) else name
    return lookup(key, {n: _REGISTRY[n] for n in sorted(_REGISTRY)}, "architecture")
