"""Builders for detection tests: small valid GGUF and safetensors files.

The real-model fixtures (``gemma_gguf``, ``minilm_dir``) live in ``tests/conftest.py``.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from tests.model_fixtures import link, write_gguf  # noqa: F401  (used by detection tests)


def write_safetensors(path: Path, tensors: dict[str, tuple[str, list[int]]], metadata: dict[str, str] | None = None,
                      sparse_size: int | None = None) -> Path:
    """A safetensors file with the given header; data is zeros, or a hole up to ``sparse_size``."""
    sizes = {"F32": 4, "F16": 2, "BF16": 2, "I32": 4, "I16": 2, "I64": 8, "U8": 1, "I8": 1, "F8_E4M3": 1}
    header: dict[str, object] = {"__metadata__": metadata} if metadata else {}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        count = int(np.prod(shape)) if shape else 1
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + count * sizes[dtype]]}
        offset += count * sizes[dtype]
    raw = json.dumps(header).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", len(raw)) + raw)
        if sparse_size:
            handle.truncate(max(sparse_size, 8 + len(raw) + offset))
        else:
            handle.write(b"\0" * offset)
    return path


@pytest.fixture
def make_gguf():
    """The :func:`write_gguf` builder (fixtures, because test modules cannot import conftest)."""
    return write_gguf


@pytest.fixture
def make_safetensors():
    """The :func:`write_safetensors` builder."""
    return write_safetensors


@pytest.fixture
def linker():
    """The :func:`link` helper."""
    return link
