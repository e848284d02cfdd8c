"""A loopback OpenAI "server" that misbehaves on purpose: what the proxy must not pass on or be held by.

The first path segment picks the misbehaviour, so one server stands for many backends
(``base_url = f"{server.root}/<behaviour>/v1"``):

- ``cookies``: a normal chat answer (JSON, or SSE with ``"stream": true``) carrying
  ``Set-Cookie``, CORS headers and hop-by-hop headers; its body says which ``Cookie``
  header the request carried.
- ``huge``: a 200 JSON answer of ``size`` bytes (the request's ``size`` field), written in
  1 MiB pieces as fast as the reader takes them.
- ``trickle``: a 200 JSON answer announced as 1,000 bytes, sent one byte every 0.2 s.
- ``endless``: an event stream that never ends (an event every 20 ms).
- ``boundless``: an event stream of ``size`` bytes without a blank line, then (after
  :attr:`HostileBackend.gate`) its end.

``requests`` records ``(behaviour, headers)`` of each request.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MIB = 1024 * 1024


class HostileBackend:
    """The misbehaving server on 127.0.0.1 (a context manager)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.gate = threading.Event()
        self.sent = 0  # bytes of the last huge/boundless answer written so far
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._head(200, "application/json", 2)
                self.wfile.write(b"{}")

            def do_POST(self) -> None:
                behaviour = self.path.strip("/").split("/", 1)[0]
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                backend.requests.append((behaviour, {k.lower(): v for k, v in self.headers.items()}))
                try:
                    getattr(self, f"_{behaviour}")(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _head(self, status: int, kind: str, length: int | None, extra: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                if length is None:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(length))
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                self.end_headers()

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def _cookies(self, body: dict[str, Any]) -> None:
                extra = {
                    "Set-Cookie": "session=backend-secret; Path=/; HttpOnly",
                    "Access-Control-Allow-Origin": "*",
                    "Access-Control-Allow-Credentials": "true",
                    "Keep-Alive": "timeout=5",
                    "Proxy-Authenticate": "Basic",
                    "Connection": "X-Backend-Hop",
                    "X-Backend-Hop": "secret-hop",
                    "X-Request-Seen": "yes",
                }
                seen = self.headers.get("Cookie")
                message = {"role": "assistant", "content": f"cookie:{seen}"}
                if body.get("stream"):
                    self._head(200, "text/event-stream", None, extra)
                    delta = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": body.get("model"),
                             "choices": [{"index": 0, "delta": message, "finish_reason": None}]}
                    self._chunk(b"data: " + json.dumps(delta).encode() + b"\n\n")
                    self._chunk(b"data: [DONE]\n\n")
                    self.wfile.write(b"0\r\n\r\n")
                    return
                answer = json.dumps({"id": "c", "object": "chat.completion", "created": 0, "model": body.get("model"),
                                     "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}).encode()
                self._head(200, "application/json", len(answer), extra)
                self.wfile.write(answer)

            def _huge(self, body: dict[str, Any]) -> None:
                size = int(body.get("size", 8 * MIB))
                self._head(200, "application/json", size)
                block = b" " * MIB
                backend.sent = 0
                while backend.sent < size:
                    piece = block[: min(MIB, size - backend.sent)]
                    self.wfile.write(piece)
                    backend.sent += len(piece)

            def _trickle(self, body: dict[str, Any]) -> None:
                self._head(200, "application/json", 1000)
                for _ in range(1000):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.2)

            def _endless(self, body: dict[str, Any]) -> None:
                self._head(200, "text/event-stream", None)
                index = 0
                while True:
                    self._chunk(b'data: {"id": "e", "object": "chat.completion.chunk", "created": 0, "model": "m", '
                                b'"choices": [{"index": 0, "delta": {"content": "%d "}, "finish_reason": null}]}\n\n' % index)
                    index += 1
                    time.sleep(0.02)

            def _boundless(self, body: dict[str, Any]) -> None:
                size = int(body.get("size", 8 * MIB))
                self._head(200, "text/event-stream", None)
                backend.sent = 0
                self._chunk(b"data: ")
                block = b"x" * (64 * 1024)
                while backend.sent < size:
                    self._chunk(block)
                    backend.sent += len(block)
                backend.gate.wait(30)
                self._chunk(b"\n\ndata: [DONE]\n\n")
                self.wfile.write(b"0\r\n\r\n")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.root = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, behaviour: str) -> str:
        """The API root of one misbehaviour."""
        return f"{self.root}/{behaviour}/v1"

    def __enter__(self) -> HostileBackend:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.gate.set()
        self.httpd.shutdown()
        self.httpd.server_close()
