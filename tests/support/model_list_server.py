"""A loopback OpenAI-style server: ``GET /v1/models`` answers what the test sets.

By default the OpenAI list shape vLLM and LMDeploy send (``{"object": "list", "data":
[{"id": ...}]}``); a test sets ``status`` and ``body`` (JSON, or raw bytes) to make it
answer something else. Every other path is a 404.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ModelListServer:
    """Started and stopped as a context manager; ``url`` is its root (no ``/v1``)."""

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self.status = 200
        self.body: Any = {"object": "list", "data": [{"id": i, "object": "model", "owned_by": "vllm"} for i in ids]}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                found = self.path == "/v1/models"
                body = server.body if found else {"error": "not found"}
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(server.status if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> ModelListServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
