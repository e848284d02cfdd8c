"""``connect``: a downloaded variant pointed at its server from the command line, no hand edit.

The variant is recorded as a download records it (the discovered layer); ``connect``
writes its base URL, key variable and served id into the curated layer; the real proxy
(uvicorn on loopback) then sends a chat request from the official ``openai`` client to
the fake vLLM under that id with that key, and ``export litellm`` writes the same. A re-download keeps the connection, and
``--clear`` takes it away. Runs on the JSON files and on PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from imageworks.app import open_registry
from imageworks.model_loader.download_adapter import record_download
from imageworks.proxy.settings import ProxySettings
from tests.proxy.conftest import ProxyServer
from tests.proxy.fake_vllm import FakeVLLM
from tests.support.backends import BackendUnderTest
from tests.support.cli import cli, make_model

SERVED = "qwen3-4b-remote"
KEY_VARIABLE = "IMAGEWORKS_BACKEND_KEY_GPU"


@pytest.fixture
def variant(isolated: Path, registry_backend: BackendUnderTest) -> str:
    """An installed GGUF variant, recorded as a download records it (no curated entry)."""
    folder = make_model(isolated / "lmstudio", "unsloth/Qwen3-4B-GGUF", {"Qwen3-4B-Q4_K_M.gguf": b"GGUF" + bytes(2048)})
    return record_download("unsloth/Qwen3-4B-GGUF", "vllm", "gguf", "q4_k_m", folder, "windows_lmstudio").name


def curated(registry_backend: BackendUnderTest) -> dict[str, dict]:
    return {e["name"]: e for e in json.loads(registry_backend.files()["model_registry.curated.json"] or b"[]")}


def test_connect_sends_the_proxy_to_the_server_and_survives_a_redownload(
    variant: str, registry_backend: BackendUnderTest, isolated: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with FakeVLLM(SERVED) as vllm:
        result = cli(capsys, "connect", variant, "--base-url", vllm.url + "/", "--api-key-env", KEY_VARIABLE,
                     "--served-id", SERVED)
        assert result.code == 0, result.err
        assert result.out.strip() == f"Requests for {variant} go to {vllm.url} as {SERVED!r}, key from ${KEY_VARIABLE}"
        written = curated(registry_backend)[variant]
        assert written["backend_config"] == {"base_url": vllm.url, "api_key_env": KEY_VARIABLE, "served_model_id": SERVED}

        monkeypatch.setenv(KEY_VARIABLE, "backend-key-0123456789")
        with ProxyServer(ProxySettings()) as proxy:
            reply = proxy.client().chat.completions.create(model=variant, messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content
        path, headers, body = vllm.requests[-1]
        assert (path, body["model"], headers["authorization"]) == ("/v1/chat/completions", SERVED, "Bearer backend-key-0123456789")
        exported = yaml.safe_load(cli(capsys, "export", "litellm").out)  # the router export reads the same fields
        (model,) = [m["litellm_params"] for m in exported["model_list"] if m["model_name"] == variant]
        assert model == {"model": f"openai/{SERVED}", "api_base": vllm.url, "api_key": f"os.environ/{KEY_VARIABLE}"}

    folder = isolated / "lmstudio" / "unsloth" / "Qwen3-4B-GGUF"
    record_download("unsloth/Qwen3-4B-GGUF", "vllm", "gguf", "q4_k_m", folder, "windows_lmstudio")  # a re-download
    shown = cli(capsys, "connect", variant, "--api-key-env", "IMAGEWORKS_BACKEND_KEY_OTHER", "--json").json()
    assert shown == {"name": variant, "base_url": vllm.url, "served_id": SERVED, "api_key_env": "IMAGEWORKS_BACKEND_KEY_OTHER"}

    cleared = cli(capsys, "connect", variant, "--clear")
    assert cleared.code == 0, cleared.err
    assert variant not in curated(registry_backend)  # nothing else was curated: the entry leaves the layer
    entry = open_registry().get(variant)
    assert not {"base_url", "api_key_env", "served_model_id"} & set(entry.backend_config.extra)


def test_connect_keeps_the_curated_keys_it_does_not_own(
    variant: str, registry_backend: BackendUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "set-roles", variant, "--role", "chat").code == 0
    registry_backend.seed("curated", [{"name": variant, "roles": ["chat"], "backend_config": {"max_model_len": 8192}}])
    assert cli(capsys, "connect", variant, "--base-url", "https://gpu-box.lan:8000/v1").code == 0
    assert cli(capsys, "connect", variant, "--clear").code == 0
    assert curated(registry_backend)[variant] == {"name": variant, "roles": ["chat"], "backend_config": {"max_model_len": 8192}}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--base-url", "ftp://gpu-box/v1"], "is not an http(s) URL with a host"),
        (["--base-url", "gpu-box:8000"], "is not an http(s) URL with a host"),
        (["--base-url", "http://user:sk-secret@gpu-box:8000/v1"], "holds a user name or password"),
        (["--base-url", "http://gpu-box:99999/v1"], "is not a valid URL"),
        (["--base-url", "http://gpu-box:8000/v1?key=x"], "has a query or fragment"),
        (["--base-url", "http://user:sk-secret@gpu box/v1"], "is not a URL"),
        (["--api-key-env", "sk-0123456789abcdef"], "is not an environment variable name"),
        (["--api-key-env", "1KEY"], "is not an environment variable name"),
        (["--served-id", ""], "is not a model id"),
        (["--served-id", "two words"], "is not a model id"),
        ([], "give --base-url, --api-key-env or --served-id, or --clear"),
        (["--clear", "--base-url", "http://gpu-box:8000/v1"], "give --base-url, --api-key-env or --served-id, or --clear"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    variant: str, registry_backend: BackendUnderTest, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    before = registry_backend.files()
    result = cli(capsys, "connect", variant, *args)
    assert result.code == 1
    (line,) = result.err.strip().splitlines()
    assert line.startswith("Error:") and message in line, line
    assert "sk-secret" not in line and "sk-0123456789abcdef" not in line
    assert registry_backend.files() == before


def test_unknown_variant_and_an_ollama_served_id_are_refused(
    isolated: Path, registry_backend: BackendUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    ollama = record_download(None, "ollama", "gguf", "q4_k_m", "ollama://qwen3:4b", None,
                             served_model_id="qwen3:4b", source_provider="ollama").name
    before = registry_backend.files()
    missing = cli(capsys, "connect", "no-such-variant", "--base-url", "http://gpu-box:8000/v1")
    assert missing.code == 1 and "no model variant named 'no-such-variant'" in missing.err
    retag = cli(capsys, "connect", ollama, "--served-id", "other:tag")
    assert retag.code == 1 and "an Ollama variant is served under its Ollama name:tag" in retag.err
    assert registry_backend.files() == before
    remote = cli(capsys, "connect", ollama, "--base-url", "http://ollama-box:11434/v1", "--json")
    assert remote.code == 0 and remote.json()["served_id"] == "qwen3:4b"
