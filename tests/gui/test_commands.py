"""The GUI's command builder follows the CLI's own Click options."""

from __future__ import annotations

import click
import pytest

from imageworks.gui import commands


def test_build_uses_the_clis_flags_and_click_accepts_them() -> None:
    args = commands.build("download", "remove", ["org/model"], {"dry_run": True, "purge": True, "force": False})
    assert args == ["remove", "--dry-run", "--purge", "--", "org/model"]
    assert commands.shell_line("download", args) == "imageworks-download remove --dry-run --purge -- org/model"


def test_an_option_the_cli_lacks_is_refused() -> None:
    with pytest.raises(KeyError, match="no option"):
        commands.build("download", "remove", ["x"], {"no_such_flag": True})


def test_a_command_click_rejects_is_refused() -> None:
    with pytest.raises(click.UsageError):
        commands.build("download", "remove", [], {"dry_run": True})  # VARIANT missing


def test_run_goes_through_the_cli_and_captures_output() -> None:
    outcome = commands.run("download", ["list", "--json"])
    assert outcome.exit_code == 0 and outcome.stdout.strip() == "[]"
    bad = commands.run("download", ["remove", "nope", "--force"])
    assert bad.exit_code == 1 and bad.stderr.startswith("Error:")


def test_off_switches_and_repeated_options_are_the_clis() -> None:
    assert commands.build("download", "purge-logical-only", options={"apply": True, "no_backup": True}) == [
        "purge-logical-only", "--apply", "--no-backup"
    ]
    assert commands.build("download", "set-roles", ["v"], {"role": ["a", "b"], "priority": ["a=1"]}) == [
        "set-roles", "--role", "a", "--role", "b", "--priority", "a=1", "--", "v"
    ]
    with pytest.raises(KeyError, match="no option"):
        commands.build("download", "backfill-ollama-paths", options={"apply": True})  # it has no --apply

