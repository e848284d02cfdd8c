"""The core scratch registry, nesting batches, and backups through the store interface.

Tests taking ``registry_backend`` run on the JSON files and on PostgreSQL.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from imageworks.app import open_registry
from imageworks.core.errors import ImageworksError
from imageworks.core.interfaces import RegistryLayers
from imageworks.core.model import RegistryEntry
from imageworks.core.scratch import MemoryStore
from tests.support.backends import BackendUnderTest
from tests.support.cli import cli

FILES = ("model_registry.curated.json", "model_registry.discovered.json", "model_registry.json")


def files(isolated: Path) -> dict[str, bytes]:
    return {name: (isolated / "registry" / name).read_bytes() for name in FILES if (isolated / "registry" / name).exists()}


def entry(name: str, **fields: object) -> RegistryEntry:
    return RegistryEntry(name=name, backend="vllm", **fields)  # type: ignore[arg-type]


def test_scratch_writes_never_reach_the_backend(isolated: Path, registry_backend: BackendUnderTest) -> None:
    registry = open_registry()
    registry.upsert(entry("kept"))
    before = registry_backend.files()
    scratch = registry.scratch()
    assert scratch.is_scratch and not registry.is_scratch
    scratch.upsert(entry("only-in-scratch"))
    scratch.delete("kept")
    assert [e.name for e in scratch.entries()] == ["only-in-scratch"]
    assert [e.name for e in registry.entries()] == ["kept"]
    assert registry_backend.files() == before and not (isolated / "registry" / "backups").exists()
    assert registry.list_backups() == []
    assert scratch.store.layer_location("discovered") == registry.store.layer_location("discovered")


def test_scratch_inside_a_batch_sees_the_batch_writes(registry_backend: BackendUnderTest) -> None:
    registry = open_registry()
    with registry.batch():
        registry.upsert(entry("pending"))
        assert [e.name for e in registry.scratch().entries()] == ["pending"]


def test_memory_store_transaction_that_raises_changes_nothing() -> None:
    store = MemoryStore(RegistryLayers(discovered={"a": {"name": "a"}}))
    with pytest.raises(RuntimeError), store.transaction() as layers:
        layers.discovered.clear()
        raise RuntimeError("stop")
    assert store.read().discovered == {"a": {"name": "a"}}
    store.read().discovered.clear()  # a read is a copy
    assert store.read().discovered == {"a": {"name": "a"}}


def test_a_nested_batch_that_raises_undoes_only_its_own_writes(registry_backend: BackendUnderTest) -> None:
    registry = open_registry()
    with registry.batch():
        registry.upsert(entry("outer"))
        with pytest.raises(RuntimeError), registry.batch():
            registry.upsert(entry("inner"))
            registry.delete("outer", backup=False)
            raise RuntimeError("inner failed")
        assert [e.name for e in registry.entries()] == ["outer"]
    assert [e.name for e in open_registry().entries()] == ["outer"]


def test_an_outer_batch_that_raises_leaves_every_file_byte_identical(registry_backend: BackendUnderTest) -> None:
    registry = open_registry()
    registry.upsert(entry("first"))
    before = registry_backend.files()
    with pytest.raises(RuntimeError), registry.batch():
        with registry.batch():
            registry.upsert(entry("second"))
        registry.delete("first", backup=False)
        raise RuntimeError("interrupted")
    assert registry_backend.files() == before


def test_backups_are_listed_newest_first_and_read_back(registry_backend: BackendUnderTest) -> None:
    registry = open_registry()
    assert registry.list_backups() == []
    assert registry.backup() == []  # nothing to back up yet
    registry.upsert(entry("one"))
    registry.backup()
    time.sleep(0.01)
    registry.upsert(entry("two"))
    registry.backup()
    newest, oldest = registry.list_backups()
    assert newest.created > oldest.created
    assert set(registry.read_backup(newest.id).discovered) == {"one", "two"}
    assert set(registry.read_backup(oldest.id).discovered) == {"one"}
    scratch = registry.scratch()
    assert scratch.list_backups() == registry.list_backups()
    assert scratch.read_backup(oldest.id) == registry.read_backup(oldest.id)
    with pytest.raises(ImageworksError, match="does not exist"):
        registry.read_backup("no-such-backup")
    with pytest.raises(ImageworksError, match="does not exist"):
        registry.read_backup("../registry/nowhere")


def test_json_backups_are_folders_and_read_by_path(isolated: Path) -> None:
    registry = open_registry()
    registry.upsert(entry("one"))
    registry.backup()
    time.sleep(0.01)
    registry.upsert(entry("two"))
    registry.backup()
    newest, oldest = registry.list_backups()
    assert Path(newest.location) == isolated / "registry" / "backups" / newest.id
    assert set(registry.read_backup(oldest.location).discovered) == {"one"}  # a folder path
    single = Path(oldest.location) / "model_registry.json"
    assert set(registry.read_backup(str(single)).discovered) == {"one"}  # one registry file


def test_a_merged_only_backup_folder_is_read_as_its_snapshot(isolated: Path, tmp_path: Path) -> None:
    folder = tmp_path / "old-backup"
    folder.mkdir()
    (folder / "model_registry.json").write_text(json.dumps([{"name": "snap", "backend": "vllm"}]))
    assert set(open_registry().read_backup(str(folder)).discovered) == {"snap"}
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ImageworksError, match="holds no registry files"):
        open_registry().read_backup(str(empty))


def test_restore_ollama_takes_a_backup_id(registry_backend: BackendUnderTest, capsys: pytest.CaptureFixture[str]) -> None:
    registry = open_registry()
    registry.upsert(RegistryEntry(name="x-ollama", backend="ollama", served_model_id="x:1b"))
    registry.backup()
    registry.delete("x-ollama", backup=False)
    (backup,) = registry.list_backups()
    before = registry_backend.files()
    dry = cli(capsys, "restore-ollama", "--backup", backup.id, "--dry-run", "--json").json()
    assert dry["dry_run"] is True and {i["variant"]: i["action"] for i in dry["items"]} == {"x-ollama": "restore"}
    assert registry_backend.files() == before
    done = cli(capsys, "restore-ollama", "--apply", "--json").json()  # the newest backup by default
    assert done["stores"] == [backup.location] and open_registry().get("x-ollama").served_model_id == "x:1b"
