"""The Ollama commands: import-ollama, backfill-ollama-paths, restore-ollama, and the script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from imageworks.app import open_registry
from imageworks.core.config import load_config
from imageworks.core.model import RegistryEntry
from tests.ollama.helpers import FakeOllamaStore
from tests.support.cli import cli

ROOT = Path(__file__).resolve().parents[2]
REGISTRY_FILES = ("model_registry.curated.json", "model_registry.discovered.json", "model_registry.json")


def snapshot(folder: Path) -> dict[str, bytes | None]:
    return {n: (folder / n).read_bytes() if (folder / n).exists() else None for n in REGISTRY_FILES}


def entries() -> dict[str, RegistryEntry]:
    return {e.name: e for e in open_registry(load_config()).entries()}


@pytest.fixture
def llama_store(store: FakeOllamaStore, tiny_gguf) -> FakeOllamaStore:
    store.add_model("llama3:8b", store.add_blob(tiny_gguf()))
    return store


def test_import_ollama_table_and_json(capsys, llama_store: FakeOllamaStore) -> None:
    result = cli(capsys, "import-ollama", "--dry-run")
    assert result.code == 0
    assert "add" in result.out and "llama3-8b-ollama-gguf-q4_k_m" in result.out and "llama3:8b" in result.out
    assert "Warning: Ollama server at http://127.0.0.1:" in result.err and "using the store only" in result.err
    assert "Dry run (nothing written): 1 add" in result.err
    assert entries() == {}
    result = cli(capsys, "import-ollama", "--no-api", "--json", "--location", "linux_wsl")
    data = result.json()
    assert result.code == 0 and result.err == ""
    assert data["counts"]["add"] == 1 and data["dry_run"] is False
    assert data["items"][0]["variant"] == "llama3-8b-ollama-gguf-q4_k_m"
    assert entries()["llama3-8b-ollama-gguf-q4_k_m"].download_location == "linux_wsl"


def test_script_runs_as_documented(llama_store: FakeOllamaStore, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "import_ollama_models.py"), "--dry-run", "--no-api"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "llama3-8b-ollama-gguf-q4_k_m" in done.stdout and "Dry run" in done.stderr
    assert not (tmp_path / "registry" / "model_registry.json").exists()
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "import_ollama_models.py"), "--backend", "ollama",
         "--location", "linux_wsl", "--deprecate-placeholders", "--no-api"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "llama3-8b-ollama-gguf-q4_k_m" in entries()


def test_backfill_ollama_paths(capsys, llama_store: FakeOllamaStore, tmp_path: Path) -> None:
    registry = open_registry(load_config())
    registry.upsert(RegistryEntry(name="llama3-ollama", backend="ollama", served_model_id="llama3:8b",
                                  download_path="ollama://llama3:8b", roles=["chat"]))
    registry.upsert(RegistryEntry(name="mistral-ollama", backend="ollama", served_model_id="mistral:7b"))
    before = snapshot(tmp_path / "registry")
    dry = cli(capsys, "backfill-ollama-paths", "--dry-run", "--json").json()
    assert snapshot(tmp_path / "registry") == before
    assert {i["variant"]: i["action"] for i in dry["items"]} == {"llama3-ollama": "update", "mistral-ollama": "skip"}
    assert cli(capsys, "backfill-ollama-paths", "--no-set-format").code == 0
    entry = entries()["llama3-ollama"]
    blob = next((llama_store.root / "blobs").glob("sha256-*"), None)
    assert entry.download_path and Path(entry.download_path).parent == llama_store.root / "blobs"
    assert not entry.is_logical and entry.download_format is None and entry.roles == ["chat"]
    assert entry.download_location == "ollama" and entry.download_size_bytes and blob
    assert entries()["mistral-ollama"].is_logical
    assert cli(capsys, "backfill-ollama-paths").code == 0
    assert entries()["llama3-ollama"].download_format is None  # no longer logical: left alone


def test_backfill_sets_format(capsys, llama_store: FakeOllamaStore) -> None:
    open_registry(load_config()).upsert(RegistryEntry(name="llama3-ollama", backend="ollama", served_model_id="llama3:8b"))
    assert cli(capsys, "backfill-ollama-paths").code == 0
    entry = entries()["llama3-ollama"]
    assert entry.download_format == "gguf" and entry.quantization == "q4_k_m"
    assert entry.backend_config.model_path == entry.download_path


def test_restore_ollama(capsys, llama_store: FakeOllamaStore, tmp_path: Path) -> None:
    assert cli(capsys, "import-ollama", "--no-api").code == 0
    registry = open_registry(load_config())
    registry.upsert(RegistryEntry(name="old-ollama", backend="ollama", served_model_id="old:1b", deprecated=True))
    registry.update("llama3-8b-ollama-gguf-q4_k_m", lambda _: {"custom_note": "kept"})  # an unknown field
    registry.backup()
    registry.delete("llama3-8b-ollama-gguf-q4_k_m", backup=False)
    registry.delete("old-ollama", backup=False)
    before = snapshot(tmp_path / "registry")
    dry = cli(capsys, "restore-ollama", "--dry-run", "--json").json()
    assert {i["variant"]: i["action"] for i in dry["items"]} == {
        "llama3-8b-ollama-gguf-q4_k_m": "restore", "old-ollama": "skip"}
    assert snapshot(tmp_path / "registry") == before
    assert cli(capsys, "restore-ollama", "--apply").code == 0
    restored = entries()
    assert restored["llama3-8b-ollama-gguf-q4_k_m"].extra == {"custom_note": "kept"}
    assert "old-ollama" not in restored
    assert len(registry.list_backups()) == 2  # the restore backed the registry up first
    again = cli(capsys, "restore-ollama", "--apply", "--include-deprecated", "--backup", dry["stores"][0])
    assert again.code == 0  # the newest backup is now the one taken before the restore: name the first
    assert entries()["old-ollama"].deprecated


def test_restore_from_a_named_file_and_bad_input(capsys, tmp_path: Path) -> None:
    result = cli(capsys, "restore-ollama")
    assert result.code == 1 and "no registry backups under" in result.err
    bad = tmp_path / "bad.json"
    bad.write_text("[{", encoding="utf-8")
    result = cli(capsys, "restore-ollama", "--backup", str(bad))
    assert result.code == 1 and "is damaged" in result.err and result.err.count("\n") == 1
    good = tmp_path / "saved.json"
    good.write_text('[{"name": "x-ollama", "backend": "ollama", "served_model_id": "x:1b"}]\n', encoding="utf-8")
    assert cli(capsys, "restore-ollama", "--apply", "--backup", str(good)).code == 0
    assert entries()["x-ollama"].served_model_id == "x:1b"
