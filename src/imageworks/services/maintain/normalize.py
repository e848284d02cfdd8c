"""``normalize-formats`` (guide 6.4): re-detect format and quantisation on disk, and rebuild inventories.

For every entry with local files, the detectors the caller passes in look at the files
again; a detected format or quantisation replaces the recorded one (a detector that finds
nothing leaves the recorded value, so a ``scan --format`` fallback survives). With
``rebuild`` the size, directory checksum, file list and per-file records are computed
again, and only files whose (size, mtime_ns, inode) changed since they were recorded are
read: the rest keep their recorded sha256. With ``prune_missing`` an entry whose files
are gone is removed from the registry (both layers, as ``remove --purge`` does).

With many hosts on one registry, only the installs this host sees are checked: another
host's install is never judged (nor pruned) by a path missing here, and pruning a
variant other hosts also hold forgets only this host's install (core.installs).

A locked entry (``version_lock.locked``) is never rewritten: its drift is reported and
:attr:`NormalizeReport.locked_drift` names it, so the command can fail. The variant name
is left as it is (renaming belongs to the slug commands).

Planning reads a snapshot and hashes without the registry lock; applying runs in one
``Registry.batch()`` and skips (with a warning) an entry that changed meanwhile. A dry
run is the same code on ``Registry.scratch()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import attrs

from imageworks.core.convert import to_compact_dict
from imageworks.core.detection import FormatDetector
from imageworks.core.disk_inventory import list_files
from imageworks.core.model import ArtifactFile, Artifacts, FileRecord, RegistryEntry
from imageworks.core.registry import Registry
from imageworks.services.inventory import artifact_files, recorded_files, take_inventory
from imageworks.services.maintain.removal import cleared_download_fields

#: The diff columns of guide 6.4, in order.
DIFF_FIELDS = (
    "download_format",
    "quantization",
    "download_size_bytes",
    "download_directory_checksum",
    "download_files_count",
)
Action = Literal["update", "prune", "locked", "missing", "stale"]


@attrs.define(kw_only=True)
class EntryChange:
    """What normalising does (or would do) to one entry."""

    name: str
    action: Action
    before: dict[str, Any]
    after: dict[str, Any]
    updates: dict[str, Any] = attrs.field(factory=dict, repr=False)
    snapshot: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)
    rehashed: int = 0
    note: str = ""
    other_hosts: list[str] = attrs.field(factory=list)  # a prune forgets only this host's install; these stay

    @property
    def changed(self) -> list[str]:
        """The diff columns whose value changes."""
        return [f for f in DIFF_FIELDS if self.before.get(f) != self.after.get(f)]

    def to_json(self) -> dict[str, Any]:
        """A plain dict for ``--json``: every diff column as ``{"before", "after"}``."""
        return {
            "name": self.name,
            "action": self.action,
            "changed": self.changed,
            "fields": {f: {"before": self.before.get(f), "after": self.after.get(f)} for f in DIFF_FIELDS},
            "rehashed_files": self.rehashed,
            "note": self.note,
            "other_hosts": self.other_hosts,
        }


@attrs.define(kw_only=True)
class NormalizeReport:
    """Every entry that differs from its files, and what was done about it."""

    applied: bool
    rebuild: bool
    prune_missing: bool
    checked: int = 0
    rehashed_files: int = 0
    changes: list[EntryChange] = attrs.field(factory=list)
    backup: list[str] = attrs.field(factory=list)

    @property
    def locked_drift(self) -> list[str]:
        """Locked entries that differ from their files (left unchanged)."""
        return [c.name for c in self.changes if c.action == "locked"]

    def to_json(self) -> dict[str, Any]:
        """A plain dict for ``--json``."""
        return {
            "applied": self.applied,
            "rebuild": self.rebuild,
            "prune_missing": self.prune_missing,
            "checked": self.checked,
            "rehashed_files": self.rehashed_files,
            "changes": [c.to_json() for c in self.changes],
            "locked_drift": self.locked_drift,
            "backup": self.backup,
        }


def _columns(entry: RegistryEntry) -> dict[str, Any]:
    return {f: getattr(entry, f) for f in DIFF_FIELDS}


def _own_files(entry: RegistryEntry, path: Path, neighbours: Sequence[RegistryEntry]) -> list[str]:
    """The files on disk that belong to ``entry``: all of its folder, less what the other
    entries of the same folder (``neighbours``) record; only its recorded ones when it
    shares the folder."""
    theirs = {
        f for other in neighbours
        if other.name != entry.name and other.download_path == entry.download_path
        for f in other.download_files
    }
    on_disk = list_files(path)
    if theirs and entry.download_files:
        own = set(entry.download_files)
        return [f for f in on_disk if f in own and f not in theirs]
    return [f for f in on_disk if f not in theirs]


def _is_gone(entry: RegistryEntry, path: Path) -> bool:
    if not path.exists():
        return True
    if entry.download_files and path.is_dir():
        return not any((path / f).exists() for f in entry.download_files)
    return False


def plan_entry(
    entry: RegistryEntry, neighbours: Sequence[RegistryEntry], detector: FormatDetector, rebuild: bool, prune_missing: bool
) -> EntryChange | None:
    """What normalising ``entry`` would change, or ``None`` when it matches its files.

    ``neighbours`` are the entries that may share its folder (the registry's entries, or
    just those with the same ``download_path``). Three jobs: an entry whose files are
    gone (:func:`_gone_change`), the format and quantisation detected again
    (:func:`_detected_updates`), and with ``rebuild`` the inventory taken again
    (:func:`_rebuilt_updates`).
    """
    path = Path(entry.download_path or "")
    if _is_gone(entry, path):
        return _gone_change(entry, path, prune_missing)
    files = _own_files(entry, path, neighbours)
    updates = _detected_updates(entry, path, files, detector)
    rehashed = 0
    if rebuild:
        rebuilt, rehashed = _rebuilt_updates(entry, path, files)
        updates.update(rebuilt)
    if not updates:
        return None
    return _update_change(entry, updates, rehashed)


def _gone_change(entry: RegistryEntry, path: Path, prune_missing: bool) -> EntryChange:
    """The change for an entry whose files are gone: prune it, or report it missing (or locked)."""
    before = _columns(entry)
    action: Action = "prune" if prune_missing else "missing"
    others = sorted({i.host or "(every host)" for i in entry.installs})
    drops = f"forgets this host's install; the installs on {', '.join(others)} stay" if others else "drops the entry"
    note = f"files are gone from {path}" + (f" ({drops})" if prune_missing else f" (--prune-missing {drops})")
    if prune_missing and entry.version_lock.locked:
        action, note = "locked", f"locked; files are gone from {path}"
    after = {f: None for f in DIFF_FIELDS} if action == "prune" else dict(before)
    return EntryChange(
        name=entry.name, action=action, before=before, after=after, snapshot=to_compact_dict(entry), note=note,
        other_hosts=others,
    )


def _detected_updates(entry: RegistryEntry, path: Path, files: list[str], detector: FormatDetector) -> dict[str, Any]:
    """The format, quantisation and detection evidence the detectors now find, where they differ."""
    folder, model_name = (path.parent, path.name) if path.is_file() else (path, None)
    detections = detector.detect_directory(
        folder, model_name=entry.hf_id or entry.served_model_id or model_name, files=files if path.is_dir() else [path.name]
    )
    best = detections[0] if detections else None
    updates: dict[str, Any] = {}
    if best is None:
        return updates
    if best.format_type and best.format_type != entry.download_format:
        updates["download_format"] = best.format_type
    if best.quantization and best.quantization.lower() != entry.quantization:
        updates["quantization"] = best.quantization.lower()
    if updates:
        updates["metadata"] = to_compact_dict(attrs.evolve(entry.metadata, detection_evidence=list(best.evidence)))
    return updates


def _rebuilt_updates(entry: RegistryEntry, path: Path, files: list[str]) -> tuple[dict[str, Any], int]:
    """The inventory fields taken again where they differ, and how many files were read."""
    inventory = take_inventory(path, only=files if path.is_dir() else None, recorded=recorded_files(entry.artifacts.files))
    old = {f.path: f for f in entry.artifacts.files}
    rehashed = sum(
        1 for f in inventory.files if not (f.path in old and old[f.path].sha256 == f.sha256 and _same_stat(old[f.path], f))
    )
    artifacts = attrs.evolve(entry.artifacts, files=artifact_files(inventory))
    fresh = {
        "download_size_bytes": inventory.total_size,
        "download_directory_checksum": inventory.checksum,
        "download_files_count": len(inventory.files),
        "download_files": [f.path for f in inventory.files],
    }
    updates: dict[str, Any] = {k: v for k, v in fresh.items() if getattr(entry, k) != v}
    if artifacts != entry.artifacts:
        updates["artifacts"] = to_compact_dict(artifacts) if artifacts != Artifacts() else None
    return updates, rehashed


def _update_change(entry: RegistryEntry, updates: dict[str, Any], rehashed: int) -> EntryChange:
    """The ``update`` change writing ``updates`` (``locked`` instead when the entry is locked)."""
    before = _columns(entry)
    after = {f: updates.get(f, before[f]) for f in DIFF_FIELDS}
    change = EntryChange(
        name=entry.name, action="update", before=before, after=after, updates=updates, snapshot=to_compact_dict(entry),
        rehashed=rehashed,
    )
    if not change.changed:
        change.note = "per-file records refreshed (same content)"
    if entry.version_lock.locked:
        change.action, change.updates = "locked", {}
        change.note = "locked: left unchanged (unlock it to normalise)"
    return change


def _setting(updates: dict[str, Any]) -> Callable[[RegistryEntry | None], dict[str, Any]]:
    """A :meth:`Registry.update` change that writes ``updates``."""
    return lambda _: updates


def _same_stat(old: ArtifactFile, new: FileRecord) -> bool:
    return bool(old.mtime_ns is not None and (old.size, old.mtime_ns, old.inode) == (new.size, new.mtime_ns, new.inode))


def normalize_formats(
    registry: Registry,
    detector: FormatDetector,
    *,
    rebuild: bool = False,
    prune_missing: bool = False,
    backup: bool = True,
    names: Iterable[str] | None = None,
) -> NormalizeReport:
    """Normalise every entry with local files (or those in ``names``) and write the result.

    ``registry`` is the opened registry, or its scratch copy for a dry run. A backup is
    taken before the first write unless ``backup`` is false; nothing is written (and no
    backup taken) when nothing changes.
    """
    everything = registry.entries()
    wanted = set(names) if names is not None else None
    seen = [e for e in everything if registry.view.sees(e)]  # another host's files are not ours to judge
    local = [e for e in seen if not e.is_logical and (wanted is None or e.name in wanted)]
    report = NormalizeReport(applied=not registry.is_scratch, rebuild=rebuild, prune_missing=prune_missing, checked=len(local))
    by_path: dict[str | None, list[RegistryEntry]] = {}
    for entry in seen:
        by_path.setdefault(entry.download_path, []).append(entry)
    for entry in local:
        change = plan_entry(entry, by_path[entry.download_path], detector, rebuild, prune_missing)
        if change is not None:
            report.changes.append(change)
            report.rehashed_files += change.rehashed
    writes = [c for c in report.changes if c.action in ("update", "prune")]
    if not writes:
        return report
    if backup:
        report.backup = registry.backup()
    with registry.batch():
        current = {e.name: to_compact_dict(e) for e in registry.entries()}
        for change in writes:
            if current.get(change.name) != change.snapshot:
                change.action, change.note = "stale", "changed by another command meanwhile; run normalize-formats again"
                continue
            if change.action == "prune" and change.other_hosts:
                registry.update(change.name, _setting(cleared_download_fields()))
            elif change.action == "prune":
                registry.delete(change.name, backup=False)
            else:
                registry.update(change.name, _setting(change.updates))
    return report
