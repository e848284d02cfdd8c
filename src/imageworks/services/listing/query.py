"""Choosing and ordering entries for listings: the filters of ``list`` and the GUI table.

Testing placeholders (``testzzz``, ``demo-model``, ... and
``IMAGEWORKS_TEST_MODEL_PATTERNS``) match as whole dash/underscore/slash-separated
pieces of a name, so ``testzzz`` hides ``testzzz-llm`` but not ``mytestzzzz``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

import attrs

from imageworks.core.convert import converter
from imageworks.core.hosts import HostView
from imageworks.core.model import RegistryEntry


@cache
def _pattern(tokens: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(token.lower()) for token in tokens)
    return re.compile(rf"(?:^|[-_/:. ])(?:{alternatives})(?:$|[-_/:. ])", re.MULTILINE)


def is_testing(entry: RegistryEntry, patterns: Sequence[str]) -> bool:
    """Whether ``entry`` is a testing/demo placeholder by any of its names."""
    if not patterns:
        return False
    labels = (entry.name, entry.display_name, entry.hf_id, entry.served_model_id, entry.family)
    return _pattern(tuple(patterns)).search("\n".join(label for label in labels if label).lower()) is not None


def is_installed(entry: RegistryEntry) -> bool:
    """Whether the entry's files are on disk now."""
    return not entry.is_logical and os.path.exists(entry.download_path or "")


@attrs.define(kw_only=True, frozen=True)
class ListQuery:
    """The filters of ``imageworks-download list`` (guide 7.3)."""

    format: str | None = None
    location: str | None = None
    backend: str | None = None
    show_deprecated: bool = False
    include_logical: bool = False
    include_testing: bool = False
    dedupe: bool = False
    only_installed: bool = False
    host_view: HostView | None = None  # only what this host sees (core.hosts); None: every host's


def select(entries: Iterable[RegistryEntry], query: ListQuery, test_patterns: Sequence[str]) -> list[RegistryEntry]:
    """Entries matching ``query``, sorted by name (deduplicated when asked)."""
    chosen = []
    for entry in entries:
        if entry.deprecated and not query.show_deprecated:
            continue
        if entry.is_logical and not query.include_logical:
            continue
        if not query.include_testing and is_testing(entry, test_patterns):
            continue
        if query.format and (entry.download_format or "").lower() != query.format.lower():
            continue
        if query.location and (entry.download_location or "").lower() != query.location.lower():
            continue
        if query.backend and entry.backend.lower() != query.backend.lower():
            continue
        if query.only_installed and not is_installed(entry):
            continue
        if query.host_view is not None and not query.host_view.sees(entry):
            continue
        chosen.append(entry)
    chosen.sort(key=lambda e: e.name)
    return dedupe(chosen) if query.dedupe else chosen


def dedupe(entries: Sequence[RegistryEntry]) -> list[RegistryEntry]:
    """One entry per installation: entries sharing a download path (or, without one, the
    same source, format and quant) collapse to the best one: installed, then assigned to a
    backend, then newest."""

    def identity(entry: RegistryEntry) -> tuple[str, ...]:
        if entry.download_path:  # one path on two hosts' own disks is two installs
            return ("path", entry.host or "", os.path.normpath(entry.download_path))
        source = entry.hf_id or entry.served_model_id or entry.name
        return ("source", source.lower(), entry.download_format or "", entry.quantization or "")

    def rank(entry: RegistryEntry) -> tuple[bool, bool, str]:
        return (is_installed(entry), entry.backend != "unassigned", entry.downloaded_at or "")

    best: dict[tuple[str, ...], RegistryEntry] = {}
    for entry in entries:
        key = identity(entry)
        if key not in best or rank(entry) > rank(best[key]):
            best[key] = entry
    return sorted(best.values(), key=lambda e: e.name)


def entry_json(entry: RegistryEntry) -> dict[str, Any]:
    """The full JSON form of an entry for ``list --json``: every field, plus the computed
    ``producer``, ``installed`` and ``logical``."""
    data: dict[str, Any] = converter.unstructure(entry)
    data["producer"] = entry.producer
    data["installed"] = is_installed(entry)
    data["logical"] = entry.is_logical
    return data
