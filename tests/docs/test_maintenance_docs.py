"""docs/maintenance.md names every option of the commands it documents, and --help matches."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from imageworks.cli.main import build_cli

DOCS = Path(__file__).resolve().parents[2] / "docs" / "maintenance.md"
COMMANDS = [("normalize-formats",), ("backups", "list"), ("backups", "restore")]


def command(path: tuple[str, ...]) -> click.Command:
    found: click.Command = build_cli("download")
    for name in path:
        assert isinstance(found, click.Group)
        found = found.commands[name]
    return found


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_option_is_documented(path: tuple[str, ...]) -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert f"## {path[0]}" in text
    for parameter in command(path).params:
        for option in [*parameter.opts, *parameter.secondary_opts]:
            if option.startswith("-") and option not in ("-h", "--help"):
                assert option in text, f"{' '.join(path)}: {option} missing from docs/maintenance.md"
