"""docs/cleanup.md stays true to the commands: every command of ``cli-cleanup`` has a
section naming each of its flags, and each ``--disambiguate`` strategy is documented."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from imageworks.cli import cleanup
from imageworks.services.maintain.slugs import STRATEGIES

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cleanup.md"
COMMANDS = [c for c in vars(cleanup).values() if isinstance(c, click.Command)]


def section(name: str) -> str:
    text = DOCS.read_text(encoding="utf-8")
    match = re.search(rf"^### {re.escape(name)}\n(.*?)(?=^#{{2,3}} |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"docs/cleanup.md has no '### {name}' section"
    return match.group(1)


def test_every_command_is_found() -> None:
    assert len(COMMANDS) == 7


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_every_flag_is_documented(command: click.Command) -> None:
    body = section(command.name or "")
    for parameter in command.params:
        for flag in [*parameter.opts, *parameter.secondary_opts]:
            if flag.startswith("--"):
                assert flag in body, f"{command.name}: {flag} undocumented"


def test_every_strategy_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for strategy in STRATEGIES:
        assert re.search(rf"^\| `{strategy}`", text, re.MULTILINE), strategy
