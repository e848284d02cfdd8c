"""Running the built command: a stand-in executable serves ``/v1/models`` on the given port.

The stand-in (``standin_server.py``) records the argv it was given, answers 503 first as
a loading server does, then lists the served id and exits; other modes exit at once or
never listen. Nothing is mocked in between: the CLI starts a real process and polls a
real loopback port.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from imageworks.app import open_registry
from imageworks.core.model import RegistryEntry
from imageworks.services.serve.commands import LaunchCommand, LaunchError
from imageworks.services.serve.running import start
from tests.launch.conftest import GEMMA, MINILM, free_port
from tests.support.cli import cli


def test_serve_vllm_runs_and_waits(
    registry: dict[str, RegistryEntry], standin: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    record = tmp_path / "argv.json"
    monkeypatch.setenv("STANDIN_ARGV", str(record))
    printed = cli(capsys, "serve-vllm", GEMMA, "--print", "--port", str(port), "--vllm-bin", str(standin))
    result = cli(capsys, "serve-vllm", GEMMA, "--port", str(port), "--vllm-bin", str(standin), "--timeout", "30")
    assert result.code == 0, result.err
    assert f"Serving {GEMMA} at http://127.0.0.1:{port}/v1" in result.err
    assert json.loads(record.read_text()) == shlex.split(printed.out)[1:]  # the same argv, unmangled
    assert open_registry().get(GEMMA).last_accessed  # a launch is an access


def test_lmdeploy_through_the_environment_variable(
    tiny_llama: str, standin: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEWORKS_LMDEPLOY_BIN", str(standin))
    result = cli(capsys, "serve-lmdeploy", tiny_llama, "--port", str(free_port()), "--served-name", "tiny", "--timeout", "30")
    assert result.code == 0, result.err
    assert result.err.index("Warning: ") < result.err.index("Starting: ")  # warned before launching
    assert "Serving tiny at" in result.err


def test_server_that_exits_early(
    registry: dict[str, RegistryEntry], standin: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STANDIN_MODE", "fail")
    result = cli(capsys, "serve-vllm", MINILM, "--port", str(free_port()), "--vllm-bin", str(standin))
    assert result.code == 1
    assert "exited with status 3 before http://127.0.0.1:" in result.err


def test_timeout_stops_the_server(standin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STANDIN_MODE", "mute")
    port = free_port()
    command = LaunchCommand(server="vllm", argv=(str(standin), "serve", "x", "--port", str(port)), served_name="x", host="127.0.0.1", port=port)
    started: list[int] = []

    def popen(argv: list[str]) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(argv)
        started.append(process.pid)
        return process

    began = time.monotonic()
    with pytest.raises(LaunchError, match=r"did not answer GET http://127.0.0.1:\d+/v1/models within 1 s; stopped it"):
        start(command, timeout=1, poll=0.1, popen=popen)
    assert time.monotonic() - began < 10
    with pytest.raises(ProcessLookupError):
        os.kill(started[0], 0)  # terminated and reaped


def test_missing_executable(registry: dict[str, RegistryEntry], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "serve-vllm", MINILM, "--vllm-bin", str(tmp_path / "no-vllm"))
    assert result.code == 1
    assert result.err.strip().splitlines()[-1] == f"Error: {tmp_path / 'no-vllm'} not found (install vllm, or point --vllm-bin at its executable)"


def test_refuses_not_installed_and_locked_drifted(
    registry: dict[str, RegistryEntry], weights: Path, standin: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = cli(capsys, "verify", MINILM, "--lock", program="model-registry")
    assert locked.code == 0, locked.err
    assert cli(capsys, "serve-vllm", MINILM, "--print").code == 0  # locked and intact: fine
    vocab = weights / "sentence-transformers" / "all-MiniLM-L6-v2" / "vocab.txt"
    vocab.unlink()  # a hard link to the fixture package's file: replace it, never write through it
    vocab.write_text("changed\n")
    drifted = cli(capsys, "serve-vllm", MINILM, "--print", "--vllm-bin", str(standin))
    assert drifted.code == 1 and drifted.out == ""
    assert f"Error: {MINILM} is locked and its files drifted" in drifted.err
    assert "--unlock" in drifted.err
    gguf = weights / "hugginllam" / "gemma-3-270m-Q4_K_M-GGUF"
    for child in gguf.iterdir():
        child.unlink()
    gguf.rmdir()
    gone = cli(capsys, "serve-lmdeploy", GEMMA, "--print")
    assert gone.code == 1 and f"Error: {GEMMA} is not installed: {gguf} does not exist" in gone.err


def test_keys_passed_to_the_server_are_never_shown_or_logged(
    registry: dict[str, RegistryEntry], standin: Path, isolated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "argv.json"
    monkeypatch.setenv("STANDIN_ARGV", str(record))
    port = str(free_port())
    printed = cli(capsys, "serve-vllm", MINILM, "--print", "--", "--api-key", "sk-secret-123", "--api-keys=sk-other-456")
    assert shlex.split(printed.out)[-3:] == ["--api-key", "***", "--api-keys=***"]
    result = cli(capsys, "serve-vllm", MINILM, "--port", port, "--vllm-bin", str(standin), "--timeout", "30", "--", "--api-key", "sk-secret-123")
    assert result.code == 0, result.err
    assert json.loads(record.read_text())[-2:] == ["--api-key", "sk-secret-123"]  # the server does get it
    log = (isolated / "logs" / "model_downloader.log").read_text()
    for text in (printed.out, printed.err, result.out, result.err, log):
        assert "sk-secret-123" not in text and "sk-other-456" not in text


@pytest.mark.parametrize(("script", "variant", "first"), [("start_vllm_server.py", GEMMA, "vllm"), ("start_lmdeploy_server.py", "tiny", "lmdeploy")])
def test_scripts_run_as_documented(tiny_llama: str, weights: Path, tmp_path: Path, script: str, variant: str, first: str) -> None:
    variant = tiny_llama if variant == "tiny" else variant
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, str(root / "scripts" / script), variant, "--print", "--port", "8123"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(root / "src")}, cwd=tmp_path, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    argv = shlex.split(done.stdout)
    assert argv[0] == first and argv[-1] == "8123"
    assert str(weights) in argv[2] or str(weights) in argv[3]


def test_ollama_variants_are_left_to_ollama(registry: dict[str, RegistryEntry], gemma_gguf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    open_registry().upsert(RegistryEntry(name="gemma3-270m-ollama", backend="ollama", served_model_id="gemma3:270m",
                                         download_path=str(gemma_gguf), download_format="gguf"))
    result = cli(capsys, "serve-vllm", "gemma3-270m-ollama", "--print")
    assert result.code == 1
    assert result.err.strip() == (
        "Error: gemma3-270m-ollama lives in the Ollama store, which Ollama serves itself "
        "(run `ollama run gemma3:270m`, or download the GGUF from the Hub to serve it elsewhere)"
    )
