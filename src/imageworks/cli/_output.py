"""Console output for commands, mirrored into the structured log.

JSON goes to stdout as plain text (no colour, no wrapping) so ``| jq`` always works;
tables are drawn by rich on stdout (wide and uncoloured when not a terminal); warnings
and errors go to stderr. Every message is also logged.

Much of what is printed came from outside (file and repo names from a Hub, entry names
from a hand-edited registry, errors quoting them), so every line passes
:func:`terminal_safe` first: control characters (C0 but newline and tab, DEL, C1) and
the bidirectional overrides are shown as ``\\x1b``-style text instead of reaching the
terminal, where they could retitle the window, clear the screen or reorder the text.
JSON escapes C0 itself; :func:`emit_json` escapes the rest the same way (as ``\\u009b``).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click
import orjson

# the words both front ends use, re-exported for the CLI's modules (``out.human_size``); the one
# unit system lives in core.units
from imageworks.services.listing.labels import format_label as format_label
from imageworks.services.listing.labels import human_size as human_size

log = logging.getLogger("imageworks.console")
LOGGED_ROWS = 50  # a 10,000-row listing should not write megabytes to the log
_BIDI = r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # marks and overrides that reorder text
_UNSAFE = re.compile(rf"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")
_UNSAFE_ONE_LINE = re.compile(rf"[\x00-\x1f\x7f-\x9f{_BIDI}]")
_UNSAFE_IN_JSON = re.compile(rf"[\x7f-\x9f{_BIDI}]")  # C0 is escaped by the encoder already


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: str, one_line: bool = False) -> str:
    """``text`` with control characters shown as ``\\x1b``-style text.

    Newline and tab pass unless ``one_line`` (error lines must stay one line).
    """
    return (_UNSAFE_ONE_LINE if one_line else _UNSAFE).sub(_escape, text)


def echo(text: str = "") -> None:
    """A line on stdout, logged at INFO."""
    click.echo(terminal_safe(text))
    if text:
        log.info(text)


def note(text: str) -> None:
    """A status line on stderr (keeps stdout clean for data), logged at INFO."""
    click.echo(terminal_safe(text), err=True)
    log.info(text)


def warn(text: str) -> None:
    """A warning on stderr, logged."""
    click.echo(f"Warning: {terminal_safe(text)}", err=True)
    log.warning(text)


def emit_json(data: Any) -> None:
    """Plain JSON on stdout: two-space indented, keys sorted, UTF-8, no raw control character."""
    text = orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode("utf-8")
    # Outside strings JSON is ASCII, so these can only sit inside strings, where \u escapes are valid.
    click.echo(_UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text))
    log.info("json output: %d item(s)", len(data) if isinstance(data, list | dict) else 1)


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """An aligned plain-text table on stdout; the log gets the rows as data.

    Hand-drawn rather than rich's ``Table``: rich took 3.4 s for 10,000 rows, this
    takes milliseconds, and plain text pipes into ``grep``/``awk`` cleanly.
    """
    cells = [[terminal_safe("" if v is None else str(v), one_line=True) for v in row] for row in rows]
    title = terminal_safe(title, one_line=True) if title else title
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=False)).rstrip()

    lines = ([title] if title else []) + [line(columns), line(["─" * w for w in widths])]
    lines.extend(line(r) for r in cells)
    click.echo("\n".join(lines))
    shown = [dict(zip(columns, r, strict=False)) for r in cells[:LOGGED_ROWS]]
    more = f" (+{len(cells) - LOGGED_ROWS} more rows)" if len(cells) > LOGGED_ROWS else ""
    log.info("table %s: %s%s", title or "", json.dumps(shown, ensure_ascii=False), more)


@contextmanager
def progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr when it is a terminal; silent otherwise.

    Yields ``advance(n)``. Non-terminal runs (CI, pipes) get the final summary from the
    command instead of a stream of bar redraws.
    """
    if not sys.stderr.isatty() or total <= 1:

        def ignore(n: int = 1) -> None:
            pass

        yield ignore
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=Console(file=sys.stderr), transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)

        def advance(n: int = 1) -> None:
            bar.advance(task, n)

        yield advance
