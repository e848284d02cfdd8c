"""Who may use the proxy: the ``Host`` allow-list, the origin and API-key checks, JSON bodies of bounded size.

Two ASGI middlewares around the app, outermost first:

- :class:`HostGuard`: a request whose ``Host`` is not a loopback name, the bound address
  or a name in ``CHAT_PROXY_ALLOWED_HOSTS`` is refused (400 ``host_not_allowed``), before
  anything else: a page on a DNS-rebinding name that resolves to 127.0.0.1 gets nothing.
- (Starlette's ``CORSMiddleware``, only when ``CHAT_PROXY_CORS_ORIGINS`` lists origins: it
  answers their preflights and marks their answers; with none, no CORS header is ever sent.)
- :class:`RequestGuard`: a request carrying an ``Origin`` not listed is refused (403
  ``origin_not_allowed``); with an API key set, a request without ``Authorization: Bearer
  <key>`` is refused (401 ``invalid_api_key``); a request with a body must say
  ``Content-Type: application/json`` (415 ``unsupported_media_type``: the "simple"
  ``text/plain`` POST a page can send without a preflight never reaches a backend) and
  announce at most ``max_body`` bytes (413 ``body_too_large``).

:func:`read_body` reads a body in pieces and stops at the cap (a body without a length
is counted as it arrives); :func:`parse_json` parses with orjson, which refuses nesting
deeper than 1,024 levels, so a hostile body is a 400, never a recursion error.
"""

from __future__ import annotations

import hmac
import socket
from collections.abc import Iterable
from typing import Any

import orjson
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from imageworks.proxy.forwarding import error_response
from imageworks.proxy.settings import API_KEY_VARIABLE, ProxySettings

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARDS = frozenset({"", "0.0.0.0", "::"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class RequestRefused(Exception):
    """A request the proxy will not serve: its status, message and OpenAI error ``code``."""

    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code

    def response(self) -> Response:
        """The OpenAI-style error (closing the connection when a body may still be coming: it is never read)."""
        response = error_response(self.status, self.message, "invalid_request_error", self.code)
        if self.status in {408, 413, 415}:
            response.headers["connection"] = "close"
        if self.status == 401:
            response.headers["www-authenticate"] = "Bearer"
        return response

    async def send(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer with :meth:`response`."""
        await self.response()(scope, receive, send)


def served_hosts(bound_host: str, extra: Iterable[str]) -> frozenset[str]:
    """The ``Host`` names the proxy answers: loopback names, the bound address (and this machine's
    name when bound to a wildcard address) and the operator's ``extra`` names, lower-cased."""
    names = set(LOOPBACK_NAMES) | {name.lower().strip("[]") for name in extra}
    if bound_host in WILDCARDS:
        names.add(socket.gethostname().lower())
    else:
        names.add(bound_host.lower().strip("[]"))
    return frozenset(names)


def host_name(header: str) -> str:
    """The name part of a ``Host`` header (``[::1]:8100`` -> ``::1``, ``Localhost:80`` -> ``localhost``)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class HostGuard:
    """Refuse a request whose ``Host`` is not one the proxy serves."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str]) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse an HTTP request whose Host is not allowed; pass everything else on."""
        if scope["type"] == "http":
            host = Headers(scope=scope).get("host", "")
            if host_name(host) not in self.hosts:
                shown = host if host.isprintable() and len(host) <= 100 else "(unprintable)"
                refused = RequestRefused(
                    400, f"Host {shown!r} is not served here (CHAT_PROXY_ALLOWED_HOSTS lists more names)", "host_not_allowed"
                )
                await refused.send(scope, receive, send)
                return
        await self.app(scope, receive, send)


class RequestGuard:
    """Refuse requests from origins not listed, without the API key, or with a body that is not bounded JSON."""

    def __init__(self, app: ASGIApp, settings: ProxySettings) -> None:
        self.app = app
        self.settings = settings
        self.expected = f"Bearer {settings.api_key}".encode() if settings.api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request (see the class docstring), then pass it on."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self.check(scope)
        except RequestRefused as refused:
            await refused.send(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def check(self, scope: Scope) -> None:
        """Raise :class:`RequestRefused` for a request the proxy must not serve."""
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is not None and origin not in self.settings.cors_origins:
            raise RequestRefused(403, "requests from web pages are refused (CHAT_PROXY_CORS_ORIGINS lists allowed origins)",
                                 "origin_not_allowed")
        if self.expected is not None:
            given = headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, self.expected):
                raise RequestRefused(401, f"a valid API key is required (Authorization: Bearer <{API_KEY_VARIABLE}>)",
                                     "invalid_api_key")
        if scope["method"] not in BODY_METHODS:
            return
        media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type != "application/json":
            raise RequestRefused(415, "the request body must be JSON (Content-Type: application/json)", "unsupported_media_type")
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.settings.max_body):
            raise RequestRefused(413, self._too_large(), "body_too_large")

    def _too_large(self) -> str:
        return f"the request body is larger than {self.settings.max_body} bytes (CHAT_PROXY_MAX_BODY)"


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body, read piece by piece; :class:`RequestRefused` (413) once it passes ``limit`` bytes."""
    pieces: list[bytes] = []
    size = 0
    async for piece in request.stream():
        size += len(piece)
        if size > limit:
            raise RequestRefused(413, f"the request body is larger than {limit} bytes (CHAT_PROXY_MAX_BODY)", "body_too_large")
        pieces.append(piece)
    return b"".join(pieces)


def parse_json(body: bytes) -> Any:
    """The JSON value of ``body``; :class:`RequestRefused` (400) when it is not JSON or nests too deep."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        reason = "nested too deep" if "depth" in str(error) else "not JSON"
        raise RequestRefused(400, f"the request body is {reason}", "invalid_json") from None
