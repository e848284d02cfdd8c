"""``imageworks-download scan``: register model folders already on disk (guide 6.2, 7.1).

``--dry-run`` runs the whole scan on a scratch copy of the registry and prints what the
real run would do.

A built-in plugin (entry point ``cli-scan``).
"""

from __future__ import annotations

from pathlib import Path

import click

from imageworks.cli import _output as out
from imageworks.cli.context import AppContext
from imageworks.core.hookspecs import hookimpl
from imageworks.core.registry import Registry
from imageworks.providers.local.scan import ScanItem, ScanOptions, apply_scan, plan_scan

pass_app = click.make_pass_decorator(AppContext)


def scan_into(app: AppContext, registry: Registry, options: ScanOptions, progress: bool = True) -> list[ScanItem]:
    """Plan and apply a scan on ``registry`` (a scratch copy for a dry run); warn on stderr."""
    problems: list[str] = []
    items = plan_scan(options, registry, app.config, problems, app.plugins.detectors())
    for problem in problems:
        out.warn(problem)
    work = [i for i in items if i.action in {"add", "update"}]
    if progress and not registry.is_scratch:
        with out.progress("Scanning", len(work)) as advance:
            apply_scan(items, registry, app.config, progress=lambda item: advance(1))
    else:
        apply_scan(items, registry, app.config)
    return items


def show_scan(items: list[ScanItem], options: ScanOptions, dry_run: bool, as_json: bool) -> None:
    """Print the scan items as a table (or JSON) and a summary line on stderr."""
    if as_json:
        out.emit_json([i.as_json() for i in items])
    elif items:
        out.table(
            f"Scan of {options.base}" + (" (dry run: nothing written)" if dry_run else ""),
            ["Folder", "Action", "Variant", "Format", "Quant", "Note"],
            [[i.model_id, i.action, i.name, i.format_type, i.quantization, i.reason] for i in items],
        )
    else:
        out.note(f"No model folders found under {options.base} (expected <owner>/<repo> folders).")
    counts = {a: sum(1 for i in items if i.action == a) for a in ("add", "update", "unchanged", "skip")}
    out.note(", ".join(f"{n} {a}" for a, n in counts.items()) + (" (dry run)" if dry_run else ""))


def run_scan(app: AppContext, options: ScanOptions, dry_run: bool, as_json: bool) -> list[ScanItem]:
    """Scan (a dry run on a scratch copy of the registry), then print; shared with imageworks-loader."""
    registry = app.registry.scratch() if dry_run else app.registry
    items = scan_into(app, registry, options)
    show_scan(items, options, dry_run, as_json)
    return items


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
    options = ScanOptions(
        base=base.expanduser(),
        include_testing=include_testing,
        update_existing=update_existing,
        fallback_format=fallback_format,
        backend=backend,
    )
    run_scan(app, options, dry_run, as_json)


@hookimpl
def imageworks_register_commands(cli: click.Group, program: str) -> None:
    """Add ``scan`` to imageworks-download."""
    if program == "download":
        cli.add_command(scan_command)
