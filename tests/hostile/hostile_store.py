"""Model folders with one hostile file each, beside good ones (issue 27, item 2).

Each builder writes a folder a scan records as a variant: the hostile file is the kind a
Hub, a store or a folder may hold (a config.json nested 10,000 deep, a safetensors header
nested 100,000 deep, a GGUF announcing and holding 70,000 tensor infos, a GGUF with a bad
magic). The good folders hold a small valid safetensors model and a small valid GGUF.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path

from tests.model_fixtures import write_gguf

MANY_TENSORS = 70_000  # past the reader's count limit; a real GGUF holds a few thousand


def safetensors_bytes(header: bytes | None = None) -> bytes:
    """A valid safetensors file (one 2x2 F32 tensor), or ``header`` as its JSON header."""
    raw = header or json.dumps({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\0" * 16


def _config(folder: Path, text: str | None = None) -> None:
    (folder / "config.json").write_text(text or json.dumps({"model_type": "llama", "hidden_size": 8}), encoding="utf-8")


def good_safetensors(folder: Path) -> None:
    _config(folder)
    (folder / "model.safetensors").write_bytes(safetensors_bytes())


def good_gguf(folder: Path) -> None:
    write_gguf(folder / "good-Q4_K_M.gguf")


def deep_config(folder: Path) -> None:
    _config(folder, "[" * 10_000 + "]" * 10_000)
    (folder / "model.safetensors").write_bytes(safetensors_bytes())


def deep_safetensors(folder: Path) -> None:
    _config(folder)
    (folder / "model.safetensors").write_bytes(safetensors_bytes(b'{"w": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"))


def many_tensors_gguf(folder: Path, count: int = MANY_TENSORS) -> None:
    """A well-formed GGUF v3 header with ``count`` one-element F32 tensors."""
    def string(text: str) -> bytes:
        return struct.pack("<Q", len(text)) + text.encode()

    parts = [b"GGUF", struct.pack("<IQQ", 3, count, 1), string("general.architecture"), struct.pack("<I", 8), string("llama")]
    info = struct.Struct("<IQIQ")
    parts += [string(f"t{i}") + info.pack(1, 1, 0, 32 * i) for i in range(count)]
    (folder / "many-Q4_K_M.gguf").write_bytes(b"".join(parts) + b"\0" * 64)


def bad_magic_gguf(folder: Path) -> None:
    (folder / "bad-Q4_K_M.gguf").write_bytes(b"NOPE" + b"\0" * 64)


GOOD: dict[str, Callable[[Path], None]] = {"good-st": good_safetensors, "good-gguf": good_gguf}
HOSTILE: dict[str, Callable[[Path], None]] = {
    "deep-config": deep_config, "deep-safetensors": deep_safetensors,
    "many-tensors": many_tensors_gguf, "bad-magic": bad_magic_gguf,
}


def build(root: Path) -> Path:
    """``root/org/<name>`` for every good and hostile folder; returns ``root``."""
    for name, make in {**GOOD, **HOSTILE}.items():
        folder = root / "org" / name
        folder.mkdir(parents=True, exist_ok=True)
        make(folder)
    return root
