"""The one export style of segwise's packages: each ``__init__`` is a table of its public names and
the module that defines each, loaded on first use (PEP 562 module ``__getattr__``).

Importing a package therefore costs nothing until a name is used (``import segwise.data`` does
not import torch; ``import segwise`` stays cheap), ``__all__`` is the table, and ``dir()`` lists it.
A name that is a submodule (``segwise.losses.functional``) maps to itself.

    >>> getattr_, dir_, all_ = lazy_exports("pkg", {"sqrt": "math", "path": "os.path"})
    >>> getattr_("sqrt")(4.0), getattr_("path").__name__ in ("posixpath", "ntpath"), all_
    (2.0, True, ['path', 'sqrt'])
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, table: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package`` from ``{public name: defining module}``."""
    names = sorted(table)

    def __getattr__(name: str) -> Any:  # noqa: N807 - the PEP 562 hook
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(table[name])
        return (
            module
            if table[name].rsplit(".", 1)[-1] == name and not hasattr(module, name)
            else getattr(module, name)
        )

    def __dir__() -> list[str]:  # noqa: N807
        return names

    return __getattr__, __dir__, names
