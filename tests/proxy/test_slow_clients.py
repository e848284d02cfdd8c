"""Slow clients cannot starve the others: real sockets that send half a request head and wait.

The crowd test runs the console script as a process with the descriptor limit most
machines give (1,024, ``ulimit -n``), so 1,100 half-open connections are more than it
can hold: without a connection cap the proxy stops accepting and a normal client waits
forever.
"""

from __future__ import annotations

import errno
import os
import re
import resource
import selectors
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from imageworks.proxy.connections import connection_cap
from imageworks.proxy.settings import ProxySettings
from tests.proxy.conftest import GEMMA, ProxyServer
from tests.proxy.fake_vllm import REPLY, FakeVLLM
from tests.proxy.test_launcher import SCRIPT

HALF_HEAD = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
CROWD = 1100
DESCRIPTORS = 1024


def half_open(port: int, count: int, within: float = 20) -> list[socket.socket]:
    """``count`` connections to ``port``, each having sent half a request head (non-blocking connects, so a
    proxy that stopped accepting costs no more than ``within`` seconds)."""
    pending: dict[socket.socket, None] = {}
    selector = selectors.DefaultSelector()
    for _ in range(count):
        s = socket.socket()
        s.setblocking(False)
        if s.connect_ex(("127.0.0.1", port)) not in (0, errno.EINPROGRESS):
            s.close()
            continue
        pending[s] = None
        selector.register(s, selectors.EVENT_WRITE)
    opened: list[socket.socket] = []
    deadline = time.monotonic() + within
    while pending and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.5):
            s = key.fileobj
            assert isinstance(s, socket.socket)
            selector.unregister(s)
            del pending[s]
            try:
                s.send(HALF_HEAD)
                opened.append(s)
            except OSError:
                s.close()
    for s in pending:
        selector.unregister(s)
        opened.append(s)  # still connecting: it holds a place in the backlog all the same
    selector.close()
    return opened


@pytest.fixture
def proxy_process(entries: list[dict[str, Any]]) -> Iterator[str]:
    """The console script on a free port, with 1,024 descriptors and a long request-head deadline (so
    only the connection cap can save it); yields its API root."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < DESCRIPTORS or soft < CROWD + 100:
        pytest.skip(f"needs {CROWD + 100} descriptors in the test process (ulimit -n is {soft})")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTORS, hard))

    env = {**os.environ, "CHAT_PROXY_HEADER_TIMEOUT": "120"}
    process = subprocess.Popen([str(SCRIPT), "--port", "0", "--log-level", "warning"], stderr=subprocess.PIPE, text=True,
                               env=env, preexec_fn=limit)
    try:
        assert process.stderr is not None
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+)/v1", process.stderr.readline())
        assert match
        yield match.group(1)
    finally:
        process.kill()
        process.wait()


def test_a_crowd_of_slow_clients_does_not_keep_a_normal_request_out(proxy_process: str, vllm: FakeVLLM) -> None:
    crowd = half_open(int(proxy_process), CROWD)
    try:
        assert len(crowd) > 1000
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{proxy_process}/v1", api_key="x", max_retries=0, timeout=20)
        answer = client.chat.completions.create(model=GEMMA, messages=[{"role": "user", "content": "hi"}])
        assert answer.choices[0].message.content == "".join(REPLY)
    finally:
        for s in crowd:
            s.close()


def test_a_client_that_never_finishes_its_request_head_is_dropped(entries: list[dict[str, Any]]) -> None:
    with ProxyServer(ProxySettings(header_timeout=0.5)) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=15) as slow:
            slow.sendall(HALF_HEAD)
            started = time.monotonic()
            assert slow.recv(1024) == b""  # closed by the proxy, not answered
            assert time.monotonic() - started < 10
        # a kept-alive connection that starts its next request and stalls is dropped too
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=15) as kept:
            kept.sendall(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert kept.recv(65536).startswith(b"HTTP/1.1 200")
            kept.sendall(b"GET /v1/models HTTP/1.1\r\nHost: 127.0")
            while kept.recv(65536):
                pass


def test_the_cap_leaves_room_under_the_descriptor_limit() -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert connection_cap(10) == 10
    assert connection_cap(10**9) <= soft - 100
