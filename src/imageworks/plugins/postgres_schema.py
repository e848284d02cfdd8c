"""The PostgreSQL registry's tables, created and migrated by the tool (``docs/postgres.md``).

Every migration has a number; ``schema_version`` holds one row per migration applied.
:func:`migrate` runs at the first connection of a process: one query when the schema is
current; otherwise it takes an advisory lock (so two processes never migrate at once),
looks again, and applies each missing migration in a transaction of its own together
with its ``schema_version`` row, so a migration is applied whole or not at all. The SQL
is idempotent too (``IF NOT EXISTS``). A database newer than this code is refused, not
written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imageworks.core.errors import ImageworksError

if TYPE_CHECKING:
    import psycopg

MIGRATE_LOCK = 0x696D6167_00000002  # advisory-lock key held while migrating ("imag", 2)

#: (version, what it does, SQL). Append only: a released migration never changes.
MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "layers, layer originals and backups",
        """
        CREATE TABLE IF NOT EXISTS registry_entries (
            layer text NOT NULL CHECK (layer IN ('curated', 'discovered')),
            name text NOT NULL,
            entry text NOT NULL,
            body jsonb,
            PRIMARY KEY (layer, name)
        );
        COMMENT ON TABLE registry_entries IS
            'One row per entry per layer. entry: the JSON object as imageworks reads it (keys sorted); '
            'body: the same as jsonb for SQL queries (NULL when it holds a \\u0000 escape, which jsonb refuses).';
        CREATE TABLE IF NOT EXISTS registry_layers (
            layer text PRIMARY KEY CHECK (layer IN ('curated', 'discovered')),
            original text NOT NULL
        );
        COMMENT ON TABLE registry_layers IS
            'The text of a layer file as imported or restored, kept until the layer next changes, '
            'so an export gives that very file back.';
        CREATE TABLE IF NOT EXISTS registry_backups (
            id text PRIMARY KEY,
            created timestamptz NOT NULL,
            curated text,
            discovered text
        );
        COMMENT ON TABLE registry_backups IS
            'Backups: each layer as the text of its JSON file (NULL: the layer was absent).';
        """,
    ),
)
LATEST = MIGRATIONS[-1][0]


def _current(connection: psycopg.Connection[tuple[object, ...]]) -> int:
    """The highest migration applied (0 for a database we never touched)."""
    exists = connection.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return 0
    row = connection.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(row[0]) if row and isinstance(row[0], int) else 0


def _refuse_newer(version: int) -> None:
    if version > LATEST:
        raise ImageworksError(
            f"the registry database has schema version {version}, newer than this imageworks knows ({LATEST})",
            "upgrade imageworks on this host; nothing was changed",
        )


def migrate(connection: psycopg.Connection[tuple[object, ...]]) -> int:
    """Bring the schema to :data:`LATEST` (``connection`` in autocommit mode); returns the
    number of migrations applied."""
    version = _current(connection)
    _refuse_newer(version)
    if version == LATEST:
        return 0
    connection.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK,))
    try:
        with connection.transaction():
            connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY,"
                " description text NOT NULL, applied timestamptz NOT NULL DEFAULT now())"
            )
        version = _current(connection)  # another process may have migrated while we waited
        _refuse_newer(version)
        applied = 0
        for number, description, sql in MIGRATIONS:
            if number <= version:
                continue
            with connection.transaction():
                connection.execute(sql.encode())
                connection.execute(
                    "INSERT INTO schema_version (version, description) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (number, description),
                )
            applied += 1
        return applied
    finally:
        connection.execute("SELECT pg_advisory_unlock(%s)", (MIGRATE_LOCK,))
