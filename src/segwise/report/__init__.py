"""The HTML report: one self-contained file from an evaluation result (see docs/report.md).

>>> from segwise.report import write_report  # doctest: +SKIP
"""

from segwise.report.html import build_report as build_report
from segwise.report.html import load_comparison as load_comparison
from segwise.report.html import load_result as load_result
from segwise.report.html import write_report as write_report

__all__ = ["build_report", "load_comparison", "load_result", "write_report"]
