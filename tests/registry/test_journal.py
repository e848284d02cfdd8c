"""The JSON backend's multi-file commit: a crash at any step leaves all files old or all new."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from imageworks.app import open_registry
from imageworks.core.config import load_config
from imageworks.core.registry import Registry
from imageworks.model_loader.download_adapter import record_download
from imageworks.plugins import json_journal
from imageworks.plugins.json_registry import JsonRegistryStore

FILES = ("model_registry.curated.json", "model_registry.discovered.json", "model_registry.json")


class Killed(BaseException):
    """Stands for the process dying: nothing after it runs, no except clause catches it."""


def registry_bytes(folder: Path) -> dict[str, bytes | None]:
    return {name: (folder / name).read_bytes() if (folder / name).exists() else None for name in FILES}


@pytest.fixture
def two_layers(isolated: Path) -> Path:
    """A registry whose next ``delete`` changes all three files."""
    record_download("acme/alpha", "vllm", None, None, "ollama://a", None)
    record_download("acme/beta", "vllm", None, None, "ollama://b", None)
    folder = isolated / "registry"
    (folder / FILES[0]).write_text('[{"name": "alpha-vllm", "roles": ["chat"]}]\n')
    open_registry().update("beta-vllm", lambda _: {"display_name": "Beta"})
    return folder


def after_delete(folder: Path, scratch: Path) -> dict[str, bytes | None]:
    """The bytes a completed ``delete('alpha-vllm')`` leaves (run on a copy)."""
    shutil.copytree(folder, scratch)
    Registry(JsonRegistryStore(scratch), load_config()).delete("alpha-vllm", backup=False)
    return registry_bytes(scratch)


@pytest.mark.parametrize("renames_before_death", [0, 1, 2])
def test_killed_between_renames_the_next_open_finishes_the_commit(
    two_layers: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch, renames_before_death: int
) -> None:
    before = registry_bytes(two_layers)
    after = after_delete(two_layers, isolated / "copy")
    assert all(before[name] != after[name] for name in FILES)  # the change touches every file
    real_replace, done = os.replace, []

    def dying_replace(source: str | Path, target: str | Path) -> None:
        if Path(target).name != json_journal.JOURNAL:
            if len(done) == renames_before_death:
                raise Killed
            done.append(target)
        real_replace(source, target)

    monkeypatch.setattr(json_journal.os, "replace", dying_replace)
    with pytest.raises(Killed):
        open_registry().delete("alpha-vllm", backup=False)
    monkeypatch.setattr(json_journal.os, "replace", real_replace)

    assert json_journal.pending(two_layers)
    on_disk = registry_bytes(two_layers)
    assert sum(on_disk[n] == after[n] for n in FILES) == renames_before_death  # really cut midway
    assert [e.name for e in open_registry().entries()] == ["beta-vllm"]  # a reader finishes it first
    assert registry_bytes(two_layers) == after and not json_journal.pending(two_layers)
    assert not [p for p in two_layers.iterdir() if p.name.endswith(".tmp")]


def test_killed_before_the_journal_leaves_the_old_files(two_layers: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = registry_bytes(two_layers)
    real_replace = os.replace

    def dying_replace(source: str | Path, target: str | Path) -> None:
        if Path(target).name == json_journal.JOURNAL:
            raise Killed
        real_replace(source, target)

    monkeypatch.setattr(json_journal.os, "replace", dying_replace)
    with pytest.raises(Killed):
        open_registry().delete("alpha-vllm", backup=False)
    monkeypatch.setattr(json_journal.os, "replace", real_replace)
    assert registry_bytes(two_layers) == before and not json_journal.pending(two_layers)
    assert [p for p in two_layers.iterdir() if p.name.endswith(".tmp")]  # the temporaries it wrote
    assert len(open_registry().entries()) == 2
    open_registry().update("beta-vllm", lambda _: {"display_name": "B"})  # the next write sweeps them
    assert not [p for p in two_layers.iterdir() if p.name.endswith(".tmp")]


def test_a_backup_cut_short_is_not_listed(two_layers: Path) -> None:
    partial = two_layers / "backups" / ".20260101T000000.000000Z.partial"
    partial.mkdir(parents=True)
    (partial / FILES[1]).write_text("[]\n")
    registry = open_registry()
    assert registry.list_backups() == []
    copies = registry.backup()
    assert [b.id for b in registry.list_backups()] == [Path(copies[0]).parent.name]
    assert not partial.exists() and registry_bytes(Path(copies[0]).parent) == registry_bytes(two_layers)
