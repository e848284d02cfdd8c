"""The store reader against real-format Ollama stores, good and damaged."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from imageworks.core.config import load_config
from imageworks.providers.ollama import store as store_module
from imageworks.providers.ollama.store import canonical_name, find_stores, ollama_name, read_store
from tests.ollama.helpers import FakeOllamaStore


def test_reads_the_real_gemma_model(gemma_store: FakeOllamaStore, gemma_sha256: str) -> None:
    (model,) = read_store(gemma_store.root)
    assert model.problem is None
    assert model.name == "gemma3:270m"
    assert model.model_digest == gemma_sha256
    assert model.model_blob == gemma_store.root / "blobs" / f"sha256-{gemma_sha256}"
    assert (model.quantization, model.quantization_source) == ("q4_k_m", "gguf-header")
    assert model.gguf["architecture"] == "gemma3"
    assert model.parameter_size == "268.10M"
    assert model.config["model_family"] == "gemma3"
    assert {layer.kind for layer in model.layers} == {"model", "template", "license", "params"}
    assert model.license == "Gemma Terms of Use"
    assert len(model.manifest_digest or "") == 64


def test_header_beats_config_and_tag(store: FakeOllamaStore, tiny_gguf) -> None:
    digest = store.add_blob(tiny_gguf(file_type=7))  # Q8_0 in the header
    store.add_model("tiny:1b-q4_K_M", digest, config={"model_format": "gguf", "file_type": "Q4_K_M"})
    (model,) = read_store(store.root)
    assert (model.quantization, model.quantization_source) == ("q8_0", "gguf-header")


def test_names_as_ollama_prints_them(store: FakeOllamaStore, tiny_gguf) -> None:
    digest = store.add_blob(tiny_gguf())
    for name in ("llama3:8b", "mannix/llama3:latest", "hf.co/bartowski/Qwen2.5-0.5B-Instruct-GGUF:Q6_K"):
        store.add_model(name, digest)
    assert [m.name for m in read_store(store.root)] == [
        "hf.co/bartowski/Qwen2.5-0.5B-Instruct-GGUF:Q6_K",
        "llama3:8b",
        "mannix/llama3:latest",
    ]
    assert ollama_name("registry.ollama.ai", "library", "llama3", "8b") == "llama3:8b"
    assert canonical_name("registry.ollama.ai/library/llama3") == "llama3:latest"
    assert canonical_name("hf.co/a/b:Q6_K") == "hf.co/a/b:Q6_K"


def test_legacy_colon_blob_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_gguf) -> None:
    legacy = FakeOllamaStore(tmp_path / "old-store", legacy_names=True)
    digest = legacy.add_blob(tiny_gguf())
    legacy.add_model("old:7b", digest)
    (model,) = read_store(legacy.root)
    assert model.problem is None
    assert model.model_blob is not None and model.model_blob.name == f"sha256:{digest}"
    assert model.quantization == "q4_k_m"
    assert model.config["model_family"] == "gemma3"  # the config blob is found under its legacy name too


def test_manifest_not_json_is_a_warning(store: FakeOllamaStore, tiny_gguf, caplog: pytest.LogCaptureFixture) -> None:
    store.add_model("broken:latest", "0" * 64, manifest_text="{not json")
    store.add_model("good:latest", store.add_blob(tiny_gguf()))
    with caplog.at_level(logging.WARNING, logger="imageworks"):
        broken, good = read_store(store.root)
    assert broken.name == "broken:latest" and "not valid JSON" in (broken.problem or "")
    assert good.problem is None
    assert any("not valid JSON" in r.getMessage() and r.name.startswith("imageworks.") for r in caplog.records)


def test_missing_model_blob_is_a_warning(store: FakeOllamaStore, caplog: pytest.LogCaptureFixture) -> None:
    store.add_model("ghost:latest", "ab" * 32)
    with caplog.at_level(logging.WARNING, logger="imageworks"):
        (model,) = read_store(store.root)
    assert "missing" in (model.problem or "") and model.model_blob is None
    assert any("missing" in r.getMessage() for r in caplog.records)


def test_blob_that_is_not_gguf(store: FakeOllamaStore, caplog: pytest.LogCaptureFixture) -> None:
    store.add_model("fake:latest", store.add_blob(b"PK\x03\x04 this is a zip, not a GGUF" * 100))
    with caplog.at_level(logging.WARNING, logger="imageworks"):
        (model,) = read_store(store.root)
    assert "not a GGUF file" in (model.problem or "")


def test_manifest_without_layers(store: FakeOllamaStore) -> None:
    store.add_model("odd:latest", "0" * 64, manifest_text='{"schemaVersion": 2}')
    (model,) = read_store(store.root)
    assert "no layers" in (model.problem or "")


def test_header_read_once_per_blob(store: FakeOllamaStore, tiny_gguf, monkeypatch: pytest.MonkeyPatch) -> None:
    digest = store.add_blob(tiny_gguf())
    for tag in ("a", "b", "c"):
        store.add_model(f"same:{tag}", digest)
    calls = []
    real = store_module.read_header
    monkeypatch.setattr(store_module, "read_header", lambda *a, **k: calls.append(a) or real(*a, **k))
    assert [m.quantization for m in read_store(store.root)] == ["q4_k_m"] * 3
    assert len(calls) == 1


def test_find_stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: FakeOllamaStore) -> None:
    assert find_stores(load_config()) == [store.root]  # $OLLAMA_MODELS only, no service store
    monkeypatch.delenv("OLLAMA_MODELS")
    home_store = FakeOllamaStore(Path.home() / ".ollama" / "models")
    service = FakeOllamaStore(tmp_path / "service")
    monkeypatch.setattr(store_module, "SERVICE_STORE", service.root)
    assert find_stores(load_config()) == [home_store.root, service.root]
