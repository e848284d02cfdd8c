"""Ollama commands for ``imageworks-download`` (guide 6.3, 7.2, 7.4).

``import-ollama`` records the local Ollama models (Strategy A naming),
``backfill-ollama-paths`` gives logical-only Ollama entries their blob path, and
``restore-ollama`` brings Ollama entries back from a registry backup. Each prints its
plan as a table (or ``--json``); ``--dry-run`` runs the same work on a scratch copy of
the registry, so it reports exactly what the real run would do, and writes nothing.

No provider module is imported: the commands work through the ``ollama`` source the
plugin host provides, so disabling ``source-ollama`` makes them refuse in one line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

import click

from imageworks.cli import _output as out
from imageworks.cli._choices import check_backend, check_location
from imageworks.cli._dry_run import APPLY_HINT, preview_unless_apply
from imageworks.cli.context import AppContext
from imageworks.core.errors import ImageworksError
from imageworks.core.hookspecs import hookimpl
from imageworks.core.interfaces import Source

if TYPE_CHECKING:  # the registry is opened when a command runs, not to build --help
    from imageworks.core.registry import Registry
    from imageworks.core.reports import ImportOutcome


pass_app = click.make_pass_decorator(AppContext)
JSON_HELP = "Plain JSON report on stdout."
DRY_RUN_HELP = "Show the plan; write nothing."


@runtime_checkable
class OllamaMaintenance(Protocol):
    """The Ollama source's own maintenance operations, beyond the Source contract."""

    def backfill_paths(self, registry: Registry, *, set_format: bool = True) -> ImportOutcome:
        """Give logical-only Ollama entries the path of their blob."""
        ...

    def restore(self, registry: Registry, *, backup: str | None, include_deprecated: bool) -> ImportOutcome:
        """Bring back Ollama entries of a registry backup that are missing now."""
        ...


def show_report(report: ImportOutcome, as_json: bool, title: str) -> None:
    """Print ``report``: warnings on stderr, then a table (or JSON) and a summary line."""
    for warning in report.warnings:
        click.echo(f"Warning: {warning}", err=True)  # already logged where it was found
    if as_json:
        out.emit_json(report.to_json())
        return
    rows = report.rows()
    if rows:
        out.table(title, report.headers(), rows)
    out.note(report.summary())


def _working(app: AppContext, dry_run: bool) -> Registry:
    return app.registry.scratch() if dry_run else app.registry


def _maintenance(app: AppContext) -> OllamaMaintenance:
    source: Source = app.plugins.source("ollama")
    if not isinstance(source, OllamaMaintenance):
        raise ImageworksError(f"the 'ollama' source ({type(source).__module__}) has no Ollama maintenance operations")
    return source


@click.command("import-ollama")
@click.option("--dry-run", is_flag=True, help=DRY_RUN_HELP)
@click.option("--backend", default="ollama", show_default=True, metavar="NAME", help="Backend in the variant name.")
@click.option("--location", metavar="LABEL", help="Location label to record (default: the root holding the store).")
@click.option("--deprecate-placeholders", is_flag=True, help="Deprecate logical-only entries now covered or gone.")
@click.option("--no-api", is_flag=True, help="Read the store only; do not ask an Ollama server.")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@pass_app
def import_ollama_command(
    app: AppContext, dry_run: bool, backend: str, location: str | None, deprecate_placeholders: bool, no_api: bool,
    as_json: bool,
) -> None:
    """Import the models of the local Ollama store (and server) into the registry."""
    check_location(location, app.config)
    check_backend(backend, ())
    source = app.plugins.source("ollama")
    options = {"backend": backend, "location": location, "deprecate_placeholders": deprecate_placeholders, "use_api": not no_api}
    report = source.import_models(_working(app, dry_run), options, app.source_context())
    show_report(report, as_json, f"Ollama import ({len(report.rows())} item(s))")


@click.command("backfill-ollama-paths")
@click.option("--dry-run", is_flag=True, help=DRY_RUN_HELP)
@click.option("--no-set-format", is_flag=True, help="Leave download_format as it is.")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@pass_app
def backfill_command(app: AppContext, dry_run: bool, no_set_format: bool, as_json: bool) -> None:
    """Give logical-only Ollama entries the path of their blob in the local store."""
    ollama = _maintenance(app)
    report = ollama.backfill_paths(_working(app, dry_run), set_format=not no_set_format)
    show_report(report, as_json, "Ollama path backfill")


@click.command("restore-ollama")
@click.option("--backup", "backup", metavar="ID|PATH",
              help="Backup id, backup set folder or registry file (default: the newest backup).")
@click.option("--include-deprecated", is_flag=True, help="Restore entries that were deprecated too.")
@preview_unless_apply
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@pass_app
def restore_command(
    app: AppContext, backup: str | None, include_deprecated: bool, dry_run: bool, as_json: bool
) -> None:
    """Bring back Ollama entries from a registry backup that are missing now.

    A dry run unless --apply; a run that restores something backs the registry up first.
    """
    ollama = _maintenance(app)
    if backup is None:  # name the newest backup now: the backup taken below becomes the newest
        newest = app.registry.list_backups()
        backup = newest[0].id if newest else None
    report = ollama.restore(app.registry.scratch(), backup=backup, include_deprecated=include_deprecated)
    taken = None
    if not dry_run and any(row[0] == "restore" for row in report.rows()):
        taken = app.registry.backup()
        report = ollama.restore(app.registry, backup=backup, include_deprecated=include_deprecated)
    stores = report.to_json().get("stores") or ["the backup"]
    show_report(report, as_json, f"Ollama restore from {stores[0]}")
    if taken and not as_json:
        from imageworks.services.maintain.backups import backup_place

        out.note(f"Backed up the registry to {backup_place(taken)} first")
    if dry_run and not as_json:
        out.note(APPLY_HINT)


@hookimpl
def imageworks_register_commands(cli: click.Group, program: str) -> None:
    """Add the Ollama commands to ``imageworks-download``."""
    if program == "download":
        for command in (import_ollama_command, backfill_command, restore_command):
            cli.add_command(command)
