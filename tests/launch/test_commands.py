"""The vLLM, LMDeploy and llama-server command lines built from real registry entries.

Neither vLLM nor LMDeploy is installed here (each pulls in torch and CUDA); what is
checked is the argv each would be given, flag by flag against their documented CLIs
(``vllm serve`` and ``lmdeploy/cli/serve.py``), for the entries ``scan`` records for
the real MiniLM and Gemma models, plus the cases those two do not cover.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import attrs
import pytest

from imageworks.core.model import BackendConfig, EntryMetadata, RegistryEntry
from imageworks.services.serve.commands import LaunchError, LaunchOptions, build_command, server_for
from imageworks.services.serve.endpoints import variant_port
from imageworks.services.serve.running import base_model, prepare
from tests.launch.conftest import GEMMA, MINILM
from tests.support.cli import cli


def test_vllm_minilm(registry: dict[str, RegistryEntry], weights: Path) -> None:
    command = prepare("vllm", registry[MINILM], LaunchOptions())
    folder = str(weights / "sentence-transformers" / "all-MiniLM-L6-v2")
    port = str(variant_port(MINILM))  # the variant's own port in the plan, not vLLM's 8000
    assert command.argv == (
        "vllm", "serve", folder, "--served-model-name", MINILM, "--max-model-len", "512",  # the estimate's context, pinned
        "--host", "127.0.0.1", "--port", port,
    )
    assert command.base_url == f"http://127.0.0.1:{port}/v1"
    assert command.warnings == ()  # an embedding model: no chat template is needed
    assert shlex.split(command.shell) == list(command.argv)  # the space in the path survives quoting


def test_vllm_gemma_gguf_gets_the_file_and_the_base_tokenizer(registry: dict[str, RegistryEntry], weights: Path) -> None:
    entry = registry[GEMMA]
    assert base_model(entry) == "google/gemma-3-270m"  # from the real card's front matter
    command = prepare("vllm", entry, LaunchOptions(port=8123, max_model_len=4096))
    gguf = str(weights / "hugginllam" / "gemma-3-270m-Q4_K_M-GGUF" / "gemma-3-270m-q4_k_m.gguf")
    assert command.argv == (
        "vllm", "serve", gguf, "--served-model-name", GEMMA, "--tokenizer", "google/gemma-3-270m",
        "--max-model-len", "4096", "--host", "127.0.0.1", "--port", "8123",
    )
    assert "--quantization" not in command.argv  # vLLM reads the GGUF's own quant types
    (note,) = command.warnings  # the base repo is gated on the Hub, not cached here, and no token is set
    assert "google/gemma-3-270m" in note and "gated" in note and "HF_TOKEN" in note


def test_no_gated_note_with_a_token(registry: dict[str, RegistryEntry], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    assert prepare("vllm", registry[GEMMA], LaunchOptions(port=8123)).warnings == ()


def test_vllm_gguf_without_a_known_base_warns(registry: dict[str, RegistryEntry]) -> None:
    entry = attrs.evolve(registry[GEMMA], metadata=attrs.evolve(registry[GEMMA].metadata, readme_file=None))
    command = prepare("vllm", entry, LaunchOptions())
    assert "--tokenizer" not in command.argv
    assert any("--tokenizer" in w for w in command.warnings)


def test_lmdeploy_refuses_an_encoder_in_one_line(registry: dict[str, RegistryEntry]) -> None:
    with pytest.raises(LaunchError, match=r"LMDeploy cannot serve all-minilm.*BertModel") as raised:
        prepare("lmdeploy", registry[MINILM], LaunchOptions(max_model_len=512))
    assert "\n" not in str(raised.value)


def test_lmdeploy_chat_model_warns_about_template_and_generation_config(registry: dict[str, RegistryEntry], weights: Path) -> None:
    entry = attrs.evolve(registry[MINILM], roles=["chat"], capabilities={}, metadata=attrs.evolve(registry[MINILM].metadata, readme_signals={}))
    command = build_command("lmdeploy", entry, LaunchOptions(max_model_len=512, port=23333))
    assert command.argv == (
        "lmdeploy", "serve", "api_server", str(weights / "sentence-transformers" / "all-MiniLM-L6-v2"),
        "--model-name", MINILM, "--session-len", "512", "--server-name", "127.0.0.1", "--server-port", "23333",
    )
    assert len(command.warnings) == 2
    assert "no chat template" in command.warnings[0] and "generation_config.json" in command.warnings[1]


def test_lmdeploy_refuses_gguf(registry: dict[str, RegistryEntry]) -> None:
    with pytest.raises(LaunchError, match="LMDeploy cannot serve gemma-3-270m-gguf-q4_k_m.*GGUF"):
        prepare("lmdeploy", registry[GEMMA], LaunchOptions())


def test_llama_server_gemma(registry: dict[str, RegistryEntry], weights: Path) -> None:
    entry = registry[GEMMA]
    assert server_for(entry) == "llama-server"  # scan records GGUF folders with backend "gguf"
    command = build_command("llama-server", entry, LaunchOptions(port="${PORT}"))
    gguf = str(weights / "hugginllam" / "gemma-3-270m-Q4_K_M-GGUF" / "gemma-3-270m-q4_k_m.gguf")
    assert command.argv == (  # no plan: llama-server's default slots, written out
        "llama-server", "-m", gguf, "--alias", GEMMA, "--parallel", "4", "--kv-unified", "--host", "127.0.0.1", "--port", "${PORT}",
    )
    planned = prepare("llama-server", entry, LaunchOptions())  # the plan from the real header: 32k x 4 slots
    assert planned.argv[3:] == (
        "--alias", GEMMA, "--ctx-size", "32768", "--parallel", "4", "--kv-unified", "--host", "127.0.0.1",
        "--port", str(variant_port(GEMMA)),
    )
    with pytest.raises(LaunchError, match="llama-server loads GGUF"):
        build_command("llama-server", registry[MINILM], LaunchOptions())


def test_print_shows_warnings_then_the_quoted_command(registry: dict[str, RegistryEntry], weights: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "serve-vllm", GEMMA, "--print", "--port", "9001", "--", "--gpu-memory-utilization", "0.8")
    assert result.code == 0, result.err
    argv = shlex.split(result.out)
    assert argv[:3] == ["vllm", "serve", str(weights / "hugginllam" / "gemma-3-270m-Q4_K_M-GGUF" / "gemma-3-270m-q4_k_m.gguf")]
    assert argv[-4:] == ["--port", "9001", "--gpu-memory-utilization", "0.8"]
    lm = cli(capsys, "serve-lmdeploy", MINILM, "--dry-run", "--lmdeploy-bin", "/opt/lmdeploy/bin/lmdeploy")
    assert lm.code == 1 and lm.out == "" and "Warning:" not in lm.err  # no chat-template warning for an encoder
    assert lm.err.startswith("Error: LMDeploy cannot serve") and "BertModel" in lm.err and lm.err.count("\n") == 1
    bad = cli(capsys, "serve-lmdeploy", GEMMA, "--print")
    assert bad.code == 1 and bad.err.startswith("Error: LMDeploy cannot serve") and bad.out == ""


def entry(**fields: object) -> RegistryEntry:
    base: dict[str, object] = {"name": "m", "backend": "vllm", "download_path": "/models/m", "download_format": "safetensors"}
    return RegistryEntry(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fmt", "quant", "vllm_flag", "lmdeploy_flag"),
    [
        ("awq", "awq", ["--quantization", "awq"], ["--model-format", "awq"]),
        ("gptq", "w4g128", ["--quantization", "gptq"], ["--model-format", "gptq"]),
        ("safetensors", "w4a16", ["--quantization", "compressed-tensors"], ["--model-format", "compressed-tensors"]),
        ("safetensors", "fp8", [], []),  # quant_method fp8 and compressed-tensors fp8 look alike: left to the stack
        ("safetensors", "bf16", [], []),
    ],
)
def test_quantization_flags(fmt: str, quant: str, vllm_flag: list[str], lmdeploy_flag: list[str]) -> None:
    e = entry(download_format=fmt, quantization=quant)
    vllm = build_command("vllm", e, LaunchOptions()).argv
    lmdeploy = build_command("lmdeploy", e, LaunchOptions()).argv
    assert [a for i, a in enumerate(vllm) if a == "--quantization" or vllm[i - 1] == "--quantization"] == vllm_flag
    assert [a for i, a in enumerate(lmdeploy) if a == "--model-format" or lmdeploy[i - 1] == "--model-format"] == lmdeploy_flag


def test_chat_template_file_and_registry_settings() -> None:
    e = entry(
        served_model_id="acme/chat",
        download_files=["config.json", "chat_template.jinja", "generation_config.json", "model.safetensors"],
        metadata=EntryMetadata(chat_template="file"),
        backend_config=BackendConfig(model_path="/models/m", extra={"port": 8011, "max_model_len": 8192}),
    )
    command = build_command("vllm", e, LaunchOptions())
    assert command.argv == (
        "vllm", "serve", "/models/m", "--served-model-name", "acme/chat", "--chat-template", "/models/m/chat_template.jinja",
        "--max-model-len", "8192", "--host", "127.0.0.1", "--port", "8011",
    )
    assert command.warnings == ()
    assert build_command("lmdeploy", e, LaunchOptions()).warnings == ()  # template file and generation config present


def test_split_gguf_and_unservable_formats() -> None:
    split = entry(download_format="gguf", download_files=["m-00002-of-00002.gguf", "m-00001-of-00002.gguf", "mmproj-f16.gguf"])
    with pytest.raises(LaunchError, match="split into 2 files; vLLM loads a single file"):
        build_command("vllm", split, LaunchOptions())
    assert build_command("llama-server", split, LaunchOptions()).argv[2] == "/models/m/m-00001-of-00002.gguf"
    with pytest.raises(LaunchError, match=r"vLLM cannot serve m \(EXL2 weights\)"):
        build_command("vllm", entry(download_format="exl2"), LaunchOptions())
    with pytest.raises(LaunchError, match="no local files"):
        build_command("vllm", entry(download_path="ollama://gemma3:270m"), LaunchOptions())
