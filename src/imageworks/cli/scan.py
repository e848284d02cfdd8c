"""``imageworks-download scan``: register model folders already on disk (guide 6.2, 7.1).

``--dry-run`` runs the whole scan on a scratch copy of the registry and prints what the
real run would do.

A built-in plugin (entry point ``cli-scan``) over the ``local`` source: it imports no
provider, and refuses in one line when ``source-local`` is disabled.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from imageworks.cli import _output as out
from imageworks.cli._choices import check_backend, check_format
from imageworks.cli.context import AppContext
from imageworks.core.hookspecs import hookimpl

if TYPE_CHECKING:  # the registry is opened when a command runs, not to build --help
    from imageworks.core.registry import Registry
    from imageworks.core.reports import ImportOutcome


pass_app = click.make_pass_decorator(AppContext)


def scan_into(app: AppContext, registry: Registry, options: dict[str, Any]) -> ImportOutcome:
    """Scan through the ``local`` source into ``registry`` (a scratch copy for a dry run); warn on stderr."""
    report = app.plugins.source("local").import_models(registry, options, app.source_context(progress=True))
    for problem in report.warnings:
        out.warn(problem)
    return report


def show_scan(report: ImportOutcome, base: Path, dry_run: bool, as_json: bool) -> None:
    """Print the scan as a table (or JSON) and a summary line on stderr."""
    if as_json:
        out.emit_json(report.to_json())
    elif rows := report.rows():
        out.table(f"Scan of {base}" + (" (dry run: nothing written)" if dry_run else ""), report.headers(), rows)
    else:
        out.note(f"No model folders found under {base} (expected <owner>/<repo> folders).")
    out.note(report.summary())


def run_scan(app: AppContext, options: dict[str, Any], dry_run: bool, as_json: bool) -> ImportOutcome:
    """Scan (a dry run on a scratch copy of the registry), then print; shared with imageworks-loader."""
    registry = app.registry.scratch() if dry_run else app.registry
    report = scan_into(app, registry, options)
    show_scan(report, Path(options["base"]), dry_run, as_json)
    return report


@click.command("scan")
@click.option("--base", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder holding <owner>/<repo> model folders.")
@click.option("--dry-run", is_flag=True, help="Show the plan and write nothing.")
@click.option("--update-existing", is_flag=True, help="Refresh entries already registered for these folders.")
@click.option("--include-testing", is_flag=True, help="Also import testing/demo placeholders.")
@click.option("--format", "fallback_format", metavar="FORMAT", help="Format to record when detection finds none.")
@click.option("--backend", metavar="NAME", help="Backend to record (default: gguf for GGUF, vllm otherwise).")
@click.option("--json", "as_json", is_flag=True, help="The plan as plain JSON on stdout.")
@pass_app
def scan_command(
    app: AppContext,
    base: Path,
    dry_run: bool,
    update_existing: bool,
    include_testing: bool,
    fallback_format: str | None,
    backend: str | None,
    as_json: bool,
) -> None:
    """Import model folders laid out as <owner>/<repo> (and <repo>@<branch>)."""
    options = {
        "base": base.expanduser(),
        "include_testing": include_testing,
        "update_existing": update_existing,
        "fallback_format": check_format(fallback_format, ()),
        "backend": check_backend(backend, ()),
    }
    run_scan(app, options, dry_run, as_json)


@hookimpl
def imageworks_register_commands(cli: click.Group, program: str) -> None:
    """Add ``scan`` to imageworks-download."""
    if program == "download":
        cli.add_command(scan_command)
