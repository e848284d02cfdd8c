"""A hostile Hugging Face Hub on 127.0.0.1, driven by scenarios written as data.

It answers the parts of the Hub API the downloader reads (model info, tree, ``resolve``)
with whatever a :class:`Scenario` says: file names with newlines or escape sequences,
sizes and digests that lie, a commit sha that is not hex, redirects that appear only on
``GET`` or hop through its own origin before leaving it, bodies that drip one byte a
second, an API answer that is a gzip bomb, odd ``Retry-After`` values. A second server,
the :class:`Witness`, stands for "another origin" (a CDN, or an attacker's host): it
serves redirected bodies and logs every request, so tests can prove that the token never
reaches it.

Everything binds to 127.0.0.1 and every loop is bounded; nothing here is imported by the
package.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import quote, unquote, urlsplit

AUTO = "auto"


@dataclass(frozen=True)
class HostileFile:
    """One file of the hostile repo.

    ``size`` and ``sha256`` are what the API *announces* (``AUTO``: the truth about
    ``body``; ``sha256=None``: not an LFS file). ``content_length`` is what ``resolve``
    actually sends (``None``: ``len(body)``); when larger than the body, the body is
    repeated to fill it, so a server can lie in both directions.
    """

    name: str
    body: bytes = b""
    size: int | str | None = AUTO
    sha256: str | None = AUTO
    content_length: int | None = None

    @property
    def announced_size(self) -> int | None:
        return len(self.body) if self.size == AUTO else self.size  # type: ignore[return-value]

    @property
    def announced_sha256(self) -> str | None:
        return hashlib.sha256(self.body).hexdigest() if self.sha256 == AUTO else self.sha256

    @property
    def sent_length(self) -> int:
        return len(self.body) if self.content_length is None else self.content_length

    def blob_id(self) -> str:
        return hashlib.sha1(b"blob %d\0" % len(self.body) + self.body).hexdigest()


@dataclass
class Scenario:
    """What the hostile Hub serves and how it misbehaves.

    ``redirect``: ``None`` (bodies served directly), ``"get-only"`` (``HEAD`` answers 200
    with the file's headers, ``GET`` answers 302 to the witness), ``"chain"`` (every
    ``resolve`` request goes 302 to another path on the Hub's own origin, which goes 302
    to the witness), or ``"always"`` (``HEAD`` and ``GET`` both 302 to the witness).
    ``drip``: seconds between body bytes (1.0 is one byte a second). ``api_gzip_bomb``:
    the model-info answer is this many bytes of JSON whitespace, gzip-encoded.
    ``retry_after``: the first ``api_failures`` API requests answer 429 with this header.
    """

    name: str
    files: list[HostileFile] = field(default_factory=list)
    repo: str = "evil/model"
    commit: str = "0123456789abcdef0123456789abcdef01234567"
    redirect: str | None = None
    drip: float | None = None
    api_gzip_bomb: int | None = None
    retry_after: str | None = None
    api_failures: int = 0
    siblings_sizes: bool = True

    def file(self, name: str) -> HostileFile | None:
        return next((f for f in self.files if f.name == name), None)


@dataclass(frozen=True)
class Seen:
    """One request as a server saw it."""

    method: str
    path: str
    headers: Mapping[str, str]

    @property
    def authorization(self) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == "authorization"), None)


class _Server:
    """A threaded loopback HTTP server with a request log."""

    handler: type[BaseHTTPRequestHandler]

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.sent: dict[str, int] = {}  # file name -> body bytes sent
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    def record(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.seen.append(Seen(handler.command, handler.path, dict(handler.headers.items())))

    def count(self, name: str, sent: int) -> None:
        with self._lock:
            self.sent[name] = self.sent.get(name, 0) + sent

    def requests(self) -> list[Seen]:
        with self._lock:
            return list(self.seen)

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    def start(self) -> Self:
        bound = type("Bound", (self.handler,), {"server_state": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), bound)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: _Server

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):  # a client that hung up mid-answer (a capped bomb)
            pass

    def send(self, status: int, headers: Mapping[str, str], body: bytes = b"") -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def send_file(self, item: HostileFile, scenario: Scenario | None, extra: Mapping[str, str]) -> None:
        """Send ``item`` honouring ``Range`` against the length the scenario says it sends."""
        total = item.sent_length
        start, end, status = 0, total - 1, 200
        wanted = self.headers.get("Range", "")
        if wanted.startswith("bytes=") and total:
            first, _, last = wanted[6:].partition("-")
            start = int(first or 0)
            end = min(int(last), total - 1) if last else total - 1
            status = 206
        headers = {**extra, "Content-Length": str(max(end - start + 1, 0)), "Accept-Ranges": "bytes"}
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end}/{total}"
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        drip = scenario.drip if scenario else None
        body = item.body or b"\0"
        position = start
        try:
            while position <= end:
                self.server_state.count(item.name, 1 if drip else min(end - position + 1, 1 << 20))
                if drip:
                    self.wfile.write(body[position % len(body) : position % len(body) + 1])
                    self.wfile.flush()
                    position += 1
                    time.sleep(drip)
                    continue
                offset = position % len(body)
                piece = body[offset : offset + min(end - position + 1, 1 << 20)]
                self.wfile.write(piece)
                position += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass


class Witness(_Server):
    """"Another origin": serves ``/cdn/<index>`` bodies of the hub's scenario, logs every request."""

    def __init__(self) -> None:
        super().__init__()
        self.hub: HostileHub | None = None

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    class handler(_Handler):  # noqa: N801 - bound per server in start()
        server_state: Witness

        def do_GET(self) -> None:
            self.server_state.record(self)
            hub = self.server_state.hub
            parts = urlsplit(self.path).path.split("/")
            if hub is None or len(parts) != 3 or parts[1] != "cdn" or not parts[2].isdigit():
                self.send(404, {})
                return
            index = int(parts[2])
            if index >= len(hub.scenario.files):
                self.send(404, {})
                return
            self.send_file(hub.scenario.files[index], hub.scenario, {})

        do_HEAD = do_GET


