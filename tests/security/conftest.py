"""Fixtures for the security tests: a fake weights root, secrets and an Ollama store, all in ``tmp_path``.

Nothing here reaches outside ``tmp_path``: the "secret" files a hostile store aims at are
built inside it, and every test asserts they are unchanged byte for byte.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from imageworks.providers.ollama import store as store_module
from tests.model_fixtures import write_gguf
from tests.ollama.helpers import FakeOllamaStore

SECRET = b"root:$6$rounds=5000$saltsalt$0123456789abcdefHASHHASHHASH:19000:0:99999:7:::\nsecond line\n"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(autouse=True)
def no_real_ollama(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach a real Ollama server or the machine's service store."""
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{_closed_port()}")
    monkeypatch.setattr(store_module, "SERVICE_STORE", tmp_path / "no-service-store")


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file outside every store and root that no command may read, change or delete."""
    path = tmp_path / "secrets" / "db-password"
    path.parent.mkdir()
    path.write_bytes(SECRET)
    return path


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeOllamaStore:
    """An empty Ollama store that ``$OLLAMA_MODELS`` points at."""
    fake = FakeOllamaStore(tmp_path / "ollama-models")
    monkeypatch.setenv("OLLAMA_MODELS", str(fake.root))
    return fake


@pytest.fixture
def tiny_gguf(tmp_path: Path) -> Callable[..., bytes]:
    """Bytes of a small valid GGUF (``tiny_gguf(seed=1)`` for other bytes)."""
    counter = iter(range(10**6))
    return lambda file_type=15, seed=0: write_gguf(
        tmp_path / "gguf-build" / f"tiny-{next(counter)}.gguf", file_type, "llama", tokens=None, seed=seed, name=f"tiny {seed}"
    ).read_bytes()
