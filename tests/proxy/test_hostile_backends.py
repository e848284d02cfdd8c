"""Backends that misbehave: nothing of theirs reaches the client that should not, and none holds a request.

Each backend is a behaviour of :class:`tests.proxy.hostile_backend.HostileBackend` on
loopback; the proxy runs on real uvicorn, as the console script runs it.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from imageworks.proxy.settings import ProxySettings
from tests.launch.conftest import free_port
from tests.ollama.helpers import FakeOllamaServer
from tests.proxy.conftest import ProxyServer, write_curated
from tests.proxy.hostile_backend import MIB, HostileBackend

JSON = {"content-type": "application/json"}
CHAT = [{"role": "user", "content": "hi"}]


def post(proxy: ProxyServer, payload: dict[str, Any], timeout: float = 20) -> httpx.Response:
    return httpx.post(f"{proxy.url}/chat/completions", json=payload, timeout=timeout)


def test_cookies_cors_and_hop_by_hop_headers_never_reach_the_client(hostile: HostileBackend) -> None:
    with ProxyServer(ProxySettings()) as proxy:
        for stream in (False, True):
            answer = post(proxy, {"model": "cookies-vllm", "messages": CHAT, "stream": stream})
            assert answer.status_code == 200
            names = {name.lower() for name in answer.headers}
            assert "x-request-seen" in names  # an ordinary header goes through
            assert not names & {"set-cookie", "keep-alive", "proxy-authenticate", "x-backend-hop"}, names
            assert not any(name.startswith("access-control-") for name in names), names
        # the proxy keeps no cookie jar: a backend's cookie never rides on a later client's request
        client = openai.OpenAI(base_url=proxy.url, api_key="x", max_retries=0, timeout=20)
        again = client.chat.completions.create(model="cookies-vllm", messages=CHAT)  # type: ignore[arg-type]
        assert again.choices[0].message.content == "cookie:None"
        assert all("cookie" not in headers for _, headers in hostile.requests)


def test_a_huge_answer_is_streamed_through_not_held(hostile: HostileBackend) -> None:
    size = 256 * MIB
    with ProxyServer(ProxySettings()) as proxy, httpx.stream(
        "POST", f"{proxy.url}/chat/completions", json={"model": "huge-vllm", "messages": CHAT, "size": size}, timeout=20
    ) as answer:
        assert answer.status_code == 200
        received = 0
        for piece in answer.iter_raw():
            received += len(piece)
            if received >= 4 * MIB:
                break
        # the client has 4 MiB while the backend has not sent most of it: the proxy holds no whole answer
        assert hostile.sent < size // 2, hostile.sent


def test_a_trickling_backend_is_a_504_at_the_deadline(hostile: HostileBackend) -> None:
    with ProxyServer(ProxySettings(deadline=1.5)) as proxy:
        started = time.monotonic()
        with pytest.raises(openai.APIStatusError) as raised:
            proxy.client().chat.completions.create(model="trickle-vllm", messages=CHAT)  # type: ignore[arg-type]
        assert time.monotonic() - started < 15
    assert raised.value.status_code == 504
    assert isinstance(raised.value.body, dict) and raised.value.body["code"] == "backend_timeout"


def test_an_endless_stream_ends_at_the_deadline_with_an_error_event(hostile: HostileBackend) -> None:
    lines: list[str] = []
    with ProxyServer(ProxySettings(deadline=1.5)) as proxy, httpx.stream(
        "POST", f"{proxy.url}/chat/completions", json={"model": "endless-vllm", "messages": CHAT, "stream": True}, timeout=20
    ) as answer:
        started = time.monotonic()
        for line in answer.iter_lines():
            lines.append(line)
            assert time.monotonic() - started < 20, "the stream did not end"
    events = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    assert len(events) > 3 and "choices" in events[0]
    assert events[-1]["error"]["code"] == "backend_timeout"


def test_a_stream_without_event_boundaries_is_relayed_as_it_arrives(hostile: HostileBackend) -> None:
    size = 8 * MIB
    with ProxyServer(ProxySettings()) as proxy, httpx.stream(
        "POST", f"{proxy.url}/chat/completions", json={"model": "boundless-vllm", "messages": CHAT, "stream": True,
                                                         "size": size}, timeout=20,
    ) as answer:
        pieces = answer.iter_raw()
        received = 0
        while received < size // 2:  # the backend holds its last bytes until the gate opens
            received += len(next(pieces))
        assert not hostile.gate.is_set()
        hostile.gate.set()
        received += sum(len(piece) for piece in pieces)
    assert received == len(b"data: ") + size + len(b"\n\ndata: [DONE]\n\n")


def test_credentials_in_a_base_url_never_reach_answers_or_logs(
    entries: list[dict[str, Any]], isolated: Path, ollama: FakeOllamaServer, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    entries[0]["backend_config"]["base_url"] = f"http://admin:hunter2-secret@127.0.0.1:{port}/v1?key=sk-query-secret"
    write_curated(isolated / "registry", entries)
    with ProxyServer(ProxySettings()) as proxy, caplog.at_level(logging.DEBUG):
        answer = post(proxy, {"model": entries[0]["name"], "messages": CHAT})
    assert answer.status_code == 502
    message = answer.json()["error"]["message"]
    assert f"http://127.0.0.1:{port}/v1" in message
    logged = " ".join(record.getMessage() for record in caplog.records)
    for secret in ("hunter2", "admin:", "sk-query-secret"):
        assert secret not in answer.text and secret not in logged


def test_a_base_url_that_is_not_http_is_never_used(
    entries: list[dict[str, Any]], isolated: Path, ollama: FakeOllamaServer
) -> None:
    entries[0]["backend_config"]["base_url"] = "file:///etc/passwd"
    write_curated(isolated / "registry", entries)
    with ProxyServer(ProxySettings()) as proxy:
        assert entries[0]["name"] not in {card["name"] for card in httpx.get(f"{proxy.url}/models").json()["data"]}
        answer = post(proxy, {"model": entries[0]["name"], "messages": CHAT})
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "model_not_found"
