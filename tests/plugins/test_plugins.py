"""Plugin discovery and dispatch: built-ins, a third-party package, a broken one, switches."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pluggy
import pytest

from imageworks import hookimpl
from imageworks.app import open_registry
from imageworks.core import hookspecs, plugins
from imageworks.core.interfaces import Detector, Source
from imageworks.core.model import PluginRecord
from imageworks.core.plugins import PluginHost
from tests.support.cli import cli

BUILTIN_COMMAND_PLUGINS = {"cli-admin", "cli-inventory", "registry-json"}


def records_by_name() -> dict[str, PluginRecord]:
    return {r.name: r for r in plugins.get_plugins().records()}


def test_builtins_and_third_party_load_through_entry_points() -> None:
    records = records_by_name()
    for name in BUILTIN_COMMAND_PLUGINS:
        assert records[name].status == "loaded", records[name]
        assert records[name].distribution == "imageworks"
    example, catalog = records["example"], records["example-catalog"]
    assert example.status == catalog.status == "loaded"
    assert example.distribution == catalog.distribution == "imageworks-example-plugin"
    assert set(example.hooks) == {"imageworks_register_sources"}
    assert set(catalog.hooks) == {"imageworks_register_commands", "imageworks_register_gui_panels", "imageworks_register_sources"}
    assert "json" in plugins.get_plugins().registry_backends()


def test_broken_plugin_is_reported_and_cli_keeps_working(capsys: pytest.CaptureFixture[str]) -> None:
    broken = records_by_name()["broken"]
    assert broken.status == "failed"
    assert "broken on purpose" in (broken.error or "")
    result = cli(capsys, "plugins", "--json")
    assert result.code == 0
    listed = {r["name"]: r for r in result.json()}
    assert listed["broken"]["status"] == "failed"
    assert listed["example"]["hooks"] == ["imageworks_register_sources"]
    assert listed["example-catalog"]["hooks"] == [
        "imageworks_register_commands", "imageworks_register_gui_panels", "imageworks_register_sources"
    ]
    assert cli(capsys, "list").code == 0


def test_third_party_source_and_subcommand_appear(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sources = {s["name"]: s for s in cli(capsys, "sources", "--json").json()}
    assert sources["example-catalog"]["class"] == "imageworks_example_plugin.catalog"
    assert sources["example-url"]["class"] == "imageworks_example_plugin"
    assert "local" in sources
    model = isolated / "weights" / "catalog-model"
    model.mkdir(parents=True)
    (model / "weights.gguf").write_bytes(b"GGUF" + bytes(60))
    catalog = isolated / "catalog.json"
    catalog.write_text(json.dumps([{"id": "cat-model", "path": str(model), "format": "gguf"}]))
    result = cli(capsys, "example-import", "--catalog", str(catalog))
    assert result.code == 0, result.err
    assert "recorded cat-model-example-gguf" in result.out
    (entry,) = open_registry().entries()
    assert entry.source_provider == "example-catalog"
    assert entry.download_files == ["weights.gguf"]


def test_subcommand_only_on_the_program_it_asked_for(capsys: pytest.CaptureFixture[str]) -> None:
    assert "example-import" in cli(capsys, "--help").out
    assert "example-import" not in cli(capsys, "--help", program="loader").out


def test_disable_switch_turns_off_even_builtins(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("IMAGEWORKS_DISABLE_PLUGINS", "example, cli-scan")
    records = records_by_name()
    assert records["example"].status == "disabled"
    assert records["cli-scan"].status == "disabled"
    result = cli(capsys, "scan", "--base", ".")
    assert result.code == 1 and "No such command 'scan'" in result.err


def test_allow_list_keeps_builtins_and_named_plugins_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGEWORKS_LOAD_PLUGINS", "example")
    records = records_by_name()
    assert records["example"].status == "loaded"
    assert records["broken"].status == "disabled"
    assert records["cli-inventory"].status == "loaded"


def test_trace_switch_prints_hook_calls(tmp_path: Path) -> None:
    env = {"IMAGEWORKS_TRACE_PLUGINS": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "IMAGEWORKS_REGISTRY_DIR": str(tmp_path / "r"), "IMAGEWORKS_LOG_DIR": str(tmp_path / "l")}
    done = subprocess.run(
        [sys.executable, "-m", "imageworks.cli", "plugins", "--json"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "imageworks_register_commands" in done.stderr
    json.loads(done.stdout)


class _Bad:
    """A plugin object whose hooks misbehave in every way the host must survive."""

    @hookimpl
    def imageworks_register_sources(self):  # type: ignore[no-untyped-def]
        return [object()]

    @hookimpl
    def imageworks_register_detectors(self):  # type: ignore[no-untyped-def]
        raise RuntimeError("detector registry exploded")


class _GoodSource(Source):
    name = "good"


class _Good:
    @hookimpl
    def imageworks_register_sources(self):  # type: ignore[no-untyped-def]
        return [_GoodSource()]

    @hookimpl
    def imageworks_register_detectors(self):  # type: ignore[no-untyped-def]
        class D(Detector):
            name = "d"
            trust = "guess"  # not a trust level

        return [D()]


def _empty_host() -> PluginHost:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return PluginHost(pm, {})


def _host_with(**objects: object) -> PluginHost:
    host = _empty_host()
    for name, obj in objects.items():
        host.pm.register(obj, name=name)
        host._records[name] = PluginRecord(name=name, module="test", distribution=None, version=None, status="loaded")
    return host


def test_invalid_objects_and_raising_hooks_become_failures() -> None:
    host = _host_with(bad=_Bad(), good=_Good())
    assert list(host.sources()) == ["good"]
    assert host.detectors() == []
    records = {r.name: r for r in host.records()}
    assert records["bad"].status == "failed"
    assert "is not an imageworks Source" in (records["bad"].error or "")
    assert "detector registry exploded" in (records["bad"].error or "")
    assert "trust 'guess'" in (records["good"].error or "")


def test_duplicate_source_names_are_refused() -> None:
    class _Twin(_Good):
        pass

    host = _host_with(one=_Good(), two=_Twin())
    assert list(host.sources()) == ["good"]
    errors = [r.error for r in host.records() if r.name in {"one", "two"} and r.error]
    assert any("already provided" in e for e in errors)


def test_misspelt_hook_is_a_validation_failure() -> None:
    from imageworks.core.plugins import _register

    host = _empty_host()
    typo = SimpleNamespace(imageworks_register_source=hookimpl(lambda: []))
    assert "unknown hook(s): imageworks_register_source" in (_register(host.pm, typo, "typo") or "")
    assert not host.pm.is_registered(typo)


def test_start_up_does_not_import_heavy_libraries(tmp_path: Path) -> None:
    """Every command pays for what plugin modules import at load time, so plugins import
    their heavy libraries (Hub and Ollama clients, numpy via gguf) only when they run, and
    nothing of an extra (Streamlit, psycopg, Starlette, uvicorn) is imported by the CLI."""
    probe = (
        "import sys, click\n"
        "from imageworks.cli.main import build_cli\n"
        "from imageworks.core.plugins import get_plugins\n"
        "build_cli('download'); get_plugins().records()\n"
        "print(sorted(m for m in ('ollama', 'huggingface_hub', 'numpy', 'gguf', 'requests', 'rich.progress',\n"
        "                         'streamlit', 'psycopg', 'starlette', 'uvicorn') if m in sys.modules))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
