"""Ollama commands for ``imageworks-download`` (guide 6.3, 7.2, 7.4).

``import-ollama`` records the local Ollama models (Strategy A naming),
``backfill-ollama-paths`` gives logical-only Ollama entries their blob path, and
``restore-ollama`` brings Ollama entries back from a registry backup. Each prints its
plan as a table (or ``--json``); ``--dry-run`` writes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from imageworks.cli import _output as out
from imageworks.cli.context import AppContext
from imageworks.core.hookspecs import hookimpl

if TYPE_CHECKING:  # the importer pulls in the ollama client (pydantic, httpx): load it only to run
    from imageworks.providers.ollama.importer import ImportReport

pass_app = click.make_pass_decorator(AppContext)
JSON_HELP = "Plain JSON report on stdout."
DRY_RUN_HELP = "Show the plan; write nothing."


def show_report(report: ImportReport, as_json: bool, title: str) -> None:
    """Print ``report``: warnings on stderr, then a table (or JSON) and a summary line."""
    for warning in report.warnings:
        click.echo(f"Warning: {warning}", err=True)  # already logged where it was found
    if as_json:
        out.emit_json(report.to_json())
        return
    if report.items:
        rows = [
            [i.action, i.variant or "", i.served_model_id or "", i.quantization or "", i.reason or i.path or ""]
            for i in report.items
        ]
        out.table(title, ["Action", "Variant", "Served id", "Quant", "Detail"], rows)
    counts = ", ".join(f"{n} {action}" for action, n in report.counts().items() if n) or "nothing to do"
    prefix = "Dry run (nothing written): " if report.dry_run else ""
    out.note(f"{prefix}{counts}")


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
    from imageworks.providers.ollama.importer import import_ollama

    report = import_ollama(
        app.config, dry_run=dry_run, backend=backend, location=location,
        deprecate_placeholders=deprecate_placeholders, use_api=not no_api,
    )
    show_report(report, as_json, f"Ollama import ({len(report.items)} item(s))")


@click.command("backfill-ollama-paths")
@click.option("--dry-run", is_flag=True, help=DRY_RUN_HELP)
@click.option("--no-set-format", is_flag=True, help="Leave download_format as it is.")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@pass_app
def backfill_command(app: AppContext, dry_run: bool, no_set_format: bool, as_json: bool) -> None:
    """Give logical-only Ollama entries the path of their blob in the local store."""
    from imageworks.providers.ollama.maintenance import backfill_ollama_paths

    report = backfill_ollama_paths(app.config, dry_run=dry_run, set_format=not no_set_format)
    show_report(report, as_json, "Ollama path backfill")


@click.command("restore-ollama")
@click.option("--backup", "backup", type=click.Path(path_type=Path), metavar="PATH",
              help="Backup set folder or registry file (default: newest under <registry>/backups/).")
@click.option("--include-deprecated", is_flag=True, help="Restore entries that were deprecated too.")
@click.option("--dry-run", is_flag=True, help=DRY_RUN_HELP)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@pass_app
def restore_command(
    app: AppContext, backup: Path | None, include_deprecated: bool, dry_run: bool, as_json: bool
) -> None:
    """Bring back Ollama entries from a registry backup that are missing now."""
    from imageworks.providers.ollama.maintenance import restore_ollama

    report = restore_ollama(app.config, dry_run=dry_run, backup=backup, include_deprecated=include_deprecated)
    show_report(report, as_json, f"Ollama restore from {report.stores[0]}")


@hookimpl
def imageworks_register_commands(cli: click.Group, program: str) -> None:
    """Add the Ollama commands to ``imageworks-download``."""
    if program == "download":
        for command in (import_ollama_command, backfill_command, restore_command):
            cli.add_command(command)
