"""Timestamps in the registry's one form: ISO 8601, UTC, whole seconds."""

from __future__ import annotations

import datetime as dt


def utc_now() -> str:
    """Now, e.g. ``2026-11-26T03:45:13+00:00``."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def utc_from_timestamp(seconds: float) -> str:
    """A POSIX time (a file's ``st_mtime``) in the same form as :func:`utc_now`."""
    return dt.datetime.fromtimestamp(int(seconds), dt.UTC).isoformat(timespec="seconds")
