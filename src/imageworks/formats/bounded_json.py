"""JSON from outside (a Hub, a store, a folder) parsed within limits: size, depth, count.

:func:`json.loads` recurses once per nesting level: a file nested 10,000 deep raises
:class:`RecursionError`, which no caller expects, and whatever walks the result recurses
again. :func:`loads` turns every such failure into :class:`JSONLimitError` (a
:class:`ValueError`) whose one-line message names the file, and refuses results nested
deeper than ``max_depth`` or holding more than ``max_items`` values, so a hostile file
spoils only the entry it belongs to.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64  # config.json nests 3-4 levels (text_config.rope_scaling...); headers 3
MAX_ITEMS = 2_000_000  # a safetensors header of the largest models holds ~100k values


class JSONLimitError(ValueError):
    """JSON that is not JSON, or that exceeds the size, depth or count limit."""


def loads(
    data: str | bytes, what: str, *, max_bytes: int, max_depth: int = MAX_DEPTH, max_items: int = MAX_ITEMS
) -> Any:
    """The value of ``data``; :class:`JSONLimitError` naming ``what`` when it is not JSON or too big."""
    if len(data) > max_bytes:
        raise JSONLimitError(f"{what} is larger than {max_bytes} bytes")
    try:
        value = json.loads(data)
    except RecursionError:
        raise JSONLimitError(f"{what} nests deeper than {max_depth} levels") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise JSONLimitError(f"{what} is not valid JSON: {error}") from None
    check_shape(value, what, max_depth=max_depth, max_items=max_items)
    return value


def check_shape(value: Any, what: str, *, max_depth: int = MAX_DEPTH, max_items: int = MAX_ITEMS) -> None:
    """Refuse ``value`` nested deeper than ``max_depth`` or holding more than ``max_items`` values (no recursion)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    items = 0
    while pending:
        current, depth = pending.pop()
        children = current.values() if isinstance(current, dict) else current if isinstance(current, list) else ()
        if not children:
            continue
        if depth > max_depth:
            raise JSONLimitError(f"{what} nests deeper than {max_depth} levels")
        items += len(children)
        if items > max_items:
            raise JSONLimitError(f"{what} holds more than {max_items} values")
        pending.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
