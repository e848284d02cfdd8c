"""The environment that keeps a test (or a server a test starts) off the user's registry, logs and stores.

:data:`ISOLATED_VARIABLES` are every variable that configures imageworks or a store it
reads; :func:`isolated_environment` gives the folders under one base directory. The
autouse ``isolated`` fixture applies them to each test; a module-scoped server gets them
as its process environment.
"""

from __future__ import annotations

import os
from pathlib import Path

ISOLATED_VARIABLES = (
    "IMAGEWORKS_MODEL_ROOT",
    "IMAGEWORKS_LMSTUDIO_ROOT",
    "IMAGEWORKS_LOG_DIR",
    "IMAGEWORKS_REGISTRY_DIR",
    "IMAGEWORKS_CACHE_DIR",
    "XDG_CACHE_HOME",
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


def isolated_environment(base: Path) -> dict[str, str]:
    """The variables that point every configurable folder into ``base`` (its ``home`` is created)."""
    (base / "home").mkdir(parents=True, exist_ok=True)
    return {
        "HOME": str(base / "home"),
        "IMAGEWORKS_REGISTRY_DIR": str(base / "registry"),
        "IMAGEWORKS_LOG_DIR": str(base / "logs"),
        "IMAGEWORKS_CACHE_DIR": str(base / "cache"),
        "IMAGEWORKS_MODEL_ROOT": str(base / "weights"),
        "IMAGEWORKS_LMSTUDIO_ROOT": str(base / "lmstudio"),
        "XDG_CACHE_HOME": str(base / "xdg-cache"),  # the entry-point cache (core/entry_points.py)
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_OFFLINE": "0",
    }


def process_environment(base: Path, **extra: str) -> dict[str, str]:
    """A child process's whole environment: this one's without :data:`ISOLATED_VARIABLES`,
    the folders of :func:`isolated_environment` under ``base``, then ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in ISOLATED_VARIABLES}
    return {**env, **isolated_environment(base), **extra}
