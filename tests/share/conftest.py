"""Stores of every app under ``tmp_path``: Ollama's, LM Studio's, the Hugging Face cache, the weights root."""

from __future__ import annotations

import os
from pathlib import Path

import attrs
import pytest


@attrs.define(frozen=True)
class Stores:
    """The app folders of one test."""

    weights: Path
    lmstudio: Path
    ollama: Path
    hf_cache: Path

    def all(self) -> list[Path]:
        """Every folder, for ``du``."""
        return [self.weights, self.lmstudio, self.ollama, self.hf_cache]


@pytest.fixture
def stores(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> Stores:
    """Empty stores; OLLAMA_MODELS and HF_HUB_CACHE point at them."""
    found = Stores(weights=Path(os.environ["IMAGEWORKS_MODEL_ROOT"]), lmstudio=Path(os.environ["IMAGEWORKS_LMSTUDIO_ROOT"]),
                   ollama=isolated / "ollama" / "models", hf_cache=isolated / "hf-cache")
    for folder in found.all():
        folder.mkdir(parents=True, exist_ok=True)
    (found.ollama / "manifests").mkdir()
    (found.ollama / "blobs").mkdir()
    monkeypatch.setenv("OLLAMA_MODELS", str(found.ollama))
    monkeypatch.setenv("HF_HUB_CACHE", str(found.hf_cache))
    return found
