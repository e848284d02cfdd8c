"""Builders for real-format Ollama stores and a loopback Ollama API server.

A store is laid out exactly as Ollama lays it out: ``manifests/<host>/<ns>/<model>/<tag>``
JSON manifests (schemaVersion 2, Docker media types for the manifest and config, Ollama
media types for the layers) and content-addressed ``blobs/sha256-<hex>`` files, or the
legacy ``sha256:<hex>`` names. The server answers ``/api/tags``, ``/api/show`` and
``/api/version`` in the shapes of Ollama's API documentation, and ``GET /v1/models`` and
``POST /v1/chat/completions`` as Ollama's OpenAI-compatible API does (``openai/openai.go``:
``owned_by`` the namespace, ``system_fingerprint: fp_ollama``, streamed
``chat.completion.chunk`` events ending in ``data: [DONE]``, 404 for a model it lacks).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MANIFEST_MEDIA = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_MEDIA = "application/vnd.docker.container.image.v1+json"
LAYER_MEDIA = "application/vnd.ollama.image."
TEMPLATE = "{{ if .System }}<start_of_turn>user\n{{ .System }}{{ end }}{{ .Prompt }}<end_of_turn>\n<start_of_turn>model\n"
PARAMS = b'{"stop": ["<end_of_turn>"], "temperature": 1, "top_k": 64, "top_p": 0.95}'
LICENSE = b"Gemma Terms of Use\n\nLast modified: February 21, 2024\n"


def split_name(name: str) -> tuple[str, str, str, str]:
    """``llama3:8b`` -> (registry.ollama.ai, library, llama3, 8b); ``hf.co/a/b:t`` -> (hf.co, a, b, t)."""
    base, _, tag = name.partition(":")
    parts = base.split("/")
    if len(parts) == 1:
        parts = ["registry.ollama.ai", "library", *parts]
    elif len(parts) == 2:
        parts = ["registry.ollama.ai", *parts]
    return parts[0], parts[1], parts[2], tag or "latest"


class FakeOllamaStore:
    """An Ollama ``models`` folder built file by file."""

    def __init__(self, root: Path, legacy_names: bool = False) -> None:
        self.root = root
        self.legacy_names = legacy_names
        (root / "manifests").mkdir(parents=True, exist_ok=True)
        (root / "blobs").mkdir(parents=True, exist_ok=True)

    def blob_file(self, hexdigest: str) -> Path:
        """Where the blob of ``hexdigest`` lives in this store."""
        return self.root / "blobs" / (f"sha256:{hexdigest}" if self.legacy_names else f"sha256-{hexdigest}")

    def add_blob(self, data: bytes) -> str:
        """Store ``data`` as a blob; return its sha256 hex."""
        digest = hashlib.sha256(data).hexdigest()
        self.blob_file(digest).write_bytes(data)
        return digest

    def link_blob(self, source: Path, hexdigest: str) -> str:
        """Hard-link a large file in as the blob ``hexdigest`` (a copy across file systems)."""
        target = self.blob_file(hexdigest)
        if not target.exists():
            try:
                os.link(source, target)
            except OSError:  # not a symlink: the store reader refuses blobs leading out of the store
                shutil.copyfile(source, target)
        return hexdigest

    def add_model(
        self,
        name: str,
        model_digest: str,
        *,
        config: dict[str, Any] | None = None,
        extra_layers: bool = True,
        manifest_text: str | None = None,
    ) -> Path:
        """Write the manifest (and config/template/params/license blobs) of ``name``."""
        host, namespace, model, tag = split_name(name)
        path = self.root / "manifests" / host / namespace / model / tag
        path.parent.mkdir(parents=True, exist_ok=True)
        if manifest_text is not None:
            path.write_text(manifest_text, encoding="utf-8")
            return path
        config_data = json.dumps(
            config
            if config is not None
            else {
                "model_format": "gguf",
                "model_family": "gemma3",
                "model_families": ["gemma3"],
                "model_type": "268.10M",
                "file_type": "Q4_K_M",
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": [f"sha256:{model_digest}"]},
            }
        ).encode()
        config_digest = self.add_blob(config_data)
        model_size = self.blob_file(model_digest).stat().st_size if self.blob_file(model_digest).exists() else 1
        layers = [{"mediaType": LAYER_MEDIA + "model", "digest": f"sha256:{model_digest}", "size": model_size}]
        if extra_layers:
            for kind, data in (("template", TEMPLATE.encode()), ("license", LICENSE), ("params", PARAMS)):
                layers.append({"mediaType": LAYER_MEDIA + kind, "digest": f"sha256:{self.add_blob(data)}", "size": len(data)})
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA,
            "config": {"mediaType": CONFIG_MEDIA, "digest": f"sha256:{config_digest}", "size": len(config_data)},
            "layers": layers,
        }
        path.write_text(json.dumps(manifest), encoding="utf-8")
        return path


def tags_entry(name: str, digest: str, quant: str = "Q4_K_M", family: str = "gemma3", size: int = 253_000_000) -> dict:
    """One model of ``/api/tags``."""
    return {
        "name": name,
        "model": name,
        "modified_at": "2025-05-01T10:00:00.000000+00:00",
        "size": size,
        "digest": digest,
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": family,
            "families": [family],
            "parameter_size": "268.10M",
            "quantization_level": quant,
        },
    }


def openai_model(model: dict[str, Any]) -> dict[str, Any]:
    """One ``/api/tags`` model as Ollama's ``GET /v1/models`` shows it."""
    parts = model["name"].split(":")[0].split("/")
    return {"id": model["model"], "object": "model", "created": 1746093600,
            "owned_by": parts[-2] if len(parts) > 1 else "library"}


