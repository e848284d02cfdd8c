"""Support repos only support (issue 27, item 6): their files are recorded as such, never
change the detected format or quantisation of the main weights, never make a new variant;
their quantisation configs (which describe their own weights) are not copied."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from imageworks.app import open_registry
from imageworks.core.config import load_config
from tests.support.cli import cli
from tests.support.hub_server import HubServer

AWQ = {"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": True, "version": "gemm"}


def _safetensors(dtype: str = "F16") -> bytes:
    header = json.dumps({"w": {"dtype": dtype, "shape": [64, 64], "data_offsets": [0, 64 * 64 * 2]}}).encode()
    return struct.pack("<Q", len(header)) + header + bytes(64 * 64 * 2)


def _repo(folder: Path, files: dict[str, bytes | dict]) -> Path:
    folder.mkdir(parents=True)
    for name, content in files.items():
        (folder / name).write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    return folder


@pytest.fixture
def hub(hub_server: HubServer, hf_client_env: Path, tmp_path: Path) -> HubServer:
    src = tmp_path / "hub-src"
    hub_server.add_repo("acme/plain", _repo(src / "plain", {
        "config.json": {"model_type": "llama", "torch_dtype": "bfloat16"}, "model.safetensors": _safetensors("BF16"),
    }))
    hub_server.add_repo("acme/opaque", _repo(src / "opaque", {  # weights whose header says nothing
        "config.json": {"model_type": "llama"}, "model.safetensors": bytes(range(256)) * 64,
    }))
    hub_server.add_repo("acme/weights-only", _repo(src / "weights-only", {"model.safetensors": _safetensors()}))
    hub_server.add_repo("acme/other-AWQ", _repo(src / "other", {
        "config.json": {"model_type": "llama", "torch_dtype": "float16", "quantization_config": AWQ},
        "quant_config.json": {"w_bit": 4, "q_group_size": 128, "zero_point": True, "version": "GEMM"},
        "tokenizer.json": {"version": "1.0"}, "tokenizer_config.json": {"chat_template": "{{ messages }}"},
    }))
    return hub_server


def _entries() -> dict[str, object]:
    return {e.name: e for e in open_registry(load_config()).entries()}


@pytest.mark.parametrize("repo", ["plain", "opaque"])
def test_support_repo_on_an_installed_model_changes_no_variant(hub: HubServer, isolated: Path, repo: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "download", f"acme/{repo}", "--no-aria2").code == 0
    (before,) = _entries().values()
    result = cli(capsys, "download", f"acme/{repo}", "--support-repo", "acme/other-AWQ", "--no-aria2")
    assert result.code == 0, result.err
    entries = _entries()
    assert list(entries) == [before.name], list(entries)  # type: ignore[attr-defined]
    after = entries[before.name]  # type: ignore[attr-defined]
    assert (after.download_format, after.quantization) == (before.download_format, before.quantization)  # type: ignore[attr-defined]
    assert "awq" not in (after.quantization or "") and "awq" not in after.name  # type: ignore[attr-defined]
    folder = isolated / "weights" / "acme" / repo
    assert not (folder / "quant_config.json").exists()  # the AWQ repo's own quantisation config
    assert (folder / "tokenizer_config.json").is_file()
    assert after.metadata.extra["support_repo"] == "acme/other-AWQ"  # type: ignore[attr-defined]
    assert sorted(after.metadata.extra["support_files"]) == ["tokenizer.json", "tokenizer_config.json"]  # type: ignore[attr-defined]


def test_support_repo_config_does_not_make_weights_awq(hub: HubServer, isolated: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """A weight-only repo takes config.json from an AWQ repo: its weights stay what their header says."""
    result = cli(capsys, "download", "acme/weights-only", "--support-repo", "acme/other-AWQ", "--no-aria2")
    assert result.code == 0, result.err
    (entry,) = _entries().values()
    assert entry.download_format == "safetensors"  # type: ignore[attr-defined]
    assert entry.quantization != "awq" and "awq" not in entry.name  # type: ignore[attr-defined]
    assert "config.json" in entry.metadata.extra["support_files"]  # type: ignore[attr-defined]
    launch = cli(capsys, "serve-vllm", "--print", entry.name)  # type: ignore[attr-defined]
    assert launch.code == 0, launch.err
    assert "--quantization" not in launch.out
