"""Secrets go only where the operator said: a registry entry cannot send HF_TOKEN (or anything but an
``IMAGEWORKS_BACKEND_KEY_*`` variable) to a backend, through the proxy or an exported LiteLLM config."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from imageworks.proxy.settings import ProxySettings
from imageworks.services.serve.endpoints import allowed_key_env
from tests.ollama.helpers import FakeOllamaServer
from tests.proxy.conftest import GEMMA, OLLAMA, ProxyServer, write_curated
from tests.proxy.fake_vllm import FakeVLLM
from tests.support.cli import cli

HUB_TOKEN = "hf_hubsecret0123456789abcdef"
NOT_ALLOWED = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "IMAGEWORKS_REGISTRY_DSN", "HOME", "imageworks_backend_key_x",
               "IMAGEWORKS_BACKEND_KEY_", "XIMAGEWORKS_BACKEND_KEY_A")


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NOT_ALLOWED:
        monkeypatch.setenv(name, f"{HUB_TOKEN}-{name}")
    monkeypatch.setenv("IMAGEWORKS_BACKEND_KEY_GEMMA", "sk-allowed-0123456789")


def test_the_rule() -> None:
    assert allowed_key_env("IMAGEWORKS_BACKEND_KEY_GPU_BOX")
    assert not any(allowed_key_env(name) for name in NOT_ALLOWED)


def test_the_proxy_sends_no_variable_outside_the_allowance(
    secrets: None, entries: list[dict[str, Any]], isolated: Path, vllm: FakeVLLM, ollama: FakeOllamaServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with ProxyServer(ProxySettings()) as proxy:
        for name in NOT_ALLOWED:
            entries[0]["backend_config"]["api_key_env"] = name
            entries[2]["backend_config"] = {"api_key_env": name}
            write_curated(isolated / "registry", entries)
            with caplog.at_level(logging.WARNING, logger="imageworks.proxy"):
                proxy.client().chat.completions.create(model=GEMMA, messages=[{"role": "user", "content": "x"}])
                proxy.client().chat.completions.create(model=OLLAMA, messages=[{"role": "user", "content": "x"}])
            assert "authorization" not in vllm.requests[-1][1], name
            assert "authorization" not in ollama.chat_requests[-1][0], name
            assert any("not an IMAGEWORKS_BACKEND_KEY_* variable" in r.getMessage() for r in caplog.records)
        entries[0]["backend_config"]["api_key_env"] = "IMAGEWORKS_BACKEND_KEY_GEMMA"
        write_curated(isolated / "registry", entries)
        proxy.client().chat.completions.create(model=GEMMA, messages=[{"role": "user", "content": "x"}])
    assert vllm.requests[-1][1]["authorization"] == "Bearer sk-allowed-0123456789"
    assert HUB_TOKEN not in caplog.text


def test_export_litellm_writes_no_variable_outside_the_allowance(
    secrets: None, entries: list[dict[str, Any]], isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in NOT_ALLOWED:
        entries[0]["backend_config"]["api_key_env"] = name
        entries[2]["backend_config"] = {"api_key_env": name}
        write_curated(isolated / "registry", entries)
        result = cli(capsys, "export", "litellm")
        assert result.code == 0, result.err
        assert name not in result.out and HUB_TOKEN not in result.out + result.err
        params = {m["model_name"]: m["litellm_params"] for m in yaml.safe_load(result.out)["model_list"]}
        assert params[GEMMA]["api_key"] == "none" and "api_key" not in params[OLLAMA]
        assert "not an IMAGEWORKS_BACKEND_KEY_* variable" in result.err
        refused = cli(capsys, "export", "litellm", "--api-key-env", name)
        assert refused.code == 1 and refused.err.startswith("Error: --api-key-env wants an IMAGEWORKS_BACKEND_KEY_*")
    entries[0]["backend_config"]["api_key_env"] = "IMAGEWORKS_BACKEND_KEY_GEMMA"
    write_curated(isolated / "registry", entries)
    params = {m["model_name"]: m["litellm_params"] for m in yaml.safe_load(cli(capsys, "export", "litellm").out)["model_list"]}
    assert params[GEMMA]["api_key"] == "os.environ/IMAGEWORKS_BACKEND_KEY_GEMMA"


def test_export_litellm_leaves_out_a_base_url_that_is_not_http(
    entries: list[dict[str, Any]], isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entries[0]["backend_config"]["base_url"] = "file:///etc/passwd"
    write_curated(isolated / "registry", entries)
    result = cli(capsys, "export", "litellm")
    assert result.code == 0 and "file://" not in result.out
    assert f"{GEMMA}: backend_config.base_url is not an http(s) URL; left out" in result.err
