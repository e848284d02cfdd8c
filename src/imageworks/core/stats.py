"""Registry statistics for ``imageworks-download stats`` and the GUI widget."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from imageworks.core.model import RegistryEntry
from imageworks.core.query import is_installed, is_testing


def registry_stats(entries: Iterable[RegistryEntry], test_patterns: Sequence[str]) -> dict[str, Any]:
    """Counts by backend, format, location and provider, plus installed size."""
    entries = list(entries)
    installed = [e for e in entries if is_installed(e)]

    def count(values: Iterable[str | None]) -> dict[str, int]:
        return dict(sorted(Counter(v or "unknown" for v in values).items()))

    return {
        "total": len(entries),
        "installed": len(installed),
        "not_installed": sum(1 for e in entries if not e.is_logical and not is_installed(e)),
        "logical_only": sum(1 for e in entries if e.is_logical),
        "deprecated": sum(1 for e in entries if e.deprecated),
        "testing": sum(1 for e in entries if is_testing(e, test_patterns)),
        "installed_size_bytes": sum(e.download_size_bytes or 0 for e in installed),
        "by_backend": count(e.backend for e in entries),
        "by_format": count(e.download_format for e in entries),
        "by_location": count(e.download_location for e in entries),
        "by_provider": count(e.source_provider for e in entries),
    }
