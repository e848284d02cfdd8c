"""Console output for commands, mirrored into the structured log.

JSON goes to stdout as plain text (no colour, no wrapping) so ``| jq`` always works;
tables are drawn by rich on stdout (wide and uncoloured when not a terminal); warnings
and errors go to stderr. Every message is also logged.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table

log = logging.getLogger("imageworks.console")


def _console(stream: Any) -> Console:
    tty = stream.isatty()
    return Console(file=stream, width=None if tty else 250, soft_wrap=not tty, highlight=False)


def human_size(size: int | None) -> str:
    """Bytes as ``1.2 GiB``; empty for unknown."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(size)


def echo(text: str = "") -> None:
    """A line on stdout, logged at INFO."""
    _console(sys.stdout).print(text, markup=False)
    if text:
        log.info(text)


def note(text: str) -> None:
    """A status line on stderr (keeps stdout clean for data), logged at INFO."""
    click.echo(text, err=True)
    log.info(text)


def warn(text: str) -> None:
    """A warning on stderr, logged."""
    click.echo(f"Warning: {text}", err=True)
    log.warning(text)


def emit_json(data: Any) -> None:
    """Plain JSON on stdout."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    log.info("json output: %d item(s)", len(data) if isinstance(data, list | dict) else 1)


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A rich table on stdout; the log gets the rows as data, not the drawing."""
    drawn = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        drawn.add_column(column, overflow="fold")
    for row in rows:
        drawn.add_row(*("" if v is None else str(v) for v in row))
    _console(sys.stdout).print(drawn)
    log.info("table %s: %s", title or "", json.dumps([dict(zip(columns, map(str, r))) for r in rows], ensure_ascii=False))
