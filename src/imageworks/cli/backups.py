"""``imageworks-download backups list|restore``: the registry backups destructive commands take.

A thin front end over :mod:`imageworks.services.maintain.backups`, through the registry backend's
backup interface. ``restore ID --dry-run`` runs the restore on a scratch copy of the
registry and reports what it would change. A built-in plugin (entry point ``cli-backups``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from imageworks.cli import _output as out
from imageworks.cli._dry_run import APPLY_HINT, preview_unless_apply
from imageworks.cli.context import AppContext
from imageworks.core.hookspecs import hookimpl

if TYPE_CHECKING:  # the backup service is imported by the commands that run it, not to build --help
    from imageworks.services.maintain.backups import RestoreReport

pass_app = click.make_pass_decorator(AppContext)
NAMES_SHOWN = 5  # entry names per cell; --json lists them all


@click.group("backups")
def backups_group() -> None:
    """List registry backups and restore one (a restore is backed up first)."""


@backups_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Plain JSON on stdout.")
@pass_app
def list_command(app: AppContext, as_json: bool) -> None:
    """The backup sets, newest first, with how many entries each layer holds."""
    from imageworks.services.maintain.backups import summarize_backups

    summaries = summarize_backups(app.registry)
    if as_json:
        out.emit_json([s.to_json() for s in summaries])
        return
    if not summaries:
        out.note("No backups yet: destructive commands take one before writing (unless --no-backup).")
        return
    rows = [
        [s.backup.id, s.backup.created.isoformat(timespec="seconds"), s.curated, s.discovered, s.error or s.backup.location]
        for s in summaries
    ]
    out.table(f"{len(rows)} backup(s)", ["ID", "Created (UTC)", "Curated", "Discovered", "Location"], rows)


@backups_group.command("restore")
@click.argument("backup_id", metavar="ID")
@preview_unless_apply
@click.option("--json", "as_json", is_flag=True, help="Plain JSON report on stdout.")
@pass_app
def restore_command(app: AppContext, backup_id: str, dry_run: bool, as_json: bool) -> None:
    """Make the registry what backup ID holds (ids from `backups list`), backing up the current one first.

    A dry run (what would change) unless --apply.
    """
    from imageworks.services.maintain.backups import restore

    registry = app.registry.scratch() if dry_run else app.registry
    report = restore(registry, backup_id)
    if as_json:
        out.emit_json(report.to_json())
        return
    _show(report)


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:NAMES_SHOWN])
    return shown + (f" (+{len(names) - NAMES_SHOWN} more)" if len(names) > NAMES_SHOWN else "")


def _show(report: RestoreReport) -> None:
    from imageworks.services.maintain.backups import backup_place

    rows = [[d.layer, _names(d.added), _names(d.removed), _names(d.changed)] for d in report.layers]
    title = f"Restore of {report.backup_id}" + ("" if report.applied else " (dry run: nothing written)")
    out.table(title, ["Layer", "Added", "Removed", "Changed"], rows)
    if report.backup:
        out.note(f"Backed up the current registry to {backup_place(report.backup)}")
    verb = "Restored" if report.applied else "Would restore"
    out.note(f"{verb} {report.backup_id}" + (" (the registry already matched it)" if report.unchanged else ""))
    if not report.applied and not report.unchanged:
        out.note(APPLY_HINT)


@hookimpl
def imageworks_register_commands(cli: click.Group, program: str) -> None:
    """Add the ``backups`` group to imageworks-download."""
    if program == "download":
        cli.add_command(backups_group)
