"""Web pages against the proxy, in Debian's headless chromium: what a page on another origin, or on a
DNS-rebinding name, can do with a proxy on 127.0.0.1.

- a page on another loopback origin (``http://localhost:<other port>``) tries to read
  ``/v1/models`` and to POST a chat request, as JSON (needs a preflight) and as the
  ``text/plain`` "simple" request a page can send without one;
- a page on ``evil.test``, which chromium resolves to 127.0.0.1
  (``--host-resolver-rules``) as a rebinding DNS server would, on the proxy's own port:
  its requests are same-origin, so only the ``Host`` check stands between it and the list;
- an origin the operator lists (``CHAT_PROXY_CORS_ORIGINS``) can read and post, through a
  real preflight.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from imageworks.proxy.settings import ProxySettings
from tests.gui.browser import CHROMIUM, CHROMIUM_ARGS, needs_chromium
from tests.proxy.conftest import GEMMA, GEMMA_SERVED, ProxyServer
from tests.proxy.fake_vllm import FakeVLLM

pytestmark = needs_chromium

PAGE = b"<!doctype html><html><head><title>elsewhere</title></head><body>a page</body></html>"
# Each returns what the page could learn: "read:<status>:<body>", "sent" (an opaque no-cors request) or "blocked:<error>".
READ = """async (url) => { try { const r = await fetch(url); return `read:${r.status}:${await r.text()}`; }
  catch (e) { return `blocked:${e.name}`; } }"""
POST_JSON = """async ([url, model]) => { try { const r = await fetch(url, {method: "POST",
  headers: {"content-type": "application/json"}, body: JSON.stringify({model, messages: [{role: "user", content: "hi"}]})});
  return `read:${r.status}:${await r.text()}`; } catch (e) { return `blocked:${e.name}`; } }"""
POST_SIMPLE = """async ([url, model]) => { try { await fetch(url, {method: "POST", mode: "no-cors",
  headers: {"content-type": "text/plain"}, body: JSON.stringify({model, messages: [{role: "user", content: "hi"}]})});
  return "sent"; } catch (e) { return `blocked:${e.name}`; } }"""


class PageServer:
    """A page on another loopback origin: ``http://localhost:<port>/``."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(PAGE)))
                self.end_headers()
                self.wfile.write(PAGE)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://localhost:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> PageServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless, resolving ``evil.test`` to 127.0.0.1 (a rebinding DNS answer)."""
    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP evil.test 127.0.0.1"]
        )
        yield launched
        launched.close()


@pytest.fixture
def elsewhere(browser: Browser) -> Iterator[Page]:
    """A tab on a page of another loopback origin."""
    with PageServer() as server:
        tab = browser.new_page()
        tab.goto(f"{server.origin}/")
        yield tab
        tab.close()


def test_a_page_on_another_origin_can_neither_read_nor_reach_a_backend(
    proxy: ProxyServer, vllm: FakeVLLM, elsewhere: Page
) -> None:
    chat = f"{proxy.url}/chat/completions"
    assert elsewhere.evaluate(READ, f"{proxy.url}/models") == "blocked:TypeError"
    assert elsewhere.evaluate(POST_JSON, [chat, GEMMA]) == "blocked:TypeError"  # its preflight gets no CORS
    assert elsewhere.evaluate(POST_SIMPLE, [chat, GEMMA]) == "sent"  # the browser sent it, without a preflight...
    assert elsewhere.evaluate(READ, f"{proxy.url}/models".replace("127.0.0.1", "localhost")) == "blocked:TypeError"
    assert vllm.requests == []  # ...and the proxy refused it: no request reached the backend


def test_a_rebinding_host_name_reads_nothing(entries: list[dict[str, Any]], vllm: FakeVLLM, browser: Browser) -> None:
    with PageServer() as attacker:  # evil.test's page, served where the proxy will listen
        port = attacker.httpd.server_address[1]
        tab = browser.new_page()
        tab.goto(f"http://evil.test:{port}/")
    try:
        with ProxyServer(ProxySettings(), port=port):  # the name now leads to the proxy: same origin for the page
            listed = tab.evaluate(READ, "/v1/models")  # the browser lets the page read a same-origin answer
            assert listed.startswith("read:400:") and "host_not_allowed" in listed, listed
            assert GEMMA_SERVED not in listed and GEMMA not in listed
            posted = tab.evaluate(POST_JSON, ["/v1/chat/completions", GEMMA])
            assert posted.startswith("read:400:") and "host_not_allowed" in posted, posted
    finally:
        tab.close()
    assert vllm.requests == []


def test_an_origin_the_operator_lists_reads_and_posts_through_a_preflight(
    entries: list[dict[str, Any]], vllm: FakeVLLM, elsewhere: Page
) -> None:
    origin = elsewhere.evaluate("location.origin")
    with ProxyServer(ProxySettings(cors_origins=(origin,))) as proxy:
        listed = elsewhere.evaluate(READ, f"{proxy.url}/models")
        assert listed.startswith("read:200:") and GEMMA_SERVED in listed
        posted = elsewhere.evaluate(POST_JSON, [f"{proxy.url}/chat/completions", GEMMA])
        assert posted.startswith("read:200:") and "Hello from the fake vLLM" in posted
        assert elsewhere.evaluate(POST_SIMPLE, [f"{proxy.url}/chat/completions", GEMMA]) == "sent"
    assert len(vllm.requests) == 1  # the JSON post; the text/plain one was refused (415)
