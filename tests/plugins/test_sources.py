"""``download`` and ``analyze`` go through Source plugins: order, disabling, failures, layering."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import ClassVar

import pytest

import imageworks
from imageworks.core import plugins
from imageworks.core.errors import ImageworksError
from imageworks.core.interfaces import Source
from tests.support.cli import cli

SRC = Path(imageworks.__file__).parent


def test_sources_are_asked_in_priority_order() -> None:
    host = plugins.get_plugins()
    assert host.source_for("ollama://llama3:8b").name == "ollama"
    for hub_id in ("owner/repo", "owner/repo@dev", "hf://owner/repo", "https://huggingface.co/owner/repo/tree/v1"):
        assert host.source_for(hub_id).name == "huggingface", hub_id
    with pytest.raises(ImageworksError, match="no source handles 's3://bucket/model'"):
        host.source_for("s3://bucket/model")


@pytest.mark.parametrize(
    ("text", "repo_id", "revision", "filename"),
    [
        ("hf://owner/repo", "owner/repo", None, None),
        ("hf://owner/repo@v2", "owner/repo", "v2", None),
        ("hf://models/owner/repo@main/sub/model.gguf", "owner/repo", "main", "sub/model.gguf"),
    ],
)
def test_hf_uris_parse(text: str, repo_id: str, revision: str | None, filename: str | None) -> None:
    from imageworks.providers.huggingface.refs import parse_model_ref

    ref = parse_model_ref(text)
    assert (ref.repo_id, ref.revision, ref.filename) == (repo_id, revision, filename)


def test_a_disabled_source_refuses_cleanly_and_the_rest_works(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IMAGEWORKS_DISABLE_PLUGINS", "source-huggingface")
    plugins.reset_plugins()
    for command in (["download", "owner/repo", "--dry-run"], ["analyze", "owner/repo"]):
        result = cli(capsys, *command)
        assert result.code == 1, command
        (line,) = result.err.strip().splitlines()
        assert "no source handles 'owner/repo'" in line
        assert "'source-huggingface' is disabled by IMAGEWORKS_DISABLE_PLUGINS" in line
        assert "re-enable" in line
    assert cli(capsys, "list", "--json").code == 0
    assert "huggingface" not in plugins.get_plugins().sources()
    assert plugins.get_plugins().source_for("ollama://x:1").name == "ollama"


class _Raising(Source):
    name: ClassVar[str] = "raising"
    priority: ClassVar[int] = 1

    def handles(self, identifier: str) -> bool:
        raise RuntimeError("boom")


class _RaisingPlugin:
    @imageworks.hookimpl
    def imageworks_register_sources(self) -> list[Source]:
        return [_Raising()]


def test_a_raising_handles_is_reported_and_skipped() -> None:
    host = plugins.PluginHost.load({})
    host.pm.register(_RaisingPlugin(), name="raising-plugin")
    host._records["raising-plugin"] = plugins.PluginRecord(
        name="raising-plugin", module="tests", distribution=None, version=None, status="loaded"
    )
    assert host.source_for("owner/repo").name == "huggingface"
    record = next(r for r in host.records() if r.name == "raising-plugin")
    assert record.status == "failed" and "raising.handles: RuntimeError: boom" in (record.error or "")


def _imports(path: Path) -> set[str]:
    """Modules ``path`` imports at run time (``if TYPE_CHECKING:`` blocks do not count)."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return names


def test_dependencies_point_down() -> None:
    """Providers use the core, never the front ends or another plugin's privates; the core finds no plugins itself."""
    problems = []
    for path in sorted((SRC / "providers").rglob("*.py")):
        provider = path.relative_to(SRC / "providers").parts[0]
        for name in _imports(path):
            upward = name.startswith(("imageworks.model_loader", "imageworks.tools", "imageworks.cli", "imageworks.app", "imageworks.proxy"))
            plugin_internals = name.startswith("imageworks.plugins.")  # shared readers live in imageworks.formats
            sideways = name.startswith("imageworks.providers.") and name.split(".")[2] != provider
            if upward or sideways or plugin_internals:
                problems.append(f"{path.relative_to(SRC)} imports {name}")
    front_ends = ("imageworks.app", "imageworks.cli", "imageworks.gui", "imageworks.model_loader", "imageworks.tools",
                  "imageworks.proxy")
    for path in sorted((SRC / "plugins").rglob("*.py")):
        problems.extend(f"{path.relative_to(SRC)} imports {n}" for n in _imports(path) if n.startswith(front_ends))
    for path in sorted((SRC / "core").rglob("*.py")):
        for name in _imports(path):
            if name.startswith(("imageworks.providers", "imageworks.plugins", "click", "starlette", "httpx", *front_ends)):
                problems.append(f"{path.relative_to(SRC)} imports {name}")
        if path.name != "plugins.py" and "get_plugins" in path.read_text(encoding="utf-8"):
            problems.append(f"{path.relative_to(SRC)} calls the global plugin locator")
    for path in sorted((SRC / "cli").rglob("*.py")):
        problems.extend(f"{path.relative_to(SRC)} imports {n}" for n in _imports(path) if n.startswith("imageworks.providers"))
    for path in sorted((SRC / "proxy").rglob("*.py")):  # a front end beside the CLI, not on top of it
        problems.extend(
            f"{path.relative_to(SRC)} imports {n}" for n in _imports(path)
            if n.startswith(("imageworks.providers", "imageworks.plugins", "imageworks.cli", "imageworks.gui"))
        )
    assert problems == []


@pytest.mark.parametrize(
    ("plugin", "commands"),
    [
        ("source-local", [["scan", "--base", "."], ["scan", "--base", ".", "--dry-run"]]),
        ("source-ollama", [["import-ollama", "--no-api"], ["backfill-ollama-paths"], ["restore-ollama", "--dry-run"],
                           ["download", "ollama://llama3:8b", "--dry-run"]]),
    ],
)
def test_commands_of_a_disabled_source_refuse_in_one_line(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], plugin: str,
    commands: list[list[str]],
) -> None:
    monkeypatch.chdir(isolated)
    monkeypatch.setenv("IMAGEWORKS_DISABLE_PLUGINS", plugin)
    plugins.reset_plugins()
    for command in commands:
        result = cli(capsys, *command)
        assert result.code == 1, command
        (line,) = result.err.strip().splitlines()
        assert f"plugin '{plugin}' is disabled by IMAGEWORKS_DISABLE_PLUGINS" in line, line
    assert cli(capsys, "list", "--json").code == 0
    assert plugins.get_plugins().source_for("owner/repo").name == "huggingface"
