"""Both registry backends under one suite: the ``registry_backend`` fixture.

A test that takes ``registry_backend`` runs twice, on the JSON files and on a fresh
PostgreSQL database (the session's one cluster, :mod:`tests.support.postgres`; skipped
with the reason when PostgreSQL is not installed). The environment selects the backend,
so the CLI, the Python API and subprocesses all use it. :class:`BackendUnderTest` gives
the few things a test must do differently per backend: put a hand-written layer in
place, and read back the three registry files (for PostgreSQL, what an export writes).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imageworks.app import open_registry
from imageworks.core.interfaces import LayerName
from imageworks.core.layers import dump_layer, merge_layers
from tests.support.postgres import PostgresCluster, find_bindir

FILES = {"curated": "model_registry.curated.json", "discovered": "model_registry.discovered.json",
         "merged": "model_registry.json"}


class BackendUnderTest:
    """The registry backend a test runs on, and how to reach beneath the interface."""

    def __init__(self, name: str, folder: Path) -> None:
        self.name = name
        self.folder = folder  # the JSON backend's registry folder (unused by postgres)

    @property
    def is_json(self) -> bool:
        return self.name == "json"

    def seed(self, layer: LayerName, content: list[dict[str, Any]] | bytes) -> None:
        """Put a layer in place as a person would: JSON text (bytes kept as given)."""
        data = content if isinstance(content, bytes) else (json.dumps(content, indent=2) + "\n").encode()
        if self.is_json:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / FILES[layer]).write_bytes(data)
        else:
            open_registry().store.import_layers({layer: data}, backup_first=False)

    def files(self) -> dict[str, bytes | None]:
        """The three registry files' bytes (``None``: absent); for postgres, as exported."""
        if self.is_json:
            return {name: (self.folder / name).read_bytes() if (self.folder / name).exists() else None
                    for name in FILES.values()}
        store = open_registry().store
        exported = store.export_layers()
        layers = store.read()
        merged = merge_layers(layers.curated, layers.discovered)
        return {FILES["curated"]: exported["curated"], FILES["discovered"]: exported["discovered"],
                FILES["merged"]: dump_layer(merged) if merged else None}

    def backup_files(self, backup_id: str) -> dict[str, bytes | None]:
        """The layer files backup ``backup_id`` holds (JSON: the merged snapshot too)."""
        store = open_registry().store
        if self.is_json:
            folder = self.folder / "backups" / backup_id
            return {name: (folder / name).read_bytes() if (folder / name).exists() else None for name in FILES.values()}
        saved = store._backup_files(backup_id)  # type: ignore[attr-defined]
        layers = store.read_backup(backup_id)
        merged = merge_layers(layers.curated, layers.discovered)
        return {FILES["curated"]: saved["curated"], FILES["discovered"]: saved["discovered"],
                FILES["merged"]: dump_layer(merged) if merged else None}


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One PostgreSQL server for the whole session, stopped and removed afterwards."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql; .ci/run does)")
    cluster = PostgresCluster(bindir).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_dsn(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh database on the session's cluster, selected as the registry; dropped afterwards."""
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    database = cluster.create_database()
    dsn = cluster.dsn(database)
    monkeypatch.setenv("IMAGEWORKS_REGISTRY_BACKEND", "postgres")
    monkeypatch.setenv("IMAGEWORKS_REGISTRY_DSN", dsn)
    yield dsn
    import gc

    gc.collect()  # close the connections of registries the test let go
    cluster.drop_database(database)


@pytest.fixture(params=["json", "postgres"])
def registry_backend(request: pytest.FixtureRequest, isolated: Path) -> BackendUnderTest:
    """Run the test on the JSON files and on PostgreSQL."""
    if request.param == "postgres":
        request.getfixturevalue("postgres_dsn")
    return BackendUnderTest(request.param, isolated / "registry")
