"""The Python engine on its own HTTP client: redirects it follows itself, kept-alive
connections a server drops, Retry-After, and no ``requests`` or ``urllib3`` in the process.

The server is a small ``http.server`` on loopback reached under two names (``127.0.0.1``,
the Hub, and ``localhost``, its "CDN"): two origins, so a token that leaks shows up in its
log.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from imageworks.transfer import PythonEngine, RemoteFile, TransferError, TransferJob
from tests.support.hub_server import HubServer
from tests.transfer.test_engines import remote_files

MiB = 1024 * 1024
TOKEN = "hf_wire_secret"


@dataclass
class Seen:
    """One request as the server saw it."""

    host: str
    path: str
    authorization: str | None
    range: str | None
    connection: int  # which TCP connection carried it (1, 2, ... in order of arrival)


@dataclass
class WireServer:
    """Routes: ``redirects`` maps a path to the ``Location`` it answers 302 with; ``/file``
    serves ``body`` with Range. ``silent_close``: every connection is closed after one
    answer without saying so (no ``Connection: close``), like a server whose keep-alive
    timeout ran out while the client was idle."""

    body: bytes
    redirects: dict[str, str] = field(default_factory=dict)
    silent_close: bool = False
    pace: float | None = None  # seconds between 1 KiB writes: a slow but steady server
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0

    def start(self) -> ThreadingHTTPServer:
        state = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                state.connections += 1
                self.number = state.connections

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                path = self.path
                state.seen.append(
                    Seen(self.headers.get("Host", ""), path, self.headers.get("Authorization"),
                         self.headers.get("Range"), self.number)
                )
                if path in state.redirects:
                    self.send_response(302)
                    self.send_header("Location", state.redirects[path])
                    self.send_header("Content-Length", "5")
                    self.end_headers()
                    self.wfile.write(b"moved")
                elif path == "/file":
                    first, _, last = (self.headers.get("Range") or "bytes=0-").removeprefix("bytes=").partition("-")
                    start, end = int(first or 0), int(last) if last else len(state.body) - 1
                    self.send_response(206)
                    self.send_header("Content-Length", str(end - start + 1))
                    self.send_header("Content-Range", f"bytes {start}-{end}/{len(state.body)}")
                    self.end_headers()
                    if state.pace is None:
                        self.wfile.write(state.body[start : end + 1])
                    try:
                        for offset in range(start, end + 1, 1024) if state.pace is not None else ():
                            self.wfile.write(state.body[offset : min(offset + 1024, end + 1)])
                            self.wfile.flush()
                            time.sleep(state.pace)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the client cut the stream
                else:
                    self.send_error(404)
                if state.silent_close:
                    self.close_connection = True  # closed, though the answer promised keep-alive

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        return httpd


@pytest.fixture
def wire() -> Iterator[tuple[WireServer, int]]:
    server = WireServer(os.urandom(3 * MiB + 17))
    httpd = server.start()
    try:
        yield server, httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


def _job(server: WireServer, url: str, tmp_path: Path, **options: object) -> TransferJob:
    remote = RemoteFile(url, "weights.bin", len(server.body), hashlib.sha256(server.body).hexdigest())
    return TransferJob([remote], tmp_path / "out", token=TOKEN, **options)  # type: ignore[arg-type]


def _engine(**options: object) -> PythonEngine:
    return PythonEngine(piece_size=256 * 1024, min_split=256 * 1024, adaptive=False, backoff=0.01, **options)  # type: ignore[arg-type]


def test_redirects_are_followed_hop_by_hop_and_the_token_stays_on_the_files_origin(
    wire: tuple[WireServer, int], tmp_path: Path
) -> None:
    server, port = wire
    server.redirects = {
        "/resolve/weights.bin": "/hub-hop",  # the same origin: the token may go
        "/hub-hop": f"http://localhost:{port}/cdn-hop",  # the CDN: no token
        "/cdn-hop": f"http://127.0.0.1:{port}/file",  # back on the Hub's origin
    }
    job = _job(server, f"http://127.0.0.1:{port}/resolve/weights.bin", tmp_path, max_connections=2, max_parallel_files=1)
    _engine().fetch(job)
    assert (tmp_path / "out" / "weights.bin").read_bytes() == server.body
    assert not [s for s in server.seen if s.host.startswith("localhost") and s.authorization]
    assert all(s.authorization == f"Bearer {TOKEN}" for s in server.seen if s.host.startswith("127.0.0.1"))
    assert all(s.range for s in server.seen)  # every hop is the ranged GET the engine makes
    chains = [s for s in server.seen if s.path == "/resolve/weights.bin"]
    pieces = [s for s in server.seen if s.path == "/file"]
    assert len(chains) <= 2 and len(pieces) >= 10  # the end of the chain is remembered: one chain per stream
    assert server.connections < len(server.seen) // 2  # hops and pieces share kept-alive connections


@pytest.mark.parametrize(
    ("location", "phrase"),
    [("file:///etc/passwd", "redirects to a non-HTTP address"), ("/resolve/weights.bin", "redirects more than 10 times")],
)
def test_a_redirect_to_a_non_http_address_or_a_loop_fails_at_once(
    wire: tuple[WireServer, int], tmp_path: Path, location: str, phrase: str
) -> None:
    server, port = wire
    server.redirects = {"/resolve/weights.bin": location}
    job = _job(server, f"http://127.0.0.1:{port}/resolve/weights.bin", tmp_path, max_connections=1)
    with pytest.raises(TransferError, match=phrase):
        _engine().fetch(job)
    assert len(server.seen) <= 11  # one chain, not retried
    assert not (tmp_path / "out" / "weights.bin").exists()


def test_kept_alive_connections_the_server_drops_cost_no_attempt(wire: tuple[WireServer, int], tmp_path: Path) -> None:
    server, port = wire
    server.silent_close = True
    job = _job(server, f"http://127.0.0.1:{port}/file", tmp_path, max_connections=2, max_parallel_files=1)
    _engine(attempts=1).fetch(job)  # a single failed attempt would end the download
    assert (tmp_path / "out" / "weights.bin").read_bytes() == server.body
    assert server.connections == len(server.seen) >= 12


def test_a_slow_but_steady_server_is_not_a_stuck_stream(tmp_path: Path) -> None:
    """About 10 KB/s: every read returns what has arrived, so the stream's clock sees it move."""
    server = WireServer(os.urandom(24 * 1024), pace=0.1)
    httpd = server.start()
    try:
        job = _job(server, f"http://127.0.0.1:{httpd.server_address[1]}/file", tmp_path, max_connections=1, stall_timeout=4.0)
        _engine().fetch(job)  # patience 1 s: a read that waited for all 24 KiB would be cut, again and again
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert (tmp_path / "out" / "weights.bin").read_bytes() == server.body
    assert [s.range for s in server.seen] == [f"bytes=0-{len(server.body) - 1}"]  # one request: never cut


