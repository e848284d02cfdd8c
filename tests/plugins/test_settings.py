"""An open configuration: a plugin declares its own setting and reads it from the config it
is handed (issue 25); the table's unknown and ill-typed keys are refused with a suggestion
(issue 28).

The example plugin declares ``example_refused_hosts`` and reads it in ``handles``; every
test runs the real console-script code.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imageworks import hookimpl
from imageworks.core import plugins
from imageworks.core.config import TABLE_KEYS, load_config
from imageworks.core.settings import Setting, read_setting
from tests.support.cli import CliResult, cli
from tests.support.file_server import FileServer

SRC = Path(__file__).resolve().parents[2] / "src" / "imageworks"


def project(folder: Path, body: str) -> Path:
    """A pyproject with our table holding ``body``; the working directory moves into it."""
    (folder / "pyproject.toml").write_text(f'[project]\nname = "x"\n\n[tool.imageworks.model-downloader]\n{body}\n',
                                           encoding="utf-8")
    return folder / "pyproject.toml"


def one_error(result: CliResult) -> str:
    assert result.code == 1, result
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.err
    return lines[0]


@pytest.fixture(autouse=True)
def example_source_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example plugin is the subject here: the built-in url source, which would take
    its URLs first, is switched off (as docs/architecture.md's example says)."""
    monkeypatch.setenv("IMAGEWORKS_DISABLE_PLUGINS", "source-url")
    plugins.reset_plugins()


@pytest.fixture
def served_gguf(tmp_path: Path) -> tuple[FileServer, str]:
    path = tmp_path / "served" / "tiny-Q4_K_M.gguf"
    path.parent.mkdir()
    path.write_bytes(b"GGUF" + bytes(60))
    with FileServer() as server:
        yield server, server.add("/models/tiny-Q4_K_M.gguf", path)


def test_config_lists_the_plugin_setting_with_its_default_help_and_plugin(capsys: pytest.CaptureFixture[str]) -> None:
    shown = cli(capsys, "config", "--json")
    assert shown.code == 0, shown.err
    assert json.loads(shown.out)["example_refused_hosts"] == {
        "value": "", "source": "default", "plugin": "example", "help": "hosts the example-url source never downloads from",
    }
    table = cli(capsys, "config")
    assert "Plugin settings" in table.out and "example_refused_hosts" in table.out


