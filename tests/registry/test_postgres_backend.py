"""The ``postgres`` registry backend on a real server: plugin, schema, secrecy, storage, locking.

What the JSON backend's suite checks for both backends lives with that suite
(``registry_backend``-parametrised tests in ``tests/registry`` and ``tests/listing``); here is what only a database
has: migrations, the DSN's secrecy, jsonb, damaged rows, a read-only server, the lock.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest

from imageworks.app import open_registry
from imageworks.core.errors import ImageworksError, RegistryCorruptError
from imageworks.model_loader.download_adapter import record_download
from imageworks.plugins import postgres_registry, postgres_schema
from tests.support.cli import cli
from tests.support.postgres import PostgresCluster

PASSWORD = "pw-Zq8-never-shown"


def sql(dsn: str, query: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn, autocommit=True) as connection:
        cursor = connection.execute(query.encode(), params or None)
        return cursor.fetchall() if cursor.description else []


def test_the_backend_comes_from_its_entry_point(postgres_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.metadata

    (point,) = [e for e in importlib.metadata.entry_points(group="imageworks.plugins") if e.name == "registry-postgres"]
    assert point.value == "imageworks.plugins.postgres_registry"
    record = next(p for p in cli(capsys, "plugins", "--json").json() if p["name"] == "registry-postgres")
    assert record["status"] == "loaded" and "imageworks_register_registry_backends" in record["hooks"]
    assert open_registry().store.description == f"PostgreSQL registry (database {postgres_dsn.split('dbname=')[1]})"


def test_the_schema_is_created_once_and_versioned(postgres_dsn: str) -> None:
    assert open_registry().entries() == []
    rows = sql(postgres_dsn, "SELECT version, description FROM schema_version ORDER BY version")
    assert [r[0] for r in rows] == [m[0] for m in postgres_schema.MIGRATIONS]
    with psycopg.connect(postgres_dsn, autocommit=True) as connection:
        assert postgres_schema.migrate(connection) == 0  # idempotent: nothing left to apply
    tables = {r[0] for r in sql(postgres_dsn, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert tables == {"schema_version", "registry_entries", "registry_layers", "registry_backups"}


def test_processes_opening_a_new_database_at_once_migrate_it_once(postgres_dsn: str) -> None:
    code = "from imageworks.app import open_registry; open_registry().entries()"
    processes = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(6)]
    assert [p.wait(60) for p in processes] == [0] * 6
    assert sql(postgres_dsn, "SELECT count(*) FROM schema_version") == [(postgres_schema.LATEST,)]


def test_a_newer_schema_is_refused_in_one_line(postgres_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    open_registry().entries()
    sql(postgres_dsn, "INSERT INTO schema_version (version, description) VALUES (999, 'from the future')")
    result = cli(capsys, "list")
    assert result.code == 1 and len(result.err.splitlines()) == 1
    assert "schema version 999, newer than this imageworks knows" in result.err


def test_no_dsn_is_one_clear_error(isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("IMAGEWORKS_REGISTRY_BACKEND", "postgres")
    result = cli(capsys, "list")
    assert result.code == 1 and len(result.err.splitlines()) == 1
    assert "IMAGEWORKS_REGISTRY_DSN is not set" in result.err


@pytest.mark.parametrize("form", ["keywords", "uri"])
def test_the_dsn_and_its_password_never_show(
    postgres_cluster: PostgresCluster, postgres_dsn: str, isolated: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], form: str,
) -> None:
    """Not in output, errors, the log, the registry or the database (the socket trusts us,
    so the password is carried but unused)."""
    database = postgres_dsn.split("dbname=")[1]
    dsn = (f"{postgres_dsn} password={PASSWORD}" if form == "keywords"
           else f"postgresql://postgres:{PASSWORD}@/{database}?host={postgres_cluster.root}")
    monkeypatch.setenv("IMAGEWORKS_REGISTRY_DSN", dsn)
    shown = []
    config = cli(capsys, "config", "--json")
    assert config.json()["registry_dsn"] == {"value": "set (hidden)", "source": "env IMAGEWORKS_REGISTRY_DSN"}
    shown.append(config.out + cli(capsys, "config").out)
    record_download("owner/a", "vllm", None, None, "ollama://a", None)
    for args in (("list", "--json", "--include-logical"), ("backups", "list"), ("remove", "a-vllm", "--purge", "--force"),
                 ("backups", "list", "--json"), ("registry", "export", "--to-json", str(isolated / "export"))):
        result = cli(capsys, *args)
        assert result.code == 0, result.err
        shown.append(result.out + result.err)
    bad = {"no database": dsn.replace(database, "no_such_db"), "bad syntax": f"{dsn} nonsense {PASSWORD}",
           "no server": f"host={isolated}/nowhere password={PASSWORD}"}
    for reason, wrong in bad.items():
        monkeypatch.setenv("IMAGEWORKS_REGISTRY_DSN", wrong)
        result = cli(capsys, "list")
        assert result.code == 1 and len(result.err.splitlines()) == 1, reason
        expected = "is not a valid connection string" if reason == "bad syntax" else "cannot connect to the PostgreSQL registry"
        assert expected in result.err, reason
        shown.append(result.err)
    everything = "\n".join(shown)
    everything += "".join(p.read_text(errors="replace") for p in isolated.rglob("*") if p.is_file() and "home" not in p.parts)
    everything += json.dumps(sql(postgres_dsn, "SELECT * FROM registry_entries"), default=str)
    everything += json.dumps(sql(postgres_dsn, "SELECT * FROM registry_backups"), default=str)
    assert "model_downloader.log" in {p.name for p in isolated.rglob("*")}
    assert PASSWORD not in everything and dsn not in everything


def test_entries_keep_every_field_and_are_queryable_as_jsonb(postgres_dsn: str) -> None:
    weird = {"name": "w-vllm", "future": {"nested": [1, 2.5, None, True, "ünï"]}, "big": 18446744073709551615,
             "tiny": 1e-300, "zz": "last", "aa": "first"}
    nul = {"name": "nul-vllm", "note": "a\u0000b"}
    open_registry().store.import_layers({"curated": (json.dumps([weird, nul]) + "\n").encode()}, backup_first=False)
    registry = open_registry()
    registry.update("w-vllm", lambda _: {"roles": ["chat"]})  # writes discovered; curated untouched
    layers = registry.layers()
    assert layers.curated == {"w-vllm": weird, "nul-vllm": nul}
    assert sql(postgres_dsn, "SELECT body #>> '{future,nested,4}' FROM registry_entries WHERE name = 'w-vllm' AND layer = 'curated'") == [("ünï",)]
    assert sql(postgres_dsn, "SELECT body IS NULL FROM registry_entries WHERE name = 'nul-vllm'") == [(True,)]
    merged = {e.name: e for e in registry.entries()}
    assert merged["w-vllm"].roles == ["chat"] and merged["w-vllm"].extra["future"] == weird["future"]


def test_a_damaged_row_is_reported_and_left_alone(postgres_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    record_download("owner/a", "vllm", None, None, "ollama://a", None)
    sql(postgres_dsn, "UPDATE registry_entries SET entry = '{\"name\": \"a-vllm\", ' WHERE name = 'a-vllm'")
    result = cli(capsys, "list")
    assert result.code == 1 and len(result.err.splitlines()) == 1
    assert "layer discovered" in result.err and "a-vllm" in result.err and "damaged" in result.err
    with pytest.raises(RegistryCorruptError):
        record_download("owner/b", "vllm", None, None, "ollama://b", None)
    assert sql(postgres_dsn, "SELECT name, entry FROM registry_entries") == [("a-vllm", '{"name": "a-vllm", ')]


def test_a_read_only_database_fails_the_preflight(postgres_dsn: str) -> None:
    record_download("owner/a", "vllm", None, None, "ollama://a", None)
    database = postgres_dsn.split("dbname=")[1]
    sql(postgres_dsn, f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
    registry = open_registry()
    assert [e.name for e in registry.entries()] == ["a-vllm"]  # reading still works
    with pytest.raises(ImageworksError, match="read-only transaction"):
        registry.check_writable()


def test_a_held_lock_times_out_in_one_line(postgres_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    open_registry().entries()
    monkeypatch.setattr(postgres_registry, "PREFLIGHT_LOCK_SECONDS", 0.3)
    with psycopg.connect(postgres_dsn, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (postgres_registry.WRITE_LOCK,))
        with pytest.raises(ImageworksError, match="stayed locked"):
            open_registry().check_writable()
    open_registry().check_writable()  # free again


def test_a_write_made_around_the_lock_fails_ours_and_survives(postgres_dsn: str) -> None:
    """Someone edits a row in psql while our transaction is open: SERIALIZABLE refuses our
    write instead of overwriting theirs."""
    record_download("owner/a", "vllm", None, None, "ollama://a", None)
    registry = open_registry()
    with pytest.raises(ImageworksError, match="changed by another client"), registry.batch():
        registry.update("a-vllm", lambda _: {"display_name": "ours"})
        thread = threading.Thread(target=sql, args=(
            postgres_dsn, "UPDATE registry_entries SET entry = '{\"name\": \"a-vllm\", \"display_name\": \"theirs\"}'"))
        thread.start()
        thread.join()
    assert open_registry().get("a-vllm").display_name == "theirs"


def test_a_damaged_backup_or_layer_stops_the_restore_before_it_writes(postgres_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    for repo in ("acme/alpha", "acme/beta"):
        record_download(repo, "vllm", None, None, f"ollama://{repo}", None)
    assert cli(capsys, "remove", "alpha-vllm", "--purge", "--force").code == 0
    (only,) = open_registry().list_backups()
    rows = "SELECT layer, name, entry FROM registry_entries ORDER BY layer, name"
    pristine = sql(postgres_dsn, "SELECT discovered FROM registry_backups")[0][0]
    sql(postgres_dsn, "UPDATE registry_backups SET discovered = '[{]'")
    before = sql(postgres_dsn, rows)
    for flags in (("--apply",), ("--dry-run",)):
        result = cli(capsys, "backups", "restore", only.id, *flags)
        assert result.code == 1 and len(result.err.splitlines()) == 1
        assert result.err.startswith("Error: registry file") and f"id {only.id}" in result.err
    assert sql(postgres_dsn, rows) == before and len(open_registry().list_backups()) == 1

    sql(postgres_dsn, "UPDATE registry_backups SET discovered = %s", pristine)
    sql(postgres_dsn, "UPDATE registry_entries SET entry = '{\"name\": 1}'")
    before = sql(postgres_dsn, rows)
    result = cli(capsys, "backups", "restore", "--apply", only.id)
    assert result.code == 1 and result.err.startswith("Error: registry file") and len(result.err.splitlines()) == 1
    assert sql(postgres_dsn, rows) == before and len(open_registry().list_backups()) == 1
