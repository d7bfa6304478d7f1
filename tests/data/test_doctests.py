"""The examples in the data modules' docstrings run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "segwise.data.spec",
    "segwise.data.readers",
    "segwise.data.files",
    "segwise.data.cache",
    "segwise.data.transforms",
    "segwise.data.tiles",
    "segwise.data.stats",
    "segwise.data.loader",
    "segwise.data.datasets",
    "segwise.data.command",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_import_segwise_data_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, segwise.data; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
