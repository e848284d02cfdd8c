"""``export litellm`` and ``export llama-swap`` on real registry entries, checked by the tools that read them.

- LiteLLM: the exported ``model_list`` (and ``router_settings``) goes into litellm's own
  ``Router``, the object its proxy builds from ``config.yaml``; then real completions,
  embeddings and an Ollama generate go through that router to a loopback server, which
  records the model id and path each request arrived with.
- llama-swap: its published JSON schema (``tests/data/llama-swap-config-schema.json``,
  copied from the project with its licence) validates the output; each ``cmd`` is split
  the way llama-swap splits it (``${PORT}`` substituted, then POSIX shell words) and
  must be the launch command; one is started (a stand-in ``vllm``) and must answer on
  the ``proxy`` URL.
"""

from __future__ import annotations

import json
import shlex
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from imageworks.app import open_registry
from imageworks.core.model import BackendConfig, RegistryEntry
from imageworks.services.serve.commands import LaunchCommand, LaunchOptions
from imageworks.services.serve.endpoints import variant_port
from imageworks.services.serve.exports import litellm_config
from imageworks.services.serve.running import resolve, start, stop
from tests.launch.conftest import GEMMA, MINILM, free_port
from tests.support.cli import cli

SCHEMA = Path(__file__).resolve().parents[1] / "data" / "llama-swap-config-schema.json"
OLLAMA = "gemma3-270m-ollama-gguf-q4_k_m"


@pytest.fixture
def fleet(registry: dict[str, RegistryEntry], gemma_gguf: Path) -> dict[str, RegistryEntry]:
    """The scanned entries plus an Ollama variant and aliases (one of them clashing)."""
    store = open_registry()
    store.upsert(
        RegistryEntry(
            name=OLLAMA, backend="ollama", served_model_id="gemma3:270m", download_path=str(gemma_gguf),
            download_format="gguf", quantization="q4_k_m", source_provider="ollama", model_aliases=["gemma-small"],
        )
    )
    store.update(MINILM, lambda _: {"model_aliases": ["minilm", "embedder"]})
    store.update(GEMMA, lambda _: {"model_aliases": ["gemma", "minilm"]})  # "minilm" is taken
    return {e.name: e for e in open_registry().entries()}