def _completion_head(model: str, kind: str) -> dict[str, Any]:
    return {"id": "chatcmpl-42", "object": kind, "created": int(time.time()), "model": model,
            "system_fingerprint": "fp_ollama"}


class FakeOllamaServer:
    """A loopback Ollama API: ``models`` is the ``/api/tags`` list, ``blobs`` name -> FROM path."""

    def __init__(self) -> None:
        self.models: list[dict[str, Any]] = []
        self.blobs: dict[str, str] = {}
        self.requests: list[str] = []
        self.chat_requests: list[tuple[dict[str, str], dict[str, Any]]] = []  # (headers, body) of /v1/chat/completions
        # path -> handler(request_handler, body) for POST endpoints beyond /api/show (pull)
        self.post_routes: dict[str, Callable[[BaseHTTPRequestHandler, dict[str, Any]], None]] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                server.requests.append(f"GET {self.path}")
                if self.path == "/api/tags":
                    self._send(200, {"models": server.models})
                elif self.path == "/api/version":
                    self._send(200, {"version": "0.6.8"})
                elif self.path == "/v1/models":
                    self._send(200, {"object": "list", "data": [openai_model(m) for m in server.models]})
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append(f"POST {self.path} {body.get('model') or body.get('name')}")
                if self.path in server.post_routes:
                    server.post_routes[self.path](self, body)
                    return
                if self.path == "/v1/chat/completions":
                    server.chat_requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    self._chat(body)
                    return
                if self.path != "/api/show":
                    self._send(404, {"error": "not found"})
                    return
                name = body.get("model") or body.get("name")
                found = next((m for m in server.models if m["name"] == name), None)
                if found is None:
                    self._send(404, {"error": f"model '{name}' not found"})
                    return
                blob = server.blobs.get(name, f"/usr/share/ollama/.ollama/models/blobs/sha256-{'0' * 64}")
                self._send(
                    200,
                    {
                        "modelfile": f"# Modelfile generated by \"ollama show\"\nFROM {blob}\nTEMPLATE \"\"\"{TEMPLATE}\"\"\"\nPARAMETER stop <end_of_turn>\n",
                        "parameters": "stop                           \"<end_of_turn>\"",
                        "template": TEMPLATE,
                        "details": found["details"],
                        "model_info": {"general.architecture": "gemma3", "general.parameter_count": 268098176},
                        "capabilities": ["completion"],
                        "modified_at": found["modified_at"],
                    },
                )

            def _chat(self, body: dict[str, Any]) -> None:
                name = body.get("model")
                if not any(m["name"] == name for m in server.models):
                    message = f'model "{name}" not found, try pulling it first'
                    self._send(404, {"error": {"message": message, "type": "api_error", "param": None, "code": None}})
                    return
                words = ["Hi", " from", " Ollama"]
                if not body.get("stream"):
                    message = {"role": "assistant", "content": "".join(words)}
                    self._send(200, {**_completion_head(name, "chat.completion"), "choices": [
                        {"index": 0, "message": message, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()  # HTTP/1.0: the body ends when the connection closes
                for word, finish in [*((w, None) for w in words), ("", "stop")]:
                    delta = {"role": "assistant", "content": word}
                    chunk = {**_completion_head(name, "chat.completion.chunk"),
                             "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
                    self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> FakeOllamaServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
