"""The registry as the rest of the program sees it: typed entries over a storage backend.

Reads merge the two layers and structure every entry with the one converter. Writes go
to the discovered layer (curated is hand-kept) except :meth:`Registry.delete`, which
removes a variant from both, and :meth:`Registry.set_curated`, which a person's own
edits (roles) go through. Each write is one locked backend transaction, or part of
the one :meth:`Registry.batch` around it (batches nest: an inner batch that raises
undoes only its own writes). :meth:`Registry.scratch` gives a registry over an
in-memory copy for dry runs, so they run the real code and write nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from imageworks.core.config import Config
from imageworks.core.convert import converter, describe_structure_error, to_compact_dict
from imageworks.core.errors import ConfigError, ImageworksError, RegistryCorruptError, VariantNotFoundError
from imageworks.core.hosts import HostView
from imageworks.core.installs import localise, settle, stored_changes
from imageworks.core.interfaces import BackupSet, LayerName, RegistryLayers, RegistryStore
from imageworks.core.layers import deep_merge, merge_layers
from imageworks.core.model import RegistryEntry
from imageworks.core.scratch import MemoryStore

if TYPE_CHECKING:
    from imageworks.core.plugins import PluginHost

ENTRY_FIELDS = tuple(a.name for a in attrs.fields(RegistryEntry) if a.name != "extra")


class Registry:
    """Typed access to the layered registry held by a :class:`RegistryStore`."""

    def __init__(self, store: RegistryStore, config: Config) -> None:
        self.store = store
        self.config = config
        self.view = HostView.of(config)  # entries are read with this host's install at the top (core.installs)
        self._batch: RegistryLayers | None = None

    @classmethod
    def open(cls, config: Config, plugins: PluginHost) -> Registry:
        """Open the registry with the backend named by ``config.registry_backend``.

        ``plugins`` supplies the backends; front ends pass theirs in (the guide's Python
        API uses the process's host, :func:`imageworks.app.open_registry`).
        """
        backends = plugins.registry_backends()
        backend = backends.get(config.registry_backend)
        if backend is None:
            known = ", ".join(sorted(backends)) or "none loaded"
            raise ConfigError(
                f"no registry backend named {config.registry_backend!r} (available: {known})",
                "check registry_backend in config and `imageworks-download plugins`",
            )
        return cls(backend.open(config), config)

    def scratch(self) -> Registry:
        """A registry over an in-memory copy of the current layers (inside a batch, with
        its writes so far). Writes to it never reach this registry's backend; backups
        are still read from it."""
        return Registry(MemoryStore(self._batch or self.store.read(), origin=self.store), self.config)

    @property
    def is_scratch(self) -> bool:
        """Whether this registry writes to memory only (a dry run)."""
        return isinstance(self.store, MemoryStore)

    # -- reading -------------------------------------------------------------------------
    def layers(self) -> RegistryLayers:
        """A copy of the raw layers as this registry sees them now (a batch's writes included)."""
        return copy.deepcopy(self._batch) if self._batch is not None else self.store.read()

    def list_backups(self) -> list[BackupSet]:
        """The backend's backups, newest first."""
        return self.store.list_backups()

    def read_backup(self, backup_id: str) -> RegistryLayers:
        """The layers of backup ``backup_id`` (see :meth:`RegistryStore.read_backup`)."""
        return self.store.read_backup(backup_id)

    def restore_backup(self, backup_id: str) -> list[str]:
        """Make the layers those of backup ``backup_id``, backing up the current ones first
        (returned). Its own unit of work: not inside a :meth:`batch`."""
        if self._batch is not None:
            raise RuntimeError("restore_backup inside a batch: a restore is a unit of work of its own")
        return self.store.restore_backup(backup_id)

    def entries(self) -> list[RegistryEntry]:
        """Every variant, merged across layers, sorted by name; an entry installed on
        several hosts shows this host's install at its top level (core.installs)."""
        layers = self._batch or self.store.read()  # inside a batch, read our own writes
        return [
            self._structure(name, localise(raw, self.view), layers)
            for name, raw in merge_layers(layers.curated, layers.discovered).items()
        ]

    def _structure(self, name: str, raw: dict[str, Any], layers: RegistryLayers) -> RegistryEntry:
        try:
            return converter.structure(raw, RegistryEntry)
        except Exception as error:  # name the file that holds the bad value
            detail = describe_structure_error(raw, RegistryEntry, error)
            layer: LayerName
            for layer, entries in (("discovered", layers.discovered), ("curated", layers.curated)):
                if name in entries:
                    try:
                        converter.structure(deep_merge({"name": name}, entries[name]), RegistryEntry)
                    except Exception:
                        path = Path(self.store.layer_location(layer))
                        raise RegistryCorruptError(path, None, None, f"entry {name!r}: {detail}") from error
            path = Path(self.store.layer_location("merged"))
            raise RegistryCorruptError(path, None, None, f"entry {name!r}: {detail}") from error

    def find(self, key: str) -> RegistryEntry | None:
        """The entry named ``key``, else the one whose alias, slug or display name is ``key``."""
        entries = self.entries()
        for entry in entries:
            if entry.name == key:
                return entry
        matches = [e for e in entries if key in e.model_aliases or key in {e.slug, e.display_name}]
        return matches[0] if len(matches) == 1 else None

    def get(self, key: str) -> RegistryEntry:
        """Like :meth:`find`, but raise :class:`VariantNotFoundError` with the closest names."""
        entry = self.find(key)
        if entry is None:
            raise VariantNotFoundError(key, self.suggest(key))
        return entry

    def suggest(self, key: str, count: int = 3) -> list[str]:
        """The canonical names closest to ``key`` (by name, alias, slug or display name)."""
        import difflib  # only when a name is not found: every start that reads the registry would pay it
        by_label: dict[str, str] = {}
        for entry in self.entries():
            for label in (entry.name, entry.slug, entry.display_name, *entry.model_aliases):
                if label:
                    by_label.setdefault(label, entry.name)
        close = difflib.get_close_matches(key, list(by_label), n=count * 3, cutoff=0.4)
        names: list[str] = []
        for label in close:
            if by_label[label] not in names:
                names.append(by_label[label])
        return names[:count]

    # -- writing -------------------------------------------------------------------------
    def check_writable(self) -> None:
        """Raise :class:`ImageworksError` unless a write would succeed now (before long work)."""
        self.store.check_writable()

    @contextmanager
    def batch(self) -> Iterator[Registry]:
        """Group many writes into one locked transaction (one rewrite of each file).

        Imports of hundreds of models use this: per-model transactions would rewrite the
        growing files once per model. Nothing is written if the block raises. A batch
        inside a batch joins it: when the inner block raises, its own writes are undone
        (the outer block may catch the error and go on) and nothing is written before
        the outermost batch ends.
        """
        if self._batch is not None:
            layers = self._batch
            saved = copy.deepcopy(layers)
            try:
                yield self
            except BaseException:
                layers.curated, layers.discovered = saved.curated, saved.discovered
                raise
            return
        with self.store.transaction() as layers:
            self._batch = layers
            try:
                yield self
            finally:
                self._batch = None

    @contextmanager
    def _layers_for_write(self) -> Iterator[RegistryLayers]:
        if self._batch is not None:
            yield self._batch
        else:
            with self.store.transaction() as layers:
                yield layers

    def upsert(self, entry: RegistryEntry, fields: Iterable[str] | None = None) -> RegistryEntry:
        """Write ``entry``'s ``fields`` (default: all it sets) into the discovered layer.

        An existing variant of the same name is updated in place: fields not named are
        left as they are, so hand-kept roles, aliases and capabilities survive.
        """
        values = to_compact_dict(entry)
        chosen = list(fields) if fields is not None else [k for k in values if k != "name"]
        updates = {name: values.get(name) for name in chosen}
        return self.update(entry.name, lambda _: updates)

    def update(self, name: str, change: Callable[[RegistryEntry | None], Mapping[str, Any]]) -> RegistryEntry:
        """Apply ``change`` (given the current merged entry, or None) and store its fields.

        ``change`` returns top-level field -> new value (``None`` clears a field). The
        current entry is read inside the lock, so concurrent writers never lose updates.
        It is the entry as this host sees it (its own install at the top, core.installs),
        and that is how it is stored; an install cleared at the top makes way for another
        host's.
        """
        with self._layers_for_write() as layers:
            curated = layers.curated.get(name, {})
            stored = _merged(curated, layers.discovered.get(name))
            if stored is None:
                refuse_option_like(name)
            local = localise(stored, self.view) if stored else None
            current = self._structure(name, local, layers) if local else None
            record = layers.discovered.get(name, {"name": name})
            writes, result = _plan_writes(record, curated, stored, local, change(current), self.view)
            target = layers.discovered.setdefault(name, {"name": name})
            _store(target, curated, writes)
            if target == {"name": name} and curated:
                del layers.discovered[name]  # nothing left to overlay
            return self._structure(name, localise(result, self.view), layers)

    def set_curated(
        self, name: str, fields: Mapping[str, Any] | Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, Any]]
    ) -> RegistryEntry:
        """Store ``fields`` of variant ``name`` in the curated (hand-kept) layer; ``None``,
        ``[]`` or ``{}`` removes a field from it. Returns the merged entry.

        For the human fields a person sets from a front end (roles, role priorities,
        where it is served): their curated value wins the merge, so a later scan or
        download keeps it. ``fields`` may be a function of the variant's current curated
        and discovered records (copies; ``{}`` when a layer lacks it), called under the
        write lock, for a change that keeps part of a field (``connect``).
        """
        with self._layers_for_write() as layers:
            if name not in layers.curated and name not in layers.discovered:
                raise VariantNotFoundError(name, self.suggest(name))
            if callable(fields):
                fields = fields(copy.deepcopy(layers.curated.get(name, {})), copy.deepcopy(layers.discovered.get(name, {})))
            target = layers.curated.setdefault(name, {"name": name})
            for field, value in fields.items():
                if value is None or value == [] or value == {}:
                    target.pop(field, None)
                else:
                    target[field] = value
            if target == {"name": name} and name in layers.discovered:
                del layers.curated[name]  # the curated layer says nothing about it any more
            found = merge_layers(
                {name: layers.curated[name]} if name in layers.curated else {},
                {name: layers.discovered[name]} if name in layers.discovered else {},
            )[name]
            return self._structure(name, found, layers)

    def delete(self, name: str, backup: bool = True, layers: tuple[LayerName, ...] = ("curated", "discovered")) -> list[LayerName]:
        """Remove ``name`` from ``layers`` (default both); returns the layers it left."""
        if backup:
            self.store.backup()
        removed = []
        with self._layers_for_write() as current:
            for layer, entries in (("curated", current.curated), ("discovered", current.discovered)):
                if layer in layers and entries.pop(name, None) is not None:
                    removed.append(layer)
        if not removed:
            raise VariantNotFoundError(name, self.suggest(name))
        return removed

    def backup(self) -> list[str]:
        """Copy the registry aside (before destructive changes)."""
        return self.store.backup()


