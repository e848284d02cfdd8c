"""``imageworks-loader rebuild-ollama`` and ``discover-all`` over real-format stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.model_fixtures import link
from tests.ollama.helpers import FakeOllamaStore
from tests.support.cli import cli


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


def registry_files(isolated: Path) -> dict[str, bytes]:
    folder = isolated / "registry"
    names = ("model_registry.curated.json", "model_registry.discovered.json", "model_registry.json")
    return {name: (folder / name).read_bytes() for name in names}


def hand_kept(isolated: Path) -> None:
    (isolated / "registry").mkdir(exist_ok=True)
    (isolated / "registry" / "model_registry.curated.json").write_text(
        json.dumps([{"name": "hand-kept-vllm", "backend": "vllm", "roles": ["chat"]}]), encoding="utf-8"
    )


def plan(report: dict) -> dict[str, str]:
    return {i["variant"]: i["action"] for i in report["items"]}


def test_rebuild_dry_run_reports_what_the_real_run_does(gemma_store: FakeOllamaStore, isolated: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    hand_kept(isolated)
    assert cli(capsys, "import-ollama", "--no-api").code == 0  # the registry already holds the Ollama entry
    name = "gemma3-270m-ollama-gguf-q4_k_m"
    before = registry_files(isolated)
    dry = cli(capsys, "rebuild-ollama", "--dry-run", "--json", program="loader").json()
    assert registry_files(isolated) == before
    real = cli(capsys, "rebuild-ollama", "--json", program="loader").json()
    assert plan(dry["import"]) == plan(real["import"]) == {name: "add"}  # purged first, so added again
    assert dry["purged"] == real["purged"] == [name]
    assert dry["import"]["dry_run"] is True and real["import"]["dry_run"] is False


def test_interrupted_rebuild_leaves_the_registry_byte_identical(
    gemma_store: FakeOllamaStore, isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from imageworks.providers.ollama import importer

    hand_kept(isolated)
    assert cli(capsys, "import-ollama", "--no-api", "--location", "windows_lmstudio").code == 0
    before = registry_files(isolated)
    real_import = importer.import_ollama

    def interrupted(registry, **options):  # type: ignore[no-untyped-def]
        real_import(registry, **options)  # the purge and the whole import happened in the batch
        raise RuntimeError("interrupted after the import")

    monkeypatch.setattr(importer, "import_ollama", interrupted)
    result = cli(capsys, "rebuild-ollama", "--location", "linux_wsl", program="loader")
    assert result.code == 1 and "interrupted after the import" in result.err
    assert registry_files(isolated) == before


def test_discover_all_dry_run_matches_and_an_interruption_writes_nothing(
    gemma_store: FakeOllamaStore, gemma_gguf: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from imageworks.providers.ollama import importer

    root = isolated / "weights"
    link(gemma_gguf, root / "hugginllam" / "gemma-3-270m-Q4_K_M-GGUF" / "gemma-3-270m-q4_k_m.gguf")
    hand_kept(isolated)
    assert cli(capsys, "list").code == 0
    cli(capsys, "import-ollama", "--no-api")
    before = registry_files(isolated)
    dry = cli(capsys, "discover-all", "--hf-root", str(root), "--dry-run", "--json", program="loader").json()
    assert registry_files(isolated) == before

    def failing(registry, **options):  # type: ignore[no-untyped-def]
        raise RuntimeError("ollama went away")

    with monkeypatch.context() as patch:
        patch.setattr(importer, "import_ollama", failing)
        result = cli(capsys, "discover-all", "--hf-root", str(root), program="loader")
    assert result.code == 1 and "ollama went away" in result.err
    assert registry_files(isolated) == before  # the scan's writes were undone too
    real = cli(capsys, "discover-all", "--hf-root", str(root), "--json", program="loader").json()
    assert [(i["name"], i["action"]) for i in dry["scan"]] == [(i["name"], i["action"]) for i in real["scan"]]
    assert plan(dry["ollama"]) == plan(real["ollama"]) == {"gemma3-270m-ollama-gguf-q4_k_m": "unchanged"}
