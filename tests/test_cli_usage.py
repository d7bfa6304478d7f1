"""CLI usage errors: every command answers a bad invocation with exit status 2 and a few lines, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

import segwise
from segwise.cli import app, main

MAX_LINES = 10


def _command_paths(command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and sub-command of the app, as argv prefixes (groups included)."""
    paths = [path] if path else []
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        paths += _command_paths(sub, (*path, name))
    return paths


COMMANDS = _command_paths(typer.main.get_command(app))


def _run(capsys, argv: list[str]) -> tuple[int, str]:
    rc = main(argv)
    captured = capsys.readouterr()
    return rc, captured.out + captured.err


def _assert_short(out: str) -> None:
    assert "Traceback" not in out
    assert len(out.strip().splitlines()) <= MAX_LINES, out


def test_walk_finds_the_known_commands():
    names = {" ".join(p) for p in COMMANDS}
    assert {"eval", "compare-preds", "train", "compare", "demo", "predict", "export", "report"} <= names
    assert {"models", "models list", "data", "data stats"} <= names


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_unknown_option_exits_2_with_a_short_message(capsys, path):
    rc, out = _run(capsys, [*path, "--no-such-option"])
    assert rc == 2
    assert "No such option: --no-such-option" in out
    assert f"Try 'segwise {' '.join(path)} --help' for help." in out
    _assert_short(out)


def test_misspelled_option_suggests_the_right_one(capsys):
    rc, out = _run(capsys, ["eval", "--gt", "a", "--pred", "b", "--ignore-indx", "3"])
    assert rc == 2
    assert "No such option: --ignore-indx" in out and "--ignore-index" in out
    _assert_short(out)


def test_misspelled_command_suggests_the_right_one(capsys):
    rc, out = _run(capsys, ["evl"])
    assert rc == 2
    assert "No such command 'evl'" in out and "Did you mean 'eval'?" in out
    _assert_short(out)


def test_missing_required_option_is_named(capsys):
    rc, out = _run(capsys, ["compare-preds", "--gt", "a", "--num-classes", "2"])
    assert rc == 2
    assert "Missing option '--pred'" in out
    _assert_short(out)
    rc, out = _run(capsys, ["eval", "--gt", "a", "--num-classes", "2"])  # --pred or --probs
    assert rc == 2
    assert "--pred" in out and "--probs" in out
    _assert_short(out)


def test_value_of_the_wrong_type(capsys):
    rc, out = _run(capsys, ["eval", "--gt", "a", "--pred", "b", "--num-classes", "abc"])
    assert rc == 2
    assert "Invalid value for '--num-classes'" in out
    _assert_short(out)


def test_help_and_version_still_exit_0(capsys):
    assert main(["eval", "--help"]) == 0
    assert main(["--version"]) == 0
    assert "segwise" in capsys.readouterr().out


def test_python_m_segwise_entry_point(tmp_path):
    src = str(Path(segwise.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "segwise", "eval", "--gt", "a", "--pred", "b", "--num-clases", "2"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "No such option: --num-clases" in out and "--num-classes" in out
    assert "Try 'segwise eval --help' for help." in out
    _assert_short(out)
