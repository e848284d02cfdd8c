"""The chat proxy end to end through the official openai client: listing, streaming, errors, auth, roles.

Tests taking ``registry_backend`` run twice: over the JSON files and over a PostgreSQL
registry (the ``backend`` fixture of ``conftest.py`` seeds and edits whichever it is).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from imageworks.proxy.settings import ProxySettings
from tests.launch.conftest import free_port
from tests.model_fixtures import link
from tests.ollama.helpers import FakeOllamaServer
from tests.proxy.conftest import (
    GEMMA,
    GEMMA_SERVED,
    MINILM,
    OLLAMA,
    OLLAMA_TAG,
    ProxyServer,
    write_curated,
)
from tests.proxy.fake_vllm import REPLY, FakeVLLM
from tests.support.backends import BackendUnderTest


def test_models_lists_installed_variants_in_openai_shape(proxy: ProxyServer, registry_backend: BackendUnderTest) -> None:
    models = {m.id: m for m in proxy.client().models.list()}
    assert set(models) == {GEMMA_SERVED, MINILM, OLLAMA_TAG}
    gemma = models[GEMMA_SERVED].model_dump()
    assert gemma["object"] == "model" and gemma["owned_by"] == "hugginllam"
    assert gemma["created"] == 1796032800  # 2026-11-30T10:00:00Z
    assert gemma["name"] == GEMMA and gemma["backend"] == "vllm"
    assert (gemma["format"], gemma["quantization"], gemma["installed"]) == ("gguf", "q4_k_m", True)
    assert gemma["context_length"] == 32768  # gemma3.context_length of the real GGUF's header
    assert gemma["max_model_len"] == 8192  # backend_config.max_model_len, vLLM's field
    assert gemma["roles"] == ["chat"] and gemma["aliases"] == ["gemma-small"]
    assert models[OLLAMA_TAG].model_dump()["backend"] == "ollama"
    assert "context_length" not in models[MINILM].model_dump()  # nothing in its (empty) folder says
    assert proxy.client().models.retrieve("gemma-small").id == GEMMA_SERVED


def test_streams_a_chat_completion_to_vllm_unbuffered(
    proxy: ProxyServer, vllm: FakeVLLM, registry_backend: BackendUnderTest
) -> None:
    vllm.gate = threading.Event()
    stream = proxy.client().chat.completions.create(
        model=GEMMA_SERVED, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = iter(stream)
    first = next(chunks)
    assert first.choices[0].delta.content == REPLY[0]
    assert not vllm.rest_sent.is_set()  # the first chunk arrived while the backend still held the rest
    vllm.gate.set()
    rest = [c.choices[0].delta.content for c in chunks]
    assert [REPLY[0], *rest] == REPLY
    path, _, body = vllm.requests[-1]
    assert path == "/v1/chat/completions" and body["model"] == GEMMA_SERVED and body["stream"] is True


def test_variant_name_and_alias_are_swapped_for_the_served_id(
    proxy: ProxyServer, vllm: FakeVLLM, registry_backend: BackendUnderTest
) -> None:
    for asked in (GEMMA, "gemma-small"):
        answer = proxy.client().chat.completions.create(model=asked, messages=[{"role": "user", "content": "hi"}])
        assert answer.choices[0].message.content == "".join(REPLY)
        assert vllm.requests[-1][2]["model"] == GEMMA_SERVED
    text = proxy.client().completions.create(model=GEMMA, prompt="Once")
    assert text.choices[0].text == "".join(REPLY) and vllm.requests[-1][0] == "/v1/completions"
    streamed = proxy.client().completions.create(model=GEMMA, prompt="Once", stream=True)
    assert "".join(c.choices[0].text for c in streamed) == "".join(REPLY)


def test_streams_a_chat_completion_to_ollama_with_its_tag(proxy: ProxyServer, ollama: FakeOllamaServer) -> None:
    stream = proxy.client().chat.completions.create(
        model=OLLAMA, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hi from Ollama"
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[0].system_fingerprint == "fp_ollama"
    headers, body = ollama.chat_requests[-1]
    assert body["model"] == OLLAMA_TAG
    assert "authorization" not in headers
    whole = proxy.client().chat.completions.create(model=OLLAMA_TAG, messages=[{"role": "user", "content": "hi"}])
    assert whole.choices[0].message.content == "Hi from Ollama"
    # what the proxy lists for Ollama is what Ollama itself lists
    assert OLLAMA_TAG in {m["id"] for m in httpx.get(f"{ollama.url}/v1/models").json()["data"]}


def test_embeddings_are_forwarded(proxy: ProxyServer, vllm_embed: FakeVLLM) -> None:
    result = proxy.client().embeddings.create(model="embedding", input=["hello", "a longer text"])  # a role name
    assert [d.embedding for d in result.data] == [[5.0, 0.5, -0.25, 1.0], [13.0, 0.5, -0.25, 1.0]]
    path, _, body = vllm_embed.requests[-1]
    assert path == "/v1/embeddings" and body["model"] == MINILM


def test_role_name_resolves_to_the_best_installed_variant(
    proxy: ProxyServer, vllm: FakeVLLM, ollama: FakeOllamaServer, entries: list[dict[str, Any]], isolated: Path,
    registry_backend: BackendUnderTest,
) -> None:
    client = proxy.client()
    client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    assert vllm.requests[-1][2]["model"] == GEMMA_SERVED  # priority 2 beats the Ollama variant's 5
    assert client.models.retrieve("chat").id == GEMMA_SERVED
    # a better priority on a variant that is not installed does not count; on the Ollama one it does
    entries[2]["role_priorities"] = {"chat": 1}
    entries.append({"name": "chat-vllm-gone", "backend": "vllm", "download_path": str(isolated / "gone"),
                    "roles": ["chat"], "role_priorities": {"chat": 0}, "backend_config": {"base_url": vllm.url}})
    registry_backend.seed("curated", entries)
    client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    assert ollama.chat_requests[-1][1]["model"] == OLLAMA_TAG


def test_a_role_no_variant_lists_falls_back_to_capabilities(
    proxy: ProxyServer, entries: list[dict[str, Any]], isolated: Path, registry_backend: BackendUnderTest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    here = isolated / "weights" / "acme"
    here.mkdir(parents=True)
    capable = "qwen2-vl-2b-vllm-safetensors"
    with FakeVLLM(capable) as vision:
        entries += [
            {"name": capable, "backend": "vllm", "download_path": str(here), "capabilities": {"vision": True},
             "backend_config": {"base_url": vision.url}},
            {"name": "zz-vision-vllm", "backend": "vllm", "download_path": str(here), "capabilities": {"vision": True},
             "backend_config": {"base_url": f"http://127.0.0.1:{free_port()}/v1"}},  # later by name: never asked
            {"name": "a-vision-gone-vllm", "backend": "vllm", "download_path": str(isolated / "gone"),
             "capabilities": {"vision": True}, "backend_config": {"base_url": vision.url}},  # not installed
        ]
        registry_backend.seed("curated", entries)
        client = proxy.client()
        with caplog.at_level(logging.INFO, logger="imageworks.proxy"):
            answer = client.chat.completions.create(model="vision", messages=[{"role": "user", "content": "what is this?"}])
        assert answer.choices[0].message.content == "".join(REPLY)
        assert vision.requests[-1][0] == "/v1/chat/completions" and vision.requests[-1][2]["model"] == capable
        assert any(f"'vision' (capability -> {capable})" in r.getMessage() for r in caplog.records)
        assert client.models.retrieve("vision").model_dump()["name"] == capable
        with pytest.raises(openai.NotFoundError) as raised:  # neither roles[] nor capabilities say audio
            client.chat.completions.create(model="audio", messages=[{"role": "user", "content": "x"}])
        assert raised.value.code == "model_not_found"


def test_unknown_model_is_openai_404(proxy: ProxyServer) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        proxy.client().chat.completions.create(model="gemma-3-270m-vllm-gguf", messages=[{"role": "user", "content": "x"}])
    error = raised.value
    assert error.status_code == 404 and error.code == "model_not_found" and error.param == "model"
    assert error.type == "invalid_request_error"
    assert f"closest: {GEMMA}" in error.message
    with pytest.raises(openai.NotFoundError):
        proxy.client().models.retrieve("nothing-like-it")


def test_bad_requests_are_openai_400(proxy: ProxyServer) -> None:
    answer = httpx.post(f"{proxy.url}/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_json"
    answer = httpx.post(f"{proxy.url}/chat/completions", json={"messages": []})
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "model"


def test_backend_down_is_502_with_one_line(proxy: ProxyServer, entries: list[dict[str, Any]], isolated: Path) -> None:
    entries[0]["backend_config"]["base_url"] = f"http://127.0.0.1:{free_port()}/v1"
    write_curated(isolated / "registry", entries)
    with pytest.raises(openai.APIStatusError) as raised:
        proxy.client().chat.completions.create(model=GEMMA, messages=[{"role": "user", "content": "x"}], stream=True)
    assert raised.value.status_code == 502
    body = raised.value.body
    assert isinstance(body, dict) and body["code"] == "backend_unavailable"
    assert "unreachable" in body["message"] and "\n" not in body["message"]


def test_backend_dying_mid_stream_ends_the_stream_with_an_error(
    proxy: ProxyServer, vllm: FakeVLLM, caplog: pytest.LogCaptureFixture
) -> None:
    vllm.die_after = 2
    stream = proxy.client().chat.completions.create(model=GEMMA, messages=[{"role": "user", "content": "x"}], stream=True)
    received = []
    with caplog.at_level(logging.WARNING, logger="imageworks.proxy"), pytest.raises(openai.APIError) as raised:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content)
    assert received == REPLY[:2]  # the half-sent third event is dropped, not passed on broken
    assert "closed the stream" in raised.value.message
    lines = [r.getMessage() for r in caplog.records if r.name == "imageworks.proxy" and "closed the stream" in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0]
    # the proxy itself is fine afterwards
    vllm.die_after = None
    answer = proxy.client().chat.completions.create(model=GEMMA, messages=[{"role": "user", "content": "x"}])
    assert answer.choices[0].message.content == "".join(REPLY)


def test_registry_edits_show_without_restart(proxy: ProxyServer, entries: list[dict[str, Any]], isolated: Path,
                                             gemma_gguf: Path, vllm: FakeVLLM, registry_backend: BackendUnderTest) -> None:
    client = proxy.client()
    assert len(client.models.list().data) == 3
    folder = isolated / "weights" / "acme" / "tiny"
    link(gemma_gguf, folder / "tiny.gguf")
    entries.append({"name": "tiny-vllm-gguf", "backend": "vllm", "download_path": str(folder),
                    "download_files": ["tiny.gguf"], "backend_config": {"base_url": vllm.url}})
    registry_backend.seed("curated", entries)
    assert "tiny-vllm-gguf" in {m.id for m in client.models.list()}
    assert client.models.retrieve("tiny-vllm-gguf").model_dump()["name"] == "tiny-vllm-gguf"
    registry_backend.seed("curated", entries[1:])
    assert GEMMA_SERVED not in {m.id for m in client.models.list()}
    with pytest.raises(openai.NotFoundError) as raised:  # gone from the registry: no longer served either
        client.chat.completions.create(model=GEMMA, messages=[{"role": "user", "content": "hi"}])
    assert raised.value.code == "model_not_found" and not any(r[2].get("model") == GEMMA_SERVED for r in vllm.requests)


@pytest.mark.parametrize(
    ("variable", "hidden"),
    [("CHAT_PROXY_INCLUDE_NON_INSTALLED", {"gone-vllm", "logical-ollama-gguf", "elsewhere-vllm"}),
     ("CHAT_PROXY_INCLUDE_TEST_MODELS", {"testzzz-chat-vllm"})],
)
def test_env_flags_show_hidden_entries(
    variable: str, hidden: set[str], entries: list[dict[str, Any]], isolated: Path, vllm: FakeVLLM,
    ollama: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    entries += [
        {"name": "gone-vllm", "backend": "vllm", "download_path": str(isolated / "gone"), "backend_config": {"base_url": vllm.url}},
        {"name": "logical-ollama-gguf", "backend": "ollama", "download_path": "ollama://logical:latest"},
        {"name": "testzzz-chat-vllm", "backend": "vllm", "download_path": str(isolated / "weights"), "backend_config": {"base_url": vllm.url}},
        {"name": "old-vllm", "backend": "vllm", "download_path": str(isolated / "weights"), "deprecated": True},
        {"name": "elsewhere-vllm", "backend": "vllm", "download_path": str(isolated / "weights"), "host": "other-box",
         "backend_config": {"base_url": vllm.url}},  # another host's install in a shared registry
    ]
    write_curated(isolated / "registry", entries)
    monkeypatch.setenv("IMAGEWORKS_HOST", "this-box")
    names = {"gone-vllm", "logical-ollama-gguf", "testzzz-chat-vllm", "old-vllm", "elsewhere-vllm"}
    with ProxyServer() as plain:  # settings from the (empty) environment
        assert not names & {m.model_dump()["name"] for m in plain.client().models.list()}
        with pytest.raises(openai.NotFoundError):  # what is not listed is not served either
            plain.client().chat.completions.create(model=sorted(hidden)[0], messages=[{"role": "user", "content": "x"}])
    monkeypatch.setenv(variable, "1")
    with ProxyServer() as widened:
        listed = {m.model_dump()["name"] for m in widened.client().models.list()}
    assert hidden <= listed and "old-vllm" not in listed
    assert not ({"gone-vllm", "logical-ollama-gguf", "testzzz-chat-vllm", "elsewhere-vllm"} - hidden) & listed


def test_client_authorization_is_not_forwarded_unless_configured(
    proxy: ProxyServer, vllm: FakeVLLM, entries: list[dict[str, Any]], isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy.client("sk-client-secret").chat.completions.create(model=GEMMA, messages=[{"role": "user", "content": "x"}])
    assert "authorization" not in vllm.requests[-1][1]
    with ProxyServer(ProxySettings(forward_auth=True)) as forwarding:
        forwarding.client("sk-client-secret").chat.completions.create(model=GEMMA, messages=[{"role": "user", "content": "x"}])
    assert vllm.requests[-1][1]["authorization"] == "Bearer sk-client-secret"
    # a backend key named in backend_config.api_key_env wins, and is never logged
    monkeypatch.setenv("IMAGEWORKS_BACKEND_KEY_FAKE_VLLM", "backend-key-0123456789")
    entries[0]["backend_config"]["api_key_env"] = "IMAGEWORKS_BACKEND_KEY_FAKE_VLLM"
    write_curated(isolated / "registry", entries)
    proxy.client().chat.completions.create(model=GEMMA, messages=[{"role": "user", "content": "x"}])
    assert vllm.requests[-1][1]["authorization"] == "Bearer backend-key-0123456789"
    assert all("backend-key" not in p.read_text() for p in isolated.rglob("*.log"))
    assert "backend-key" not in json.dumps(entries)


def test_silent_backend_is_504(entries: list[dict[str, Any]], isolated: Path, ollama: FakeOllamaServer) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel does) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        entries[0]["backend_config"]["base_url"] = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        write_curated(isolated / "registry", entries)
        with ProxyServer(ProxySettings(timeout=0.5)) as impatient, pytest.raises(openai.APIStatusError) as raised:
            impatient.client().chat.completions.create(model=GEMMA, messages=[{"role": "user", "content": "x"}])
    assert raised.value.status_code == 504
    assert isinstance(raised.value.body, dict) and raised.value.body["code"] == "backend_timeout"


def test_backend_errors_reach_the_client_unchanged(proxy: ProxyServer, entries: list[dict[str, Any]], isolated: Path) -> None:
    entries[0]["served_model_id"] = "not-what-vllm-serves"
    write_curated(isolated / "registry", entries)
    with pytest.raises(openai.NotFoundError) as raised:
        proxy.client().chat.completions.create(model=GEMMA, messages=[{"role": "user", "content": "x"}])
    assert raised.value.body == {"object": "error", "message": "The model `not-what-vllm-serves` does not exist.",
                                 "type": "NotFoundError", "param": None, "code": 404}  # vLLM's own error object
