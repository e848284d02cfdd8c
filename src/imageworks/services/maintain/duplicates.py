"""``prune-duplicates`` (guide 7.2): one entry per (family, backend, format, quant).

The guide's naming makes equal tuples one entry (4.2), so two entries with the same
tuple are a stale duplicate: one was recorded under an older name (a legacy scheme, a
hand-written key). The best of each group is kept: a curated entry (hand-kept) first,
then one whose files are on disk, one not deprecated, one whose name is the canonical
name of its tuple, the one with the most fields set, the newest download, then by name.
Each other member is dropped: removed from the discovered layer, or, when the curated
layer holds it, retired (``deprecated`` with ``superseded_by`` in the discovered layer),
so the hand-kept file keeps its bytes. A member whose files are on disk at a path other
than the winner's is kept and reported: dropping it would lose track of real files; so
is a member installed on another host (its path, missing here, is not this host's to judge).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from imageworks.core.convert import to_compact_dict
from imageworks.core.hosts import HostView
from imageworks.core.installs import elsewhere
from imageworks.core.model import RegistryEntry
from imageworks.core.naming import normalize_name, normalize_quant, variant_name
from imageworks.core.registry import Registry
from imageworks.services.listing.query import is_installed
from imageworks.services.maintain.cleanup import CleanupItem, CleanupReport, check_backend
from imageworks.services.maintain.slugs import entry_family

Tuple = tuple[str, str, str, str]


def variant_tuple(entry: RegistryEntry) -> Tuple:
    """(family, backend, format, quant) in registry form, the identity of a variant."""
    return (
        entry_family(entry),
        normalize_name(entry.backend or "unassigned"),
        normalize_name(entry.download_format or ""),
        normalize_quant(entry.quantization) or "",
    )


def canonical_name(entry: RegistryEntry) -> str:
    """The name the guide's naming gives ``entry``'s tuple."""
    family, backend, fmt, quant = variant_tuple(entry)
    return variant_name(family, backend, fmt or None, quant or None)


def _rank(entry: RegistryEntry, curated: set[str]) -> tuple[bool, bool, bool, bool, int, str, str]:
    """Bigger is better; the last element makes the order total (smaller name wins ties)."""
    filled = len(to_compact_dict(entry))
    inverted_name = "".join(chr(0x10FFFF - ord(c)) for c in entry.name)
    return (
        entry.name in curated,
        is_installed(entry),
        not entry.deprecated,
        entry.name == canonical_name(entry),
        filled,
        entry.downloaded_at or "",
        inverted_name,
    )


def _why(winner: RegistryEntry, curated: set[str]) -> str:
    if winner.name in curated:
        return "curated"
    if is_installed(winner):
        return "installed"
    if winner.name == canonical_name(winner):
        return "canonical name"
    return "most metadata"


def duplicate_groups(entries: Iterable[RegistryEntry], backend: str | None = None) -> dict[Tuple, list[RegistryEntry]]:
    """Tuple -> its entries, for tuples held by two or more entries (of ``backend`` if given)."""
    groups: dict[Tuple, list[RegistryEntry]] = {}
    for entry in entries:
        if backend is not None and entry.backend.lower() != backend:
            continue
        groups.setdefault(variant_tuple(entry), []).append(entry)
    return {key: members for key, members in sorted(groups.items()) if len(members) > 1}


def plan_prune_duplicates(registry: Registry, backend: str | None = None) -> tuple[CleanupReport, list[str]]:
    """The plan, and one human line per group saying what is kept and why (``--verbose``)."""
    layers, entries = registry.layers(), registry.entries()
    wanted = check_backend(backend, entries)
    curated = set(layers.curated)
    report = CleanupReport(command="prune-duplicates", dry_run=registry.is_scratch)
    decisions: list[str] = []
    for key, members in duplicate_groups(entries, wanted).items():
        ranked = sorted(members, key=lambda e: _rank(e, curated), reverse=True)
        winner, losers = ranked[0], ranked[1:]
        decisions.append(
            f"({', '.join(part or '-' for part in key)}): keep {winner.name} ({_why(winner, curated)}); "
            f"drop {', '.join(e.name for e in losers)}"
        )
        for loser in losers:
            report.items.append(_drop(loser, winner, set(layers.curated), registry.view))
    return report, decisions


def _drop(loser: RegistryEntry, winner: RegistryEntry, curated: set[str], view: HostView) -> CleanupItem:
    away = sorted({i.host or "?" for i in elsewhere(loser, view)})
    if away:
        return CleanupItem(
            name=loser.name, action="keep",
            reason=f"duplicate of {winner.name} but installed on {', '.join(away)}; `remove` it there if unwanted",
        )
    same_place = os.path.normpath(loser.download_path or "") == os.path.normpath(winner.download_path or "")
    if is_installed(loser) and not same_place:
        return CleanupItem(
            name=loser.name, action="keep",
            reason=f"duplicate of {winner.name} but installed at {loser.download_path}; `remove` it if unwanted",
        )
    if loser.name in curated:
        return CleanupItem(
            name=loser.name, action="retire", layers=["discovered"], superseded_by=winner.name,
            reason=f"duplicate of {winner.name}; curated, so deprecated in the discovered layer",
        )
    return CleanupItem(name=loser.name, action="remove", layers=["discovered"], reason=f"duplicate of {winner.name}")
