"""The API path against a loopback Ollama server speaking the documented /api shapes."""

from __future__ import annotations

import time
from pathlib import Path

from imageworks.app import open_registry
from imageworks.core.config import load_config
from imageworks.providers.ollama.api import OllamaApi
from imageworks.providers.ollama.catalog import build_catalog
from imageworks.providers.ollama.importer import import_ollama
from tests.ollama.helpers import FakeOllamaServer, FakeOllamaStore, tags_entry


def test_official_client_reads_tags_and_show(server: FakeOllamaServer) -> None:
    server.models = [tags_entry("llama3:8b", "a" * 64, quant="Q4_0", family="llama")]
    server.blobs["llama3:8b"] = "/srv/ollama/models/blobs/sha256-" + "b" * 64
    api = OllamaApi(server.url)
    (model,) = api.list_models() or []
    assert (model.name, model.family, model.parameter_size, model.quantization_level) == (
        "llama3:8b", "llama", "268.10M", "Q4_0")
    api.add_blob(model)
    assert model.blob_digest == "b" * 64 and model.blob_path.endswith("sha256-" + "b" * 64)
    assert server.requests == ["GET /api/tags", "POST /api/show llama3:8b"]
    api.close()


def test_host_settings(monkeypatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "otherhost:1234")
    assert load_config().ollama_url == "http://otherhost:1234"
    monkeypatch.setenv("OLLAMA_BASE_URL", "http://base:11434")
    assert load_config().ollama_url == "http://base:11434"
    monkeypatch.setenv("IMAGEWORKS_OLLAMA_HOST", "imageworks-ollama")
    assert load_config().ollama_url == "http://imageworks-ollama:11434"


def test_api_only_models_are_logical(use_server: FakeOllamaServer) -> None:
    use_server.models = [tags_entry("qwen2.5:7b-instruct", "c" * 64, quant="Q5_K_M", family="qwen2")]
    report = import_ollama(open_registry(), dry_run=False)
    assert report.api_reachable and report.stores == []
    (entry,) = open_registry(load_config()).entries()
    assert entry.name == "qwen2.5-7b-instruct-ollama-gguf-q5_k_m"
    assert entry.download_path == "ollama://qwen2.5:7b-instruct" and entry.is_logical
    assert entry.served_model_id == "qwen2.5:7b-instruct" and entry.quantization == "q5_k_m"
    assert entry.download_size_bytes is None


def test_api_blob_path_used_when_visible(use_server: FakeOllamaServer, tmp_path: Path, tiny_gguf) -> None:
    elsewhere = FakeOllamaStore(tmp_path / "unconfigured-store")
    digest = elsewhere.add_blob(tiny_gguf())
    use_server.models = [tags_entry("tiny:1b", "d" * 64)]
    use_server.blobs["tiny:1b"] = str(elsewhere.blob_file(digest))
    import_ollama(open_registry(), dry_run=False)
    (entry,) = open_registry(load_config()).entries()
    assert entry.download_path == str(elsewhere.blob_file(digest))
    assert entry.artifacts.files[0].sha256 == digest


def test_store_and_api_merge(use_server: FakeOllamaServer, gemma_store: FakeOllamaStore, gemma_sha256: str) -> None:
    use_server.models = [tags_entry("gemma3:270m", "e" * 64), tags_entry("remote-only:latest", "f" * 64, quant="Q8_0")]
    catalog = build_catalog(load_config())
    by_name = {m.name: m for m in catalog.models}
    assert by_name["gemma3:270m"].origin == "store+api" and by_name["gemma3:270m"].digest == gemma_sha256
    assert by_name["remote-only:latest"].origin == "api"
    assert use_server.requests.count("POST /api/show gemma3:270m") == 0  # the store already told us
    report = import_ollama(open_registry(), dry_run=False)
    assert sorted((i.variant, i.origin) for i in report.items) == [
        ("gemma3-270m-ollama-gguf-q4_k_m", "store+api"),
        ("remote-only-ollama-gguf-q8_0", "api"),
    ]


def test_unreachable_host_falls_back_to_store(store: FakeOllamaStore, tiny_gguf) -> None:
    store.add_model("llama3:8b", store.add_blob(tiny_gguf()))
    started = time.monotonic()
    report = import_ollama(open_registry(), dry_run=False)
    assert time.monotonic() - started < 5
    assert not report.api_reachable
    (warning,) = report.warnings
    assert "not reachable" in warning and "using the store only" in warning
    assert [i.action for i in report.items] == ["add"]


def test_server_errors_fall_back(use_server: FakeOllamaServer, store: FakeOllamaStore, tiny_gguf, monkeypatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", use_server.url + "/wrong-prefix")  # every path answers 404
    store.add_model("llama3:8b", store.add_blob(tiny_gguf()))
    report = import_ollama(open_registry(), dry_run=False)
    assert not report.api_reachable and "not reachable" in report.warnings[0]
    assert [i.action for i in report.items] == ["add"]
