"""HTTP/1.1 on the standard library's ``http.client``: kept-alive connections, proxies, TLS.

``requests`` costs about 90 ms to import here and ``huggingface_hub`` 200 ms, against
25 ms for ``http.client`` and ``ssl`` (``docs/dependencies.md``); on a small download
that import is most of the command's time. This module gives the engine, the Hub
metadata client and the header readers the little they need on the standard library:

* :class:`Connection`: one kept-alive connection at a time, reopened when the origin
  changes or the server closes it (a kept-alive connection the server dropped while idle
  is reopened and the request sent once more); a connect timeout apart from the read
  timeout (:class:`ConnectTimeout` tells them apart); the socket exposed so another
  thread can shut it down;
* the environment's proxies (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``,
  ``NO_PROXY``, as ``requests`` reads them; HTTPS goes through a ``CONNECT`` tunnel);
* TLS verified against ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE`` or ``SSL_CERT_FILE``
  when set, else certifi's bundle when installed (as ``requests`` and ``httpx`` do), else
  the system's.

No redirect is followed here: callers decide hop by hop where a token may go
(:func:`next_hop`).
"""

from __future__ import annotations

import base64
import functools
import http.client
import io
import os
import socket
import ssl
from collections.abc import Callable, Mapping
from importlib.util import find_spec
from pathlib import Path
from urllib.parse import quote, unquote, urljoin, urlsplit

REDIRECTS = frozenset({301, 302, 303, 307, 308})
Origin = tuple[str, str | None, int | None]
# Errors a request can end in before or while its answer arrives (OSError covers
# timeouts, refused and reset connections and TLS failures).
HTTP_ERRORS = (OSError, http.client.HTTPException)
# What a kept-alive connection the server closed while idle raises on its next request.
_DROPPED = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError, http.client.BadStatusLine)
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
SMALL_BODY = 64 * 1024  # a body this small is read to keep the connection; a larger one closes it


class ConnectTimeout(TimeoutError):
    """The server (or the proxy, or the TLS handshake) did not answer the connection in time.

    Every other :class:`TimeoutError` a request raises is a wait for bytes on an open
    connection (the read timeout).
    """


_URI_SAFE = "!#$%&'()*+,/:;=?@[]~"


def origin(url: str) -> Origin:
    """Scheme, host and port of ``url``: the unit a token is scoped to."""
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), parts.hostname, parts.port or default


def requote(url: str) -> str:
    """``url`` with unsafe characters quoted and its existing escapes kept (as ``requests`` sends it)."""
    try:
        return quote(url, safe=_URI_SAFE)
    except (TypeError, ValueError):
        return quote(unquote(url), safe=_URI_SAFE.replace("%", ""))


def next_hop(current: str, location: str) -> str:
    """The absolute, quoted URL a ``Location`` header names, relative to ``current``."""
    return requote(urljoin(current, location))


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The verifying TLS context every HTTPS connection of this process shares."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        bundle = os.environ.get(name)
        if bundle:
            if Path(bundle).is_dir():
                return ssl.create_default_context(capath=bundle)
            return ssl.create_default_context(cafile=bundle)
    return ssl.create_default_context(cafile=_certifi_bundle())


def _certifi_bundle() -> str | None:
    """certifi's ``cacert.pem`` without importing certifi (its import costs more than the lookup)."""
    spec = find_spec("certifi")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        bundle = Path(folder) / "cacert.pem"
        if bundle.is_file():
            return str(bundle)
    return None


