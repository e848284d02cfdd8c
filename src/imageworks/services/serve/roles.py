"""Roles (``roles[]``, ``role_priorities``, ``capabilities``): which variant serves a role, and which variant a requested model name means.

:func:`best_for_role` picks, in two steps:

1. the variants that list the role in ``roles[]``, by the convention ``list-roles`` has
   always sorted by: a **lower** ``role_priorities`` number is a **higher** priority (1
   before 2), and a variant that has the role but no priority for it comes after every
   variant that has one. Among equals, an installed variant beats one whose files are
   not here, then names sort;
2. only when no variant lists the role: the installed, not deprecated variants whose
   ``capabilities[role]`` is true (``{"vision": true}`` answers ``vision``), the first
   by variant name. A variant whose files are not here never serves a role this way.

Which testing placeholders count is the caller's choice (:func:`servable`, the proxy's
listing); with nothing found, the answer is ``None`` as before.

:func:`resolve_model` is what a client's ``model`` field means, in this order: a
variant name, a served id (``served_model_id``, else the variant name, as ``/v1/models``
shows it), an alias (``model_aliases``), and last a role name (``vision``, ``chat``),
which resolves to the best variant having that role (``matched`` is ``"capability"``
when step 2 found it). The chat proxy and ``list-roles`` use these functions, so both
agree on which variant a role listed in ``roles[]`` picks; ``list-roles`` shows only
``roles[]`` (``--show-capabilities`` shows the flags step 2 reads).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import attrs

from imageworks.core.model import RegistryEntry
from imageworks.services.listing.query import is_installed, is_testing
from imageworks.services.serve.commands import served_name

#: How a requested model name matched a variant.
Match = Literal["name", "served id", "alias", "role", "capability"]


@attrs.frozen(kw_only=True)
class RoleAssignment:
    """One (role, variant) pair as ``list-roles`` shows it; ``chosen`` marks the variant the role resolves to."""

    role: str
    name: str
    priority: int | None
    installed: bool
    capabilities: tuple[str, ...]
    chosen: bool = False


@attrs.frozen(kw_only=True)
class Resolution:
    """The variant a requested model name means, and how it matched."""

    entry: RegistryEntry
    matched: Match


def rank(entry: RegistryEntry, role: str) -> tuple[bool, bool, int, str]:
    """Sort key of ``entry`` among the variants having ``role``: best first."""
    priority = entry.role_priorities.get(role)
    return (not is_installed(entry), priority is None, priority or 0, entry.name)


def best_for_role(entries: Iterable[RegistryEntry], role: str) -> RegistryEntry | None:
    """The best variant of ``entries`` for ``role``: by ``roles[]``, else by ``capabilities``
    (see the module docstring); ``None`` when neither has it."""
    found = _best_for_role(list(entries), role)
    return found[0] if found else None


def _best_for_role(entries: Sequence[RegistryEntry], role: str) -> tuple[RegistryEntry, Match] | None:
    having = [entry for entry in entries if role in entry.roles]
    if having:
        return min(having, key=lambda entry: rank(entry, role)), "role"
    capable = [
        entry
        for entry in entries
        if entry.capabilities.get(role) is True and not entry.deprecated and is_installed(entry)
    ]
    return (min(capable, key=lambda entry: entry.name), "capability") if capable else None


def servable(entries: Iterable[RegistryEntry], test_patterns: Sequence[str], include_testing: bool = False) -> list[RegistryEntry]:
    """The variants a role may resolve to by default: not deprecated, not testing placeholders (unless asked)."""
    return [
        entry
        for entry in entries
        if not entry.deprecated and (include_testing or not is_testing(entry, test_patterns))
    ]


def role_assignments(entries: Iterable[RegistryEntry]) -> list[RoleAssignment]:
    """Every (role, variant) pair of ``entries``, by role then rank; the best of each role is marked
    ``chosen`` when it is installed (the variant a request for that role is sent to)."""
    chosen_entries = list(entries)
    rows: list[RoleAssignment] = []
    roles = sorted({role for entry in chosen_entries for role in entry.roles})
    for role in roles:
        having = sorted((e for e in chosen_entries if role in e.roles), key=lambda e: rank(e, role))
        for index, entry in enumerate(having):
            rows.append(
                RoleAssignment(
                    role=role,
                    name=entry.name,
                    priority=entry.role_priorities.get(role),
                    installed=is_installed(entry),
                    capabilities=tuple(sorted(k for k, v in entry.capabilities.items() if v)),
                    chosen=index == 0 and is_installed(entry),
                )
            )
    return rows


def resolve_model(entries: Sequence[RegistryEntry], requested: str) -> Resolution | None:
    """The variant of ``entries`` that ``requested`` names (name, served id, alias, then role or capability), or ``None``."""
    for entry in entries:
        if entry.name == requested:
            return Resolution(entry=entry, matched="name")
    candidates: list[tuple[Match, list[RegistryEntry]]] = [
        ("served id", [e for e in entries if served_name(e) == requested]),
        ("alias", [e for e in entries if requested in e.model_aliases]),
    ]
    for matched, found in candidates:
        if found:
            return Resolution(entry=min(found, key=lambda e: (not is_installed(e), e.name)), matched=matched)
    best = _best_for_role(entries, requested)
    return Resolution(entry=best[0], matched=best[1]) if best else None
