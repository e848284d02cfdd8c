"""Registry backups you can use: list the sets a backend keeps, restore one.

Both work through the store interface (:meth:`RegistryStore.list_backups`,
:meth:`RegistryStore.restore_backup`), so any backend that keeps backups supports them.
A restore backs up the current layers first, then makes them the backup's (the JSON
backend puts the layer files back byte for byte). A dry run is the same code on
``Registry.scratch()``, whose restore changes only memory; the report says, per layer,
which entries the restore adds, removes and changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from imageworks.core.errors import ImageworksError
from imageworks.core.interfaces import BackupSet, LayerName, RegistryLayers
from imageworks.core.registry import Registry


@attrs.define(kw_only=True)
class BackupSummary:
    """One backup set with what it holds (``error`` when it cannot be read)."""

    backup: BackupSet
    curated: int | None = None
    discovered: int | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A plain dict for ``--json``."""
        return {
            "id": self.backup.id,
            "created": self.backup.created.isoformat(),
            "location": self.backup.location,
            "curated_entries": self.curated,
            "discovered_entries": self.discovered,
            "error": self.error,
        }


@attrs.define(kw_only=True)
class LayerDiff:
    """How one layer changes: entry names added, removed and changed."""

    layer: LayerName
    added: list[str] = attrs.field(factory=list)
    removed: list[str] = attrs.field(factory=list)
    changed: list[str] = attrs.field(factory=list)

    def to_json(self) -> dict[str, Any]:
        """A plain dict for ``--json``."""
        return {"layer": self.layer, "added": self.added, "removed": self.removed, "changed": self.changed}


@attrs.define(kw_only=True)
class RestoreReport:
    """What restoring ``backup_id`` changed (or, in a dry run, would change)."""

    backup_id: str
    applied: bool
    layers: list[LayerDiff]
    backup: list[str] = attrs.field(factory=list)

    @property
    def unchanged(self) -> bool:
        """True when the registry already held the backup's entries."""
        return not any(d.added or d.removed or d.changed for d in self.layers)

    def to_json(self) -> dict[str, Any]:
        """A plain dict for ``--json``."""
        return {
            "backup_id": self.backup_id,
            "applied": self.applied,
            "unchanged": self.unchanged,
            "layers": [d.to_json() for d in self.layers],
            "backup": self.backup,
        }


def backup_place(copies: Sequence[str]) -> str | None:
    """Where a backup went, for a message: the folder of the copied files (the JSON
    backend returns file paths), else the location the backend gave; None for no copies."""
    if not copies:
        return None
    first = Path(copies[0])
    return str(first.parent) if first.is_file() else copies[0]


def summarize_backups(registry: Registry) -> list[BackupSummary]:
    """Every backup set, newest first, with its entry counts."""
    summaries = []
    for backup in registry.list_backups():
        try:
            layers = registry.read_backup(backup.id)
        except ImageworksError as error:
            summaries.append(BackupSummary(backup=backup, error=str(error)))
            continue
        summaries.append(BackupSummary(backup=backup, curated=len(layers.curated), discovered=len(layers.discovered)))
    return summaries


def diff_layers(before: RegistryLayers, after: RegistryLayers) -> list[LayerDiff]:
    """Per layer, the entry names ``after`` adds, removes and changes against ``before``."""
    diffs = []
    layer: LayerName
    for layer in ("curated", "discovered"):
        old, new = getattr(before, layer), getattr(after, layer)
        diffs.append(
            LayerDiff(
                layer=layer,
                added=sorted(set(new) - set(old)),
                removed=sorted(set(old) - set(new)),
                changed=sorted(name for name in set(old) & set(new) if old[name] != new[name]),
            )
        )
    return diffs


def restore(registry: Registry, backup_id: str) -> RestoreReport:
    """Restore backup ``backup_id`` (an id :func:`summarize_backups` lists) into ``registry``.

    The backup is read in full before anything is written: a damaged set, or a damaged
    current layer, raises and changes nothing.
    """
    known = [b.id for b in registry.list_backups()]
    if backup_id not in known:
        newest = ", ".join(known[:3]) or "none yet"
        raise ImageworksError(f"no backup set {backup_id!r}", f"pass an id from `imageworks-download backups list` (newest: {newest})")
    before = registry.layers()
    copies = registry.restore_backup(backup_id)
    after = registry.layers()
    return RestoreReport(backup_id=backup_id, applied=not registry.is_scratch, layers=diff_layers(before, after), backup=copies)