def proxy_for(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``None``: connect directly)."""
    if not any(key.lower().endswith("_proxy") for key in os.environ):
        return None  # the common case, without importing urllib.request
    import urllib.request

    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    bypass: Callable[[str], bool] = getattr(urllib.request, "proxy_bypass_environment")  # noqa: B009 - not in typeshed
    if bypass(host):
        return None
    proxies = urllib.request.getproxies_environment()
    return proxies.get(parts.scheme.lower()) or proxies.get("all") or None


class Connection:
    """One kept-alive HTTP/1.1 connection at a time; a worker holds one of these.

    A request to another origin (or after the server closed) opens a fresh
    connection. ``read_timeout`` bounds every wait for bytes once connected.
    """

    def __init__(self, connect_timeout: float = 30.0, read_timeout: float | None = 30.0) -> None:
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self._open: http.client.HTTPConnection | None = None
        self._key: tuple[Origin, str | None] | None = None
        self._answer: http.client.HTTPResponse | None = None
        self._sock: socket.socket | None = None
        self._fresh = True  # the connection open() last chose was opened for it
        self._proxy_headers: dict[str, str] = {}

    @property
    def sock(self) -> socket.socket | None:
        """The socket of the last request (to shut it down from another thread), if any.

        It stays the answer's socket while its body is read, even when the server said it
        closes the connection afterwards (``http.client`` then hands the socket to the answer).
        """
        return self._sock

    def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None = None
    ) -> http.client.HTTPResponse:
        """Send one request and return its answer with the body unread.

        Read the body to its end (or call :meth:`close`) before the next request: an
        answer left half-read closes the connection instead of reusing it. Raises one of
        :data:`HTTP_ERRORS` when the server cannot be reached or breaks the exchange. A
        ``GET`` or ``HEAD`` that finds its kept-alive connection closed by the server is
        sent once more on a new connection, as ``urllib3`` does.
        """
        parts = urlsplit(url)
        proxy = self.open(url)
        reused = not self._fresh
        target = url if proxy and parts.scheme.lower() == "http" else _target(parts.path, parts.query)
        sent = {"Host": parts.netloc.rsplit("@", 1)[-1], "User-Agent": "imageworks", **self._proxy_headers, **headers}
        while True:
            connection = self._open
            assert connection is not None  # open() connected it
            self._sock = connection.sock
            try:
                connection.request(method, target, body=body, headers=sent)
                self._answer = connection.getresponse()
            except _DROPPED:
                self.close()
                if not reused or method.upper() not in _IDEMPOTENT:
                    raise
                reused = False  # the server closed it while idle: once more, on a new connection
                self.open(url)
                continue
            except BaseException:
                self.close()
                raise
            return self._answer

    def open(self, url: str) -> str | None:
        """Be connected to ``url``'s origin (reusing the open connection when it can); returns the proxy used.

        :meth:`request` calls this; calling it first tells a failure to connect apart
        from a failure of the exchange. Raises one of :data:`HTTP_ERRORS`.
        """
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise http.client.InvalidURL(f"not an HTTP(S) address: {url[:80]!r}")
        proxy = proxy_for(url)
        key = (origin(url), proxy)
        if self._open is not None and (key != self._key or not self._reusable()):
            self.close()
        self._fresh = self._open is None
        if self._open is None:
            self._open = self._connect(parts.scheme.lower(), parts.hostname, parts.port, proxy)
            self._key = key
        return proxy

    def close(self) -> None:
        """Close the connection (the next request opens a new one)."""
        if self._open is not None:
            self._open.close()
        if self._answer is not None:
            self._answer.close()  # it may hold the socket (a server that closes after the answer)
        self._open, self._key, self._answer, self._sock = None, None, None, None

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _reusable(self) -> bool:
        answer = self._answer
        return answer is None or (answer.isclosed() and not answer.will_close)

    def _connect(self, scheme: str, host: str, port: int | None, proxy: str | None) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection
        self._proxy_headers = {}
        if proxy:
            proxied = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
            if proxied.scheme.lower() != "http" or not proxied.hostname:
                raise http.client.InvalidURL(f"unsupported proxy {proxied.scheme}://{proxied.hostname}: name an http:// proxy")
            auth = _proxy_auth(proxied.username, proxied.password)
            if scheme == "https":  # a CONNECT tunnel through the proxy, TLS end to end
                connection = http.client.HTTPSConnection(
                    proxied.hostname, proxied.port or 80, timeout=self.connect_timeout, context=tls_context()
                )
                connection.set_tunnel(host, port or 443, headers=auth)
            else:  # plain HTTP: absolute URLs to the proxy
                connection = http.client.HTTPConnection(proxied.hostname, proxied.port or 80, timeout=self.connect_timeout)
                self._proxy_headers = auth
        elif scheme == "https":
            connection = http.client.HTTPSConnection(host, port, timeout=self.connect_timeout, context=tls_context())
        else:
            connection = http.client.HTTPConnection(host, port, timeout=self.connect_timeout)
        try:
            connection.connect()
            connection.sock.settimeout(self.read_timeout)
        except TimeoutError as error:
            connection.close()
            raise ConnectTimeout(f"no connection to {host} within {self.connect_timeout:g} s") from error
        except BaseException:
            connection.close()
            raise
        return connection


def finish(answer: http.client.HTTPResponse, limit: int = SMALL_BODY) -> None:
    """Read a small body to its end so the connection can carry the next request.

    A body longer than ``limit`` (or of unknown length) is left: the connection is then
    closed and the next request opens a new one, whatever a hostile server sends.
    """
    if answer.length is not None and answer.length <= limit:
        answer.read()


class Body:
    """An answer's body, read as it arrives: each :meth:`read_into` is one receive.

    ``HTTPResponse.readinto`` waits until the whole buffer is filled, so a slow but
    steady server looks stuck for as long as it takes to fill it. Here a read returns
    what has arrived (at least one byte), straight from the socket into the caller's
    buffer (no allocation). The first read takes only what ``http.client`` buffered with
    the headers (at most its 8 KiB buffer): a larger read would append a receive to it
    and wait for bytes that may not have been sent yet.
    """

    def __init__(self, answer: http.client.HTTPResponse) -> None:
        self.answer = answer
        self._first = True

    def read_into(self, buffer: memoryview) -> int:
        """Read what has arrived into ``buffer``; 0 at the end of the body, or when the server closed early."""
        answer = self.answer
        fp, length = answer.fp, answer.length
        if fp is None or answer.chunked or length is None:  # nothing left, or no length to count
            return answer.readinto(buffer)
        size = min(len(buffer), length, io.DEFAULT_BUFFER_SIZE if self._first else length)
        self._first = False
        count = fp.readinto1(buffer[:size]) if size else 0
        answer.length = length - count
        if not count or not answer.length:
            answer.close()  # the whole body has been read (or the server closed early)
        return count


def is_read_timeout(error: BaseException) -> bool:
    """Whether ``error`` is a wait for the server's bytes that ran out (not a connection that was never made)."""
    return isinstance(error, TimeoutError) and not isinstance(error, ConnectTimeout)


def _target(path: str, query: str) -> str:
    return (path or "/") + (f"?{query}" if query else "")


def _proxy_auth(user: str | None, password: str | None) -> dict[str, str]:
    if not user:
        return {}
    pair = f"{unquote(user)}:{unquote(password or '')}".encode()
    return {"Proxy-Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
