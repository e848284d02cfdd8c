"""An in-memory registry store: what dry runs write to (:meth:`Registry.scratch`).

A :class:`MemoryStore` starts as a copy of another store's layers and behaves like a
real backend (a transaction that raises leaves it as it was), so a dry run executes
the same code as the real command and reports exactly what that would do. Nothing
written here reaches the original store; backups are read from the original.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

from imageworks.core.interfaces import BackupSet, LayerName, RegistryLayers, RegistryStore


class MemoryStore(RegistryStore):
    """Registry layers held in memory; ``origin`` (if any) answers for backups and messages."""

    def __init__(self, layers: RegistryLayers | None = None, origin: RegistryStore | None = None) -> None:
        self._layers = copy.deepcopy(layers) if layers is not None else RegistryLayers()
        self.origin = origin
        self.description = f"{origin.description} (scratch copy)" if origin else "in-memory registry"

    def read(self) -> RegistryLayers:
        """A copy of the current layers (callers may not change the store through it)."""
        return copy.deepcopy(self._layers)

    @contextmanager
    def transaction(self) -> Iterator[RegistryLayers]:
        """Yield a working copy; keep it only if the block finishes without raising."""
        working = copy.deepcopy(self._layers)
        yield working
        self._layers = working

    def backup(self) -> list[str]:
        """Nothing to copy: the original is never changed through this store."""
        return []

    def list_backups(self) -> list[BackupSet]:
        """The original store's backups."""
        return self.origin.list_backups() if self.origin else []

    def read_backup(self, backup_id: str) -> RegistryLayers:
        """A backup of the original store."""
        if self.origin is None:
            return super().read_backup(backup_id)
        return self.origin.read_backup(backup_id)

    def restore_backup(self, backup_id: str, backup_first: bool = True) -> list[str]:
        """Take the layers of the original's backup ``backup_id`` (nothing is backed up here)."""
        self._layers = copy.deepcopy(self.read_backup(backup_id))
        return []

    def check_writable(self) -> None:
        """Always writable."""

    def layer_location(self, layer: LayerName) -> str:
        """The original's location of ``layer`` (entries came from there)."""
        return self.origin.layer_location(layer) if self.origin else super().layer_location(layer)
