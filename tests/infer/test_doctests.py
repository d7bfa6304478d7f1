"""The examples in the inference and report modules' docstrings run and hold."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys

import pytest

MODULES = [
    "segwise.infer",
    "segwise.infer.predict",
    "segwise.infer.files",
    "segwise.infer.outputs",
    "segwise.infer.export",
    "segwise.report.html",
    "segwise.report.plots",
    "segwise.report.gallery",
    "segwise.evaluate",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_the_report_does_not_load_torch():
    code = "import sys, segwise.report, segwise.infer.outputs; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
