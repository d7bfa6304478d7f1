"""The run folder of one training run, and what a failed run leaves in it.

A run that fails before its first checkpoint (``last.pt``) has nothing worth keeping: its files are
removed, and so is the folder if the run made it. Files that were there before the run are never
touched. A run that fails later keeps its folder and gets a ``FAILED`` file (the error and the last
saved epoch) naming the ``--resume`` that continues it; the run that finishes removes it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import TracebackType
from typing import Any

from segwise.io_utils import atomic_write_text

FAILED = "FAILED"
# every name a run writes in its folder (loop.py, checkpoint.py, runlog.py); nothing else is removed
RUN_FILES = ("config.toml", "last.pt", "best.pt", "metrics.csv", "tensorboard", FAILED)


class RunFolder:
    """Context manager around a run: cleans up or marks the folder if the block raises.

    Only the process that writes the folder (rank 0 under torchrun) passes ``enabled=True``; for the
    others every method does nothing. The error always propagates unchanged.
    """

    def __init__(self, *, enabled: bool = True, console: Any = None):
        self.enabled = enabled
        self.console = console
        self.path: Path | None = None
        self.epoch: int | None = None  # the epoch last.pt holds, once there is one
        self._existed: set[str] = set()  # run files that were there before this run
        self._made: list[Path] = []  # folders this run created, innermost first

    def create(self, path: Path, config_toml: str) -> None:
        """Make the folder of a new run and write its ``config.toml``."""
        self.path = Path(path)
        if not self.enabled:
            return
        self._existed = {name for name in RUN_FILES if (self.path / name).exists()}
        self._made = [p for p in (self.path, *self.path.parents) if not p.exists()]
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path / "config.toml", config_toml)

    def resume(self, path: Path, epoch: int) -> None:
        """Continue the run in ``path``, whose ``last.pt`` holds ``epoch``."""
        self.path, self.epoch = Path(path), epoch

    def saved(self, epoch: int) -> None:
        """``last.pt`` now holds ``epoch``."""
        self.epoch = epoch

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self.enabled or self.path is None:
            return
        if exc is None:
            (self.path / FAILED).unlink(missing_ok=True)
        elif (self.path / "last.pt").exists():
            self._mark_failed(self.path, exc)
        else:
            self._remove_ours(self.path)

    def _mark_failed(self, path: Path, exc: BaseException) -> None:
        epoch = "unknown" if self.epoch is None else str(self.epoch)
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        resume = f"segwise train --resume {path}"
        atomic_write_text(
            path / FAILED, f"error: {error}\nepoch: {epoch} (saved in last.pt)\nresume: {resume}\n"
        )
        self._note(f"run failed; last.pt holds epoch {epoch}. Continue it with: {resume}")

    def _remove_ours(self, path: Path) -> None:
        for name in RUN_FILES:
            target = path / name
            if name in self._existed or not target.exists():
                continue
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink()
        for folder in self._made:  # innermost first; stops at the first that is not empty
            try:
                folder.rmdir()
            except OSError:
                break
        what = "the run folder" if self._made and not path.exists() else "its files from"
        self._note(f"run failed before its first checkpoint; removed {what} {path}")

    def _note(self, message: str) -> None:
        from rich.console import Console

        (self.console or Console()).print(message, highlight=False, soft_wrap=True)  # paths never wrap
