"""What a client learns about servers that are not running: ``live`` in ``/v1/models`` (or only live ones),
a 502 naming the command that starts the missing server, and a 404 for a role no installed variant has."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from imageworks.proxy.settings import ProxySettings
from tests.launch.conftest import free_port
from tests.ollama.helpers import FakeOllamaServer
from tests.proxy.conftest import GEMMA, GEMMA_SERVED, MINILM, OLLAMA, OLLAMA_TAG, ProxyServer, write_curated
from tests.proxy.fake_vllm import FakeVLLM

CHAT = [{"role": "user", "content": "hi"}]


@pytest.fixture
def offline(entries: list[dict[str, Any]], isolated: Path, ollama: FakeOllamaServer) -> list[dict[str, Any]]:
    """The usual entries plus one variant per stack whose server is not running (a free port each)."""
    folder = isolated / "weights" / "idle"
    folder.mkdir(parents=True)
    extra = [
        {"name": "idle-vllm", "backend": "vllm", "download_path": str(folder), "backend_config": {"port": free_port()}},
        {"name": "idle-lmdeploy", "backend": "lmdeploy", "download_path": str(folder), "backend_config": {"port": free_port()}},
        {"name": "idle-gguf", "backend": "gguf", "download_format": "gguf", "download_path": str(folder),
         "backend_config": {"port": free_port()}},
    ]
    write_curated(isolated / "registry", entries + extra)
    return entries + extra


def test_models_say_which_backends_are_live(offline: list[dict[str, Any]], vllm: FakeVLLM) -> None:
    with ProxyServer(ProxySettings()) as proxy:
        cards = {m.model_dump()["name"]: m.model_dump() for m in proxy.client().models.list()}
        assert {name: card["live"] for name, card in cards.items()} == {
            GEMMA: True, MINILM: True, OLLAMA: True, "idle-vllm": False, "idle-lmdeploy": False, "idle-gguf": False}
        assert proxy.client().models.retrieve("idle-vllm").model_dump()["live"] is False
        assert proxy.client().models.retrieve(GEMMA_SERVED).model_dump()["live"] is True
    with ProxyServer(ProxySettings(hide_offline=True)) as hiding:
        assert {m.model_dump()["name"] for m in hiding.client().models.list()} == {GEMMA, MINILM, OLLAMA}


@pytest.fixture
def silent_roots() -> Iterator[list[str]]:
    """API roots of servers that accept connections and never answer."""
    sockets = []
    for _ in range(12):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        sockets.append(s)
    yield [f"http://127.0.0.1:{s.getsockname()[1]}/v1" for s in sockets]
    for s in sockets:
        s.close()


def test_models_stay_fast_when_backends_hang(
    entries: list[dict[str, Any]], isolated: Path, ollama: FakeOllamaServer, silent_roots: list[str]
) -> None:
    folder = isolated / "weights" / "hung"
    folder.mkdir(parents=True)
    hung = [{"name": f"hung-{i}-vllm", "backend": "vllm", "download_path": str(folder), "backend_config": {"base_url": root}}
            for i, root in enumerate(silent_roots)]
    write_curated(isolated / "registry", entries + hung)
    with ProxyServer(ProxySettings()) as proxy:
        started = time.monotonic()
        cards = httpx.get(f"{proxy.url}/models", timeout=30).json()["data"]
        first = time.monotonic() - started
        assert sum(1 for card in cards if not card["live"]) == len(hung)
        # probed at once, not one after another (12 x 0.5 s); then answered from the cache
        assert first < 5, first
        started = time.monotonic()
        httpx.get(f"{proxy.url}/models", timeout=30)
        assert time.monotonic() - started < first


@pytest.mark.parametrize(
    ("name", "command"),
    [("idle-vllm", "imageworks-download serve-vllm idle-vllm"),
     ("idle-lmdeploy", "imageworks-download serve-lmdeploy idle-lmdeploy"),
     ("idle-gguf", "imageworks-download serve-llama-server idle-gguf")],
)
def test_a_502_names_the_command_that_starts_the_server(offline: list[dict[str, Any]], name: str, command: str) -> None:
    with ProxyServer(ProxySettings()) as proxy, pytest.raises(openai.APIStatusError) as raised:
        proxy.client().chat.completions.create(model=name, messages=CHAT)  # type: ignore[arg-type]
    assert raised.value.status_code == 502
    body = raised.value.body
    assert isinstance(body, dict) and body["code"] == "backend_unavailable"
    assert f"`{command}`" in body["message"] and "\n" not in body["message"]


def test_a_502_for_ollama_says_serve_and_pull(entries: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGEWORKS_OLLAMA_HOST", f"http://127.0.0.1:{free_port()}")
    with ProxyServer(ProxySettings()) as proxy, pytest.raises(openai.APIStatusError) as raised:
        proxy.client().chat.completions.create(model=OLLAMA, messages=CHAT)  # type: ignore[arg-type]
    assert raised.value.status_code == 502
    assert isinstance(raised.value.body, dict)
    assert "`ollama serve`" in raised.value.body["message"] and f"`ollama pull {OLLAMA_TAG}`" in raised.value.body["message"]


def test_a_role_no_installed_variant_has_is_a_404_saying_so(proxy: ProxyServer, entries: list[dict[str, Any]],
                                                             isolated: Path) -> None:
    entries.append({"name": "captioner-gone-vllm", "backend": "vllm", "download_path": str(isolated / "gone"),
                    "roles": ["caption"]})
    write_curated(isolated / "registry", entries)
    for role in ("vision", "caption"):
        with pytest.raises(openai.NotFoundError) as raised:
            proxy.client().chat.completions.create(model=role, messages=CHAT)  # type: ignore[arg-type]
        assert raised.value.code == "model_not_found"
        assert f"No installed variant has the role `{role}`" in raised.value.message
    with pytest.raises(openai.NotFoundError) as raised:
        proxy.client().models.retrieve("caption")
    assert "No installed variant has the role `caption`" in raised.value.message
