"""The aria2 engine against hostile servers: its input file, redirects, lying lengths, stalls.

Everything runs against loopback servers: the hostile Hub and its witness origin from
``tests.support.hostile_hub``, the regular test Hub, and a few one-purpose handlers below.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from imageworks.core.errors import ImageworksError, UnsafePathError
from imageworks.transfer import Aria2Engine, RemoteFile, TransferError, TransferJob
from imageworks.transfer.aria2_input import InputEntry, input_text
from imageworks.transfer.redirects import probe, probe_all
from imageworks.transfer.safety import PARTIAL_SUFFIX, safe_relative_path
from tests.support.hostile_hub import HostileFile, HostileHub, Scenario, Witness
from tests.support.hub_server import HubServer

TOKEN = "hf_aria2safetysecret0123456789"

needs_aria2c = pytest.mark.skipif(shutil.which("aria2c") is None, reason="aria2c is not installed")


# -- names and the input file ----------------------------------------------------------

@pytest.mark.parametrize("name", [
    "x.json\n  dir=/tmp", "x.json\r", "a\tb", "nul\x00", "\x1b]0;owned\x07tokenizer.json", "del\x7f", "c1\x85x",
    "csi\x9b31m", "gpj.\u202eexe", "zero\u200bwidth", "line\u2028sep", "bom\ufeff.json", "lone\ud800", "a" * 240,
    "dir/" + "b" * 230 + ".json",
])
def test_safe_relative_path_refuses_control_and_disguising_characters(name: str) -> None:
    with pytest.raises(UnsafePathError, match="refusing remote file name") as caught:
        safe_relative_path(name)
    assert "\n" not in str(caught.value) and "\x1b" not in str(caught.value)


@pytest.mark.parametrize("name", ["config.json", "sub dir/ünïcode 日本.json", "a-b_c~d+e=f@g,h.json", "a" * 220])
def test_safe_relative_path_keeps_ordinary_names(name: str) -> None:
    assert safe_relative_path(name).as_posix() == name


def _entry(**change: object) -> InputEntry:
    values: dict[str, object] = {
        "url": "http://127.0.0.1:1/evil/model/resolve/abc/x.json", "gid": "0" * 15 + "1",
        "partial": Path("/data/evil/model/x.json" + PARTIAL_SUFFIX), "headers": {"Authorization": f"Bearer {TOKEN}"},
    }
    return InputEntry(**{**values, **change})  # type: ignore[arg-type]


def test_input_text_writes_one_option_per_line() -> None:
    assert input_text([_entry()]).splitlines() == [
        "http://127.0.0.1:1/evil/model/resolve/abc/x.json", "  gid=0000000000000001", "  dir=/data/evil/model",
        f"  out=x.json{PARTIAL_SUFFIX}", f"  header=Authorization: Bearer {TOKEN}",
    ]


@pytest.mark.parametrize("change", [
    {"url": "http://127.0.0.1:1/resolve/abc\n  dir=/tmp/x.json"},
    {"url": "http://127.0.0.1:1/resolve/abc\r\n  out=pwned"},
    {"url": "http://127.0.0.1:1/resolve/not quoted.json"},
    {"url": "http://127.0.0.1:1/résolve/x.json"},
    {"url": "file:///etc/passwd"},
    {"url": "  dir=/tmp"},
    {"partial": Path("/data/x.json\n  dir=/tmp/pwned" + PARTIAL_SUFFIX)},
    {"partial": Path("/data\n  out=pwned/x.json")},
    {"partial": Path("/data/\x1b[2Jx.json")},
    {"partial": Path("/data/\x85x.json")},
    {"partial": Path("relative/x.json")},
    {"headers": {"Authorization": f"Bearer {TOKEN}\n  dir=/tmp"}},
    {"headers": {"X-Evil\n  dir=/tmp": "1"}},
    {"headers": {"X-Evil: injected": "1"}},
    {"gid": "1\n  dir=/tmp"},
])
def test_input_text_refuses_values_that_could_carry_options(change: dict[str, object]) -> None:
    with pytest.raises((TransferError, UnsafePathError)) as caught:
        input_text([_entry(), _entry(**change)])
    assert isinstance(caught.value, ImageworksError)
    assert TOKEN not in str(caught.value) and "\n" not in str(caught.value)


# -- redirects --------------------------------------------------------------------------

@pytest.fixture
def witness() -> Iterator[Witness]:
    with Witness() as server:
        yield server


def _job(hub: HostileHub, target: Path, token: str | None = TOKEN, **options: object) -> TransferJob:
    scenario = hub.scenario
    files = [
        RemoteFile(f"{hub.url}/{scenario.repo}/resolve/{scenario.commit}/{f.name}", f.name, f.announced_size or 0,
                   f.announced_sha256)
        for f in scenario.files
    ]
    return TransferJob(files, target, token=token, **options)  # type: ignore[arg-type]


def _files(count: int = 2, size: int = 3 << 20) -> list[HostileFile]:
    return [HostileFile(f"part-{i}.safetensors", os.urandom(size)) for i in range(count)]


@needs_aria2c
@pytest.mark.parametrize("redirect", ["get-only", "chain", "always"])
def test_token_stays_on_the_configured_origin_whatever_the_redirects(redirect: str, witness: Witness,
                                                                     tmp_path: Path) -> None:
    with HostileHub(Scenario(redirect, _files(), redirect=redirect), witness) as hub:
        Aria2Engine(backoff=0.05).fetch(_job(hub, tmp_path / "out"))
        for item in hub.scenario.files:
            assert (tmp_path / "out" / item.name).read_bytes() == item.body
        assert witness.requests(), "the bytes came from the other origin"
        assert not [seen for seen in witness.requests() if seen.authorization]
        assert all(seen.authorization == f"Bearer {TOKEN}" for seen in hub.requests() if "/resolve/" in seen.path)


@needs_aria2c
def test_without_redirects_aria2c_gets_the_token(witness: Witness, tmp_path: Path) -> None:
    with HostileHub(Scenario("direct", _files(1)), witness) as hub:
        Aria2Engine().fetch(_job(hub, tmp_path / "out"))
        aria2c = [seen for seen in hub.requests() if seen.headers.get("User-Agent", "").startswith("aria2")]
    assert aria2c and all(seen.authorization == f"Bearer {TOKEN}" for seen in aria2c)


class _Loop(BaseHTTPRequestHandler):
    """``/hop/N`` redirects to ``/hop/N+1``; ``/to-file`` to a ``file:`` URL; ``/slow`` answers after 50 ms."""

    protocol_version = "HTTP/1.1"
    in_flight = 0
    most = 0
    lock = threading.Lock()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/hop/"):
            target = f"/hop/{int(self.path[5:]) + 1}"
        elif self.path == "/to-file":
            target = "file:///etc/passwd"
        else:
            with _Loop.lock:
                _Loop.in_flight += 1
                _Loop.most = max(_Loop.most, _Loop.in_flight)
            time.sleep(0.05)
            with _Loop.lock:
                _Loop.in_flight -= 1
            self.send_response(206)
            self.send_header("Content-Range", "bytes 0-0/1234")
            self.send_header("Content-Length", "1")
            self.end_headers()
            self.wfile.write(b"x")
            return
        self.send_response(302)
        self.send_header("Location", target)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def loop_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Loop)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_probe_refuses_endless_and_non_http_redirects(loop_server: str) -> None:
    with pytest.raises(TransferError, match="redirects more than 10 times"):
        probe(f"{loop_server}/hop/0", {}, what="model.safetensors")
    with pytest.raises(TransferError, match="non-HTTP"):
        probe(f"{loop_server}/to-file", {})


def test_probes_run_concurrently_and_read_the_announced_total(loop_server: str) -> None:
    _Loop.most = 0
    found = probe_all([(f"{loop_server}/slow?{i}", f"f{i}") for i in range(32)], {"Authorization": "Bearer x"})
    assert all(getattr(f, "total", None) == 1234 and getattr(f, "authorized", False) for f in found)
    assert _Loop.most > 1, "the probes ran one after another"


# -- lying lengths ------------------------------------------------------------------------

def _watch_size(path: Path) -> tuple[Callable[[], int], threading.Event]:
    """Sample the allocated size of ``path`` until stopped; returns (largest seen, stop)."""
    largest, stop = [0], threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                largest[0] = max(largest[0], path.stat().st_blocks * 512)
            except OSError:
                pass
            time.sleep(0.001)

    threading.Thread(target=run, daemon=True).start()
    return (lambda: largest[0]), stop


@needs_aria2c
@pytest.mark.parametrize("token", [None, TOKEN], ids=["anonymous", "token"])
def test_a_lying_content_length_cannot_fill_the_disk(token: str | None, witness: Witness, tmp_path: Path) -> None:
    body = os.urandom(1 << 20)
    lying = HostileFile("model.safetensors", body, content_length=20 << 20)
    target = tmp_path / "out"
    with HostileHub(Scenario("lies", [lying]), witness) as hub:
        largest, stop = _watch_size(target / f"model.safetensors{PARTIAL_SUFFIX}")
        try:
            with pytest.raises(TransferError, match=r"sent 20971520 bytes for model.safetensors, the Hub announced 1048576"):
                Aria2Engine(backoff=0.05).fetch(_job(hub, target, token))
        finally:
            stop.set()
        sent = hub.bytes_sent("model.safetensors")
    assert largest() <= len(body) + (256 << 10), f"the partial file reached {largest()} bytes"
    assert not any(target.glob("model.safetensors*")), "the lying download's files were kept"
    if token:  # the redirect probe saw the lie before aria2c started
        assert sent <= 1


# -- stalls --------------------------------------------------------------------------------

@needs_aria2c
def test_a_dripping_server_fails_as_stalled_and_the_rerun_resumes(witness: Witness, tmp_path: Path) -> None:
    target = tmp_path / "out"
    with HostileHub(Scenario("drip", _files(1, 64 << 10), drip=0.25), witness) as hub:
        started = time.monotonic()
        with pytest.raises(TransferError, match=r"stalled: .* for 2 s") as caught:
            Aria2Engine().fetch(_job(hub, target, None, stall_timeout=2))
        elapsed = time.monotonic() - started
        assert elapsed < 8 and "stall_timeout" in str(caught.value)
        partial = target / f"part-0.safetensors{PARTIAL_SUFFIX}"
        kept = partial.read_bytes().rstrip(b"\0")
        assert kept and partial.with_name(partial.name + ".aria2").exists(), "nothing was kept to resume from"
        first_run = len(hub.requests())
        hub.scenario.drip = None
        Aria2Engine().fetch(_job(hub, target, None))
        assert (target / "part-0.safetensors").read_bytes() == hub.scenario.files[0].body
        rerun = [seen for seen in hub.requests()[first_run:] if seen.method == "GET"]
    # resumed: aria2c asked for the size with HEAD, not with a GET from byte 0 it would drop
    assert rerun and all(seen.headers.get("Range", "bytes=0-0") != "bytes=0-" for seen in rerun)
    assert all("Range" in seen.headers for seen in rerun), rerun


@needs_aria2c
def test_a_slow_but_steady_server_is_not_a_stall(hub_server: HubServer, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "slow.bin").write_bytes(os.urandom(200 << 10))
    hub_server.add_repo("acme/slow", source)
    hub_server.bandwidth = 40 << 10  # 40 KiB/s: five seconds for the file, above the 1 KiB/s floor
    files = [RemoteFile(hub_server.resolve_url("acme/slow", "slow.bin"), "slow.bin", 200 << 10)]
    Aria2Engine().fetch(TransferJob(files, tmp_path / "out", max_connections=1, stall_timeout=1))
    assert (tmp_path / "out" / "slow.bin").read_bytes() == (source / "slow.bin").read_bytes()


# -- bodies that look like metalinks --------------------------------------------------------

class _Metalink(BaseHTTPRequestHandler):
    """Serves ``/evil.meta4`` as ``application/metalink4+xml`` naming a file on another origin."""

    protocol_version = "HTTP/1.1"
    seen: list[str] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        _Metalink.seen.append(self.path)
        port = self.server.server_address[1]
        body = (f'<?xml version="1.0" encoding="UTF-8"?><metalink xmlns="urn:ietf:params:xml:ns:metalink">'
                f'<file name="pwned.bin"><url>http://localhost:{port}/other</url></file></metalink>').encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/metalink4+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@needs_aria2c
def test_a_metalink_body_is_stored_not_followed(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Metalink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _Metalink.seen = []
        url = f"http://127.0.0.1:{server.server_address[1]}/evil.meta4"
        size = len(_fetch_body(url))
        Aria2Engine().fetch(TransferJob([RemoteFile(url, "evil.meta4", size)], tmp_path / "out"))
    finally:
        server.shutdown()
        server.server_close()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["evil.meta4"]
    assert "/other" not in _Metalink.seen


def _fetch_body(url: str) -> bytes:
    return requests.get(url, timeout=10).content

