"""How many distinct bytes of a file a set of HTTP ``Range`` requests asked for.

Resume tests count what a second run *asked* for, not what the server sent: a range the
engine splits for an idle stream ends its response early, and the bytes already in
flight past the split are dropped, so the bytes sent overstate what was fetched anew.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


def requested_bytes(ranges: Iterable[str | None], size: int) -> int:
    """Bytes of a ``size``-byte file covered by the union of ``ranges`` (None: the whole file)."""
    spans = []
    for value in ranges:
        match = _RANGE.fullmatch(value or "bytes=0-")
        if match is None:
            raise ValueError(f"not a single byte range: {value!r}")
        spans.append((int(match[1]), min(int(match[2]) + 1, size) if match[2] else size))
    total, reached = 0, 0
    for start, end in sorted(spans):
        start = max(start, reached)
        if end > start:
            total, reached = total + end - start, end
    return total
