"""segwise.metrics is at the bottom: it imports nothing from the packages above it."""

from __future__ import annotations

import ast
from pathlib import Path

import segwise.metrics

ABOVE = (
    "segwise.evaluate",
    "segwise.data",
    "segwise.infer",
    "segwise.train",
    "segwise.report",
    "segwise.cli",
)


def test_metrics_imports_no_package_above_it():
    found = []
    for path in sorted(Path(segwise.metrics.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            found += [f"{path.name}: {n}" for n in names if n.startswith(ABOVE)]
    assert not found, found
