"""``imageworks-loader rebuild-ollama`` and ``discover-all`` over real-format stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.model_fixtures import link
from tests.ollama.helpers import FakeOllamaStore
from tests.spine.helpers import cli


def listed(capsys: pytest.CaptureFixture[str]) -> dict[str, dict]:
    return {e["name"]: e for e in cli(capsys, "list", "--json", "--include-logical").json()}


def test_rebuild_ollama_replaces_imported_entries(gemma_store: FakeOllamaStore, isolated: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "import-ollama", "--location", "windows_lmstudio").code == 0
    (name,) = listed(capsys)
    before = (isolated / "registry" / "model_registry.json").read_bytes()
    dry = cli(capsys, "rebuild-ollama", "--location", "linux_wsl", "--dry-run", "--json", program="loader").json()
    assert dry["purged"] == [name] and dry["import"]["dry_run"] is True
    assert (isolated / "registry" / "model_registry.json").read_bytes() == before
    done = cli(capsys, "rebuild-ollama", "--location", "linux_wsl", program="loader")
    assert done.code == 0, done.err
    entry = listed(capsys)[name]
    assert entry["download_location"] == "linux_wsl" and entry["served_model_id"] == "gemma3:270m"


def test_discover_all_scans_and_imports(gemma_store: FakeOllamaStore, gemma_gguf: Path, isolated: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    root = isolated / "weights"
    link(gemma_gguf, root / "hugginllam" / "gemma-3-270m-Q4_K_M-GGUF" / "gemma-3-270m-q4_k_m.gguf")
    report = cli(capsys, "discover-all", "--hf-root", str(root), "--json", program="loader")
    assert report.code == 0, report.err
    data = report.json()
    assert [i["action"] for i in data["scan"]] == ["add"] and data["ollama"]["items"][0]["action"] == "add"
    entries = listed(capsys)
    assert {e["source_provider"] for e in entries.values()} == {"local", "ollama"}
    first, second = entries.values()
    assert first["same_weights_as"] == [second["name"]]  # one copy, two stores
    again = cli(capsys, "discover-all", "--hf-root", str(root), program="loader")
    assert again.code == 0
    registry = json.loads((isolated / "registry" / "model_registry.json").read_text())
    assert len(registry) == 2
