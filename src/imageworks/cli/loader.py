"""``imageworks-loader``: refresh the discovered registry layer (guide 6.7).

Every command writes through the same adapter as downloads and scans; the hand-kept
curated layer is never touched. Destructive commands are dry runs unless ``--apply``.
The composite commands (``rebuild-ollama``, ``discover-all``) are one registry batch:
a failure midway leaves the registry as it was. Their ``--dry-run`` runs the same
steps on a scratch copy of the registry, so it reports what the real run would do.
A built-in plugin (entry point ``cli-loader``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from imageworks.cli import _output as out
from imageworks.cli._choices import check_location
from imageworks.cli._dry_run import preview_unless_apply
from imageworks.cli.context import AppContext
from imageworks.cli.scan import run_scan, scan_into, show_scan
from imageworks.core.hookspecs import hookimpl

if TYPE_CHECKING:  # the registry is opened when a command runs, not to build --help
    from imageworks.core.interfaces import RegistryLayers
    from imageworks.core.registry import Registry
    from imageworks.core.reports import ImportOutcome


pass_app = click.make_pass_decorator(AppContext)
ALL_ROOTS = click.option(
    "--all-roots/--root-only",
    default=True,
    show_default=True,
    help="Also scan every store root the configuration knows (weights, LM Studio, extra locations).",
)
PROVIDERS = {"hf": {"huggingface", "local"}, "ollama": {"ollama"}}


def imported_names(layers: RegistryLayers, providers: str) -> list[str]:
    """Discovered entries brought in by ``providers`` (``all``, ``hf`` or ``ollama``)."""
    wanted = set().union(*PROVIDERS.values()) if providers == "all" else PROVIDERS[providers]
    return sorted(
        name for name, raw in layers.discovered.items()
        if (raw.get("source_provider") or ("ollama" if raw.get("backend") == "ollama" else None)) in wanted
    )


def purge_imported(registry: Registry, providers: str, apply: bool, backup: bool) -> list[str]:
    """Remove imported entries from the discovered layer; returns their names."""
    names = imported_names(registry.layers(), providers)
    if apply and names:
        if backup:
            registry.backup()
        with registry.batch():
            for name in names:
                registry.delete(name, backup=False, layers=("discovered",))
    return names


def _ollama_import(app: AppContext, registry: Registry, location: str | None) -> ImportOutcome:
    return app.plugins.source("ollama").import_models(registry, {"location": location}, app.source_context())


@click.command("purge-imported")
@click.option("--providers", type=click.Choice(["all", "hf", "ollama"]), default="all", show_default=True)
@preview_unless_apply
@click.option("--backup/--no-backup", default=True, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Plain JSON on stdout.")
@pass_app
def purge_imported_command(app: AppContext, providers: str, dry_run: bool, backup: bool, as_json: bool) -> None:
    """Remove imported (discovered) entries of some providers; curated entries stay (a dry run unless --apply)."""
    apply = not dry_run
    names = purge_imported(app.registry, providers, apply, backup)
    if as_json:
        out.emit_json({"applied": apply, "removed" if apply else "would_remove": names})
        return
    verb = "Removed" if apply else "Would remove"
    for name in names:
        out.echo(f"{verb} {name}")
    out.note(f"{verb} {len(names)} imported entr{'y' if len(names) == 1 else 'ies'}" + ("" if apply else " (dry run; use --apply)"))


@click.command("ingest-local-hf")
@click.option("--root", required=True, type=click.Path(file_okay=False, path_type=Path), help="Weights root with <owner>/<repo> folders.")
@click.option("--dry-run", is_flag=True, help="Show the plan and write nothing.")
@click.option("--include-testing", is_flag=True)
@ALL_ROOTS
@click.option("--json", "as_json", is_flag=True)
@pass_app
def ingest_local_hf_command(
    app: AppContext, root: Path, dry_run: bool, include_testing: bool, all_roots: bool, as_json: bool
) -> None:
    """Scan a weights root (and every configured store root), refreshing entries that exist.

    A folder a download made keeps its source, Hub id, download time and location label
    (from the record the download left in it), so purge-imported then ingest-local-hf
    loses nothing. Configured roots that are not folders are named as skipped.
    """
    options = {"base": root.expanduser(), "update_existing": True, "include_testing": include_testing, "all_roots": all_roots}
    run_scan(app, options, dry_run, as_json)


@click.command("rebuild-ollama")
@click.option("--location", metavar="LABEL", help="Location label to record for Ollama models.")
@click.option("--dry-run", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
@pass_app
def rebuild_ollama_command(app: AppContext, location: str | None, dry_run: bool, as_json: bool) -> None:
    """Drop the imported Ollama entries and import the Ollama store again (one transaction)."""
    check_location(location, app.config)
    registry = app.registry.scratch() if dry_run else app.registry
    with registry.batch():
        names = purge_imported(registry, "ollama", apply=True, backup=True)
        report = _ollama_import(app, registry, location)
    _print_ollama(report, names, dry_run, as_json)


@click.command("discover-all")
@click.option("--hf-root", required=True, type=click.Path(file_okay=False, path_type=Path), help="Weights root to scan.")
@click.option("--location", metavar="LABEL", help="Location label for Ollama models.")
@ALL_ROOTS
@click.option("--dry-run", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
@pass_app
def discover_all_command(
    app: AppContext, hf_root: Path, location: str | None, all_roots: bool, dry_run: bool, as_json: bool
) -> None:
    """Scan the HF weights root (and every configured store root) and import Ollama, in one transaction."""
    check_location(location, app.config)
    base = hf_root.expanduser()
    options = {"base": base, "update_existing": True, "all_roots": all_roots}
    registry = app.registry.scratch() if dry_run else app.registry
    with registry.batch():
        scanned = scan_into(app, registry, options)
        report = _ollama_import(app, registry, location)
    if as_json:
        out.emit_json({"scan": scanned.to_json(), "ollama": report.to_json()})
    else:
        show_scan(scanned, base, dry_run, False)
        _print_ollama(report, [], dry_run, False)


def _print_ollama(report: ImportOutcome, purged: list[str], dry_run: bool, as_json: bool) -> None:
    data = report.to_json()
    if as_json:
        out.emit_json({"purged": purged, "import": data})
        return
    if purged:
        out.note(f"{'Would drop' if dry_run else 'Dropped'} {len(purged)} imported Ollama entries")
    items = data.get("items", []) if isinstance(data, dict) else []
    if items:
        out.table(
            "Ollama import" + (" (dry run)" if dry_run else ""),
            ["Model", "Action", "Variant", "Note"],
            [[i.get("served_model_id"), i.get("action"), i.get("variant"), i.get("reason")] for i in items],
        )


@hookimpl
def imageworks_register_commands(cli: click.Group, program: str) -> None:
    """Add the loader commands to imageworks-loader."""
    if program == "loader":
        for command in (purge_imported_command, ingest_local_hf_command, rebuild_ollama_command, discover_all_command):
            cli.add_command(command)