def _merged(curated: Mapping[str, Any], record: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """One variant's merged raw entry from its curated and discovered records (None: in neither)."""
    return merge_layers({"_": dict(curated)} if curated else {}, {"_": dict(record)} if record is not None else {}).get("_")


def _plan_writes(
    record: Mapping[str, Any], curated: Mapping[str, Any], stored: dict[str, Any] | None,
    local: dict[str, Any] | None, updates: Mapping[str, Any], view: HostView,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The writes :meth:`Registry.update` stores in the discovered ``record``, and the merged
    entry they give, planned on a copy: the install this host sees moved to the top as read
    (:func:`localise`), then ``updates``, then, if they cleared the top install, the best
    other one moved up (:func:`settle`)."""
    writes: dict[str, Any] = {}
    if stored is not None and local is not stored:
        writes.update(stored_changes(stored, local or {}, record))
    writes.update(updates)
    planned = dict(record)
    _store(planned, curated, writes)
    result = _merged(curated, planned) or {}
    settled = settle(result, view, (local or {}).get("download_path"))
    if settled is result:
        return writes, result
    moves = stored_changes(result, settled, planned)
    _store(planned, curated, moves)
    return {**writes, **moves}, _merged(curated, planned) or {}


def _store(target: dict[str, Any], curated: Mapping[str, Any], updates: Mapping[str, Any]) -> None:
    """Write ``updates`` into ``target`` (an entry of the discovered layer)."""
    for field, value in updates.items():
        if value is None or value == [] or value == {}:
            if field in curated and curated[field] not in (None, [], {}):
                target[field] = value  # an explicit value hides the curated one
            else:
                target.pop(field, None)
        else:
            target[field] = value


def refuse_option_like(name: str) -> None:
    """A new variant name may not start with ``-``: command lines built from it would read it as an option."""
    if name.startswith("-"):
        raise ImageworksError(f"refusing variant name {name!r}: it starts with '-' and would read as an option",
                              "name it without a leading dash")
