"""Sending one OpenAI-style request on to a backend and its answer back, bounded in time and memory.

- Request headers: only ``Content-Type``, ``Accept``, ``User-Agent`` and
  ``X-Request-Id`` go on. The client's ``Authorization`` goes on only under
  ``CHAT_PROXY_FORWARD_AUTH=1``; a backend whose ``backend_config.api_key_env`` names a
  set ``IMAGEWORKS_BACKEND_KEY_*`` variable gets ``Authorization: Bearer <its value>``
  instead (never logged); any other name is ignored, with a warning.
- Answer headers: hop-by-hop headers (and those the backend's ``Connection`` names),
  ``Set-Cookie``, every ``Access-Control-*`` header and ``Content-Length`` are dropped; the
  client gets the rest. The httpx client keeps no cookies (:func:`new_client`), so one
  client's backend cookie never rides on another client's request.
- An answer that is a server-sent event stream (``text/event-stream``) is relayed as its
  bytes arrive, cut at event boundaries found in linear time; a run of bytes without a
  boundary is passed on once it reaches :data:`MAX_EVENT` bytes, so the buffer is bounded.
  Any other answer is read up to :data:`ANSWER_BUFFER` bytes and returned with the
  backend's status; a longer one is streamed through as it comes, never held whole.
- Time: every request has a total deadline (``CHAT_PROXY_DEADLINE``): no answer by then
  is a 504, a stream still running at the deadline ends with one ``backend_timeout``
  error event (a plain answer is cut). ``CHAT_PROXY_TIMEOUT`` bounds each silence.
- A backend that cannot be reached, or fails before answering, is a 502 whose one-line
  message names the command that starts its server. A backend that dies mid-stream: the
  partial event is dropped, one ``data: {"error": ...}`` event (what vLLM itself sends when
  a stream fails) ends the stream cleanly, and one line is logged. URLs in messages and
  logs never carry credentials (:func:`imageworks.services.serve.endpoints.shown_url`).
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import logging
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any

import attrs
import httpx
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse, Response, StreamingResponse

from imageworks.services.serve.endpoints import Endpoint, shown_url

log = logging.getLogger("imageworks.proxy")
PASSED_REQUEST_HEADERS = ("content-type", "accept", "user-agent", "x-request-id")
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer",
     "trailers", "transfer-encoding", "upgrade"}
)
DROPPED_RESPONSE_HEADERS = HOP_BY_HOP | {"content-length", "date", "server", "set-cookie", "set-cookie2"}
#: Bytes of a non-stream answer held before it is streamed through instead.
ANSWER_BUFFER = 1024 * 1024
#: Bytes of one server-sent event held while waiting for its blank line.
MAX_EVENT = 1024 * 1024
CONNECT_TIMEOUT = 10.0


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """A cookie policy that accepts no cookie from any backend."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


def new_client(timeout: float, max_connections: int = 100) -> httpx.AsyncClient:
    """The client the proxy reaches backends with: directly (never through ``HTTP(S)_PROXY``),
    no redirects followed, and a cookie jar that keeps nothing."""
    jar = http.cookiejar.CookieJar(policy=_NoCookies())
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout)),
        trust_env=False,
        follow_redirects=False,
        cookies=jar,  # kept as is (httpx copies a Cookies object into a jar of its own, without the policy)
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=20),
    )


@attrs.frozen(kw_only=True)
class Target:
    """Where a request goes and how messages name it: the endpoint, the variant label and the
    command that starts its server (for the 502 message)."""

    endpoint: Endpoint
    label: str
    start_hint: str


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
    key = os.environ.get(endpoint.api_key_env) if endpoint.api_key_env else None  # an allowed name only (endpoints.py)
    if key:
        headers["authorization"] = f"Bearer {key}"
    return headers


def answer_headers(headers: httpx.Headers) -> list[tuple[str, str]]:
    """The backend's answer headers a client may get (see the module docstring)."""
    named = {token.strip().lower() for value in headers.get_list("connection") for token in value.split(",")}
    return [
        (name, value)
        for name, value in headers.multi_items()
        if (low := name.lower()) not in DROPPED_RESPONSE_HEADERS and low not in named and not low.startswith("access-control-")
    ]


class _DeadlinePassed(Exception):
    pass


async def _next(chunks: AsyncIterator[bytes], deadline: float) -> bytes | None:
    """The next piece of an answer, ``None`` at its end; :class:`_DeadlinePassed` past ``deadline`` (loop time)."""
    try:
        async with asyncio.timeout_at(deadline):
            return await anext(chunks, None)
    except TimeoutError:
        raise _DeadlinePassed from None


