"""HTTP values read from servers we do not trust.

One parser for ``Retry-After`` (RFC 9110 section 10.2.3): the metadata client uses it,
and the transfer engines can call the same function instead of their own.
"""

from __future__ import annotations

import datetime as dt
import math
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, default: float, cap: float, now: dt.datetime | None = None) -> float:
    """Seconds to wait before retrying, always finite and within ``[0, cap]``.

    ``value`` is delay-seconds or an HTTP-date (a date in the past means "now"). A
    missing, negative, non-finite (``NaN``, ``inf``) or unreadable value gives
    ``default``: a server that sends garbage gets our own backoff, not a crash and not
    a zero-delay hammering loop.
    """
    fallback = min(max(default, 0.0), cap)
    text = (value or "").strip()
    if not text:
        return fallback
    seconds: float | None
    try:
        seconds = float(text)
    except ValueError:
        seconds = _seconds_until(text, now)
        if seconds is None:
            return fallback
        return min(max(seconds, 0.0), cap)
    if not math.isfinite(seconds) or seconds < 0:
        return fallback
    return min(seconds, cap)


def _seconds_until(text: str, now: dt.datetime | None) -> float | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a zone-less one is read as UTC
        when = when.replace(tzinfo=dt.UTC)
    return (when - (now or dt.datetime.now(dt.UTC))).total_seconds()
