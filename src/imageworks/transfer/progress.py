"""Progress display for transfers: a rich bar on a terminal, quiet lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Self, TextIO

from imageworks.transfer.model import TransferProgress

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class ProgressReporter:
    """Callable progress sink for engines; use as a context manager around ``fetch``.

    On a TTY it draws one rich bar with bytes, speed and ETA; otherwise it prints a plain
    line at most every ``interval`` seconds and once at the end.
    """

    def __init__(self, label: str, stream: TextIO | None = None, interval: float = 5.0) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.interval = interval
        self.tty = self.stream.isatty()
        self._last_line = 0.0
        self._last: TransferProgress | None = None
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> Self:
        if self.tty:  # rich only for a terminal: it costs about 25 ms to import
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[files]}"),
                console=Console(file=self.stream),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=None, files="")
        return self

    def __call__(self, update: TransferProgress) -> None:
        self._last = update
        if self._bar is not None and self._task is not None:
            self._bar.update(
                self._task,
                completed=update.bytes_done,
                total=update.bytes_total,
                files=f"{update.files_done}/{update.files_total} files",
            )
            return
        now = time.monotonic()
        if now - self._last_line >= self.interval:
            self._last_line = now
            self._line(update)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif self._last is not None:
            self._line(self._last)

    def _line(self, update: TransferProgress) -> None:
        percent = 100.0 * update.bytes_done / update.bytes_total if update.bytes_total else 100.0
        print(
            f"{self.label}: {update.bytes_done / 1e6:.1f}/{update.bytes_total / 1e6:.1f} MB ({percent:.0f}%)"
            f" {update.speed / 1e6:.1f} MB/s, {update.files_done}/{update.files_total} files",
            file=self.stream,
            flush=True,
        )
