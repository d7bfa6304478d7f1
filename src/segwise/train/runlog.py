"""What a run tells the user and leaves on disk: the resolved config, a progress bar (plain lines
when not on a terminal), one summary line per epoch, ``metrics.csv`` and TensorBoard events."""

from __future__ import annotations

import contextlib
import csv
import io
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from segwise.io_utils import atomic_write_text


class RunLogger:
    def __init__(
        self, run_dir: Path, *, enabled: bool = True, console: Any = None, progress: bool | None = None
    ):
        from rich.console import Console

        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.console = console or Console()
        self.fancy = self.console.is_terminal if progress is None else progress
        self.rows: list[dict[str, Any]] = []
        self._tb: Any = None

    def _writer(self) -> Any:
        if self._tb is None and self.enabled:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.run_dir / "tensorboard"))
        return self._tb

    def print_config(self, toml_text: str, run_dir: Path) -> None:
        if self.enabled:
            self.console.print(f"run folder {run_dir}", highlight=False)
            self.console.print(toml_text, markup=False, highlight=False)

    def note(self, message: str) -> None:
        if self.enabled:
            self.console.print(message, highlight=False)

    @contextlib.contextmanager
    def epoch_progress(
        self, epoch: int, total_epochs: int, steps: int, stage: str
    ) -> Iterator[Callable[[int, float, float, int], None] | None]:
        if not self.enabled:
            yield None
            return
        label = f"epoch {epoch}" + (f"/{total_epochs}" if total_epochs else "")  # 0: no count (time-budgeted)
        label += f" [{stage}]" if stage and stage != "main" else ""
        start = time.perf_counter()
        seen = {"images": 0, "calls": 0}
        if self.fancy:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
                console=self.console,
                transient=True,
            ) as bar:
                task = bar.add_task(label, total=steps, info="")

                def on_step(step: int, loss: float, lr: float, batch: int) -> None:
                    seen["images"] += batch
                    rate = seen["images"] / max(time.perf_counter() - start, 1e-9)
                    bar.update(task, advance=1, info=f"loss {loss:.4f}  lr {lr:.2e}  {rate:.1f} img/s")

                yield on_step
            return
        every = max(1, steps // 4)

        def on_line(step: int, loss: float, lr: float, batch: int) -> None:
            seen["images"] += batch
            seen["calls"] += 1
            if seen["calls"] % every == 0:
                rate = seen["images"] / max(time.perf_counter() - start, 1e-9)
                print(
                    f"{label} {seen['calls']}/{steps} loss {loss:.4f} lr {lr:.2e} {rate:.1f} img/s",
                    flush=True,
                )

        yield on_line

    def epoch_end(self, row: dict[str, Any], best: float) -> None:
        if not self.enabled:
            return
        self.rows.append(row)
        self._write_csv()
        tb = self._writer()
        for key, value in row.items():
            if isinstance(value, int | float) and key not in ("epoch", "step"):
                tb.add_scalar(
                    key.replace("val_iou_", "val_iou/").replace("train_", "train/", 1), value, row["epoch"]
                )
        tb.flush()
        parts = [
            f"epoch {row['epoch']}",
            f"loss {row['train_loss']:.4f}",
            f"{row['img_per_s']:.1f} img/s",
            f"{row['epoch_seconds']:.0f}s",
        ]
        if "val_miou" in row:
            parts += [
                f"val mIoU {100 * row['val_miou']:.2f}",
                f"pixel acc {100 * row['val_pixel_accuracy']:.2f}",
                f"mean acc {100 * row['val_mean_accuracy']:.2f}",
                f"best {100 * best:.2f}",
            ]
        self.console.print(" | ".join(parts), highlight=False)
        sys.stdout.flush()

    def load_history(self, rows: list[dict[str, Any]]) -> None:
        self.rows = list(rows)

    def _write_csv(self) -> None:
        columns: list[str] = []
        for r in self.rows:
            columns += [k for k in r if k not in columns]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns)
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.run_dir / "metrics.csv", buf.getvalue())

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
