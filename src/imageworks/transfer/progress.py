"""Progress display for transfers: a rich bar on a terminal, quiet lines otherwise, JSON lines on request."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Self, TextIO

from imageworks.core.transfers import TransferProgress
from imageworks.core.units import human_size

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class ProgressReporter:
    """Callable progress sink for engines; use as a context manager around ``fetch``.

    On a TTY it draws one rich bar with bytes, speed and ETA; otherwise it prints a plain
    line at most every ``interval`` seconds and once at the end. Both count in binary
    units (MiB, GiB), as every table of the CLI and the GUI does.
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
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(binary_units=True),
                TextColumn("{task.fields[speed]}"),  # the engine's speed, in the CLI's units
                TimeRemainingColumn(),
                TextColumn("{task.fields[files]}"),
                console=Console(file=self.stream),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=None, files="", speed="")
        return self

    def __call__(self, update: TransferProgress) -> None:
        """Show ``update`` on the bar."""
        self._last = update
        if self._bar is not None and self._task is not None:
            self._bar.update(
                self._task,
                completed=update.bytes_done,
                total=update.bytes_total,
                files=f"{update.files_done}/{update.files_total} files",
                speed=f"{human_size(update.speed)}/s",
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
            f"{self.label}: {human_size(update.bytes_done)}/{human_size(update.bytes_total)} ({percent:.0f}%)"
            f" {human_size(update.speed)}/s, {update.files_done}/{update.files_total} files",
            file=self.stream,
            flush=True,
        )


class JsonLinesProgress:
    """Callable progress sink writing one JSON object per line, for programs that watch a download.

    Each ``progress`` event carries ``bytes_done``, ``bytes_total``, ``speed`` (bytes per
    second), ``eta_seconds`` (None while the speed is unknown), ``files_done``,
    ``files_total`` and ``time`` (Unix seconds). Lines come at most every ``interval``
    seconds and once more at the end; each is flushed, so a reader polling the file sees
    whole lines. ``target`` is a file path (appended to) or ``-`` for stderr.
    """

    def __init__(self, target: str, interval: float = 0.5) -> None:
        self.target = target
        self.interval = interval
        self._stream: TextIO | None = None
        self._last_line = 0.0
        self._last: TransferProgress | None = None
        self._written: TransferProgress | None = None

    def __enter__(self) -> Self:
        self._stream = sys.stderr if self.target == "-" else open(self.target, "a", encoding="utf-8")  # noqa: SIM115  (closed in __exit__)
        return self

    def __call__(self, update: TransferProgress) -> None:
        """Record ``update``; write it out when the interval has passed."""
        self._last = update
        now = time.monotonic()
        if now - self._last_line >= self.interval:
            self._last_line = now
            self._line(update)

    def __exit__(self, *exc: object) -> None:
        if self._last is not None and self._last is not self._written:
            self._line(self._last)
        if self._stream is not None and self._stream is not sys.stderr:
            self._stream.close()
        self._stream = None

    def _line(self, update: TransferProgress) -> None:
        if self._stream is None:
            return
        import json

        left = max(update.bytes_total - update.bytes_done, 0)
        event = {
            "event": "progress",
            "bytes_done": update.bytes_done,
            "bytes_total": update.bytes_total,
            "speed": round(update.speed, 1),
            "eta_seconds": round(left / update.speed, 1) if update.speed > 0 else (0.0 if left == 0 else None),
            "files_done": update.files_done,
            "files_total": update.files_total,
            "time": round(time.time(), 3),
        }
        self._stream.write(json.dumps(event) + "\n")
        self._stream.flush()
        self._written = update
