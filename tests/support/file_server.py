"""A plain loopback file server (not a Hub): HEAD and GET with single byte ranges, logged.

It serves files from disk under chosen paths with chosen extra headers (a digest, an
ETag), can leave out ``Content-Length`` on HEAD, and can stop sending after a byte
budget (the connection is cut, then every GET answers 404), which is how a test
interrupts a first download to prove the second one resumes.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

import attrs

_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")
_CHUNK = 1024 * 1024


@attrs.define
class Served:
    """One file and what its HEAD and GET answers carry."""

    path: Path
    headers: dict[str, str] = attrs.field(factory=dict)
    head_length: bool = True  # send Content-Length on HEAD


@attrs.define
class Seen:
    """One logged request: method, path, Range header and body bytes sent."""

    method: str
    path: str
    range: str | None
    status: int = 0
    sent: int = 0

    @property
    def start(self) -> int:
        """First byte asked for (0 without a Range)."""
        match = _RANGE.match(self.range or "")
        return int(match.group(1)) if match else 0


class FileServer:
    """A threaded HTTP/1.1 server on 127.0.0.1; use as a context manager."""

    def __init__(self) -> None:
        self.files: dict[str, Served] = {}
        self.requests: list[Seen] = []
        self.budget: int | None = None  # body bytes still allowed; None: unlimited
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    def add(self, url_path: str, path: Path, headers: Mapping[str, str] | None = None, *, head_length: bool = True) -> str:
        """Serve ``path`` at ``url_path`` (a query string is kept in the URL, ignored when serving)."""
        self.files[url_path.split("?", 1)[0]] = Served(path, dict(headers or {}), head_length)
        return self.url(url_path)

    def url(self, url_path: str) -> str:
        """The URL of ``url_path`` on this server."""
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{url_path}"

    def gets(self) -> list[Seen]:
        """Logged GET requests, in arrival order."""
        with self._lock:
            return [r for r in self.requests if r.method == "GET"]

    def clear_log(self) -> None:
        """Forget logged requests and the concurrency peak."""
        with self._lock:
            self.requests.clear()
            self.max_in_flight = 0

    def _take(self, wanted: int) -> int:
        with self._lock:
            if self.budget is None:
                return wanted
            granted = min(wanted, self.budget)
            self.budget -= granted
            return granted

    def __enter__(self) -> Self:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:
                self._answer(head=True)

            def do_GET(self) -> None:
                self._answer(head=False)

            def _answer(self, *, head: bool) -> None:
                seen = Seen(self.command, self.path, self.headers.get("Range"))
                with server._lock:
                    server.requests.append(seen)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._serve(seen, head)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _serve(self, seen: Seen, head: bool) -> None:
                served = server.files.get(self.path.split("?", 1)[0])
                if served is None or (not head and server.budget == 0):
                    seen.status = 404
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                size = served.path.stat().st_size
                start, end = 0, size
                match = _RANGE.match(seen.range or "") if not head else None
                status = 206 if match else 200
                if match:
                    start = int(match.group(1))
                    end = min(size, int(match.group(2)) + 1) if match.group(2) else size
                seen.status = status
                self.send_response(status)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Type", "application/octet-stream")
                for name, value in served.headers.items():
                    self.send_header(name, value)
                if match:
                    self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
                if not head or served.head_length:
                    self.send_header("Content-Length", str(end - start))
                self.end_headers()
                if head:
                    return
                with served.path.open("rb") as handle:
                    handle.seek(start)
                    position = start
                    while position < end:
                        chunk = handle.read(min(_CHUNK, end - position))
                        granted = server._take(len(chunk))
                        seen.sent += granted  # before writing: a client that hangs up must not hide taken budget
                        self.wfile.write(chunk[:granted])
                        position += granted
                        if granted < len(chunk):  # the budget ran out: cut the connection
                            self.close_connection = True
                            return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()
