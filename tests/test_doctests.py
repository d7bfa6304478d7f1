"""Every docstring example in the package runs and holds; light modules stay free of torch."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import subprocess
import sys

import pytest

import segwise

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(segwise.__path__, "segwise.") if m.name not in ("segwise.__main__",)
)


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


@pytest.mark.parametrize(
    "modules",
    ["segwise.data", "segwise.report, segwise.infer.outputs", "segwise.evaluate, segwise.cli"],
)
def test_light_modules_do_not_import_torch(modules):
    code = f"import sys, {modules}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
