"""``imageworks-chat-proxy`` as a user runs it: the installed console script, as a process."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.proxy.conftest import GEMMA_SERVED
from tests.support.backends import BackendUnderTest
from tests.support.postgres import PostgresCluster

SCRIPT = Path(sys.executable).with_name("imageworks-chat-proxy")


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout, env=os.environ.copy())


def test_help_names_the_defaults_and_the_variables() -> None:
    result = run("--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "[default: 127.0.0.1]" in text and "[default: 8100" in text
    for variable in ("CHAT_PROXY_INCLUDE_NON_INSTALLED", "CHAT_PROXY_INCLUDE_TEST_MODELS", "CHAT_PROXY_FORWARD_AUTH", "CHAT_PROXY_TIMEOUT"):
        assert variable in text


def test_serves_on_loopback_by_default_and_stops_on_sigint(entries: list[dict[str, Any]]) -> None:
    process = subprocess.Popen([str(SCRIPT), "--port", "0"], stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        match = re.search(r"listening on http://([\d.]+):(\d+)/v1", line)
        assert match, line
        assert match.group(1) == "127.0.0.1"
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{match.group(2)}/v1", api_key="x", max_retries=0, timeout=20)
        assert GEMMA_SERVED in {m.id for m in client.models.list()}
        client.chat.completions.create(model=GEMMA_SERVED, messages=[{"role": "user", "content": "hi"}])
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 0
        assert "/chat/completions" in process.stderr.read()  # one line per forwarded request
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_port_in_use_is_one_error_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        result = run("--port", str(taken.getsockname()[1]))
    assert result.returncode == 1
    assert result.stderr.startswith("Error: cannot listen on 127.0.0.1:") and result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [("CHAT_PROXY_INCLUDE_TEST_MODELS", "maybe", "is not a flag"), ("CHAT_PROXY_TIMEOUT", "-3", "not a positive number")],
)
def test_bad_settings_are_one_error_line(monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str) -> None:
    monkeypatch.setenv(variable, value)
    result = run("--port", "0")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ") and message in result.stderr and result.stderr.count("\n") == 1


def test_damaged_registry_is_one_error_line(isolated: Path) -> None:
    (isolated / "registry").mkdir()
    (isolated / "registry" / "model_registry.curated.json").write_text("[{oops", encoding="utf-8")
    result = run("--port", "0")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: registry file ") and result.stderr.count("\n") == 1
    assert (isolated / "registry" / "model_registry.curated.json").read_text(encoding="utf-8") == "[{oops"


@pytest.mark.parametrize("registry_backend", ["postgres"], indirect=True)
def test_postgres_dsn_and_password_never_reach_the_logs(
    registry_backend: BackendUnderTest, entries: list[dict[str, Any]], postgres_dsn: str,
    postgres_cluster: PostgresCluster, isolated: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    password = "pg-Secret-7f3a9c"  # the test server trusts its socket, so any password is accepted
    dsn = f"{postgres_dsn} password={password}"
    monkeypatch.setenv("IMAGEWORKS_REGISTRY_DSN", dsn)
    monkeypatch.setenv("IMAGEWORKS_DEBUG", "1")  # the most the proxy ever logs
    command = [str(SCRIPT), "--port", "0", "--log-level", "debug"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+/v1)", line)
        assert match, line
        url = match.group(1)
        client = openai.OpenAI(base_url=url, api_key="x", max_retries=0, timeout=20)
        assert GEMMA_SERVED in {m.id for m in client.models.list()}
        client.chat.completions.create(model=GEMMA_SERVED, messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
        # the database goes away under the running proxy: the driver's errors are what could quote the DSN
        postgres_cluster.drop_database(conninfo_to_dict(postgres_dsn)["dbname"])
        failed = httpx.get(f"{url}/models", timeout=20)
        assert failed.status_code == 500 and failed.json()["error"]["code"] == "registry_error"
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 0
        stderr = line + process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    structured = (isolated / "logs" / "model_downloader.log").read_text(encoding="utf-8")
    assert "registry unreadable" in stderr and "registry unreadable" in structured  # the failure was logged
    assert "/chat/completions" in stderr
    for text in (stderr, structured, failed.text):
        assert dsn not in text and postgres_dsn not in text and password not in text
