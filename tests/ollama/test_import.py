"""Importing Ollama models into the registry: naming, no re-hashing, idempotence, dry runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from imageworks.app import open_registry
from imageworks.core.config import load_config
from imageworks.core.model import RegistryEntry
from imageworks.core.plugins import get_plugins
from imageworks.providers.ollama.importer import import_ollama
from imageworks.services import inventory
from tests.ollama.helpers import FakeOllamaStore

REGISTRY_FILES = ("model_registry.curated.json", "model_registry.discovered.json", "model_registry.json")


def registry_bytes(folder: Path) -> dict[str, bytes | None]:
    """The three registry files' bytes (None when absent)."""
    return {name: (folder / name).read_bytes() if (folder / name).exists() else None for name in REGISTRY_FILES}


def entries() -> dict[str, RegistryEntry]:
    return {e.name: e for e in open_registry(load_config()).entries()}


def test_imports_real_gemma_without_hashing(
    gemma_store: FakeOllamaStore, gemma_sha256: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_hashing(*args: object, **kwargs: object) -> str:
        raise AssertionError("an Ollama blob was re-hashed")

    monkeypatch.setattr(inventory, "sha256_file", no_hashing)
    report = import_ollama(open_registry(), dry_run=False, use_api=False)
    assert [(i.action, i.variant, i.served_model_id) for i in report.items] == [
        ("add", "gemma3-270m-ollama-gguf-q4_k_m", "gemma3:270m")
    ]
    entry = entries()["gemma3-270m-ollama-gguf-q4_k_m"]
    blob = gemma_store.root / "blobs" / f"sha256-{gemma_sha256}"
    assert entry.served_model_id == "gemma3:270m"
    assert entry.backend == "ollama" and entry.source_provider == "ollama"
    assert (entry.download_format, entry.quantization) == ("gguf", "q4_k_m")
    assert entry.download_path == str(blob) and entry.backend_config.model_path == str(blob)
    assert entry.download_size_bytes == blob.stat().st_size
    assert [(f.path, f.sha256) for f in entry.artifacts.files] == [(blob.name, gemma_sha256)]
    assert entry.download_location == "ollama"
    assert entry.metadata.extra["ollama"]["parameter_size"] == "268.10M"
    assert entry.metadata.chat_template == "template layer"


def test_second_import_changes_no_bytes(store: FakeOllamaStore, tiny_gguf, tmp_path: Path) -> None:
    for seed, name in enumerate(("llama3:8b", "qwen2.5:0.5b-instruct", "hf.co/bartowski/Phi-3-GGUF:Q6_K")):
        store.add_model(name, store.add_blob(tiny_gguf(file_type=18 if "Q6_K" in name else 15, seed=seed)))
    first = import_ollama(open_registry(), dry_run=False, use_api=False)
    assert first.counts()["add"] == 3
    before = registry_bytes(tmp_path / "registry")
    second = import_ollama(open_registry(), dry_run=False, use_api=False)
    assert second.counts()["unchanged"] == 3 and second.counts()["add"] == 0
    assert registry_bytes(tmp_path / "registry") == before
    assert set(entries()) == {"llama3-8b-ollama-gguf-q4_k_m", "qwen2.5-0.5b-instruct-ollama-gguf-q4_k_m",
                              "phi-3-ollama-gguf-q6_k"}


def test_dry_run_writes_nothing(store: FakeOllamaStore, tiny_gguf, tmp_path: Path) -> None:
    store.add_model("llama3:8b", store.add_blob(tiny_gguf()))
    report = import_ollama(open_registry(), dry_run=True, use_api=False)
    assert report.dry_run and [i.action for i in report.items] == ["add"]
    assert not (tmp_path / "registry").exists()
    import_ollama(open_registry(), dry_run=False, use_api=False)
    before = registry_bytes(tmp_path / "registry")
    store.add_model("llama3:70b", store.add_blob(tiny_gguf(seed=9)))
    planned = import_ollama(open_registry(), dry_run=True, use_api=False, deprecate_placeholders=True)
    assert sorted(i.action for i in planned.items) == ["add", "unchanged"]
    assert registry_bytes(tmp_path / "registry") == before


def test_update_when_the_blob_changes(store: FakeOllamaStore, tiny_gguf) -> None:
    store.add_model("llama3:8b", store.add_blob(tiny_gguf(seed=1)))
    import_ollama(open_registry(), dry_run=False, use_api=False)
    store.add_model("llama3:8b", store.add_blob(tiny_gguf(seed=2)))  # `ollama pull` brought new weights
    report = import_ollama(open_registry(), dry_run=False, use_api=False)
    assert [i.action for i in report.items] == ["update"]


def test_bad_models_are_skipped_not_fatal(store: FakeOllamaStore, tiny_gguf) -> None:
    store.add_model("broken:latest", "0" * 64, manifest_text="]]]")
    store.add_model("ghost:latest", "ab" * 32)
    store.add_model("zip:latest", store.add_blob(b"not gguf at all" * 10))
    store.add_model("good:1b", store.add_blob(tiny_gguf()))
    report = import_ollama(open_registry(), dry_run=False, use_api=False)
    actions = {i.served_model_id: i.action for i in report.items}
    assert actions == {"broken:latest": "skip", "ghost:latest": "skip", "zip:latest": "skip", "good:1b": "add"}
    assert len(report.warnings) == 3
    assert list(entries()) == ["good-1b-ollama-gguf-q4_k_m"]


def test_tags_sharing_weights_become_aliases(store: FakeOllamaStore, tiny_gguf) -> None:
    digest = store.add_blob(tiny_gguf())
    store.add_model("gemma3:270m", digest)
    store.add_model("gemma3:270m-q4_K_M", digest)
    store.add_model("gemma3:270m-it-q4_K_M", store.add_blob(tiny_gguf(seed=3)))
    report = import_ollama(open_registry(), dry_run=False, use_api=False)
    found = entries()
    assert found["gemma3-270m-ollama-gguf-q4_k_m"].served_model_id == "gemma3:270m"
    assert found["gemma3-270m-ollama-gguf-q4_k_m"].model_aliases == ["gemma3:270m-q4_K_M"]
    assert "gemma3-270m-it-ollama-gguf-q4_k_m" in found
    assert sorted(i.action for i in report.items) == ["add", "add"]


def test_same_name_different_weights_is_skipped(store: FakeOllamaStore, tiny_gguf) -> None:
    store.add_model("gemma3:270m", store.add_blob(tiny_gguf(seed=1)))
    store.add_model("gemma3:270m-q4_K_M", store.add_blob(tiny_gguf(seed=2)))
    report = import_ollama(open_registry(), dry_run=False, use_api=False)
    skipped = [i for i in report.items if i.action == "skip"]
    assert [i.served_model_id for i in skipped] == ["gemma3:270m-q4_K_M"]
    assert "different weights" in skipped[0].reason
    assert entries()["gemma3-270m-ollama-gguf-q4_k_m"].served_model_id == "gemma3:270m"


def test_backend_and_location(store: FakeOllamaStore, tiny_gguf) -> None:
    store.add_model("llama3:8b", store.add_blob(tiny_gguf()))
    import_ollama(open_registry(), dry_run=False, use_api=False, backend="llamacpp", location="linux_wsl")
    entry = entries()["llama3-8b-llamacpp-gguf-q4_k_m"]
    assert entry.download_location == "linux_wsl" and entry.backend == "llamacpp"


def test_deprecate_placeholders(store: FakeOllamaStore, tiny_gguf) -> None:
    store.add_model("llama3:8b", store.add_blob(tiny_gguf()))
    registry = open_registry(load_config())
    registry.upsert(RegistryEntry(name="llama3-ollama", backend="ollama", served_model_id="llama3:8b",
                                  download_path="ollama://llama3:8b", source_provider="ollama"))
    registry.upsert(RegistryEntry(name="gone-ollama", backend="ollama", served_model_id="gone"))
    registry.upsert(RegistryEntry(name="some-hf-model-vllm", backend="vllm", hf_id="a/b"))
    report = import_ollama(open_registry(), dry_run=False, use_api=False, deprecate_placeholders=True)
    deprecated = {i.variant: i.reason for i in report.items if i.action == "deprecate"}
    assert deprecated == {"llama3-ollama": "covered by llama3-8b-ollama-gguf-q4_k_m", "gone-ollama": "no longer in Ollama"}
    found = entries()
    assert found["llama3-ollama"].deprecated and found["gone-ollama"].deprecated
    assert not found["some-hf-model-vllm"].deprecated and not found["llama3-8b-ollama-gguf-q4_k_m"].deprecated


def test_no_store_no_server_deprecates_nothing(tmp_path: Path) -> None:
    registry = open_registry(load_config())
    registry.upsert(RegistryEntry(name="gone-ollama", backend="ollama", served_model_id="gone:latest"))
    report = import_ollama(open_registry(), dry_run=False, use_api=True, deprecate_placeholders=True)
    assert report.items == [] and not entries()["gone-ollama"].deprecated
    assert any("not reachable" in w for w in report.warnings)


def test_source_plugin_discovers_unsaved_entries(store: FakeOllamaStore, tiny_gguf, tmp_path: Path) -> None:
    store.add_model("llama3:8b", store.add_blob(tiny_gguf()))
    source = get_plugins().sources()["ollama"]
    (entry,) = list(source.discover({"config": load_config(), "use_api": False}))
    assert (entry.name, entry.served_model_id, entry.download_format) == ("llama3-8b-ollama-gguf-q4_k_m", "llama3:8b", "gguf")
    assert source.handles("ollama://llama3:8b") and not source.handles("meta-llama/Llama-3-8B")
    assert not (tmp_path / "registry").exists()
