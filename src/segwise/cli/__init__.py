"""The ``segwise`` command line: a thin typer layer over the Python API.

Each command parses its options, calls one API function and prints. Errors that bad input can
cause (:class:`segwise.errors.SegwiseError`) are printed without a traceback, exit status 2.

``app`` holds the application, the consoles, the shared options and :func:`main`; one module per
command group registers its commands on import (the order below is the order of ``--help``).
"""

# import order = registration order = the order of `segwise --help` and docs/cli.md
# isort: off
from segwise.cli import evaluate as evaluate  # eval, compare-preds
from segwise.cli import models as models  # models list
from segwise.cli import data as data  # data stats, data init
from segwise.cli import train as train  # train, compare, demo
from segwise.cli import predict as predict  # predict, export, calibrate
from segwise.cli import report as report  # report

# isort: on
from segwise.cli.app import app as app
from segwise.cli.app import main as main

__all__ = ["app", "main"]