def test_retry_after_is_waited_for(hub_server: HubServer, tiny_repo: Path, tmp_path: Path) -> None:
    hub_server.fail("*/model.safetensors", 503, times=1, retry_after=1, methods=("GET",))
    weights = [f for f in remote_files(hub_server) if f.relative_path == "model.safetensors"]
    _engine().fetch(TransferJob(weights, tmp_path / "out", max_connections=1, max_parallel_files=1))
    assert (tmp_path / "out" / "model.safetensors").read_bytes() == (tiny_repo / "model.safetensors").read_bytes()
    refused, again, *_ = hub_server.requests_for("*/model.safetensors")
    assert refused.status == 503 and again.status == 206
    assert again.started - refused.started >= 0.9  # the server's second, not the engine's 10 ms backoff


def test_the_read_timeout_is_a_stuck_stream_not_a_failed_attempt(hub_server: HubServer, tiny_repo: Path,
                                                                 tmp_path: Path) -> None:
    hub_server.withhold("*/model.safetensors", times=2)  # no answer at all, twice
    weights = [f for f in remote_files(hub_server) if f.relative_path == "model.safetensors"]
    job = TransferJob(weights, tmp_path / "out", max_connections=1, max_parallel_files=1, stall_timeout=4.0)
    _engine(attempts=1).fetch(job)  # counted as failures, two timeouts would end the download
    assert (tmp_path / "out" / "model.safetensors").read_bytes() == (tiny_repo / "model.safetensors").read_bytes()
    assert hub_server.withheld == 2


def test_a_refused_connection_is_a_failed_attempt(tmp_path: Path) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # nothing listens there once it is closed
    body = b"x" * 1000
    remote = RemoteFile(f"http://127.0.0.1:{port}/file", "weights.bin", len(body), hashlib.sha256(body).hexdigest())
    with pytest.raises(TransferError, match=r"failed after 2 attempts: connection error \(ConnectionRefusedError\)"):
        _engine(attempts=2).fetch(TransferJob([remote], tmp_path / "out"))


ENGINE_ONLY = """
import json, sys
from pathlib import Path
from imageworks.transfer import RemoteFile, TransferJob, select_engine
files = [RemoteFile(*f) for f in json.loads(sys.argv[1])]
select_engine().fetch(TransferJob(files, Path(sys.argv[2])))
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("requests", "urllib3"))))
"""


def test_the_default_engine_imports_neither_requests_nor_urllib3(tmp_path: Path) -> None:
    """A fresh interpreter fetches through the Hub's CDN redirect; ``sys.modules`` afterwards says what it loaded."""
    from tests.support.fixtures import write_tiny_repo

    source = write_tiny_repo(tmp_path / "src", weights_size=2 * MiB)
    with HubServer(lfs_redirect=True) as hub:
        hub.add_repo("acme/tiny", source)
        files = [[f.url, f.relative_path, f.size, f.sha256] for f in remote_files(hub, "acme/tiny")]
        done = subprocess.run(
            [sys.executable, "-c", ENGINE_ONLY, json.dumps(files), str(tmp_path / "out")],
            capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert hub.requests_for("/__cdn__/*")  # the bytes came through the redirect
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    assert (tmp_path / "out" / "model.safetensors").read_bytes() == (source / "model.safetensors").read_bytes()
