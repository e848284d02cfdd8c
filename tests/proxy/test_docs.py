"""docs/serving.md and the README stay true to the proxy: its options, variables, error codes and extras."""

from __future__ import annotations

import re
from pathlib import Path

import click

from imageworks.proxy import app, forwarding, guard, settings
from imageworks.proxy.launcher import proxy_command

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "serving.md").read_text(encoding="utf-8")
SOURCES = "".join(Path(module.__file__ or "").read_text(encoding="utf-8") for module in (app, forwarding, guard, settings))


def test_every_option_is_documented() -> None:
    for param in proxy_command.params:
        if isinstance(param, click.Option) and "--help" not in param.opts:
            assert any(f"`{opt}" in DOC for opt in param.opts), f"{param.opts} undocumented"


def test_every_variable_is_documented_and_in_help() -> None:
    variables = set(re.findall(r'"(CHAT_PROXY_[A-Z_]+)"', SOURCES))
    assert len(variables) == 12
    assert proxy_command.epilog is not None
    for variable in variables:
        assert f"`{variable}" in DOC and variable in proxy_command.epilog


def test_every_error_code_is_documented() -> None:
    codes = set(re.findall(r'"((?:backend|model|registry|invalid|missing|server|host|origin|body|unsupported|request)_[a-z_]+)"', SOURCES))
    assert {"model_not_found", "backend_unavailable", "backend_stream_broken", "host_not_allowed", "body_too_large"} <= codes
    for code in codes:
        assert f"`{code}`" in DOC, code


def test_readme_names_the_command_and_the_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "`imageworks-chat-proxy [--host 127.0.0.1] [--port 8100]`" in readme
    assert "docs/serving.md" in readme and "src/imageworks/proxy/" in (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