class Recorder(BaseHTTPRequestHandler):
    """An OpenAI-compatible and Ollama-compatible endpoint that answers anything and records (path, model)."""

    seen: list[tuple[str, str]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append((self.path, body.get("model")))
        if self.path.endswith("/embeddings"):
            answer: dict[str, Any] = {"object": "list", "model": body["model"], "data": [{"object": "embedding", "index": 0, "embedding": [0.5, 0.25]}],
                                      "usage": {"prompt_tokens": 1, "total_tokens": 1}}
        elif self.path.startswith("/api/"):
            answer = {"model": body["model"], "created_at": "2026-01-01T00:00:00Z", "response": "hi", "message": {"role": "assistant", "content": "hi"},
                      "done": True, "prompt_eval_count": 1, "eval_count": 1}
        else:
            answer = {"id": "c1", "object": "chat.completion", "created": 1, "model": body["model"],
                      "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
                      "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[int, list[tuple[str, str]]]]:
    seen: list[tuple[str, str]] = []
    handler = type("R", (Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


@pytest.mark.filterwarnings("ignore::UserWarning:pydantic", "ignore::DeprecationWarning")  # litellm's own import noise
def test_litellm_export_routes_through_litellm(
    fleet: dict[str, RegistryEntry], recorder: tuple[int, list[tuple[str, str]]], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, seen = recorder
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{port}")
    result = cli(capsys, "export", "litellm", "--api-base", f"http://127.0.0.1:{port}/v1")
    assert result.code == 0, result.err
    assert "alias 'minilm' is already a model name or alias" in result.err
    config = yaml.safe_load(result.out)
    models = {m["model_name"]: m for m in config["model_list"]}
    assert models[OLLAMA]["litellm_params"] == {"model": "ollama/gemma3:270m", "api_base": f"http://127.0.0.1:{port}"}
    assert models[GEMMA]["litellm_params"]["model"] == f"openai/{GEMMA}"
    assert models[MINILM]["model_info"] == {"id": MINILM, "mode": "embedding"}
    assert config["router_settings"]["model_group_alias"] == {"embedder": MINILM, "gemma": GEMMA, "gemma-small": OLLAMA, "minilm": MINILM}

    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never fetch the price list
    litellm = pytest.importorskip("litellm")
    router = litellm.Router(model_list=config["model_list"], **config["router_settings"])
    messages = [{"role": "user", "content": "hello"}]
    assert router.completion(model="gemma", messages=messages).choices[0].message.content == "hi"
    assert router.embedding(model="embedder", input=["hello"]).data[0]["embedding"] == [0.5, 0.25]
    assert router.completion(model="gemma-small", messages=messages).choices[0].message.content == "hi"
    assert seen[0] == ("/v1/chat/completions", GEMMA)
    assert seen[1] == ("/v1/embeddings", MINILM)
    assert seen[2][0].startswith("/api/") and seen[2][1] == "gemma3:270m"


def test_litellm_defaults_and_output_file(
    fleet: dict[str, RegistryEntry], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    open_registry().update(MINILM, lambda current: {"backend_config": {
        "model_path": current.backend_config.model_path, "base_url": "http://gpu-box:8001/v1", "api_key_env": "IMAGEWORKS_BACKEND_KEY_GPU_BOX"}})
    assert open_registry().get(MINILM).backend_config.extra["api_key_env"] == "IMAGEWORKS_BACKEND_KEY_GPU_BOX"
    monkeypatch.setenv("IMAGEWORKS_BACKEND_KEY_GPU_BOX", "sk-gpu-box-0123456789")
    target = tmp_path / "litellm.yaml"
    result = cli(capsys, "export", "litellm", "--api-key-env", "IMAGEWORKS_BACKEND_KEY_VLLM", "--backend", "gguf", "-o", str(target))
    assert result.code == 0, result.err
    assert result.out == "" and "Wrote 1 model(s)" in result.err
    (gemma,) = yaml.safe_load(target.read_text())["model_list"]
    assert gemma["litellm_params"] == {"model": f"openai/{GEMMA}", "api_base": f"http://127.0.0.1:{variant_port(GEMMA)}/v1", "api_key": "os.environ/IMAGEWORKS_BACKEND_KEY_VLLM"}
    plain = yaml.safe_load(cli(capsys, "export", "litellm", "--backend", "gguf").out)["model_list"][0]
    assert plain["litellm_params"]["api_key"] == "none"  # no variable named anywhere: the placeholder

    def minilm_params(*args: str) -> dict[str, Any]:
        out = cli(capsys, "export", "litellm", "--backend", "vllm", *args).out
        assert "sk-gpu-box" not in out  # the variable's name, never its value
        params: dict[str, Any] = yaml.safe_load(out)["model_list"][0]["litellm_params"]
        return params

    minilm = minilm_params()
    assert minilm["api_base"] == "http://gpu-box:8001/v1"  # backend_config.base_url wins
    assert minilm["api_key"] == "os.environ/IMAGEWORKS_BACKEND_KEY_GPU_BOX"  # backend_config.api_key_env, as the proxy reads it
    assert minilm_params("--api-key-env", "IMAGEWORKS_BACKEND_KEY_VLLM")["api_key"] == "os.environ/IMAGEWORKS_BACKEND_KEY_GPU_BOX"  # its own wins
    routed = minilm_params("--api-base", "http://router:4000/v1", "--api-key-env", "IMAGEWORKS_BACKEND_KEY_ROUTER")
    assert routed == {"model": f"openai/{MINILM}", "api_base": "http://router:4000/v1", "api_key": "os.environ/IMAGEWORKS_BACKEND_KEY_ROUTER"}
    assert minilm_params("--api-base", "http://router:4000/v1")["api_key"] == "none"  # the router's key, not the box's
    bad = cli(capsys, "export", "litellm", "--api-key-env", "sk-123 secret", "-o", str(target))
    assert bad.code == 1 and bad.err.startswith("Error: --api-key-env wants an IMAGEWORKS_BACKEND_KEY_* variable name")
    assert "sk-123" not in target.read_text()  # the earlier file is untouched


def test_litellm_ollama_key_comes_only_from_its_own_backend_config() -> None:
    keyed = RegistryEntry(name="o-keyed", backend="ollama", served_model_id="gemma3:270m",
                          backend_config=BackendConfig(extra={"api_key_env": "IMAGEWORKS_BACKEND_KEY_OLLAMA"}))
    plain = RegistryEntry(name="o-plain", backend="ollama", served_model_id="gemma3:1b")
    config, notes = litellm_config([keyed, plain], resolve, "http://127.0.0.1:11434", api_key_env="IMAGEWORKS_BACKEND_KEY_VLLM")
    params = {m["model_name"]: m["litellm_params"] for m in config["model_list"]}
    assert params["o-keyed"] == {"model": "ollama/gemma3:270m", "api_base": "http://127.0.0.1:11434",
                                 "api_key": "os.environ/IMAGEWORKS_BACKEND_KEY_OLLAMA"}
    assert "api_key" not in params["o-plain"] and notes == []  # the global key is the OpenAI-style servers'


def test_llama_swap_export_matches_its_schema(fleet: dict[str, RegistryEntry], capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "export", "llama-swap")
    assert result.code == 0, result.err
    assert f"{OLLAMA}: served by Ollama" in result.err and "alias 'minilm' is already a model id or alias" in result.err
    config = yaml.safe_load(result.out)
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.validate(config, schema, cls=jsonschema.Draft7Validator)
    assert set(config["models"]) == {MINILM, GEMMA}
    assert config["healthCheckTimeout"] == 300
    assert config["models"][MINILM]["aliases"] == ["minilm", "embedder"]
    assert config["models"][GEMMA]["aliases"] == ["gemma"]
    for model in config["models"].values():
        assert model["proxy"] == "http://127.0.0.1:${PORT}"
    broken = {"models": {"x": {"proxy": "http://127.0.0.1:${PORT}"}}}  # no cmd: the schema must say no
    with pytest.raises(jsonschema.ValidationError, match="'cmd' is a required property"):
        jsonschema.validate(broken, schema, cls=jsonschema.Draft7Validator)


def test_llama_swap_cmd_is_the_launch_command_and_runs(
    fleet: dict[str, RegistryEntry], standin: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEWORKS_VLLM_BIN", str(standin))
    config = yaml.safe_load(cli(capsys, "export", "llama-swap", "--server", "vllm").out)
    port = free_port()
    for name, model in config["models"].items():
        argv = shlex.split(model["cmd"].replace("${PORT}", str(port)))  # what llama-swap does with cmd
        expected = resolve("vllm", fleet[name], LaunchOptions(port=port, served_name=name, executable=str(standin)))
        assert argv == list(expected.argv)
    gemma = shlex.split(config["models"][GEMMA]["cmd"].replace("${PORT}", str(port)))
    assert "--tokenizer" in gemma and gemma[gemma.index("--tokenizer") + 1] == "google/gemma-3-270m"
    proxy = config["models"][GEMMA]["proxy"].replace("${PORT}", str(port))
    process = start(LaunchCommand(server="vllm", argv=tuple(gemma), served_name=GEMMA, host="127.0.0.1", port=port), timeout=30, poll=0.1)
    try:
        assert proxy == f"http://127.0.0.1:{port}"
        assert process.wait(10) == 0  # the stand-in leaves after listing GEMMA on /v1/models
    finally:
        stop(process)
