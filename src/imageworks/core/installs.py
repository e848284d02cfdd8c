"""A variant installed on many hosts: one install at the entry's top level, the others in ``installs``.

With one registry for several GPU hosts, two hosts may hold the same variant on their
own disks. The entry keeps both: its top-level install fields (:data:`INSTALL_FIELDS`:
``download_path``, ``host``, size, checksums, files, ``downloaded_at`` ...) hold one
install, as they always did, and ``installs`` holds the other hosts' installs, each with
the same fields under the same names. A registry written before ``installs`` existed is
read as it is: one install per entry.

Which install is at the top is decided when the entry is read (:func:`localise`): this
host's own install, else one it sees (on shared storage, or of no host), else the one
stored there. So ``list``, ``verify``, ``remove``, the launch helpers and the exports see
this host's install without knowing about the others, and a write through
:meth:`Registry.update` stores the entry as this host saw it. A recorded
``backend_config.model_path`` (the install's own path) follows the install to the top.

Installs are told apart by their key (:func:`install_key`): the host, or ``None`` for an
install every host sees (shared storage, a logical path, one recorded before hosts
were). Recording an install replaces the one of the same key and any install of no host
that is not on shared storage (what a single machine recorded before hosts were), and
keeps every other (:func:`recorded_installs`). Keys this version does not know in an
install travel with it (:data:`INSTALL_EXTRA` while it is at the top). When the top-level install is cleared
(``remove`` on one host), the best of the others moves up (:func:`settle`), so an entry
with any install holds one at its top level.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from imageworks.core.convert import to_compact_dict
from imageworks.core.hosts import HostView
from imageworks.core.model import Install, RegistryEntry

#: The fields one install holds, at an entry's top level and in each of ``installs``.
INSTALL_FIELDS = tuple(a.name for a in attrs.fields(Install) if a.name != "extra")
#: Where the keys this version does not know of the top-level install wait while it is at
#: the top (they go back into its object when it moves down), so no install loses them.
INSTALL_EXTRA = "install_extra"
_STORED = (*INSTALL_FIELDS, "installs", INSTALL_EXTRA)


def install_key(host: str | None, path: str | None, view: HostView) -> str | None:
    """What tells an install apart: its host, or None when every host sees it."""
    if host is None or not path or "://" in path or view.on_shared_storage(path):
        return None
    return host


def _rank(host: Any, path: Any, view: HostView) -> int | None:
    """0: this host's own install; 1: on shared storage; 2: of no host; None: another host's."""
    if view.on_shared_storage(path):
        return 1
    if host is None:
        return 2
    return 0 if host == view.host else None


def _top(raw: Mapping[str, Any]) -> dict[str, Any] | None:
    """The install held at the top level of a raw entry (None: no path, nothing installed)."""
    if not raw.get("download_path"):
        return None
    extra = raw.get(INSTALL_EXTRA)
    return {**(extra if isinstance(extra, Mapping) else {}), **{f: raw[f] for f in INSTALL_FIELDS if raw.get(f) not in (None, [], {})}}


def _order(install: Mapping[str, Any]) -> tuple[str, str]:
    return (str(install.get("host") or ""), str(install.get("download_path") or ""))


def _with_top(raw: Mapping[str, Any], chosen: Mapping[str, Any], rest: Sequence[Mapping[str, Any]],
              old_path: Any) -> dict[str, Any]:
    """``raw`` with ``chosen`` as its top-level install and ``rest`` as ``installs``."""
    moved = {k: v for k, v in raw.items() if k not in _STORED}
    moved.update({k: v for k, v in chosen.items() if k in INSTALL_FIELDS})
    extra = {k: v for k, v in chosen.items() if k not in INSTALL_FIELDS}
    if extra:
        moved[INSTALL_EXTRA] = extra
    if rest:
        moved["installs"] = sorted((dict(i) for i in rest), key=_order)
    config = raw.get("backend_config")
    if isinstance(config, Mapping) and old_path and config.get("model_path") == old_path:
        moved["backend_config"] = {**config, "model_path": chosen.get("download_path")}
    return moved


def _others(raw: Mapping[str, Any]) -> list[Mapping[str, Any]] | None:
    """The raw ``installs`` list, or None when there is none (or it is not a list of objects:
    structuring the entry then names the bad value)."""
    others = raw.get("installs")
    if not isinstance(others, list) or not others or not all(isinstance(i, Mapping) for i in others):
        return None
    return others


def _best(candidates: Sequence[Mapping[str, Any]], view: HostView) -> int | None:
    ranked = [(rank, index) for index, c in enumerate(candidates) if (rank := _rank(c.get("host"), c.get("download_path"), view)) is not None]
    return min(ranked)[1] if ranked else None


def localise(raw: dict[str, Any], view: HostView) -> dict[str, Any]:
    """``raw`` (a merged entry) with this host's install at the top, when it holds one
    elsewhere; ``raw`` itself when nothing moves."""
    others = _others(raw)
    if others is None:
        return raw
    top = _top(raw)
    candidates = [*([top] if top else []), *others]
    best = _best(candidates, view)
    if best is None or (best == 0 and top):
        return raw
    rest = [c for index, c in enumerate(candidates) if index != best]
    return _with_top(raw, candidates[best], rest, raw.get("download_path"))


def settle(raw: dict[str, Any], view: HostView, old_path: Any) -> dict[str, Any]:
    """After a write: when the top-level install was cleared (its old path ``old_path``)
    and other installs remain, move the best of them (for this host) to the top."""
    others = _others(raw)
    if others is None or raw.get("download_path"):
        return raw
    best = _best(others, view)
    chosen = others[best if best is not None else 0]
    return _with_top(raw, chosen, [i for i in others if i is not chosen], old_path)


def stored_changes(before: Mapping[str, Any], after: Mapping[str, Any], target: Mapping[str, Any]) -> dict[str, Any]:
    """The field updates that turn the install fields of ``before`` into those of ``after``
    (``target``: the discovered layer's record, whose other ``backend_config`` keys stay)."""
    updates = {f: after.get(f) for f in _STORED if before.get(f) != after.get(f)}
    path_before = (before.get("backend_config") or {}).get("model_path")
    path_after = (after.get("backend_config") or {}).get("model_path")
    if path_before != path_after:
        updates["backend_config"] = {**(target.get("backend_config") or {}), "model_path": path_after}
    return updates


def top_install(entry: RegistryEntry) -> Install | None:
    """The install held at ``entry``'s top level (None when it records no path)."""
    if not entry.download_path:
        return None
    extra = entry.extra.get(INSTALL_EXTRA)
    return Install(**{f: getattr(entry, f) for f in INSTALL_FIELDS}, extra=dict(extra) if isinstance(extra, Mapping) else {})


def all_installs(entry: RegistryEntry) -> list[Install]:
    """Every install of ``entry``: the top-level one first, then the other hosts'."""
    top = top_install(entry)
    return [*([top] if top else []), *entry.installs]


def recorded_installs(current: RegistryEntry | None, host: str | None, path: str, view: HostView) -> dict[str, Any]:
    """The updates that keep the other installs when this host records an install at
    ``path`` (with ``host``) at the top: ``installs`` holds every install of ``current``
    but the one it replaces."""
    if current is None:
        return {"installs": None, INSTALL_EXTRA: None}
    key = install_key(host, path, view)
    kept = [
        i for i in all_installs(current)
        if install_key(i.host, i.download_path, view) != key and not (i.host is None and not view.on_shared_storage(i.download_path))
    ]
    return {"installs": sorted((to_compact_dict(i) for i in kept), key=_order) or None, INSTALL_EXTRA: None}


def per_install(entry: RegistryEntry) -> list[RegistryEntry]:
    """``entry`` once per install (each with that install at its top level; ``list
    --all-hosts``); an entry of one install, or of none, as it is."""
    if not entry.installs:
        return [entry]
    views = [entry]
    for index, install in enumerate(entry.installs):
        rest = [i for j, i in enumerate(entry.installs) if j != index]
        top = top_install(entry)
        fields = {f: getattr(install, f) for f in INSTALL_FIELDS}
        extra = {**{k: v for k, v in entry.extra.items() if k != INSTALL_EXTRA}, **({INSTALL_EXTRA: install.extra} if install.extra else {})}
        views.append(attrs.evolve(entry, **fields, installs=[*([top] if top else []), *rest], extra=extra))
    return views


def elsewhere(entry: RegistryEntry, view: HostView) -> list[Install]:
    """The installs of ``entry`` that this host cannot see (other hosts' own disks)."""
    return [i for i in all_installs(entry) if _rank(i.host, i.download_path, view) is None]
