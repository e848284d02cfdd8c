"""Fixtures for the registry-maintenance tests: the loopback Hub, a tiny GGUF, an Ollama store.

Nothing reaches a real Hub or Ollama: ``HF_ENDPOINT`` points at the loopback Hub,
``OLLAMA_HOST`` at a closed loopback port, and the Linux service store into ``tmp_path``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from imageworks.providers.ollama import store as store_module
from tests.model_fixtures import write_gguf
from tests.ollama.conftest import closed_port, store  # noqa: F401  (store: an empty Ollama store fixture)
from tests.ollama.helpers import FakeOllamaStore
from tests.support.fixtures import hf_client_env, hub_server, tiny_repo  # noqa: F401  (fixtures)
from tests.support.hub_server import HubServer

GGUF_REPO = "acme/tiny-GGUF"


@pytest.fixture(autouse=True)
def no_real_ollama(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach a real Ollama server or the machine's service store."""
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    monkeypatch.setattr(store_module, "SERVICE_STORE", tmp_path / "no-service-store")


@pytest.fixture
def gguf_repo(hub_server: HubServer, tmp_path: Path) -> Path:  # noqa: F811
    """``acme/tiny-GGUF`` (one Q4_K_M GGUF and a README) served by ``hub_server``."""
    folder = tmp_path / "hub-src" / "tiny-gguf"
    write_gguf(folder / "tiny-Q4_K_M.gguf", file_type=15, seed=3)
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n# tiny GGUF for llama.cpp\n", encoding="utf-8")
    hub_server.add_repo(GGUF_REPO, folder)
    return folder


@pytest.fixture
def ollama_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeOllamaStore:
    """A real-format Ollama store holding ``llama3:8b`` (a tiny GGUF blob); ``$OLLAMA_MODELS`` points at it."""
    fake = FakeOllamaStore(tmp_path / "ollama-models")
    digest = fake.add_blob(write_gguf(tmp_path / "ollama-src" / "llama3.gguf", file_type=15, seed=11).read_bytes())
    fake.add_model("llama3:8b", digest)
    monkeypatch.setenv("OLLAMA_MODELS", str(fake.root))
    return fake


@pytest.fixture
def tiny_gguf(tmp_path: Path) -> Callable[..., bytes]:
    """Bytes of a small valid GGUF: ``tiny_gguf(file_type=15, seed=0)`` (15 is Q4_K_M)."""
    counter = iter(range(10**6))
    return lambda file_type=15, seed=0: write_gguf(
        tmp_path / "ggufs" / f"tiny-{next(counter)}.gguf", file_type, tokens=None, seed=seed, name=f"tiny {seed}"
    ).read_bytes()
