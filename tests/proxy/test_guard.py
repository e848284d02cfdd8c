"""Who may use the proxy: Host names, origins, the API key, JSON bodies of bounded size, and the bind rule."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from imageworks.core.errors import ConfigError
from imageworks.proxy.guard import host_name
from imageworks.proxy.settings import ProxySettings
from tests.proxy.conftest import GEMMA, ProxyServer
from tests.proxy.fake_vllm import REPLY, FakeVLLM
from tests.proxy.test_launcher import SCRIPT

CHAT = {"model": GEMMA, "messages": [{"role": "user", "content": "hi"}]}
JSON = {"content-type": "application/json"}


def test_host_names_not_served_are_refused(proxy: ProxyServer, vllm: FakeVLLM) -> None:
    for host in ("evil.test", f"evil.test:{proxy.port}", "127.0.0.1.evil.test", "localhost.evil.test", "10.0.0.1"):
        answer = httpx.get(f"{proxy.url}/models", headers={"host": host})
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "host_not_allowed", host
        assert "data" not in answer.json()
        refused = httpx.post(f"{proxy.url}/chat/completions", json=CHAT, headers={"host": host})
        assert refused.status_code == 400
    assert vllm.requests == []
    for host in (f"127.0.0.1:{proxy.port}", f"localhost:{proxy.port}", f"LOCALHOST:{proxy.port}", f"[::1]:{proxy.port}", "localhost"):
        assert httpx.get(f"{proxy.url}/models", headers={"host": host}).status_code == 200, host


def test_operator_listed_host_names_are_served(entries: list[dict[str, Any]], vllm: FakeVLLM) -> None:
    with ProxyServer(ProxySettings(allowed_hosts=("my.box",))) as proxy:
        assert httpx.get(f"{proxy.url}/models", headers={"host": f"my.box:{proxy.port}"}).status_code == 200
        assert httpx.get(f"{proxy.url}/models", headers={"host": "other.box"}).status_code == 400


def test_host_name_parsing() -> None:
    assert host_name("[::1]:8100") == "::1" and host_name("Localhost:80") == "localhost" and host_name("::1") == "::1"
    assert host_name("evil.test") == "evil.test" and host_name("") == ""


def test_requests_from_web_pages_get_no_cors_and_are_refused(proxy: ProxyServer, vllm: FakeVLLM) -> None:
    origin = {"origin": "http://localhost:3000"}
    listed = httpx.get(f"{proxy.url}/models", headers=origin)
    assert listed.status_code == 403 and listed.json()["error"]["code"] == "origin_not_allowed"
    preflight = httpx.options(f"{proxy.url}/chat/completions", headers={
        **origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type"})
    for answer in (listed, preflight):
        assert not any(name.lower().startswith("access-control-") for name in answer.headers)
    posted = httpx.post(f"{proxy.url}/chat/completions", json=CHAT, headers=origin)
    assert posted.status_code == 403 and vllm.requests == []


def test_listed_origins_get_cors_with_preflight(entries: list[dict[str, Any]], vllm: FakeVLLM) -> None:
    app = "http://app.test:3000"
    with ProxyServer(ProxySettings(cors_origins=(app,))) as proxy:
        preflight = httpx.options(f"{proxy.url}/chat/completions", headers={
            "origin": app, "access-control-request-method": "POST", "access-control-request-headers": "content-type, authorization"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == app
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert "content-type" in preflight.headers["access-control-allow-headers"].lower()
        other = httpx.options(f"{proxy.url}/chat/completions", headers={
            "origin": "http://evil.test", "access-control-request-method": "POST"})
        assert other.status_code >= 400 and "access-control-allow-origin" not in other.headers
        answer = httpx.post(f"{proxy.url}/chat/completions", json=CHAT, headers={"origin": app})
        assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == app
        assert httpx.post(f"{proxy.url}/chat/completions", json=CHAT, headers={"origin": "http://evil.test"}).status_code == 403


def test_bodies_must_be_json(proxy: ProxyServer, vllm: FakeVLLM) -> None:
    for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
        headers = {"content-type": kind} if kind else {}
        answer = httpx.post(f"{proxy.url}/chat/completions", content=httpx.Request("POST", "/", json=CHAT).content,
                            headers=headers)
        assert answer.status_code == 415 and answer.json()["error"]["code"] == "unsupported_media_type", kind
    assert vllm.requests == []
    ok = httpx.post(f"{proxy.url}/chat/completions", json=CHAT, headers={"content-type": "application/json; charset=utf-8"})
    assert ok.status_code == 200


def test_an_api_key_is_required_when_set(entries: list[dict[str, Any]], vllm: FakeVLLM) -> None:
    with ProxyServer(ProxySettings(api_key="sk-proxy-0123456789")) as proxy:
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "sk-proxy-0123456789"}):
            answer = httpx.get(f"{proxy.url}/models", headers=headers)
            assert answer.status_code == 401 and answer.json()["error"]["code"] == "invalid_api_key"
            assert answer.headers["www-authenticate"] == "Bearer"
        with pytest.raises(openai.AuthenticationError):
            proxy.client("sk-wrong").models.list()
        answer = proxy.client("sk-proxy-0123456789").chat.completions.create(**CHAT)  # type: ignore[call-overload]
        assert answer.choices[0].message.content == "".join(REPLY)
    assert "authorization" not in vllm.requests[-1][1]  # the proxy's key stays with the proxy


def test_settings_refuse_unsafe_combinations() -> None:
    with pytest.raises(ConfigError, match="CHAT_PROXY_FORWARD_AUTH"):
        ProxySettings.from_environ({"CHAT_PROXY_API_KEY": "k", "CHAT_PROXY_FORWARD_AUTH": "1"})
    for bad in ("*", "app.test", "http://app.test/path"):
        with pytest.raises(ConfigError, match="CHAT_PROXY_CORS_ORIGINS"):
            ProxySettings.from_environ({"CHAT_PROXY_CORS_ORIGINS": bad})
    for name in ("CHAT_PROXY_MAX_BODY", "CHAT_PROXY_MAX_CONNECTIONS", "CHAT_PROXY_DEADLINE", "CHAT_PROXY_HEADER_TIMEOUT"):
        with pytest.raises(ConfigError, match=name):
            ProxySettings.from_environ({name: "-1"})
    settings = ProxySettings.from_environ({"CHAT_PROXY_ALLOWED_HOSTS": "My.Box, other", "CHAT_PROXY_MAX_BODY": "1024"})
    assert settings.allowed_hosts == ("my.box", "other") and settings.max_body == 1024
    assert "secret-key" not in repr(ProxySettings(api_key="secret-key"))


def test_a_body_over_the_limit_is_413_without_reading_it(entries: list[dict[str, Any]], vllm: FakeVLLM) -> None:
    with ProxyServer(ProxySettings(max_body=1024 * 1024)) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as raw:  # announces 300 MiB, sends none
            raw.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n" % (300 * 1024 * 1024))
            head = b""
            while piece := raw.recv(4096):  # the proxy answers, then closes the connection
                head += piece
        assert head.startswith(b"HTTP/1.1 413") and b"body_too_large" in head

        def chunks() -> Iterator[bytes]:  # no length: counted as it arrives
            for _ in range(64):
                yield b" " * 65536

        answer = httpx.post(f"{proxy.url}/chat/completions", content=chunks(), headers=JSON)
        assert answer.status_code == 413 and answer.json()["error"]["code"] == "body_too_large"
        assert httpx.post(f"{proxy.url}/chat/completions", json=CHAT).status_code == 200  # still serving
    assert len(vllm.requests) == 1


def test_deeply_nested_json_is_a_400(proxy: ProxyServer) -> None:
    for body in (b"[" * 200_000 + b"]" * 200_000, b'{"model": ' + b'{"a":' * 5000 + b"1" + b"}" * 5001):
        answer = httpx.post(f"{proxy.url}/chat/completions", content=body, headers=JSON)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_json"
    assert httpx.get(f"{proxy.url}/models").status_code == 200


def run_script(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=60, env=env)


def test_a_network_address_without_a_key_refuses_to_start(entries: list[dict[str, Any]]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CHAT_PROXY_API_KEY"}
    for host in ("0.0.0.0", "::"):
        result = run_script("--host", host, "--port", "0", env=env)
        assert result.returncode == 1
        assert result.stderr.startswith("Error: --host") and "CHAT_PROXY_API_KEY" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "listening" not in result.stderr
    both = run_script("--port", "0", env={**env, "CHAT_PROXY_API_KEY": "k", "CHAT_PROXY_FORWARD_AUTH": "1"})
    assert both.returncode == 1 and both.stderr.startswith("Error: CHAT_PROXY_API_KEY and CHAT_PROXY_FORWARD_AUTH")


def test_a_network_address_with_a_key_serves_only_with_it(entries: list[dict[str, Any]], vllm: FakeVLLM) -> None:
    env = {**os.environ, "CHAT_PROXY_API_KEY": "sk-lan-0123456789"}
    process = subprocess.Popen([str(SCRIPT), "--host", "0.0.0.0", "--port", "0"], stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stderr is not None
        match = re.search(r"listening on http://0\.0\.0\.0:(\d+)/v1", process.stderr.readline())
        assert match
        url = f"http://127.0.0.1:{match.group(1)}/v1"
        assert httpx.get(f"{url}/models").status_code == 401
        client = openai.OpenAI(base_url=url, api_key="sk-lan-0123456789", max_retries=0, timeout=20)
        assert client.chat.completions.create(**CHAT).choices[0].message.content == "".join(REPLY)  # type: ignore[call-overload]
    finally:
        process.kill()
        process.wait()
