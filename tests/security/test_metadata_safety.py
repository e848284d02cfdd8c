"""The Hub's API answers are untrusted: size, time, shape, commit id and Retry-After.

The hostile Hub answers model info with whatever a test gives it (raw bytes, headers,
a dripping body, a broken connection); ``download`` must end with one clear line and no
``resolve`` request, or, for odd ``Retry-After`` values, retry and succeed. The gzip bomb
runs the real CLI in a subprocess so its peak memory can be measured.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import subprocess
import sys
import textwrap
import time
from email.utils import format_datetime
from pathlib import Path

import pytest

from imageworks.core.http import parse_retry_after
from imageworks.providers.huggingface import http_limits, hub_api
from imageworks.providers.huggingface.http_limits import ApiAnswerTooLargeError, ApiAnswerTooSlowError
from imageworks.providers.huggingface.hub_api import HubClient
from imageworks.providers.huggingface.metadata import RepoSnapshot, resolve_url
from tests.security.conftest import TOKEN
from tests.support.cli import cli
from tests.support.hostile_hub import HostileFile, HostileHub, Scenario, Witness, _bomb

COMMIT = "0123456789abcdef0123456789abcdef01234567"
FILES = [HostileFile("config.json", b'{"model_type": "llama"}', sha256=None), HostileFile("model.safetensors", os.urandom(4096))]
NOW = dt.datetime(2025, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


class AnswerHub(HostileHub):
    """The hostile Hub whose model-info answer is exactly the bytes and headers given."""

    def __init__(self, scenario: Scenario, witness: Witness, body: bytes, headers: dict[str, str] | None = None,
                 status: int = 200, drip: float | None = None, cut: bool = False, tree: bytes | None = None) -> None:
        super().__init__(scenario, witness)
        self.body, self.headers, self.status, self.drip, self.cut = body, headers or {}, status, drip, cut
        self.tree = tree  # the file-list answer, when a test gives one (else the same bytes as model info)

    class handler(HostileHub.handler):  # noqa: N801 - bound per server in start()
        server_state: AnswerHub

        def api(self, scenario: Scenario, rest: str) -> None:
            hub = self.server_state
            if hub.tree is not None and "/tree/" in rest:
                self.send(200, {"Content-Type": "application/json"}, hub.tree)
                return
            headers = {"Content-Type": "application/json", "Content-Length": str(len(hub.body) + (100 if hub.cut else 0)), **hub.headers}
            self.send_response(hub.status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            for index in range(0, len(hub.body), 1 if hub.drip else len(hub.body) or 1):
                self.wfile.write(hub.body[index : index + (1 if hub.drip else len(hub.body))])
                self.wfile.flush()
                if hub.drip:
                    time.sleep(hub.drip)
            if hub.cut:
                self.close_connection = True


@pytest.fixture
def answer(witness: Witness, isolated: Path, monkeypatch: pytest.MonkeyPatch):
    """``answer(body, **how)`` starts an AnswerHub and points the environment at it."""
    monkeypatch.setenv("HF_HOME", str(isolated / "hf-home"))
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setattr(hub_api, "RETRY_DELAYS", (0.0, 0.0, 0.0))
    started: list[AnswerHub] = []

    def start(body: bytes, **how: object) -> AnswerHub:
        hub = AnswerHub(Scenario("answer", list(FILES)), witness, body, **how).start()  # type: ignore[arg-type]
        started.append(hub)
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        return hub

    yield start
    for hub in started:
        hub.stop()


def info(**changes: object) -> bytes:
    payload: dict[str, object] = {"id": "evil/model", "modelId": "evil/model", "sha": COMMIT, "private": False, "gated": False,
                                  "siblings": [{"rfilename": "config.json", "size": 23}]}
    payload.update(changes)
    return json.dumps(payload).encode()


def one_error(capsys: pytest.CaptureFixture[str], hub: HostileHub) -> str:
    result = cli(capsys, "download", "evil/model", "--non-interactive", "--no-aria2")
    errors = [line for line in result.err.splitlines() if line.startswith("Error:")]
    assert result.code == 1 and len(errors) == 1, result.err
    assert "unexpected" not in result.err and "Traceback" not in result.err
    assert not [seen for seen in hub.requests() if "/resolve/" in seen.path]
    return errors[0]


# -- Retry-After ------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "expected"), [
    ("5", 5.0), ("0", 0.0), ("2.5", 2.5), (" 7 ", 7.0), ("86400", 30.0),
    ("-1", 4.0), ("NaN", 4.0), ("nan", 4.0), ("inf", 4.0), ("-inf", 4.0), ("1e400", 4.0), ("soon", 4.0), ("", 4.0), (None, 4.0),
    (format_datetime(NOW + dt.timedelta(seconds=12), usegmt=True), 12.0),
    (format_datetime(NOW - dt.timedelta(hours=1), usegmt=True), 0.0),
    (format_datetime(NOW + dt.timedelta(days=2), usegmt=True), 30.0),
    ("Mon, 99 Foo 2025 99:99:99 GMT", 4.0),
])
def test_retry_after_is_always_a_finite_wait_within_the_cap(value: str | None, expected: float) -> None:
    assert parse_retry_after(value, 4.0, 30.0, now=NOW) == expected


def test_a_default_outside_the_cap_is_clamped_too() -> None:
    assert parse_retry_after("garbage", 99.0, 30.0) == 30.0
    assert parse_retry_after("garbage", -3.0, 30.0) == 0.0


@pytest.mark.parametrize("value", ["-1", "NaN", "inf", "garbage", "HTTP-DATE"])
def test_odd_retry_after_values_are_retried_not_fatal(value: str, hostile, capsys: pytest.CaptureFixture[str]) -> None:
    if value == "HTTP-DATE":
        value = format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1), usegmt=True)
    hub = hostile(Scenario("retry", list(FILES), api_failures=1, retry_after=value))
    started = time.monotonic()
    result = cli(capsys, "download", "evil/model", "--non-interactive", "--no-aria2")
    assert result.code == 0, result.err
    assert time.monotonic() - started < 15
    api = [seen.path for seen in hub.requests() if seen.path.startswith("/api/")]
    assert len(api) == 3 and api[0] == api[1] and "/tree/" in api[2]  # the 429, its retry, then the file list


# -- the commit id ----------------------------------------------------------------------
@pytest.mark.parametrize("commit", [
    COMMIT.upper(), COMMIT[:-1], COMMIT + "\n", COMMIT + "/../x", "main", "", "%2e%2e%2fetc", "0" * 63,
])
def test_a_commit_that_is_not_an_object_id_is_refused(commit: str, hostile, capsys: pytest.CaptureFixture[str]) -> None:
    hub = hostile(Scenario("commit", list(FILES), commit=commit))
    line = one_error(capsys, hub)
    assert "invalid commit id for evil/model" in line


@pytest.mark.parametrize("sha", [None, 12345, ["x"]])
def test_a_missing_or_non_string_commit_is_refused(sha: object, answer, capsys: pytest.CaptureFixture[str]) -> None:
    assert "invalid commit id" in one_error(capsys, answer(info(sha=sha)))


def test_a_sha256_commit_id_is_accepted(hostile, capsys: pytest.CaptureFixture[str]) -> None:
    hostile(Scenario("sha256-commit", list(FILES), commit="ab" * 32))
    result = cli(capsys, "download", "evil/model", "--non-interactive", "--no-aria2")
    assert result.code == 0, result.err


def test_resolve_urls_quote_every_segment_and_the_whole_commit() -> None:
    snapshot = RepoSnapshot(repo_id="acme/m", revision=None, commit="a/b?c#d", files=())
    url = resolve_url("http://127.0.0.1:9/", snapshot, "sub dir/we?ird#name%.json")
    assert url == "http://127.0.0.1:9/acme/m/resolve/a%2Fb%3Fc%23d/sub%20dir/we%3Fird%23name%25.json"


# -- size, time and shape of the answer -------------------------------------------------
def test_the_gzip_bomb_fails_fast_in_bounded_memory(hostile, isolated: Path) -> None:
    hub = hostile(Scenario("gzip-bomb-api", list(FILES), api_gzip_bomb=1 << 30))
    measure = textwrap.dedent("""
        import resource, subprocess, sys, time
        started = time.monotonic()
        run = subprocess.run([sys.executable, "-m", "imageworks.cli", "download", "evil/model", "--non-interactive", "--no-aria2"],
                             capture_output=True, text=True)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print(run.returncode, peak, time.monotonic() - started)
        sys.stderr.write(run.stderr)
    """)
    _bomb(1 << 30)  # built once per process: build it here, before the clock starts
    done = subprocess.run([sys.executable, "-c", measure], capture_output=True, text=True, env=dict(os.environ), timeout=120)
    code, peak_kib, seconds = done.stdout.split()
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert int(code) == 1 and len(errors) == 1 and "too large" in errors[0], done.stderr
    print(f"gzip bomb: peak RSS {int(peak_kib) / 1024:.0f} MiB, {float(seconds):.1f}s")
    assert int(peak_kib) < 500 * 1024
    assert float(seconds) < 30
    assert not [seen for seen in hub.requests() if "/resolve/" in seen.path]


def test_the_cap_counts_decoded_bytes(answer) -> None:
    body = gzip.compress(b" " * (2 << 20))
    hub = answer(body, headers={"Content-Encoding": "gzip"})
    url = f"{hub.url}/api/models/evil/model"
    with HubClient(hub.url, None) as client:
        with pytest.raises(ApiAnswerTooLargeError, match="too large"):
            client.get(url, "model info", max_bytes=1 << 20)
        assert client.get(url, "model info", max_bytes=2 << 20).body == b" " * (2 << 20)  # exactly at the cap: read
    assert hub.requests()[-1].headers.get("Accept-Encoding") == http_limits.ACCEPTED_ENCODINGS


def test_a_dripping_answer_hits_the_deadline(answer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_limits, "API_ANSWER_SECONDS", 0.5)
    hub = answer(info(), drip=0.05)
    started = time.monotonic()
    with HubClient(hub.url, None) as client, pytest.raises(ApiAnswerTooSlowError, match="took over"):
        client.get(f"{hub.url}/api/models/evil/model", "model info")
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(("body", "headers", "phrase"), [
    (b"[" * 200_000 + b"]" * 200_000, {}, "nested too deeply"),
    (b"<html>not json</html>", {}, "not JSON"),
    (b"   ", {"Content-Encoding": "gzip"}, "undecodable"),
    (gzip.compress(info()), {"Content-Encoding": "br"}, "content encoding 'br'"),
    (b"[1, 2]", {}, "wrong shape"),
    (info(siblings=[{"size": 3}]), {}, "wrong shape"),
])
def test_malformed_answers_are_one_clear_line(body: bytes, headers: dict[str, str], phrase: str, answer,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert phrase in one_error(capsys, answer(body, headers=headers))


def tree(*entries: dict[str, object]) -> bytes:
    return json.dumps([{"type": "file", "oid": "1" * 40, **entry} for entry in entries]).encode()


@pytest.mark.parametrize(("listing", "phrase"), [
    (tree({"path": "model.safetensors", "size": "12"}), "invalid size"),
    (tree({"path": "model.safetensors", "size": -1}), "invalid size"),
    (tree({"path": "m.safetensors", "size": 3, "lfs": {"oid": "../x", "size": 3, "pointerSize": 1}}), "invalid sha256"),
])
def test_malformed_file_lists_are_one_clear_line(listing: bytes, phrase: str, answer,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert phrase in one_error(capsys, answer(info(), tree=listing))


def test_a_connection_cut_mid_answer_is_retried_then_explained(answer, capsys: pytest.CaptureFixture[str]) -> None:
    hub = answer(info(), cut=True)
    line = one_error(capsys, hub)
    assert "the Hub broke the HTTP exchange" in line
    assert len([seen for seen in hub.requests() if seen.path.startswith("/api/")]) == 4


def test_a_silent_hub_times_out_with_a_clear_line(answer, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(hub_api, "API_TIMEOUT_SECONDS", 0.3)
    hub = answer(info(), drip=1.0)
    assert "did not answer in time" in one_error(capsys, hub)


# -- what a repo holds ------------------------------------------------------------------
@pytest.mark.parametrize(("files", "phrase"), [
    ([], "evil/model has no files on the Hub"),
    ([HostileFile("logo.png", b"\x89PNG", sha256=None)], "no files to download (every file is optional)"),
    ([FILES[0], HostileFile("model.safetensors", b"", sha256=None)], "model.safetensors is empty on the Hub"),
    ([FILES[0], HostileFile("model-Q4_K_M.gguf", b"", sha256=None)], "model-Q4_K_M.gguf is empty on the Hub"),
])
def test_a_repo_with_nothing_usable_is_refused(files: list[HostileFile], phrase: str, hostile,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    hub = hostile(Scenario("nothing", files))
    assert phrase in one_error(capsys, hub)


@pytest.mark.parametrize("engine", ["--no-aria2", "--aria2"])
def test_empty_support_files_are_legitimate(engine: str, hostile, isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = [HostileFile(".gitattributes", b"", sha256=None), HostileFile("added_tokens.json", b"", sha256=None)]
    hostile(Scenario("empty-support", [*FILES, *empty]))
    result = cli(capsys, "download", "evil/model", "--non-interactive", engine)
    assert result.code == 0, result.err
    for item in empty:
        assert (isolated / "weights" / "evil" / "model" / item.name).read_bytes() == b""
