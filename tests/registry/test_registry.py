"""The layered registry: merge, determinism, unknown fields, damage, concurrency.

Tests taking ``registry_backend`` run on the JSON files and on PostgreSQL
(``tests/support/backends.py``); the rest are about the JSON files themselves.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from imageworks.app import open_registry
from imageworks.core.config import load_config
from imageworks.core.errors import ImageworksError, RegistryCorruptError, VariantNotFoundError
from imageworks.core.model import RegistryEntry
from imageworks.model_loader.download_adapter import record_download
from tests.support.backends import BackendUnderTest
from tests.support.cli import cli, make_model


def write_layer(folder: Path, layer: str, entries: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"model_registry.{layer}.json"
    path.write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")
    return path


def test_discovered_overlays_curated_field_by_field(registry_backend: BackendUnderTest) -> None:
    registry_backend.seed(
        "curated",
        [{"name": "m-vllm", "roles": ["caption"], "metadata": {"readme_file": "README.md", "note": "hand"}, "backend": "vllm"}],
    )
    registry_backend.seed(
        "discovered",
        [{"name": "m-vllm", "download_path": "/x", "metadata": {"readme_sha256": "ab"}}],
    )
    (entry,) = open_registry().entries()
    assert entry.roles == ["caption"]
    assert entry.download_path == "/x"
    assert entry.metadata.readme_file == "README.md"
    assert entry.metadata.readme_sha256 == "ab"
    assert entry.metadata.extra == {"note": "hand"}


def test_unknown_fields_survive_a_rewrite(registry_backend: BackendUnderTest) -> None:
    registry_backend.seed(
        "discovered",
        [{"name": "m-vllm", "future_field": {"x": [1, None]}, "backend_config": {"model_path": "/p", "gpu": 2}}],
    )
    registry = open_registry()
    registry.update("m-vllm", lambda current: {"roles": ["chat"]})
    files = registry_backend.files()
    data = json.loads(files["model_registry.discovered.json"] or b"")
    assert data[0]["future_field"] == {"x": [1, None]}
    assert data[0]["backend_config"] == {"model_path": "/p", "gpu": 2}
    assert data[0]["roles"] == ["chat"]
    merged = json.loads(files["model_registry.json"] or b"")
    assert merged[0]["future_field"] == {"x": [1, None]}


def test_files_are_deterministic_and_noop_changes_keep_bytes(isolated: Path, registry_backend: BackendUnderTest) -> None:
    folder = make_model(isolated / "weights", "acme/Model-7B")
    record_download("acme/Model-7B", "vllm", "safetensors", None, folder, "linux_wsl")
    record_download("acme/Other", "vllm", "safetensors", None, folder, "linux_wsl")
    registry_dir = isolated / "registry"
    before = registry_backend.files()
    text = (before["model_registry.discovered.json"] or b"").decode()
    assert text.endswith("}\n]\n") and "\n  {\n    " in text  # 2-space indent, final newline
    names = [e["name"] for e in json.loads(text)]
    assert names == sorted(names)
    stamps = {p: p.stat().st_mtime_ns for p in registry_dir.glob("*.json")}
    open_registry().update("model-7b-vllm-safetensors", lambda current: {"backend": "vllm"})
    assert registry_backend.files() == before
    assert {p: p.stat().st_mtime_ns for p in registry_dir.glob("*.json")} == stamps  # (postgres: no files at all)


def test_same_tuple_updates_existing_entry(isolated: Path, registry_backend: BackendUnderTest) -> None:
    folder = make_model(isolated / "weights", "acme/Model-7B")
    open_registry().update("model-7b-vllm-safetensors", lambda current: {"roles": ["chat"]})
    first = record_download("acme/Model-7B", "vllm", "safetensors", None, folder, "linux_wsl")
    (folder / "extra.txt").write_text("more")
    second = record_download("acme/Model-7B", "vllm", "safetensors", None, folder, "linux_wsl")
    entries = open_registry().entries()
    assert [e.name for e in entries] == [first.name] == [second.name]
    assert entries[0].download_files_count == 3
    assert entries[0].roles == ["chat"]  # fields the downloader does not own are kept


def test_damaged_json_names_file_and_position_and_is_untouched(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_layer(isolated / "registry", "discovered", [{"name": "a"}])
    damaged = b'[\n  {"name": "a",\n   "backend": }\n]\n'
    path.write_bytes(damaged)
    with pytest.raises(RegistryCorruptError) as caught:
        open_registry().entries()
    assert f"{path}:3:" in str(caught.value)
    result = cli(capsys, "list")
    assert result.code == 1
    assert str(path) in result.err and "damaged" in result.err
    assert len(result.err.strip().splitlines()) == 1
    with pytest.raises(RegistryCorruptError):
        record_download("acme/x", "vllm", None, None, isolated, "linux_wsl")
    assert path.read_bytes() == damaged
    assert not (isolated / "registry" / "model_registry.json").exists()


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        ('{"name": "x"}', "expected a JSON array"),
        ('[{"backend": "vllm"}]', "string 'name'"),
        ('[{"name": "a"}, {"name": "a"}]', "repeats the name"),
        ('[{"name": "a", "download_size_bytes": "big"}]', "download_size_bytes"),
    ],
)
def test_structurally_bad_files_are_reported(isolated: Path, content: str, detail: str) -> None:
    path = isolated / "registry" / "model_registry.curated.json"
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(RegistryCorruptError) as caught:
        open_registry().entries()
    assert str(path) in str(caught.value) and detail in str(caught.value)
    assert path.read_text() == content


RECORD_ONE = (
    "import sys; from imageworks.model_loader.download_adapter import record_download; "
    "i = sys.argv[1]; record_download(f'owner/model-{i}', 'vllm', None, None, f'ollama://model-{i}', None)"
)


def test_twenty_processes_recording_at_once_lose_nothing(registry_backend: BackendUnderTest) -> None:
    processes = [subprocess.Popen([sys.executable, "-c", RECORD_ONE, str(i)]) for i in range(20)]
    assert [p.wait(120) for p in processes] == [0] * 20
    names = {e.name for e in open_registry().entries()}
    assert names == {f"model-{i}-vllm" for i in range(20)}
    merged = json.loads(registry_backend.files()["model_registry.json"] or b"")
    assert len(merged) == 20


def test_full_disk_leaves_previous_file_intact(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record_download("owner/a", "vllm", None, None, "ollama://a", None)
    path = isolated / "registry" / "model_registry.discovered.json"
    before = path.read_bytes()
    real_fsync = os.fsync

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(ImageworksError, match="disk is full"):
        record_download("owner/b", "vllm", None, None, "ollama://b", None)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert path.read_bytes() == before
    assert not list(path.parent.glob(".*.tmp"))


def test_delete_takes_backup_and_removes_from_both_layers(registry_backend: BackendUnderTest) -> None:
    registry_backend.seed("curated", [{"name": "m-vllm", "roles": ["chat"]}])
    registry_backend.seed("discovered", [{"name": "m-vllm", "download_path": "/x"}])
    registry = open_registry()
    assert registry.delete("m-vllm") == ["curated", "discovered"]
    assert registry.entries() == []
    (backup,) = registry.list_backups()
    saved = json.loads(registry_backend.backup_files(backup.id)["model_registry.curated.json"] or b"")
    assert saved[0]["name"] == "m-vllm"
    assert registry.read_backup(backup.id).discovered == {"m-vllm": {"name": "m-vllm", "download_path": "/x"}}


def test_unknown_name_suggests_closest(registry_backend: BackendUnderTest) -> None:
    registry = open_registry()
    registry.upsert(RegistryEntry(name="mistral-7b-instruct-vllm-awq", backend="vllm"))
    with pytest.raises(VariantNotFoundError) as caught:
        registry.get("mistral-7b-instruct-vllm")
    assert caught.value.suggestions == ["mistral-7b-instruct-vllm-awq"]


def test_lookup_by_alias_and_display_name(registry_backend: BackendUnderTest) -> None:
    registry = open_registry()
    registry.upsert(RegistryEntry(name="a-vllm", display_name="A nice", model_aliases=["alpha"]))
    assert registry.get("alpha").name == "a-vllm"
    assert registry.get("A nice").name == "a-vllm"


def test_registry_dir_comes_from_environment(isolated: Path) -> None:
    assert load_config().registry_dir == isolated / "registry"


def test_recording_the_same_install_twice_keeps_the_bytes(isolated: Path, registry_backend: BackendUnderTest) -> None:
    folder = make_model(isolated / "weights", "acme/Model-7B")
    record_download("acme/Model-7B", "vllm", "safetensors", None, folder, "linux_wsl")
    files = registry_backend.files()
    import time

    time.sleep(1.1)  # downloaded_at has one-second resolution
    record_download("acme/Model-7B", "vllm", "safetensors", None, folder, "linux_wsl")
    assert registry_backend.files() == files
    (folder / "config.json").write_text("{}")
    changed = record_download("acme/Model-7B", "vllm", "safetensors", None, folder, "linux_wsl")
    assert changed.download_directory_checksum != json.loads(files["model_registry.json"] or b"")[0]["download_directory_checksum"]


def test_batch_writes_once_and_reads_its_own_writes(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from imageworks.plugins import json_journal

    writes: list[str] = []
    real = json_journal.commit
    monkeypatch.setattr(json_journal, "commit", lambda folder, files: (writes.extend(p.name for p in files), real(folder, files)))
    registry = open_registry()
    with registry.batch():
        for i in range(50):
            record_download(f"owner/m{i}", "vllm", None, None, f"ollama://m{i}", None, registry=registry)
        assert len(registry.entries()) == 50
    assert sorted(writes) == ["model_registry.discovered.json", "model_registry.json"]
    assert len(open_registry().entries()) == 50


def test_batch_that_fails_writes_nothing(registry_backend: BackendUnderTest) -> None:
    registry = open_registry()
    with pytest.raises(RuntimeError), registry.batch():
        record_download("owner/a", "vllm", None, None, "ollama://a", None, registry=registry)
        raise RuntimeError("interrupted")
    assert open_registry().entries() == []


def test_unwritable_registry_folder_is_one_clear_error(isolated: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    blocker = isolated / "not-a-folder"
    blocker.write_text("a file where the registry folder should be")
    monkeypatch.setenv("IMAGEWORKS_REGISTRY_DIR", str(blocker / "registry"))
    with pytest.raises(ImageworksError, match="cannot write the registry"):
        record_download("owner/a", "vllm", None, None, "ollama://a", None)
    listed = cli(capsys, "list")
    assert listed.code == 1 and listed.err.count("\n") == 1 and "cannot read registry file" in listed.err
