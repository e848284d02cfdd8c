"""Timestamps in the registry's one form: ISO 8601, UTC, whole seconds."""

from __future__ import annotations

import datetime as dt


def utc_now() -> str:
    """Now, e.g. ``2026-11-26T03:45:13+00:00``."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
