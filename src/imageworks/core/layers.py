"""How the two registry layers combine, and the byte form of a layer on disk.

Curated is the hand-kept baseline (guide 4.1); ``docs/merge-rules.md`` gives the rule
for every field. In short: discovered overlays curated field by field (where both hold
an object they merge recursively; anything else in the discovered layer, ``null``
included, replaces the curated value), except for the *human* fields
(:data:`HUMAN_FIELDS`: labels, roles, aliases, capabilities, backend config), where a
value the curated layer holds is never overwritten: a curated list or scalar wins
whole, and in a curated object each key curated sets wins while discovered fills in
the keys it does not set. An empty curated value (``null``, ``[]``, ``{}``) holds
nothing, so the discovered value shows.

A layer file is a JSON array of entry objects sorted by ``name`` with sorted keys,
two-space indentation and a final newline, so the same content always gives the same
bytes.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import orjson

#: The layer files of the guide (4.1): hand-kept curated, tool-written discovered, the merged snapshot.
CURATED = "model_registry.curated.json"
DISCOVERED = "model_registry.discovered.json"
MERGED = "model_registry.json"

#: Fields a person keeps in the curated layer; a curated value of one is never overwritten.
#: ``aliases`` is the older spelling of ``model_aliases`` that some hand-kept files use.
HUMAN_FIELDS = frozenset(
    {"display_name", "slug", "roles", "role_priorities", "model_aliases", "aliases", "capabilities", "backend_config"}
)


def _holds(value: Any) -> bool:
    """Whether a curated value says something (``null``, ``[]`` and ``{}`` do not)."""
    return value is not None and value != [] and value != {}


def _curated_first(curated: Mapping[str, Any], discovered: Mapping[str, Any]) -> dict[str, Any]:
    """``discovered`` with every key ``curated`` holds laid over it (objects key by key)."""
    merged = dict(discovered)
    for key, value in curated.items():
        current = merged.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            merged[key] = _curated_first(value, current)
        elif _holds(value) or key not in merged:
            merged[key] = value
    return merged


def merge_entry(curated: Mapping[str, Any], discovered: Mapping[str, Any]) -> dict[str, Any]:
    """One variant held by both layers: discovered overlays curated, human fields excepted."""
    merged = deep_merge(curated, discovered)
    for field in HUMAN_FIELDS.intersection(curated):
        value, found = curated[field], discovered.get(field)
        if isinstance(value, Mapping) and isinstance(found, Mapping):
            merged[field] = _curated_first(value, found)
        elif _holds(value):
            merged[field] = value
    return merged


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """A new dict: ``base`` with ``overlay`` laid over it (objects merge, the rest replaces)."""
    merged = dict(base)
    for key, value in overlay.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged


def merge_layers(
    curated: Mapping[str, dict[str, Any]], discovered: Mapping[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Entry name -> merged raw entry, for every name in either layer."""
    merged: dict[str, dict[str, Any]] = {}
    for name in sorted(set(curated) | set(discovered)):
        if name in curated and name in discovered:
            merged[name] = merge_entry(curated[name], discovered[name])
        else:
            merged[name] = copy.copy(curated.get(name) or discovered[name])
    return merged


def dump_layer(entries: Mapping[str, Mapping[str, Any]]) -> bytes:
    """The canonical bytes of a layer file."""
    ordered = [entries[name] for name in sorted(entries)]
    # Same bytes as json.dumps(indent=2, sort_keys=True, ensure_ascii=False) + "\n", 20x faster.
    return orjson.dumps(ordered, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)