def test_the_plugin_reads_its_setting_from_the_table_in_handles(
    served_gguf: tuple[FileServer, str], isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _server, url = served_gguf
    planned = cli(capsys, "download", url, "--dry-run", "--json")
    assert planned.code == 0 and json.loads(planned.out)["source"] == "example-url", planned.err
    pyproject = project(isolated, 'example_refused_hosts = ["127.0.0.1"]')
    assert "no source handles" in one_error(cli(capsys, "download", url, "--dry-run", "--json"))
    shown = json.loads(cli(capsys, "config", "--json").out)["example_refused_hosts"]
    assert (shown["value"], shown["source"]) == ("127.0.0.1", f"pyproject {pyproject}")


def test_the_setting_s_environment_variable_wins(
    served_gguf: tuple[FileServer, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _server, url = served_gguf
    monkeypatch.setenv("IMAGEWORKS_EXAMPLE_REFUSED_HOSTS", "elsewhere.example, 127.0.0.1")
    assert "no source handles" in one_error(cli(capsys, "download", url, "--dry-run"))
    host = plugins.get_plugins()
    assert not host.source("example-url").handles(url, load_config())


def test_a_mistyped_key_is_refused_naming_the_closest(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project(isolated, "max_connection = 4")
    line = one_error(cli(capsys, "list"))
    assert "unknown key 'max_connection'" in line and "did you mean 'max_connections'?" in line
    project(isolated, 'example_refused_host = ["a"]')
    assert "did you mean 'example_refused_hosts'?" in one_error(cli(capsys, "config"))


def test_a_string_where_a_list_belongs_is_refused(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project(isolated, 'preferred_formats = "awq"')
    line = one_error(cli(capsys, "list"))
    assert "preferred_formats must be a list of strings" in line and 'preferred_formats = ["a", "b"]' in line
    project(isolated, 'example_refused_hosts = "127.0.0.1"')
    line = one_error(cli(capsys, "list"))
    assert "example_refused_hosts must be a list" in line and "example_refused_hosts = [" in line


def test_every_key_the_core_reads_is_accepted(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    values = {"locations": "{}", "max_connections": "4", "stall_timeout": "30", "transfer_engine": '"python"',
              "preferred_formats": '["gguf"]', "test_model_patterns": '["x"]', "shared_roots": "[]"}
    project(isolated, "\n".join(f"{key} = {values.get(key, json.dumps(str(isolated / key)))}" for key in sorted(TABLE_KEYS)
                                if key not in ("ollama_base_url", "hf_endpoint", "ollama_host", "host", "registry_backend"))
            + '\nregistry_backend = "json"\nhost = "here"\n')
    shown = cli(capsys, "config", "--json")
    assert shown.code == 0, shown.err
    assert json.loads(shown.out)["max_connections"]["value"] == "4"


def test_setting_types_from_the_table_and_the_environment(tmp_path: Path) -> None:
    count = Setting(name="count", type="int", default=1, env="COUNT")
    flag = Setting(name="flag", type="bool", default=False, env="FLAG")
    assert read_setting(count, {}, {}, None) == (1, "default")
    assert read_setting(count, {"count": 3}, {}, tmp_path) == (3, f"pyproject {tmp_path}")
    assert read_setting(count, {"count": 3}, {"COUNT": "5"}, tmp_path) == (5, "env COUNT")
    assert read_setting(flag, {}, {"FLAG": "yes"}, None)[0] is True
    for table in ({"count": "3"}, {"count": True}, {"count": 2.5}):
        with pytest.raises(Exception, match="count must be a int"):
            read_setting(count, table, {}, tmp_path)
    with pytest.raises(Exception, match="flag must be a bool"):
        read_setting(flag, {}, {"FLAG": "perhaps"}, None)


def test_no_provider_loads_the_configuration_itself() -> None:
    """Sources are handed the config (``handles(identifier, config)``, ``context.config``)."""
    readers = [p.relative_to(SRC).as_posix() for p in sorted((SRC / "providers").rglob("*.py"))
               if "load_config" in p.read_text(encoding="utf-8")]
    assert readers == []


def test_handles_gets_the_config_the_host_is_given(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The huggingface source judges a mirror URL by the config passed, not by one it loads."""
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    mirror = load_config()
    monkeypatch.delenv("HF_ENDPOINT")
    host = plugins.get_plugins()
    url = "http://127.0.0.1:9/acme/tiny/resolve/main/tiny-Q4_K_M.gguf"
    assert host.source_for(url, mirror).name == "huggingface"
    assert host.source_for(url).name == "example-url"  # the Hub is huggingface.co without it


class _Declares:
    """A plugin without a source, declaring its setting through the hook."""

    @hookimpl
    def imageworks_register_settings(self) -> list[Setting]:
        return [Setting(name="extra_retries", type="int", default=2, help="how often to retry"),
                Setting(name="max_connections", type="int", default=1, help="the core's own key")]


def test_a_plugin_declares_settings_through_the_hook(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    host = plugins.get_plugins()
    host.pm.register(_Declares(), name="declares")
    declared = {setting.name: plugin for plugin, setting in host.settings()}
    assert declared["extra_retries"] == "declares" and "max_connections" not in declared
    assert "'max_connections' is the core's" in (next(r for r in host.records() if r.name == "declares").error or "")
    pyproject = project(isolated, "extra_retries = 5")
    shown = cli(capsys, "config", "--json")
    assert shown.code == 0, shown.err
    assert json.loads(shown.out)["extra_retries"] == {
        "value": "5", "source": f"pyproject {pyproject}", "plugin": "declares", "help": "how often to retry",
    }
