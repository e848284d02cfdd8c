"""Offline like ``hf download``: an installed model re-runs without the Hub; a dead name fails fast.

A plain re-run of an installed model asks the Hub one small question (the branch's
commit). With ``HF_HUB_OFFLINE=1``, a Hub that refuses, or a host name that does not
resolve, the answer is the installed copy, named and marked as not re-checked, exit 0.
A model that is not installed fails with one line, at once: no retries of a name that
does not resolve, no request at all under ``HF_HUB_OFFLINE``. The resolver is the one
edge replaced here (no test may use real DNS): ``socket.getaddrinfo`` fails for one
made-up host, as a resolver does, and counts the lookups.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from imageworks.app import open_registry
from tests.support.cli import CliResult, cli
from tests.support.fixtures import TINY_REPO, hf_client_env, hub_server, tiny_repo  # noqa: F401  (fixtures)
from tests.support.hub_server import HubServer

DEAD_HOST = "hub.imageworks-offline.invalid"


def error_line(result: CliResult) -> str:
    lines = [line for line in result.err.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "Traceback" not in result.err, result.err
    return lines[0]


@pytest.fixture
def installed(hub_server: HubServer, tiny_repo: Path, hf_client_env: Path, capsys: pytest.CaptureFixture[str]) -> Path:  # noqa: F811
    """``acme/tiny-model`` downloaded and recorded; returns its folder."""
    result = cli(capsys, "download", TINY_REPO, "--no-aria2")
    assert result.code == 0, result.err
    (entry,) = open_registry().entries()
    return Path(entry.download_path or "")


@pytest.fixture
def dead_dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``DEAD_HOST`` does not resolve (EAI_NONAME); returns the hosts looked up, in order."""
    looked_up: list[str] = []
    real: Callable[..., list[tuple[object, ...]]] = socket.getaddrinfo

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        looked_up.append(name)
        if name == DEAD_HOST:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return looked_up


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def assert_not_rechecked(result: CliResult, folder: Path, why: str) -> None:
    assert result.code == 0, result.err
    (entry,) = open_registry().entries()
    assert result.out.startswith(f"Already downloaded: {entry.name} at {folder} (not re-checked against its source: ")
    assert why in result.out


def test_hf_hub_offline_answers_from_the_registry_without_a_request(
    installed: Path, hub_server: HubServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = len(hub_server.requests)
    result = cli(capsys, "download", TINY_REPO)
    assert_not_rechecked(result, installed, "HF_HUB_OFFLINE is set, so the Hub was not asked")
    as_json = cli(capsys, "download", TINY_REPO, "--json").json()
    assert (as_json["skipped"], as_json["rechecked"], as_json["download_path"]) == (True, False, str(installed))
    assert "HF_HUB_OFFLINE" in as_json["not_rechecked_because"]
    assert len(hub_server.requests) == before


def test_unreachable_hub_answers_from_the_registry(
    installed: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    result = cli(capsys, "download", TINY_REPO)
    assert_not_rechecked(result, installed, "cannot reach 127.0.0.1 (Connection refused)")


def test_unresolvable_hub_answers_from_the_registry_after_one_lookup(
    installed: Path, hub_server: HubServer, dead_dns: list[str], monkeypatch: pytest.MonkeyPatch,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", f"http://{DEAD_HOST}:{hub_server.port}")
    result = cli(capsys, "download", TINY_REPO)
    assert_not_rechecked(result, installed, f"cannot resolve {DEAD_HOST} (Name or service not known)")
    assert dead_dns.count(DEAD_HOST) == 1


def test_a_model_not_installed_fails_at_once_when_the_name_does_not_resolve(
    hub_server: HubServer, tiny_repo: Path, hf_client_env: Path, dead_dns: list[str],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", f"http://{DEAD_HOST}:{hub_server.port}")
    result = cli(capsys, "download", TINY_REPO)
    assert result.code == 1
    line = error_line(result)
    assert f"cannot resolve the Hub's host {DEAD_HOST} (Name or service not known)" in line, line
    assert dead_dns.count(DEAD_HOST) == 1, "a name that does not resolve is not retried"
    assert "retry" not in result.err
    assert open_registry().entries() == []


def test_a_model_not_installed_under_hf_hub_offline_is_one_line_and_no_request(
    hub_server: HubServer, tiny_repo: Path, hf_client_env: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for args in (["download", TINY_REPO], ["download", TINY_REPO, "--dry-run"], ["analyze", TINY_REPO]):
        result = cli(capsys, *args)
        assert result.code == 1, args
        assert f"HF_HUB_OFFLINE is set, so the Hub is not asked, and {TINY_REPO} needs it" in error_line(result)
    assert hub_server.requests == []
    assert open_registry().entries() == []
