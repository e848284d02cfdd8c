"""The aria2 engine against hostile servers: its input file, redirects, lying lengths, stalls.

Everything runs against loopback servers: the hostile Hub and its witness origin from
``tests.support.hostile_hub``, the regular test Hub, and a few one-purpose handlers below.
"""

from __future__ import annotations

import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from imageworks.core.errors import ImageworksError, UnsafePathError
from imageworks.providers.huggingface.transfer import Aria2Engine, RemoteFile, TransferError, TransferJob
from imageworks.providers.huggingface.transfer.aria2_input import InputEntry, input_text
from imageworks.providers.huggingface.transfer.safety import PARTIAL_SUFFIX, safe_relative_path

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

