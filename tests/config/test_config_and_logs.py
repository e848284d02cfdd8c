"""Merged configuration with sources, and the structured log with secrets redacted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imageworks.core.config import load_config
from imageworks.core.errors import ConfigError
from tests.support.cli import cli

PYPROJECT = """
[project]
name = "someone-elses"

[tool.imageworks.model-downloader]
linux_wsl_root = "{root}"
windows_lmstudio_root = "/mnt/d/custom/lmstudio"
max_connections = 8
preferred_formats = ["gguf", "awq"]

[tool.imageworks.model-downloader.locations]
nas = "{root}/nas"
"""


def test_defaults_without_pyproject(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("IMAGEWORKS_MODEL_ROOT", "IMAGEWORKS_REGISTRY_DIR", "IMAGEWORKS_LOG_DIR", "IMAGEWORKS_LMSTUDIO_ROOT"):
        monkeypatch.delenv(name)
    config = load_config()
    home = isolated / "home"
    assert config.model_root == home / "ai-models" / "weights"
    assert config.registry_dir == home / "ai-models" / "registry"
    assert config.windows_lmstudio_root == Path("/mnt/d/ai stuff/models/llm models")
    assert config.max_connections == 16
    assert config.preferred_formats == ("awq", "safetensors", "gguf")
    assert config.sources["model_root"] == "default"


def test_pyproject_then_environment(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMAGEWORKS_MODEL_ROOT")
    monkeypatch.delenv("IMAGEWORKS_REGISTRY_DIR")
    monkeypatch.delenv("IMAGEWORKS_LMSTUDIO_ROOT")
    project = isolated / "project"
    (project / "sub").mkdir(parents=True)
    (project / "pyproject.toml").write_text(PYPROJECT.format(root=isolated / "ai"))
    monkeypatch.chdir(project / "sub")
    monkeypatch.setenv("IMAGEWORKS_LMSTUDIO_ROOT", "/srv/lmstudio")
    config = load_config()
    assert config.pyproject == project / "pyproject.toml"
    assert config.model_root == isolated / "ai" / "weights"
    assert config.registry_dir == project / "configs"  # project root anchors the registry
    assert config.windows_lmstudio_root == Path("/srv/lmstudio")
    assert config.sources["windows_lmstudio_root"] == "env IMAGEWORKS_LMSTUDIO_ROOT"
    assert config.sources["max_connections"].startswith("pyproject ")
    assert config.max_connections == 8 and config.preferred_formats == ("gguf", "awq")
    assert config.locations["nas"] == isolated / "ai" / "nas"


def test_every_guide_variable_is_read(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "IMAGEWORKS_MODEL_ROOT": str(isolated / "m"),
        "IMAGEWORKS_LMSTUDIO_ROOT": str(isolated / "l"),
        "IMAGEWORKS_LOG_DIR": str(isolated / "logs2"),
        "IMAGEWORKS_DEBUG": "1",
        "IMAGEWORKS_TEST_MODEL_PATTERNS": "Foo,bar",
        "IMAGEWORKS_OLLAMA_HOST": "imageworks-ollama",
        "OLLAMA_MODELS": str(isolated / "o"),
        "OLLAMA_BASE_URL": "http://127.0.0.1:11500",
        "IMAGEWORKS_REGISTRY_DIR": str(isolated / "r"),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    config = load_config()
    assert config.model_root == isolated / "m" and config.windows_lmstudio_root == isolated / "l"
    assert config.log_dir == isolated / "logs2" and config.registry_dir == isolated / "r"
    assert config.debug is True
    assert {"foo", "bar", "testzzz"} <= set(config.test_model_patterns)
    assert config.ollama_host == "imageworks-ollama" and config.ollama_models == isolated / "o"
    assert config.ollama_base_url == "http://127.0.0.1:11500"


def test_ollama_host_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0:11435")
    assert load_config().ollama_base_url == "http://0.0.0.0:11435"


def test_invalid_value_is_one_clear_error(isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("IMAGEWORKS_MAX_CONNECTIONS", "lots")
    with pytest.raises(ConfigError, match="max_connections"):
        load_config()
    result = cli(capsys, "list")
    assert result.code == 1 and result.err.startswith("Error: max_connections") and result.err.count("\n") == 1


def test_config_command_shows_values_and_sources_never_tokens(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_SuperSecretTokenValue123")
    result = cli(capsys, "config", "--json")
    data = result.json()
    assert data["model_root"]["source"] == "env IMAGEWORKS_MODEL_ROOT"
    assert data["max_connections"] == {"value": "16", "source": "default"}
    assert data["hf_token"]["value"] == "set (hidden)"
    assert "hf_SuperSecret" not in result.out
    assert "Source" in cli(capsys, "config").out


def test_log_file_mirrors_console_and_redacts_tokens(isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_SuperSecretTokenValue123")
    cli(capsys, "list", "--format", "hf_SuperSecretTokenValue123")
    cli(capsys, "list")  # an empty registry: INFO "No variants match" (the bad --format above is an error now)
    cli(capsys, "remove", "nothing-here", "--force")
    log = isolated / "logs" / "model_downloader.log"
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(line["level"] == "INFO" and "No variants match" in line["message"] for line in lines)
    assert any(line["level"] == "ERROR" and "nothing-here" in line["message"] for line in lines)
    assert all({"time", "level", "logger", "command", "message"} <= set(line) for line in lines)
    assert "hf_SuperSecret" not in log.read_text()
    assert any("list --format ***" in line["command"] for line in lines)


def test_debug_shows_traceback_only_when_asked(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from imageworks.services.listing import stats  # `stats` imports it when it runs

    def boom(*args: object, **kwargs: object) -> None:
        raise ValueError("synthetic bug")

    monkeypatch.setattr(stats, "registry_stats", boom)
    quiet = cli(capsys, "stats")
    assert quiet.code == 1 and quiet.err.strip() == (
        "Error: unexpected ValueError: synthetic bug (set IMAGEWORKS_DEBUG=1 for the traceback)"
    )
    monkeypatch.setenv("IMAGEWORKS_DEBUG", "1")
    loud = cli(capsys, "stats")
    assert loud.code == 1 and "Traceback" in loud.err


def test_usage_errors_exit_1_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "list", "--no-such-flag")
    assert result.code == 1
    assert result.err.count("\n") == 1
    assert result.err.startswith("Error: No such option") and "--no-such-flag" in result.err
