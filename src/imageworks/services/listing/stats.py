"""Registry statistics for ``imageworks-download stats`` and the GUI widget."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from imageworks.core.model import RegistryEntry
from imageworks.services.listing.query import is_installed, is_testing


def installed_bytes(entries: Iterable[RegistryEntry]) -> int:
    """Bytes on disk under the entries' folders, each file counted once.

    Two entries may record one folder (a scan and a download of the same repo, an
    entry and its overlay under another backend): a file is keyed by its folder and
    relative path, so it counts once however many entries list it. An entry without a
    per-file inventory counts its recorded size once per folder and file list.
    """
    sizes: dict[tuple[str, str], int] = {}
    for entry in entries:
        folder = os.path.normpath(entry.download_path or "")
        if entry.artifacts.files:
            for artifact in entry.artifacts.files:
                sizes[(folder, artifact.path)] = artifact.size
        else:
            sizes[(folder, "\0" + "\0".join(sorted(entry.download_files)))] = entry.download_size_bytes or 0
    return sum(sizes.values())


def registry_stats(entries: Iterable[RegistryEntry], test_patterns: Sequence[str]) -> dict[str, Any]:
    """Counts by backend, format, location and provider, plus installed size (in all, per backend, per location)."""
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
        "installed_size_bytes": installed_bytes(installed),
        "by_backend": count(e.backend for e in entries),
        "by_format": count(e.download_format for e in entries),
        "by_location": count(e.download_location for e in entries),
        "by_provider": count(e.source_provider for e in entries),
        "installed_bytes_by_backend": _bytes_by(installed, lambda e: e.backend),
        "installed_bytes_by_location": _bytes_by(installed, lambda e: e.download_location),
    }


def _bytes_by(entries: Sequence[RegistryEntry], key: Callable[[RegistryEntry], str | None]) -> dict[str, int]:
    """Installed bytes per value of ``key`` (each file counted once within a group)."""
    groups: dict[str, list[RegistryEntry]] = {}
    for entry in entries:
        groups.setdefault(key(entry) or "unknown", []).append(entry)
    return {value: installed_bytes(group) for value, group in sorted(groups.items())}
