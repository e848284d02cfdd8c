"""``POST /api/pull`` for the loopback Ollama server, streamed as the real server streams it.

Ollama answers a streaming pull with ``200``, ``Transfer-Encoding: chunked`` and one JSON
object per line: ``pulling manifest``, per layer ``pulling <12 hex>`` with ``digest``,
``total`` and ``completed`` (several times), ``verifying sha256 digest``, ``writing
manifest``, ``success``. A model the registry does not have is ``{"error": "pull model
manifest: file does not exist"}``. When a pull completes, the layers land in the store
(manifest and blobs) and the model appears in ``/api/tags`` and ``/api/show``, so an
import finds it as it would after a real ``ollama pull``.
"""

from __future__ import annotations

import hashlib
import json
import socket
from http.server import BaseHTTPRequestHandler
from typing import Any

import attrs

from tests.ollama.helpers import FakeOllamaServer, FakeOllamaStore, tags_entry

NOT_FOUND = "pull model manifest: file does not exist"


@attrs.define
class PullBehaviour:
    """How the fake registry behind the server answers: what it has, and what goes wrong."""

    library: dict[str, bytes] = attrs.field(factory=dict)  # name -> model blob (a GGUF)
    not_found_status: int = 200  # 200: the error arrives in the stream; 404: as an HTTP error
    fail_with: str | None = None  # an error object after some progress
    drop_after: int | None = None  # close the connection after this many progress lines
    steps: int = 4
    pulled: list[str] = attrs.field(factory=list)


def serve_pulls(server: FakeOllamaServer, store: FakeOllamaStore, behaviour: PullBehaviour) -> PullBehaviour:
    """Make ``server`` answer ``/api/pull`` from ``behaviour.library``, writing into ``store``."""

    def pull(handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        name = str(body.get("model") or body.get("name"))
        if name not in behaviour.library and behaviour.not_found_status != 200:
            data = json.dumps({"error": NOT_FOUND}).encode()
            handler.send_response(behaviour.not_found_status)
            handler.send_header("Content-Type", "application/json; charset=utf-8")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
            return
        stream = _Chunked(handler)
        stream.line({"status": "pulling manifest"})
        if name not in behaviour.library:
            stream.line({"error": NOT_FOUND})
            stream.end()
            return
        blob = behaviour.library[name]
        digest = hashlib.sha256(blob).hexdigest()
        for step in range(behaviour.steps + 1):
            if behaviour.drop_after is not None and step >= behaviour.drop_after:
                stream.drop()
                return
            if behaviour.fail_with is not None and step >= 2:
                stream.line({"error": behaviour.fail_with})
                stream.end()
                return
            stream.line(
                {
                    "status": f"pulling {digest[:12]}",
                    "digest": f"sha256:{digest}",
                    "total": len(blob),
                    "completed": len(blob) * step // behaviour.steps,
                }
            )
        stream.line({"status": "verifying sha256 digest"})
        store.add_blob(blob)
        store.add_model(name, digest)
        listed = _as_listed(name)
        server.models = [m for m in server.models if m["name"] != listed] + [tags_entry(listed, "e" * 64)]
        server.blobs[listed] = str(store.blob_file(digest))
        stream.line({"status": "writing manifest"})
        stream.line({"status": "success"})
        stream.end()
        behaviour.pulled.append(name)

    server.post_routes["/api/pull"] = pull
    return behaviour


class _Chunked:
    """Write NDJSON lines as HTTP/1.1 chunks, as Go's ``net/http`` does for a flushed stream."""

    def __init__(self, handler: BaseHTTPRequestHandler) -> None:
        self.handler = handler
        handler.protocol_version = "HTTP/1.1"
        handler.send_response(200)
        handler.send_header("Content-Type", "application/x-ndjson")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.send_header("Connection", "close")
        handler.end_headers()

    def line(self, data: dict[str, Any]) -> None:
        payload = (json.dumps(data) + "\n").encode()
        self.handler.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
        self.handler.wfile.flush()

    def end(self) -> None:
        self.handler.wfile.write(b"0\r\n\r\n")
        self.handler.wfile.flush()

    def drop(self) -> None:
        """Cut the connection mid-body (no terminating chunk)."""
        self.handler.wfile.flush()
        self.handler.connection.shutdown(socket.SHUT_RDWR)


def _as_listed(name: str) -> str:
    """The name as ``/api/tags`` lists it: ``library/x`` is ``x``, no tag is ``latest``."""
    for prefix in ("registry.ollama.ai/library/", "library/"):
        name = name.removeprefix(prefix)
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"
