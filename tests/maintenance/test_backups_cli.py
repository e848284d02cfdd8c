"""backups list / backups restore: through the store interface, byte-identical, backed up first.

Tests taking ``registry_backend`` (or ``backed_up``, which does) run on the JSON files and
on PostgreSQL, where "the files" are what ``registry export`` writes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from imageworks.app import open_registry
from imageworks.model_loader.download_adapter import record_download
from tests.support.backends import BackendUnderTest
from tests.support.cli import cli

FILES = ("model_registry.curated.json", "model_registry.discovered.json", "model_registry.json")


def registry_bytes(isolated: Path) -> dict[str, bytes | None]:
    folder = isolated / "registry"
    return {name: (folder / name).read_bytes() if (folder / name).exists() else None for name in FILES}


@pytest.fixture
def backed_up(registry_backend: BackendUnderTest, capsys: pytest.CaptureFixture[str]) -> dict[str, bytes | None]:
    """Two models and a curated file, then ``remove --purge`` of one (which takes a backup).
    Returns the registry bytes the backup holds."""
    for repo in ("acme/alpha", "acme/beta"):
        record_download(repo, "vllm", "safetensors", None, f"ollama://{repo}", None)
    names = [e.name for e in open_registry().entries()]
    # hand-kept, so not in canonical form: the restore must bring these very bytes back
    registry_backend.seed("curated", (json.dumps([{"name": names[0], "roles": ["chat"]}]) + "\n").encode())
    open_registry().update(names[1], lambda _: {"display_name": "Beta"})  # regenerate the snapshot
    before = registry_backend.files()
    assert cli(capsys, "remove", names[0], "--purge", "--force").code == 0
    return before


def test_list_shows_the_sets_newest_first(registry_backend: BackendUnderTest, capsys: pytest.CaptureFixture[str]) -> None:
    empty = cli(capsys, "backups", "list")
    assert empty.code == 0 and "No backups yet" in empty.err
    assert cli(capsys, "backups", "list", "--json").json() == []
    record_download("acme/alpha", "vllm", None, None, "ollama://a", None)
    registry = open_registry()
    registry.backup()
    first = registry.list_backups()[0].id
    registry.update(registry.entries()[0].name, lambda _: {"display_name": "x"})
    registry.backup()
    second = registry.list_backups()[0].id
    listed = cli(capsys, "backups", "list", "--json").json()
    assert [b["id"] for b in listed] == [second, first] and first != second
    assert listed[0]["discovered_entries"] == 1 and listed[0]["curated_entries"] == 0 and listed[0]["error"] is None
    table = cli(capsys, "backups", "list")
    assert listed[0]["id"] in table.out and table.out.index(listed[0]["id"]) < table.out.index(listed[1]["id"])


def test_restore_gives_back_the_backup_bytes_and_backs_up_first(
    backed_up: dict[str, bytes | None], registry_backend: BackendUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    registry_bytes = registry_backend.files
    (only,) = cli(capsys, "backups", "list", "--json").json()
    assert registry_backend.backup_files(only["id"]) == backed_up
    purged = registry_bytes()

    dry = cli(capsys, "backups", "restore", only["id"], "--dry-run", "--json")
    assert dry.code == 0, dry.err
    report = dry.json()
    assert report["applied"] is False and not report["unchanged"]
    curated = next(d for d in report["layers"] if d["layer"] == "curated")
    assert len(curated["added"]) == 1
    assert registry_bytes() == purged and len(cli(capsys, "backups", "list", "--json").json()) == 1

    real = cli(capsys, "backups", "restore", "--apply", only["id"])
    assert real.code == 0, real.err
    assert registry_bytes() == backed_up  # every file, the hand-kept curated one included
    sets = cli(capsys, "backups", "list", "--json").json()
    assert len(sets) == 2 and sets[1]["id"] == only["id"]
    assert registry_backend.backup_files(sets[0]["id"]) == purged  # what the restore replaced

    undo = cli(capsys, "backups", "restore", "--apply", sets[0]["id"])  # restoring that backup undoes the restore
    assert undo.code == 0 and registry_bytes() == purged
    again = cli(capsys, "backups", "restore", "--apply", sets[0]["id"], "--json")
    assert again.json()["unchanged"] is True and registry_bytes() == purged


def test_a_layer_the_backup_lacks_is_removed(registry_backend: BackendUnderTest, capsys: pytest.CaptureFixture[str]) -> None:
    record_download("acme/alpha", "vllm", None, None, "ollama://a", None)
    open_registry().backup()
    (backup,) = [b.id for b in open_registry().list_backups()]
    registry_backend.seed("curated", b'[{"name": "hand-kept"}]\n')
    assert registry_backend.files()[FILES[0]] is not None
    assert cli(capsys, "backups", "restore", "--apply", backup).code == 0
    assert registry_backend.files()[FILES[0]] is None
    assert [e.name for e in open_registry().entries()] == ["alpha-vllm"]


def test_restoring_the_oldest_of_twenty_sets_survives_the_backup_before_it(
    backed_up: dict[str, bytes | None], registry_backend: BackendUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    """The restore's own backup would prune the oldest set: it is read first."""
    registry = open_registry()
    oldest = registry.list_backups()[0].id
    for index in range(19):
        registry.update(registry.entries()[0].name, lambda _, i=index: {"display_name": f"v{i}"})
        registry.backup()
    assert len(registry.list_backups()) == 20 and registry.list_backups()[-1].id == oldest
    result = cli(capsys, "backups", "restore", "--apply", oldest)
    assert result.code == 0, result.err
    assert registry_backend.files() == backed_up
    assert oldest not in [b.id for b in registry.list_backups()]  # pruned after it was read


def test_unknown_id_is_one_line(backed_up: dict[str, bytes | None], registry_backend: BackendUnderTest,
                                capsys: pytest.CaptureFixture[str]) -> None:
    before = registry_backend.files()
    for args in (("nope",), ("nope", "--dry-run"), ("../registry",)):
        result = cli(capsys, "backups", "restore", *args)
        assert result.code == 1 and result.err.startswith("Error: no backup set") and len(result.err.splitlines()) == 1
    assert registry_backend.files() == before


@pytest.mark.parametrize("registry_backend", ["json"], indirect=True)  # damages files; tests/registry damages rows
def test_a_damaged_backup_or_layer_stops_the_restore_before_it_writes(
    backed_up: dict[str, bytes | None], isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (only,) = cli(capsys, "backups", "list", "--json").json()
    location = Path(only["location"])
    pristine = isolated / "pristine"
    shutil.copytree(location, pristine)
    (location / FILES[1]).write_text("[{]")
    before = registry_bytes(isolated)
    for flags in (("--apply",), ("--dry-run",)):
        result = cli(capsys, "backups", "restore", only["id"], *flags)
        assert result.code == 1 and result.err.startswith("Error: registry file") and FILES[1] in result.err
        assert len(result.err.splitlines()) == 1
    assert registry_bytes(isolated) == before and len(open_registry().list_backups()) == 1

    shutil.rmtree(location)
    shutil.copytree(pristine, location)
    (isolated / "registry" / FILES[0]).write_text('[{"name": 1}]')
    before = registry_bytes(isolated)
    result = cli(capsys, "backups", "restore", "--apply", only["id"])
    assert result.code == 1 and result.err.startswith("Error: registry file") and len(result.err.splitlines()) == 1
    assert registry_bytes(isolated) == before and len(open_registry().list_backups()) == 1
    listing = cli(capsys, "backups", "list")
    assert listing.code == 0 and only["id"] in listing.out
