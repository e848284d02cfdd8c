"""Fixtures of the GUI tests: the loopback Hub serving the real MiniLM repo, HF_ENDPOINT pointing at it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.fixtures import MINILM_REPO, hf_client_env, hub_server  # noqa: F401  (fixtures)
from tests.support.hub_server import HubServer


@pytest.fixture
def hub(hub_server: HubServer, hf_client_env: Path, minilm_dir: Path) -> HubServer:  # noqa: F811
    """The Hub with ``sentence-transformers/all-MiniLM-L6-v2``; HF_ENDPOINT points at it."""
    hub_server.add_repo(MINILM_REPO, minilm_dir)
    return hub_server
