"""aria2c's input file, built so that no value can carry an option of its own.

In that file a line starting with whitespace is an option of the URL above it, so a
newline inside a file name, directory, URL or header value would let whoever chose the
value add ``dir=``, ``out=`` or ``header=`` lines. :func:`input_text` refuses (never
escapes) any value with a control character, URLs that are not plain printable ASCII
(path segments must arrive percent-quoted) and header names that are not HTTP tokens;
remote names are validated before this too (``safety.safe_relative_path``), this is the
last line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs

from imageworks.core.errors import UnsafePathError
from imageworks.transfer.errors import TransferError

_URL = re.compile(r"https?://[!-~]+", re.IGNORECASE)  # printable ASCII without spaces
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token
_GID = re.compile(r"[0-9a-f]{16}")
_HINT = "nothing was downloaded; the name or address came from a hostile or broken server"


@attrs.frozen
class InputEntry:
    """One download for aria2c: its URL, gid, where the partial file goes, and request headers.

    ``use_head``: ask for the size with ``HEAD`` first. For a file being resumed this spares
    the body of aria2c's first, unranged ``GET``, which it drops once it has read the size
    (the bytes already on disk make that first range useless).
    """

    url: str
    gid: str
    partial: Path
    headers: Mapping[str, str] = attrs.field(factory=dict)
    use_head: bool = False


def input_text(entries: Sequence[InputEntry]) -> str:
    """The input-file text for ``entries``; raise rather than write any value that could inject options."""
    lines: list[str] = []
    for entry in entries:
        directory, name = str(entry.partial.parent), entry.partial.name
        if not _URL.fullmatch(entry.url):
            raise TransferError(f"refusing to hand aria2c the address {entry.url!r}: it is not a quoted HTTP URL", _HINT)
        for kind, value in (("folder", directory), ("file name", name)):
            if has_control(value):
                raise UnsafePathError(f"refusing to hand aria2c the {kind} {value!r}: it contains a control character", _HINT)
        if not entry.partial.is_absolute() or not name:
            raise UnsafePathError(f"refusing to hand aria2c the path {str(entry.partial)!r}: it is not absolute", _HINT)
        if not _GID.fullmatch(entry.gid):
            raise TransferError(f"refusing to hand aria2c the gid {entry.gid!r}", _HINT)
        lines += [entry.url, f"  gid={entry.gid}", f"  dir={directory}", f"  out={name}"]
        if entry.use_head:
            lines.append("  use-head=true")
        for header, value in entry.headers.items():
            if not _HEADER_NAME.fullmatch(header) or has_control(value):
                # the value is never shown: it may be the token
                raise TransferError(f"refusing to hand aria2c the {header!r} header: it holds a control character", _HINT)
            lines.append(f"  header={header}: {value}")
    return "\n".join(lines) + "\n"


def has_control(value: str) -> bool:
    """Whether ``value`` holds a C0 control (newline, tab, ...), DEL or a C1 control."""
    return any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value)
