"""Sending one OpenAI-style request on to a backend and its answer back, streams unbuffered.

- Request headers: only ``Content-Type``, ``Accept``, ``User-Agent`` and
  ``X-Request-Id`` go on. The client's ``Authorization`` goes on only under
  ``CHAT_PROXY_FORWARD_AUTH=1``; a backend whose ``backend_config.api_key_env`` names a
  set variable gets ``Authorization: Bearer <its value>`` instead (never logged).
- An answer that is a server-sent event stream (``text/event-stream``) is passed on
  event by event as each one arrives; anything else is read whole and returned with the
  backend's status, so a backend's own errors (400, 404, ...) reach the client as it sent them.
- A backend that cannot be reached, or fails before answering, is a 502 (504 when it
  stays silent past the timeout) with a one-line OpenAI-style error. A backend that
  dies mid-stream: the partial event is dropped, one ``data: {"error": ...}`` event
  (what vLLM itself sends when a stream fails) ends the stream cleanly, and one line is logged.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse, Response, StreamingResponse

from imageworks.services.serve.endpoints import Endpoint

log = logging.getLogger("imageworks.proxy")
PASSED_REQUEST_HEADERS = ("content-type", "accept", "user-agent", "x-request-id")
DROPPED_RESPONSE_HEADERS = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "date", "server", "upgrade"}
)


def error_body(message: str, kind: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error object: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(status: int, message: str, kind: str, code: str | None, param: str | None = None) -> JSONResponse:
    """An OpenAI-style JSON error with ``status``."""
    return JSONResponse(error_body(message, kind, code, param), status_code=status)


def backend_headers(client_headers: Mapping[str, str], endpoint: Endpoint, forward_auth: bool) -> dict[str, str]:
    """The headers sent to ``endpoint`` for a client request carrying ``client_headers``."""
    headers = {name: client_headers[name] for name in PASSED_REQUEST_HEADERS if name in client_headers}
    headers["accept-encoding"] = "identity"  # bytes pass through as the backend sends them
    if forward_auth and "authorization" in client_headers:
        headers["authorization"] = client_headers["authorization"]
    key = os.environ.get(endpoint.api_key_env) if endpoint.api_key_env else None
    if key:
        headers["authorization"] = f"Bearer {key}"
    return headers


async def forward(
    client: httpx.AsyncClient, endpoint: Endpoint, path: str, body: bytes, headers: Mapping[str, str], label: str
) -> Response:
    """POST ``body`` to ``endpoint.base_url + path`` and answer with the backend's response.

    ``label`` names the variant in messages (the requested model and the variant it means).
    """
    url = f"{endpoint.base_url}{path}"
    request = client.build_request("POST", url, content=body, headers=dict(headers))
    try:
        response = await client.send(request, stream=True)
    except httpx.TimeoutException:
        return _failed(504, f"backend {endpoint.base_url} for {label} did not answer in time", "backend_timeout")
    except httpx.HTTPError as error:
        return _failed(502, f"backend {endpoint.base_url} for {label} is unreachable: {_reason(error)}", "backend_unavailable")
    passed = {k: v for k, v in response.headers.items() if k.lower() not in DROPPED_RESPONSE_HEADERS}
    if not response.headers.get("content-type", "").lower().startswith("text/event-stream"):
        try:
            content = await response.aread()
        except httpx.HTTPError as error:
            return _failed(502, f"backend {endpoint.base_url} for {label} failed mid-answer: {_reason(error)}", "backend_error")
        finally:
            await response.aclose()
        return Response(content, status_code=response.status_code, headers=passed)
    return StreamingResponse(
        _events(response, endpoint, label),
        status_code=response.status_code,
        headers=passed,
        background=BackgroundTask(response.aclose),
    )


async def _events(response: httpx.Response, endpoint: Endpoint, label: str) -> AsyncIterator[bytes]:
    """The backend's server-sent events, each as soon as its blank line arrives."""
    pending = b""
    try:
        async for chunk in response.aiter_raw():
            pending += chunk
            end = _last_event_end(pending)
            if end:
                yield pending[:end]
                pending = pending[end:]
        if pending.strip():
            yield pending  # a last event without its blank line: the backend's own ending
    except httpx.HTTPError as error:
        message = f"backend {endpoint.base_url} for {label} closed the stream: {_reason(error)}"
        log.warning(message)
        yield b"data: " + json.dumps(error_body(message, "backend_error", "backend_stream_broken")).encode() + b"\n\n"
    finally:
        await response.aclose()  # also when the client went away and the stream was cancelled


def _last_event_end(data: bytes) -> int:
    """The offset just past the last complete event in ``data`` (0: none yet); SSE allows LF and CRLF."""
    ends = [data.rfind(sep) + len(sep) for sep in (b"\n\n", b"\r\n\r\n") if data.rfind(sep) >= 0]
    return max(ends, default=0)


def _failed(status: int, message: str, code: str) -> JSONResponse:
    log.warning(message)
    return error_response(status, message, "backend_error", code)


def _reason(error: httpx.HTTPError) -> str:
    """The error in one line."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
