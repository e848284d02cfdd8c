"""Stores of every app under ``tmp_path``: Ollama's, LM Studio's, the Hugging Face cache, the weights root."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from tests.support.cli import cli


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


SIZE = 2 * 1024 * 1024 + 17


@attrs.define(frozen=True)
class Copies:
    """One content held by four stores, and where."""

    sha256: str
    paths: list[Path]  # weights (scanned), LM Studio, Ollama blob, HF cache blob
    hf_view: Path  # the snapshot link in the HF cache
    read_only: Path  # a fifth copy in a folder this user may not write
    other: Path  # same size, other bytes


def hf_blob(cache: Path, repo: str, filename: str, data: bytes, commit: str = "c" * 40) -> Path:
    """Put ``data`` in the Hugging Face cache as huggingface_hub lays a file out."""
    folder = cache / f"models--{repo.replace('/', '--')}"
    blob = folder / "blobs" / hashlib.sha256(data).hexdigest()
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    link = folder / "snapshots" / commit / filename
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(blob, link.parent))
    (folder / "refs").mkdir(exist_ok=True)
    (folder / "refs" / "main").write_text(commit)
    return link


@pytest.fixture
def copies(stores: Stores, capsys: pytest.CaptureFixture[str]) -> Iterator[Copies]:
    """One 2 MiB content in four stores (and a read-only fifth, and a same-size other file)."""
    found = build_copies(stores, capsys)
    yield found
    found.read_only.parent.chmod(0o755)


def build_copies(stores: Stores, capsys: pytest.CaptureFixture[str]) -> Copies:
    """Write :class:`Copies` into ``stores`` and scan the weights root (the registry hashes its copy)."""
    data = os.urandom(SIZE)
    digest = hashlib.sha256(data).hexdigest()
    weights = stores.weights / "acme" / "dup" / "model.safetensors"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(data)
    (weights.parent / "config.json").write_text('{"model_type": "llama"}')
    assert cli(capsys, "scan", "--base", str(stores.weights)).code == 0  # the registry hashes it
    lmstudio = stores.lmstudio / "acme" / "dup" / "model.safetensors"
    lmstudio.parent.mkdir(parents=True)
    lmstudio.write_bytes(data)
    blob = stores.ollama / "blobs" / f"sha256-{digest}"
    blob.write_bytes(data)
    view = hf_blob(stores.hf_cache, "acme/dup", "model.safetensors", data)
    read_only = stores.lmstudio / "readonly" / "model.safetensors"
    read_only.parent.mkdir()
    read_only.write_bytes(data)
    read_only.parent.chmod(0o555)
    other = stores.weights / "acme" / "other.bin"
    other.write_bytes(os.urandom(SIZE))
    paths = [weights, lmstudio, blob, view.resolve()]
    for path in paths:
        path.chmod(0o644)
    return Copies(sha256=digest, paths=paths, hf_view=view, read_only=read_only, other=other)
