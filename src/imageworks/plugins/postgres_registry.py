"""The ``postgres`` registry backend: the same two layers, in a PostgreSQL database.

Chosen with ``registry_backend = "postgres"``; the database comes from
``IMAGEWORKS_REGISTRY_DSN`` alone (a libpq connection string or URI). The DSN is never
written anywhere: not into the registry, a log, ``config`` output or an error message
(server messages are cleaned of it and of its password before they are shown).

Storage (:mod:`imageworks.plugins.postgres_schema`): one row per entry per layer, the
entry as JSON text with sorted keys (exactly what the JSON backend writes, so unknown
fields and every value survive) plus the same as ``jsonb`` for SQL queries; the text of
a layer file as imported or restored, until that layer changes, so an export gives the
very file back; backups as rows holding each layer's file text.

Writers are serialised by a session-level advisory lock taken before the transaction
starts, and the transaction itself runs at SERIALIZABLE, so its snapshot is taken after
the lock is held: two imageworks writers never lose an update, and a write made around
the lock (by hand, in ``psql``) makes ours fail rather than be overwritten. A writer
killed at any moment leaves the transaction uncommitted: nothing of it is visible.
Readers take no lock (one statement is one snapshot).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from imageworks.core.config import Config
from imageworks.core.errors import ConfigError, ImageworksError, RegistryCorruptError
from imageworks.core.hookspecs import hookimpl
from imageworks.core.interfaces import BackupSet, LayerName, RegistryBackend, RegistryLayers, RegistryStore
from imageworks.core.layers import dump_layer
from imageworks.core.logs import redact
from imageworks.plugins import postgres_schema
from imageworks.plugins.json_registry import parse_layer
from imageworks.services.extras import require

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger("imageworks.registry")

DSN_VARIABLE = "IMAGEWORKS_REGISTRY_DSN"
WRITE_LOCK = 0x696D6167_00000001  # advisory-lock key of the registry's writers ("imag", 1)
LOCK_TIMEOUT_SECONDS = 120
PREFLIGHT_LOCK_SECONDS = 10
CONNECT_TIMEOUT_SECONDS = 10
KEEP_BACKUPS = 20
BACKUP_STAMP = "%Y%m%dT%H%M%S.%fZ"  # the JSON backend's backup ids, so both list alike
LAYERS: tuple[LayerName, LayerName] = ("curated", "discovered")

def entry_text(entry: Mapping[str, Any]) -> str:
    """An entry as stored: compact JSON with sorted keys (comparing texts compares entries)."""
    return orjson.dumps(entry, option=orjson.OPT_SORT_KEYS).decode()


def _body(text: str) -> str | None:
    """The ``jsonb`` copy of ``text``, or None where jsonb cannot hold it (a NUL character)."""
    return None if "\\u0000" in text else text


class PostgresRegistryStore(RegistryStore):
    """The layered registry in the database ``dsn`` names."""

    def __init__(self, dsn: str) -> None:
        from psycopg.conninfo import conninfo_to_dict

        try:
            parts = conninfo_to_dict(dsn)
        except Exception:  # the driver's message quotes the DSN: say only what is wrong
            raise ConfigError(
                f"{DSN_VARIABLE} is not a valid connection string or URI",
                "use 'host=... dbname=... user=...' or postgresql://user@host/dbname (see docs/postgres.md)",
            ) from None
        self._dsn = dsn
        self._secrets = [dsn, *([str(parts["password"])] if parts.get("password") else [])]
        name = parts.get("dbname")
        self.description = f"PostgreSQL registry (database {name})" if name else f"PostgreSQL registry ({DSN_VARIABLE})"
        self._connection: psycopg.Connection[tuple[Any, ...]] | None = None
        self._active: psycopg.Connection[tuple[Any, ...]] | None = None  # inside transaction()

    # -- connecting and reporting ---------------------------------------------------------
    def _clean(self, error: BaseException) -> str:
        """``error`` as one line with the DSN and its password taken out."""
        text = " ".join(str(error).split()) or type(error).__name__
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return redact(text)

    def _failure(self, error: BaseException, doing: str) -> ImageworksError:
        return ImageworksError(f"{self.description}: {doing} failed: {self._clean(error)}", f"check {DSN_VARIABLE} and the server")

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        """The store's connection (made and the schema migrated on first use)."""
        if self._connection is not None and not self._connection.closed:
            return self._connection
        import psycopg

        try:
            connection = psycopg.connect(
                self._dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS, application_name="imageworks"
            )
        except psycopg.Error as error:
            raise ImageworksError(
                f"cannot connect to the {self.description}: {self._clean(error)}",
                f"check {DSN_VARIABLE} and that the server accepts connections",
            ) from None
        try:
            connection.execute(f"SET lock_timeout = '{LOCK_TIMEOUT_SECONDS}s'")
            applied = postgres_schema.migrate(connection)
        except psycopg.Error as error:
            connection.close()
            raise self._failure(error, "creating the registry tables") from None
        if applied:
            log.info("%s: applied %d schema migration(s), now at version %d", self.description, applied, postgres_schema.LATEST)
        self._connection = connection
        return connection

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Turn the driver's errors into one clean line (a lock timeout says so)."""
        import psycopg
        from psycopg import errors

        try:
            yield
        except errors.LockNotAvailable:
            raise ImageworksError(
                f"the {self.description} stayed locked for {LOCK_TIMEOUT_SECONDS}s", "another imageworks process is writing"
            ) from None
        except errors.SerializationFailure:
            raise ImageworksError(
                f"the {self.description} was changed by another client during this write; nothing was written",
                "run the command again",
            ) from None
        except psycopg.Error as error:
            raise self._failure(error, doing) from None

    @contextmanager
    def _locked(self, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
        """A SERIALIZABLE transaction holding the writers' lock (the one already open, if any)."""
        if self._active is not None:
            yield self._active  # a backup inside a transaction joins it, as the JSON lock is re-entrant
            return
        connection = self._connect()
        with self._errors("locking the registry"):
            if timeout != LOCK_TIMEOUT_SECONDS:
                connection.execute(f"SET lock_timeout = '{int(timeout * 1000)}ms'")
            try:
                connection.execute("SELECT pg_advisory_lock(%s)", (WRITE_LOCK,))
            finally:
                if timeout != LOCK_TIMEOUT_SECONDS:
                    connection.execute(f"SET lock_timeout = '{LOCK_TIMEOUT_SECONDS}s'")
        try:
            with self._errors("writing the registry"), connection.transaction():
                connection.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
                self._active = connection
                try:
                    yield connection
                finally:
                    self._active = None
        finally:
            if not connection.closed and not connection.broken:
                try:
                    connection.execute("SELECT pg_advisory_unlock(%s)", (WRITE_LOCK,))
                except Exception as error:  # the server drops a session lock with the session anyway
                    log.debug("advisory unlock failed: %s", self._clean(error))

    # -- reading ----------------------------------------------------------------------------
    def layer_location(self, layer: LayerName) -> str:
        """The table and layer holding ``layer`` (the merged view is computed, not stored)."""
        if layer == "merged":
            return f"{self.description}, merged view of both layers"
        return f"{self.description}, table registry_entries, layer {layer}"

    def _rows(self, connection: psycopg.Connection[tuple[Any, ...]]) -> tuple[RegistryLayers, dict[str, dict[str, str]]]:
        """Both layers (one statement: one snapshot) and each entry's stored text."""
        texts: dict[str, dict[str, str]] = {"curated": {}, "discovered": {}}
        layers = RegistryLayers()
        for layer, name, text in connection.execute("SELECT layer, name, entry FROM registry_entries ORDER BY layer, name"):
            try:
                entry = orjson.loads(text)
            except orjson.JSONDecodeError as error:
                raise RegistryCorruptError(Path(self.layer_location(layer)), None, None, f"entry {name!r} is not valid JSON ({error})") from None
            if not isinstance(entry, dict) or entry.get("name") != name:
                raise RegistryCorruptError(Path(self.layer_location(layer)), None, None, f"entry {name!r} is not an object named {name!r}")
            texts[layer][name] = text
            getattr(layers, layer)[name] = entry
        return layers, texts

    def read(self) -> RegistryLayers:
        """Both layers as they are now (no lock: one statement sees one committed state)."""
        connection = self._active or self._connect()
        with self._errors("reading the registry"):
            return self._rows(connection)[0]

    def _originals(self, connection: psycopg.Connection[tuple[Any, ...]]) -> dict[str, str]:
        return {layer: text for layer, text in connection.execute("SELECT layer, original FROM registry_layers")}

    def export_layers(self) -> dict[LayerName, bytes | None]:
        """Each layer as the bytes of its JSON file: the file imported or restored when the
        layer has not changed since, else the canonical form; ``None`` for an empty layer."""
        with self._locked() as connection:
            return self._export(connection)

    def _export(self, connection: psycopg.Connection[tuple[Any, ...]]) -> dict[LayerName, bytes | None]:
        layers, _ = self._rows(connection)
        originals = self._originals(connection)
        files: dict[LayerName, bytes | None] = {}
        for layer in LAYERS:
            entries = getattr(layers, layer)
            if layer in originals:
                files[layer] = originals[layer].encode()
            else:
                files[layer] = dump_layer(entries) if entries else None
        return files

    # -- writing ----------------------------------------------------------------------------
    def check_writable(self) -> None:
        """Prove a write would succeed now: connection, schema, the writers' lock (10 s),
        write permission on every table (a read-only replica fails here) and readable layers."""
        try:
            with self._locked(PREFLIGHT_LOCK_SECONDS) as connection, self._errors("checking the registry is writable"):
                for table, column in (("registry_entries", "layer"), ("registry_layers", "layer"), ("registry_backups", "id")):
                    connection.execute(f"DELETE FROM {table} WHERE false")
                    connection.execute(f"UPDATE {table} SET {column} = {column} WHERE false")
                connection.execute("INSERT INTO registry_entries (layer, name, entry) SELECT 'curated', '', '' WHERE false")
                self._rows(connection)
                raise _Rollback  # write nothing, not even an empty transaction
        except _Rollback:
            pass

    @contextmanager
    def transaction(self) -> Iterator[RegistryLayers]:
        """Lock, read both layers, yield them for changes, then write the rows that changed."""
        with self._locked() as connection:
            with self._errors("reading the registry"):
                layers, before = self._rows(connection)
            yield layers
            with self._errors("writing the registry"):
                self._write(connection, layers, before)

    def _write(self, connection: psycopg.Connection[tuple[Any, ...]], layers: RegistryLayers,
               before: Mapping[str, Mapping[str, str]]) -> None:
        """Insert, update and delete the rows whose text changed; a changed layer loses its original."""
        for layer in LAYERS:
            old = before[layer]
            new = {name: entry_text(entry) for name, entry in getattr(layers, layer).items()}
            gone = [name for name in old if name not in new]
            changed = [(layer, name, text, _body(text)) for name, text in new.items() if old.get(name) != text]
            if gone:
                connection.execute("DELETE FROM registry_entries WHERE layer = %s AND name = ANY(%s)", (layer, gone))
            if changed:
                with connection.cursor() as cursor:
                    cursor.executemany(
                        "INSERT INTO registry_entries (layer, name, entry, body) VALUES (%s, %s, %s, %s::jsonb)"
                        " ON CONFLICT (layer, name) DO UPDATE SET entry = EXCLUDED.entry, body = EXCLUDED.body",
                        changed,
                    )
            if gone or changed:
                connection.execute("DELETE FROM registry_layers WHERE layer = %s", (layer,))

    def import_layers(self, files: Mapping[LayerName, bytes | None], backup_first: bool = True) -> list[str]:
        """Make each layer in ``files`` the one its JSON file bytes hold (``None``: empty),
        kept byte for byte for a later export. Every file is parsed before anything is
        written; with ``backup_first`` the current layers are backed up first (returned)."""
        parsed = {layer: parse_layer(Path(self.layer_location(layer)), data or b"") for layer, data in files.items()}
        with self._locked() as connection, self._errors("importing into the registry"):
            copies = self._backup(connection) if backup_first else []
            for layer, data in files.items():
                connection.execute("DELETE FROM registry_entries WHERE layer = %s", (layer,))
                connection.execute("DELETE FROM registry_layers WHERE layer = %s", (layer,))
                rows = [(layer, name, text, _body(text)) for name, text in
                        ((name, entry_text(entry)) for name, entry in parsed[layer].items())]
                if rows:
                    with connection.cursor() as cursor:
                        cursor.executemany(
                            "INSERT INTO registry_entries (layer, name, entry, body) VALUES (%s, %s, %s, %s::jsonb)", rows
                        )
                if data is not None:
                    connection.execute("INSERT INTO registry_layers (layer, original) VALUES (%s, %s)",
                                       (layer, data.decode("utf-8")))
            return copies

    # -- backups ----------------------------------------------------------------------------
    def _location(self, backup_id: str) -> str:
        return f"{self.description}, table registry_backups, id {backup_id}"

    def backup(self) -> list[str]:
        """Copy both layers into a ``registry_backups`` row; keep the newest 20. Returns the
        row's location, or nothing when the registry is empty."""
        with self._locked() as connection, self._errors("backing up the registry"):
            return self._backup(connection)

    def _backup(self, connection: psycopg.Connection[tuple[Any, ...]]) -> list[str]:
        files = self._export(connection)
        if files["curated"] is None and files["discovered"] is None:
            return []
        now = dt.datetime.now(dt.UTC)
        while True:  # ids are times to the microsecond; two in one microsecond take the next one
            backup_id = now.strftime(BACKUP_STAMP)
            row = connection.execute(
                "INSERT INTO registry_backups (id, created, curated, discovered) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (id) DO NOTHING RETURNING id",
                (backup_id, now, *(None if files[layer] is None else files[layer].decode() for layer in LAYERS)),  # type: ignore[union-attr]
            ).fetchone()
            if row:
                break
            now += dt.timedelta(microseconds=1)
        connection.execute(
            "DELETE FROM registry_backups WHERE id NOT IN"
            " (SELECT id FROM registry_backups ORDER BY created DESC, id DESC LIMIT %s)",
            (KEEP_BACKUPS,),
        )
        return [self._location(backup_id)]

    def list_backups(self) -> list[BackupSet]:
        """The backup rows, newest first."""
        connection = self._active or self._connect()
        with self._errors("listing backups"):
            rows = connection.execute("SELECT id, created FROM registry_backups ORDER BY created DESC, id DESC").fetchall()
        return [BackupSet(id=backup_id, created=created, location=self._location(backup_id)) for backup_id, created in rows]

    def _backup_files(self, backup_id: str) -> dict[LayerName, bytes | None]:
        connection = self._active or self._connect()
        with self._errors("reading a backup"):
            row = connection.execute("SELECT curated, discovered FROM registry_backups WHERE id = %s", (backup_id,)).fetchone()
        if row is None:
            known = ", ".join(b.id for b in self.list_backups()[:3]) or "none yet"
            raise ImageworksError(
                f"backup {backup_id} does not exist",
                f"pass an id from `imageworks-download backups list` (newest: {known})",
            )
        return {layer: None if text is None else str(text).encode() for layer, text in zip(LAYERS, row, strict=True)}

    def read_backup(self, backup_id: str) -> RegistryLayers:
        """The layers of backup ``backup_id`` (an id from :meth:`list_backups`)."""
        files = self._backup_files(backup_id)
        location = Path(self._location(backup_id))
        return RegistryLayers(**{layer: parse_layer(location, data or b"") for layer, data in files.items()})

    def restore_backup(self, backup_id: str, backup_first: bool = True) -> list[str]:
        """Make the layers those of backup ``backup_id``, each layer's file text included (a
        later export gives the backed-up files back byte for byte). The backup is read and
        checked first; with ``backup_first`` the current layers are backed up (returned)."""
        files = self._backup_files(backup_id)
        self.read_backup(backup_id)  # a damaged backup stops here, before any write
        return self.import_layers(files, backup_first)


class _Rollback(Exception):
    """Raised inside a transaction to end it without writing."""


class PostgresRegistryBackend(RegistryBackend):
    """Opens the database named by ``IMAGEWORKS_REGISTRY_DSN``."""

    name = "postgres"
    description = "PostgreSQL database (IMAGEWORKS_REGISTRY_DSN): the same layers, for several hosts"

    def open(self, config: Config) -> PostgresRegistryStore:
        """The store of the DSN in the environment (never from a file: it may hold a password)."""
        dsn = os.environ.get(DSN_VARIABLE, "").strip()
        if not dsn:
            raise ConfigError(
                f"registry_backend is postgres but {DSN_VARIABLE} is not set",
                "export IMAGEWORKS_REGISTRY_DSN='host=... dbname=... user=...' (a libpq connection string or URI)",
            )
        require("postgres", "registry_backend = postgres")
        return PostgresRegistryStore(dsn)


@hookimpl
def imageworks_register_registry_backends() -> list[RegistryBackend]:
    """Provide the ``postgres`` backend."""
    return [PostgresRegistryBackend()]
