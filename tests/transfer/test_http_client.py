"""The standard-library HTTP client: kept-alive connections, timeouts, TLS bundles and real proxies.

The proxy is pproxy (a real HTTP proxy with ``CONNECT``, run as its own process on
loopback); the TLS server's certificate comes from a trustme CA that only the test knows,
so a verified connection proves which bundle was used.
"""

from __future__ import annotations

import http.server
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from imageworks.transfer import http_client
from imageworks.transfer.http_client import (
    Body,
    Connection,
    ConnectTimeout,
    finish,
    is_read_timeout,
    next_hop,
    proxy_for,
)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        server: _Server = self.server  # type: ignore[assignment]
        server.requests.append((self.path, dict(self.headers)))
        if self.path == "/slow":
            time.sleep(3)
        if self.path == "/hang-after-headers":  # a big body promised, a few bytes sent, then nothing
            self.send_response(200)
            self.send_header("Content-Length", str(1 << 20))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"first bytes")
            self.wfile.flush()
            server.release.wait(30)
            return
        if self.path.startswith("/big"):
            body = b"x" * int(self.path.rsplit("/", 1)[1])
        else:
            body = f"{self.path} on connection {id(self.connection)}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client closed a body it did not want

    def log_message(self, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.connections = 0
        self.release = threading.Event()

    def get_request(self) -> tuple[socket.socket, object]:
        self.connections += 1
        return super().get_request()


def _serve(server: _Server) -> Iterator[_Server]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def plain() -> Iterator[_Server]:
    yield from _serve(_Server())


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls(ca: trustme.CA) -> Iterator[_Server]:
    server = _Server()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield from _serve(server)


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    http_client.tls_context.cache_clear()
    yield
    http_client.tls_context.cache_clear()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# pproxy installs uvloop when it can, and uvloop's get_event_loop() refuses to make one
_PPROXY = (
    "import asyncio, sys; sys.modules['uvloop'] = None; asyncio.set_event_loop(asyncio.new_event_loop()); "
    "from pproxy.server import main; sys.argv[0] = 'pproxy'; main()"
)


@pytest.fixture
def proxy() -> Iterator[tuple[int, str]]:
    """pproxy on loopback, asking for ``user:secret``; yields its port and credentials."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", _PPROXY, "-l", f"http://127.0.0.1:{port}#user:secret"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("pproxy did not start") from None
                time.sleep(0.05)
        yield port, "user:secret"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _get(connection: Connection, url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    answer = connection.request("GET", url, headers or {})
    return answer.status, answer.read()


def test_one_connection_carries_every_request_to_an_origin(plain: _Server) -> None:
    base = f"http://127.0.0.1:{plain.server_port}"
    with Connection() as connection:
        bodies = [_get(connection, f"{base}/{n}")[1] for n in range(3)]
    assert plain.connections == 1
    assert len({body.split(b" on ")[1] for body in bodies}) == 1


def test_another_origin_or_a_half_read_answer_opens_a_new_connection(plain: _Server) -> None:
    other = _Server()
    for _ in _serve(other):
        with Connection() as connection:
            _get(connection, f"http://127.0.0.1:{plain.server_port}/a")
            _get(connection, f"http://127.0.0.1:{other.server_port}/b")
            connection.request("GET", f"http://127.0.0.1:{plain.server_port}/c", {}).read(3)  # left half-read
            status, body = _get(connection, f"http://127.0.0.1:{plain.server_port}/d")
    assert (status, body.startswith(b"/d on")) == (200, True)
    assert plain.connections == 3 and other.connections == 1


def test_a_server_that_stops_answering_times_out(plain: _Server) -> None:
    with Connection(read_timeout=0.5) as connection, pytest.raises(TimeoutError):
        connection.request("GET", f"http://127.0.0.1:{plain.server_port}/slow", {})


def test_a_connect_timeout_is_told_apart_from_a_read_timeout(plain: _Server) -> None:
    with socket.socket() as full:
        full.bind(("127.0.0.1", 0))
        full.listen(0)  # never accepted: once its queue holds one connection, SYNs go unanswered
        queued = socket.create_connection(full.getsockname(), timeout=5)
        try:
            with Connection(connect_timeout=0.5) as connection, pytest.raises(ConnectTimeout) as refused:
                connection.request("GET", f"http://127.0.0.1:{full.getsockname()[1]}/", {})
        finally:
            queued.close()
    assert not is_read_timeout(refused.value)
    with Connection(read_timeout=0.5) as connection, pytest.raises(TimeoutError) as slow:
        connection.request("GET", f"http://127.0.0.1:{plain.server_port}/slow", {})
    assert is_read_timeout(slow.value) and not isinstance(slow.value, ConnectTimeout)


def test_the_socket_of_an_answer_that_closes_the_connection_can_be_shut_down(plain: _Server) -> None:
    """``http.client`` hands the socket to such an answer; another thread must still reach it to wake a read."""
    with Connection(read_timeout=30) as connection:
        answer = connection.request("GET", f"http://127.0.0.1:{plain.server_port}/hang-after-headers", {})
        assert answer.read(11) == b"first bytes"
        sock = connection.sock
        assert sock is not None
        threading.Timer(0.2, sock.shutdown, (socket.SHUT_RDWR,)).start()
        began = time.monotonic()
        assert answer.read1(100) == b""  # woken by the shutdown, not by the 30 s read timeout
        assert time.monotonic() - began < 20


def test_a_body_read_returns_what_has_arrived_and_keeps_the_connection(plain: _Server) -> None:
    base = f"http://127.0.0.1:{plain.server_port}"
    buffer = memoryview(bytearray(1 << 20))
    with Connection(read_timeout=30) as connection:
        answer = connection.request("GET", f"{base}/hang-after-headers", {})
        began = time.monotonic()
        count = Body(answer).read_into(buffer)  # 11 of the 1 MiB announced have arrived: no wait for the rest
        assert bytes(buffer[:count]) == b"first bytes" and time.monotonic() - began < 20
        connection.close()
        received = bytearray()
        answer = connection.request("GET", f"{base}/big/300000", {})
        body = Body(answer)
        while count := body.read_into(buffer):
            received += buffer[:count]
        assert received == b"x" * 300000 and answer.isclosed()
        assert _get(connection, f"{base}/next")[0] == 200
    assert plain.connections == 2  # the body read to its end left the second connection reusable


def test_a_small_body_is_read_to_keep_the_connection_a_large_one_closes_it(plain: _Server) -> None:
    base = f"http://127.0.0.1:{plain.server_port}"
    with Connection() as connection:
        finish(connection.request("GET", f"{base}/big/1000", {}))
        _get(connection, f"{base}/after-small")
        assert plain.connections == 1
        finish(connection.request("GET", f"{base}/big/{10 << 20}", {}))  # not read: the connection goes
        _get(connection, f"{base}/after-large")
    assert plain.connections == 2


def test_only_http_addresses_are_asked() -> None:
    with Connection() as connection, pytest.raises(http_client.HTTP_ERRORS):
        connection.request("GET", "file:///etc/passwd", {})


def test_tls_is_verified_against_the_bundle_the_environment_names(
    tls: _Server, ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"https://localhost:{tls.server_port}/secure"
    with Connection() as connection, pytest.raises(ssl.SSLCertVerificationError):
        connection.request("GET", url, {})  # certifi's bundle does not know the test's CA
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    http_client.tls_context.cache_clear()
    with Connection() as connection:
        assert _get(connection, url)[0] == 200


def test_plain_http_goes_through_the_environments_proxy_with_its_credentials(
    plain: _Server, proxy: tuple[int, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, credentials = proxy
    url = f"http://127.0.0.1:{plain.server_port}/via-proxy"
    monkeypatch.setenv("HTTP_PROXY", f"http://user:wrong@127.0.0.1:{port}")
    with Connection() as connection:
        assert _get(connection, url)[0] == 407  # the proxy, not the server, answered
    assert plain.requests == []
    monkeypatch.setenv("HTTP_PROXY", f"http://{credentials}@127.0.0.1:{port}")
    with Connection() as connection:
        assert _get(connection, url, {"Authorization": "Bearer hub-token"})[0] == 200
    path, headers = plain.requests[-1]
    assert path == "/via-proxy" and headers.get("Authorization") == "Bearer hub-token"
    assert "Proxy-Authorization" not in headers  # the proxy's credentials stop at the proxy


def test_https_goes_through_a_connect_tunnel(
    tls: _Server, ca: trustme.CA, proxy: tuple[int, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, credentials = proxy
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.setenv("HTTPS_PROXY", f"http://{credentials}@127.0.0.1:{port}")
    with Connection() as connection:
        assert _get(connection, f"https://localhost:{tls.server_port}/tunnelled")[0] == 200
        assert _get(connection, f"https://localhost:{tls.server_port}/again")[0] == 200
    assert [path for path, _ in tls.requests] == ["/tunnelled", "/again"]
    assert tls.connections == 1


def test_no_proxy_names_the_hosts_reached_directly(plain: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{_free_port()}")  # nothing listens there
    url = f"http://127.0.0.1:{plain.server_port}/direct"
    assert proxy_for(url) is not None
    with Connection() as connection, pytest.raises(ConnectionRefusedError):
        connection.request("GET", url, {})
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert proxy_for(url) is None
    with Connection() as connection:
        assert _get(connection, url)[0] == 200


def test_a_location_becomes_an_absolute_quoted_url() -> None:
    assert next_hop("http://hub/a/b/c", "/cdn/x y%20z?s=1") == "http://hub/cdn/x%20y%20z?s=1"
    assert next_hop("http://hub/a/b", "https://cdn/f") == "https://cdn/f"


def test_the_engine_downloads_through_the_environments_proxy(
    plain: _Server, proxy: tuple[int, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every Range request of the Python engine goes through ``HTTP_PROXY`` (pproxy), the proxy's credentials with it."""
    import hashlib

    from imageworks.transfer import PythonEngine, RemoteFile, TransferError, TransferJob

    port, credentials = proxy
    size = 3 * 1000 * 1000
    body = b"x" * size
    remote = RemoteFile(f"http://127.0.0.1:{plain.server_port}/big/{size}", "x.bin", size, hashlib.sha256(body).hexdigest())
    engine = PythonEngine(piece_size=1 << 20, min_split=1 << 20, adaptive=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://user:wrong@127.0.0.1:{port}")
    with pytest.raises(TransferError, match="HTTP 407"):  # the proxy, not the server, answered
        engine.fetch(TransferJob([remote], tmp_path / "out", token="hf_secret", max_connections=2))
    assert plain.requests == []
    monkeypatch.setenv("HTTP_PROXY", f"http://{credentials}@127.0.0.1:{port}")
    engine.fetch(TransferJob([remote], tmp_path / "out", token="hf_secret", max_connections=2))
    assert (tmp_path / "out" / "x.bin").read_bytes() == body
    assert plain.requests and all(headers.get("Authorization") == "Bearer hf_secret" for _, headers in plain.requests)
    assert not [headers for _, headers in plain.requests if "Proxy-Authorization" in headers]
