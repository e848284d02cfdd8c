"""Issue 12, item 6: the guide's AWQ filter and name, the Ollama namespace, placeholder
roles, ``producer``, ``last_accessed`` and ``stats`` counting bytes once."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from imageworks.tools.model_downloader import ModelDownloader
from tests.ollama.helpers import FakeOllamaStore
from tests.support.cli import cli, make_model

AWQ_CONFIG = {"architectures": ["MistralForCausalLM"], "torch_dtype": "float16",
              "quantization_config": {"quant_method": "awq", "zero_point": True, "group_size": 128, "bits": 4,
                                      "version": "gemm"}}
GUIDE_AWQ_FILTER = '.[] | select((.quantization // "") | test("awq"; "i")) | .name'


def listed(capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, dict]:
    result = cli(capsys, "list", "--json", "--include-logical", *extra)
    assert result.code == 0, result.err
    return {e["name"]: e for e in result.json()}


def test_the_guides_awq_filter_lists_awq_models_named_as_the_guide_names_them(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_model(isolated / "weights", "TheBloke/Mistral-7B-Instruct-AWQ",
               {"config.json": json.dumps(AWQ_CONFIG).encode(), "model.safetensors": b"\0" * 64})
    make_model(isolated / "weights", "acme/plain", {"config.json": b'{"torch_dtype": "bfloat16"}',
                                                     "model.safetensors": b"\0" * 64})
    assert cli(capsys, "scan", "--base", str(isolated / "weights")).code == 0
    printed = cli(capsys, "list", "--json").out
    names = subprocess.run(["jq", "-r", GUIDE_AWQ_FILTER], input=printed, capture_output=True, text=True, check=True)
    assert names.stdout.split() == ["mistral-7b-instruct-vllm-awq"]
    entry = listed(capsys)["mistral-7b-instruct-vllm-awq"]
    assert (entry["download_format"], entry["quantization"]) == ("awq", "awq")
    assert entry["metadata"]["quant_scheme"] == "w4g128"  # the bits/group descriptor stays in the entry
    details = cli(capsys, "list", "--details").out
    assert "quant scheme" in details and "w4g128" in details


def test_an_ollama_namespace_is_another_model(
    store: FakeOllamaStore, tiny_gguf, capsys: pytest.CaptureFixture[str]
) -> None:
    store.add_model("llama3:8b", store.add_blob(tiny_gguf(seed=1)))
    store.add_model("someuser/llama3:8b", store.add_blob(tiny_gguf(seed=2)))
    store.add_model("hf.co/acme/Tiny-GGUF:Q4_K_M", store.add_blob(tiny_gguf(seed=3)))
    report = cli(capsys, "import-ollama", "--no-api", "--json")
    assert report.code == 0, report.err
    assert sorted(i["action"] for i in report.json()["items"]) == ["add", "add", "add"]
    entries = {e["served_model_id"]: e for e in listed(capsys).values()}
    assert entries["llama3:8b"]["name"] == "llama3-8b-ollama-gguf-q4_k_m"
    assert entries["someuser/llama3:8b"]["name"] == "someuser-llama3-8b-ollama-gguf-q4_k_m"
    producers = {served: e["producer"] for served, e in entries.items()}
    assert producers == {"llama3:8b": "ollama", "someuser/llama3:8b": "someuser", "hf.co/acme/Tiny-GGUF:Q4_K_M": "acme"}


def test_a_deprecated_placeholder_hands_its_roles_to_the_real_entry(
    store: FakeOllamaStore, tiny_gguf, isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store.add_model("llama3:8b", store.add_blob(tiny_gguf(seed=1)))
    (isolated / "registry").mkdir()
    (isolated / "registry" / "model_registry.curated.json").write_text(json.dumps([{
        "name": "llama3-placeholder", "backend": "ollama", "served_model_id": "llama3:8b",
        "download_path": "ollama://llama3:8b", "roles": ["chat", "summarise"], "role_priorities": {"chat": 1},
        "capabilities": {"text": True},
    }]), encoding="utf-8")
    assert cli(capsys, "import-ollama", "--no-api", "--deprecate-placeholders").code == 0
    entries = listed(capsys, "--show-deprecated")
    placeholder, real = entries["llama3-placeholder"], entries["llama3-8b-ollama-gguf-q4_k_m"]
    assert placeholder["deprecated"] is True and placeholder["superseded_by"] == real["name"]
    assert real["roles"] == ["chat", "summarise"] and real["role_priorities"] == {"chat": 1}
    assert real["capabilities"] == {"text": True}
    roles = cli(capsys, "list-roles", "--json").json()
    assert {(r["role"], r["name"]) for r in roles} == {("chat", real["name"]), ("summarise", real["name"])}


def test_last_accessed_is_set_when_a_tool_uses_an_entry(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_model(isolated / "weights", "acme/alpha")
    make_model(isolated / "weights", "acme/beta")
    assert cli(capsys, "scan", "--base", str(isolated / "weights")).code == 0
    alpha, beta = sorted(listed(capsys))
    assert all(e.get("last_accessed") is None for e in listed(capsys).values())  # listing is not using
    assert cli(capsys, "verify", alpha).code == 0
    assert listed(capsys)[alpha]["last_accessed"] and listed(capsys)[beta].get("last_accessed") is None
    assert cli(capsys, "verify", beta, "--lock", program="model-registry").code == 0
    assert listed(capsys)[beta]["last_accessed"]
    registry = isolated / "registry" / "model_registry.discovered.json"
    stripped = [{k: v for k, v in e.items() if k != "last_accessed"} for e in json.loads(registry.read_text())]
    registry.write_text(json.dumps(stripped), encoding="utf-8")  # then a serving helper asks for one path
    assert ModelDownloader().model_path(alpha) == isolated / "weights" / "acme" / "alpha"
    assert listed(capsys)[alpha]["last_accessed"] and listed(capsys)[beta].get("last_accessed") is None


def test_stats_counts_a_shared_folder_once(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_model(isolated / "weights", "acme/alpha", {"config.json": b"{}", "model.safetensors": b"x" * 5000})
    assert cli(capsys, "scan", "--base", str(isolated / "weights")).code == 0
    (entry,) = listed(capsys).values()
    twin = {k: v for k, v in entry.items() if k not in {"installed", "logical", "producer", "same_weights_as"}}
    twin.update(name="alpha-lmdeploy", backend="lmdeploy")  # a hand-kept second backend over the same folder
    (isolated / "registry" / "model_registry.curated.json").write_text(json.dumps([twin]), encoding="utf-8")
    stats = cli(capsys, "stats", "--json").json()
    assert stats["installed"] == 2
    assert stats["installed_size_bytes"] == sum(f.stat().st_size for f in folder.iterdir()) == 5002