class HostileHub(_Server):
    """The hostile Hub; ``witness`` is the other origin its redirects point at."""

    def __init__(self, scenario: Scenario, witness: Witness) -> None:
        super().__init__()
        self.scenario = scenario
        self.witness = witness
        witness.hub = self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def bytes_sent(self, name: str) -> int:
        """Body bytes of ``name`` sent by the Hub and the witness together."""
        return self.sent.get(name, 0) + self.witness.sent.get(name, 0)

    def other_origins(self) -> list[Seen]:
        """Requests that reached the witness (any origin but the configured one)."""
        return self.witness.requests()

    class handler(_Handler):  # noqa: N801 - bound per server in start()
        server_state: HostileHub

        def do_GET(self) -> None:
            self.server_state.record(self)
            self.route()

        do_HEAD = do_GET

        def route(self) -> None:
            hub = self.server_state
            scenario = hub.scenario
            path = unquote(urlsplit(self.path).path)
            if path.startswith("/api/models/"):
                self.api(scenario, path[len("/api/models/") :])
                return
            if path.startswith("/__hop__/"):
                index = path[len("/__hop__/") :]
                self.send(302, {"Location": f"{hub.witness.url}/cdn/{index}"})
                return
            prefix = f"/{scenario.repo}/resolve/"
            if not path.startswith(prefix):
                self.send(404, {"X-Error-Code": "RepoNotFound"})
                return
            _revision, _, name = path[len(prefix) :].partition("/")
            item = scenario.file(name)
            if item is None:
                self.send(404, {"X-Error-Code": "EntryNotFound"})
                return
            index = scenario.files.index(item)
            headers = {
                "ETag": f'"{item.announced_sha256 or item.blob_id()}"',
                "X-Repo-Commit": quote(scenario.commit, safe=""),
            }
            if item.announced_sha256:
                headers["X-Linked-Etag"] = f'"{item.announced_sha256}"'
                headers["X-Linked-Size"] = str(item.announced_size or 0)
            redirect = scenario.redirect
            if redirect == "chain":
                self.send(302, {**headers, "Location": f"/__hop__/{index}"})
            elif redirect == "always" or (redirect == "get-only" and self.command == "GET"):
                self.send(302, {**headers, "Location": f"{hub.witness.url}/cdn/{index}"})
            else:
                self.send_file(item, scenario, headers)

        def api(self, scenario: Scenario, rest: str) -> None:
            hub = self.server_state
            with hub._lock:
                failing = scenario.api_failures > 0
                if failing:
                    scenario.api_failures -= 1
            if failing:
                self.send(429, {"Retry-After": scenario.retry_after or "1", "Content-Type": "application/json"}, b"{}")
                return
            if scenario.api_gzip_bomb:
                self.send(200, {"Content-Type": "application/json", "Content-Encoding": "gzip"}, _bomb(scenario.api_gzip_bomb))
                return
            if not rest.startswith(scenario.repo):
                self.send(404, {"X-Error-Code": "RepoNotFound"}, b'{"error": "Repository not found"}')
                return
            tail = rest[len(scenario.repo) :]
            if tail.startswith("/tree/"):
                payload: object = [self.tree_entry(f) for f in scenario.files]
            else:
                payload = {
                    "id": scenario.repo,
                    "modelId": scenario.repo,
                    "sha": scenario.commit,
                    "private": False,
                    "gated": False,
                    "siblings": [self.sibling(f) for f in scenario.files],
                }
            self.send(200, {"Content-Type": "application/json"}, json.dumps(payload).encode())

        def sibling(self, item: HostileFile) -> dict[str, object]:
            entry: dict[str, object] = {"rfilename": item.name}
            if self.server_state.scenario.siblings_sizes:
                entry["size"] = item.announced_size
                entry["blobId"] = item.blob_id()
                if item.announced_sha256:
                    entry["lfs"] = {"sha256": item.announced_sha256, "size": item.announced_size, "pointerSize": 134}
            return entry

        def tree_entry(self, item: HostileFile) -> dict[str, object]:
            entry: dict[str, object] = {"type": "file", "path": item.name, "size": item.announced_size, "oid": item.blob_id()}
            if item.announced_sha256:
                entry["lfs"] = {"oid": item.announced_sha256, "size": item.announced_size, "pointerSize": 134}
            return entry


_BOMBS: dict[int, bytes] = {}


def _bomb(size: int) -> bytes:
    """``size`` bytes of JSON whitespace, gzip-compressed (about 1,000:1), built once per size."""
    if size not in _BOMBS:
        packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip container
        block = b" " * (1 << 20)
        parts = [packer.compress(block) for _ in range(size // len(block))]
        parts.append(packer.compress(b" " * (size % len(block))))
        parts.append(packer.flush())
        _BOMBS[size] = b"".join(parts)
    return _BOMBS[size]
