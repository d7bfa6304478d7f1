"""The HTML report: one self-contained file from an evaluation result (see docs/report.md).

>>> from segwise.report import write_report  # doctest: +SKIP
"""

from segwise.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    "segwise.report",
    {
        "build_report": "segwise.report.html",
        "load_comparison": "segwise.report.html",
        "load_result": "segwise.report.html",
        "write_report": "segwise.report.html",
    },
)
