"""A loopback stand-in for ``vllm serve``: OpenAI's wire format as vLLM's server speaks it.

``GET /v1/models`` (vLLM's ``ModelCard``: ``id``, ``object``, ``created``, ``owned_by:
"vllm"``, ``root``, ``max_model_len``), ``POST /v1/chat/completions`` and
``/v1/completions`` (a JSON answer, or with ``"stream": true`` server-sent events:
``data: {chunk}`` lines, blank-line separated, then ``data: [DONE]``, over HTTP/1.1
chunked transfer encoding as uvicorn sends them) and ``POST /v1/embeddings`` (floats, or
base64 little-endian float32 under ``encoding_format: base64``, as the openai client
asks by default). A model the server does not serve gets vLLM's 404 error object.

Knobs a test sets: ``served`` (the one id it serves), ``die_after`` (events sent before
the connection is cut in the middle of the next one), ``gate`` (an event the stream waits
for after its first chunk, so a test can prove the first chunk reached the client
before the rest was even sent). ``requests`` records (path, headers, body) of each POST.
"""

from __future__ import annotations

import base64
import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REPLY = ["Hello", " from", " the", " fake", " vLLM"]


class FakeVLLM:
    """A vLLM-like OpenAI server on 127.0.0.1 (a context manager)."""

    def __init__(self, served: str) -> None:
        self.served = served
        self.die_after: int | None = None
        self.gate: threading.Event | None = None
        self.rest_sent = threading.Event()  # set once the chunks after the gate went out
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def do_GET(self) -> None:
                if self.path != "/v1/models":
                    self._json(404, {"detail": "Not Found"})
                    return
                card = {"id": fake.served, "object": "model", "created": int(time.time()), "owned_by": "vllm",
                        "root": "/models/x", "parent": None, "max_model_len": 32768, "permission": []}
                self._json(200, {"object": "list", "data": [card]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                fake.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                if body.get("model") != fake.served:
                    self._json(404, {"object": "error", "message": f"The model `{body.get('model')}` does not exist.",
                                     "type": "NotFoundError", "param": None, "code": 404})
                    return
                if self.path == "/v1/embeddings":
                    self._embeddings(body)
                elif self.path in ("/v1/chat/completions", "/v1/completions"):
                    chat = self.path == "/v1/chat/completions"
                    if body.get("stream"):
                        self._stream(chat)
                    else:
                        self._json(200, fake.completion(chat))
                else:
                    self._json(404, {"detail": "Not Found"})

            def _embeddings(self, body: dict[str, Any]) -> None:
                inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                data = []
                for index, text in enumerate(inputs):
                    vector = [float(len(str(text))), 0.5, -0.25, 1.0]
                    encoded: Any = vector
                    if body.get("encoding_format") == "base64":
                        encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
                    data.append({"object": "embedding", "index": index, "embedding": encoded})
                self._json(200, {"object": "list", "data": data, "model": fake.served,
                                 "usage": {"prompt_tokens": 3, "total_tokens": 3}})

            def _stream(self, chat: bool) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream; charset=utf-8")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for index, piece in enumerate(REPLY):
                    event = b"data: " + json.dumps(fake.chunk(chat, piece, index == 0)).encode() + b"\n\n"
                    if fake.die_after is not None and index == fake.die_after:
                        self._chunk(event[: len(event) // 2])  # half an event, then the connection drops
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        return
                    self._chunk(event)
                    if index == 0 and fake.gate is not None:
                        fake.gate.wait(10)
                fake.rest_sent.set()
                self._chunk(b"data: [DONE]\n\n")
                self.wfile.write(b"0\r\n\r\n")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def completion(self, chat: bool) -> dict[str, Any]:
        """A whole (non-streamed) answer."""
        text = "".join(REPLY)
        choice: dict[str, Any] = (
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop", "logprobs": None}
            if chat else {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}
        )
        return {"id": "cmpl-fake", "object": "chat.completion" if chat else "text_completion", "created": int(time.time()),
                "model": self.served, "choices": [choice],
                "usage": {"prompt_tokens": 5, "completion_tokens": len(REPLY), "total_tokens": 5 + len(REPLY)}}

    def chunk(self, chat: bool, piece: str, first: bool) -> dict[str, Any]:
        """One streamed chunk."""
        if chat:
            delta: dict[str, Any] = {"role": "assistant", "content": piece} if first else {"content": piece}
            choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
        else:
            choice = {"index": 0, "text": piece, "logprobs": None, "finish_reason": None}
        return {"id": "chatcmpl-fake", "object": "chat.completion.chunk" if chat else "text_completion",
                "created": int(time.time()), "model": self.served, "choices": [choice]}

    def __enter__(self) -> FakeVLLM:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.gate is not None:
            self.gate.set()
        self.httpd.shutdown()
        self.httpd.server_close()