async def forward(
    client: httpx.AsyncClient, target: Target, path: str, body: bytes, headers: Mapping[str, str], deadline: float
) -> Response:
    """POST ``body`` to the target's ``base_url + path`` and answer with the backend's response, by ``deadline`` (loop time)."""
    endpoint, label = target.endpoint, target.label
    where = shown_url(endpoint.base_url)
    request = client.build_request("POST", f"{endpoint.base_url}{path}", content=body, headers=dict(headers))
    try:
        async with asyncio.timeout_at(deadline):
            response = await client.send(request, stream=True)
    except (httpx.TimeoutException, TimeoutError):
        return _failed(504, f"backend {where} for {label} did not answer in time", "backend_timeout")
    except httpx.HTTPError as error:
        return _failed(502, f"backend {where} for {label} is unreachable: {_reason(error)}; {target.start_hint}",
                       "backend_unavailable")
    passed = answer_headers(response.headers)
    chunks = response.aiter_raw()
    if response.headers.get("content-type", "").lower().startswith("text/event-stream"):
        return _streaming(_events(response, chunks, where, label, deadline), response, passed)
    held: list[bytes] = []
    size = 0
    try:
        while size <= ANSWER_BUFFER:
            chunk = await _next(chunks, deadline)
            if chunk is None:
                await response.aclose()
                return Response(b"".join(held), status_code=response.status_code, headers=dict(passed))
            held.append(chunk)
            size += len(chunk)
    except _DeadlinePassed:
        await response.aclose()
        return _failed(504, f"backend {where} for {label} did not finish its answer in time", "backend_timeout")
    except httpx.TimeoutException:
        await response.aclose()
        return _failed(504, f"backend {where} for {label} stopped answering", "backend_timeout")
    except httpx.HTTPError as error:
        await response.aclose()
        return _failed(502, f"backend {where} for {label} failed mid-answer: {_reason(error)}", "backend_error")
    return _streaming(_rest(response, held, chunks, where, label, deadline), response, passed)


def _streaming(content: AsyncIterator[bytes], response: httpx.Response, headers: list[tuple[str, str]]) -> Response:
    streamed = StreamingResponse(content, status_code=response.status_code, background=BackgroundTask(response.aclose))
    streamed.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    return streamed


async def _rest(
    response: httpx.Response, held: list[bytes], chunks: AsyncIterator[bytes], where: str, label: str, deadline: float
) -> AsyncIterator[bytes]:
    """A long non-stream answer: what was held, then the rest as it arrives (cut at the deadline)."""
    try:
        for piece in held:
            yield piece
        held.clear()
        while (chunk := await _next(chunks, deadline)) is not None:
            yield chunk
    except _DeadlinePassed:
        log.warning("backend %s for %s did not finish its answer in time; the answer was cut", where, label)
    except httpx.HTTPError as error:
        log.warning("backend %s for %s failed mid-answer: %s", where, label, _reason(error))
    finally:
        await response.aclose()


async def _events(
    response: httpx.Response, chunks: AsyncIterator[bytes], where: str, label: str, deadline: float
) -> AsyncIterator[bytes]:
    """The backend's server-sent events as they arrive, cut after the last complete event of each piece."""
    pending = bytearray()  # what came after the last boundary passed on (at most MAX_EVENT + one piece)
    aligned = True  # the client's stream ends at an event boundary
    failure: tuple[str, str] | None = None
    try:
        while (chunk := await _next(chunks, deadline)) is not None:
            start = max(0, len(pending) - 3)  # a boundary may straddle two pieces; older bytes were searched already
            pending += chunk
            end = _last_event_end(pending, start)
            if end:
                yield bytes(pending[:end])
                del pending[:end]
                aligned = True
            elif len(pending) >= MAX_EVENT:
                yield bytes(pending)  # no boundary in sight: pass the bytes on rather than hold them
                pending.clear()
                aligned = False
        if pending.strip():
            yield bytes(pending)  # a last event without its blank line: the backend's own ending
    except _DeadlinePassed:
        failure = (f"backend {where} for {label} did not finish the stream in time", "backend_timeout")
    except httpx.HTTPError as error:
        failure = (f"backend {where} for {label} closed the stream: {_reason(error)}", "backend_stream_broken")
    finally:
        await response.aclose()  # also when the client went away and the stream was cancelled
    if failure:
        message, code = failure
        log.warning(message)
        lead = b"" if aligned else b"\n\n"
        yield lead + b"data: " + json.dumps(error_body(message, "backend_error", code)).encode() + b"\n\n"


def _last_event_end(data: bytearray, start: int) -> int:
    """The offset just past the last complete event in ``data`` (0: none), searching only from ``start``;
    SSE allows LF and CRLF."""
    ends = [found + len(sep) for sep in (b"\n\n", b"\r\n\r\n") if (found := data.rfind(sep, start)) >= 0]
    return max(ends, default=0)


def _failed(status: int, message: str, code: str) -> JSONResponse:
    log.warning(message)
    return error_response(status, message, "backend_error", code)


def _reason(error: httpx.HTTPError) -> str:
    """The error in one line, without a URL's credentials (httpx puts the request URL in some messages)."""
    text = " ".join(str(error).split())
    try:
        url = str(error.request.url)
        text = text.replace(url, shown_url(url))
    except RuntimeError:  # no request attached
        pass
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
