"""Registry clean-up commands of ``imageworks-download`` (guide 7.2; docs/cleanup.md).

``prune-duplicates``, ``reset-discovered``, ``purge-hf``, ``purge-logical-only``,
``purge-deprecated``, ``preview-simple-slugs`` and ``apply-simple-slugs``: thin fronts
over ``services/maintain/cleanup.py``, ``services/maintain/duplicates.py`` and ``services/maintain/slugs.py``. Each is one
batch on the opened registry; its dry run runs the same code on a scratch copy, so it
prints exactly what the real run does. Every one but the preview is a dry run unless
``--apply`` (``cli/_dry_run.py``). A built-in plugin (entry point ``cli-cleanup``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from imageworks.cli import _output as out
from imageworks.cli._dry_run import APPLY_HINT, preview_unless_apply
from imageworks.cli.context import AppContext
from imageworks.core.hookspecs import hookimpl

if TYPE_CHECKING:  # the services are imported by the commands that run them, not to build --help
    from imageworks.core.registry import Registry
    from imageworks.services.maintain.cleanup import CleanupReport
    from imageworks.services.maintain.slugs import SlugPlan

#: ``services.maintain.slugs.STRATEGIES`` (a test keeps them equal), here so --help need not import it.
STRATEGIES = ("backend", "format", "producer", "index", "none")

pass_app = click.make_pass_decorator(AppContext)
JSON_HELP = "Plain JSON report on stdout."
BACKUP_HELP = "Back up the registry files before writing."
backup_option = click.option("--backup/--no-backup", default=True, show_default=True, help=BACKUP_HELP)
json_option = click.option("--json", "as_json", is_flag=True, help=JSON_HELP)


def _working(app: AppContext, dry_run: bool) -> Registry:
    return app.registry.scratch() if dry_run else app.registry


def _show(report: CleanupReport, as_json: bool, verbose: bool = False) -> None:
    if as_json:
        out.emit_json(report.to_json())
        return
    if verbose:
        for line in report.notes:
            out.echo(line)
    if report.items:
        out.table(report.command + (" (dry run)" if report.dry_run else ""), report.headers(), report.rows())
    if report.backup:
        out.note(f"Backed up the registry to {report.backup}")
    out.note(report.summary())
    if report.dry_run and any(n for action, n in report.counts().items() if action != "keep"):
        out.note(APPLY_HINT)


@click.command("prune-duplicates")
@click.option("--backend", metavar="NAME", help="Only variants of this backend (vllm, ollama, ...).")
@preview_unless_apply
@click.option("--verbose", "-v", is_flag=True, help="Say, per duplicate group, what is kept and why.")
@backup_option
@json_option
@pass_app
def prune_duplicates_command(
    app: AppContext, backend: str | None, dry_run: bool, verbose: bool, backup: bool, as_json: bool
) -> None:
    """Keep one entry per (family, backend, format, quant); drop stale duplicates."""
    from imageworks.services.maintain.cleanup import apply_cleanup
    from imageworks.services.maintain.duplicates import plan_prune_duplicates

    def planner(registry: Registry) -> CleanupReport:
        report, decisions = plan_prune_duplicates(registry, backend)
        report.notes.extend(decisions)
        return report

    _show(apply_cleanup(_working(app, dry_run), planner, backup), as_json, verbose)


@click.command("reset-discovered")
@click.option("--backend", default="all", show_default=True, metavar="NAME", help="Backend to reset, or all.")
@preview_unless_apply
@backup_option
@json_option
@pass_app
def reset_discovered_command(app: AppContext, backend: str, dry_run: bool, backup: bool, as_json: bool) -> None:
    """Drop the discovered-layer entries of a backend so they can be imported afresh."""
    from imageworks.services.maintain.cleanup import apply_cleanup, plan_reset_discovered

    report = apply_cleanup(_working(app, dry_run), lambda r: plan_reset_discovered(r, backend), backup)
    _show(report, as_json)


@click.command("purge-hf")
@click.option("--weights-root", type=click.Path(file_okay=False, path_type=Path), metavar="PATH",
              help="Root whose entries are purged (default: the weights root, IMAGEWORKS_MODEL_ROOT).")
@click.option("--backend", metavar="NAME", help="Only this backend (unassigned cleans legacy entries).")
@preview_unless_apply
@backup_option
@json_option
@pass_app
def purge_hf_command(
    app: AppContext, weights_root: Path | None, backend: str | None, dry_run: bool, backup: bool, as_json: bool
) -> None:
    """Drop the discovered entries whose files lie under the weights root (files stay)."""
    from imageworks.services.maintain.cleanup import apply_cleanup, plan_purge_hf

    root = (weights_root or app.config.model_root).expanduser()
    report = apply_cleanup(_working(app, dry_run), lambda r: plan_purge_hf(r, root, backend), backup)
    _show(report, as_json)


@click.command("purge-logical-only")
@click.option("--include-curated/--discovered-only", default=False, show_default=True,
              help="Also remove logical-only entries of the curated layer.")
@preview_unless_apply
@backup_option
@json_option
@pass_app
def purge_logical_only_command(app: AppContext, include_curated: bool, dry_run: bool, backup: bool, as_json: bool) -> None:
    """Remove entries without local files (no path, or ollama://)."""
    from imageworks.services.maintain.cleanup import apply_cleanup, plan_purge_logical_only

    report = apply_cleanup(_working(app, dry_run), lambda r: plan_purge_logical_only(r, include_curated), backup)
    _show(report, as_json)


@click.command("purge-deprecated")
@click.option("--placeholders-only", is_flag=True, help="Only deprecated Ollama placeholders (no local files).")
@preview_unless_apply
@backup_option
@json_option
@pass_app
def purge_deprecated_command(app: AppContext, placeholders_only: bool, dry_run: bool, backup: bool, as_json: bool) -> None:
    """Remove deprecated entries from both registry layers."""
    from imageworks.services.maintain.cleanup import apply_cleanup, plan_purge_deprecated

    report = apply_cleanup(_working(app, dry_run), lambda r: plan_purge_deprecated(r, placeholders_only), backup)
    _show(report, as_json)


def _slug_table(plan: SlugPlan, title: str) -> None:
    rows = [
        [i.action, i.name, i.current_slug, i.new_name or i.slug, i.display_name, i.reason] for i in plan.items
    ]
    if rows:
        out.table(title, ["Action", "Variant", "Slug now", "Simple slug", "Display name", "Note"], rows)


@click.command("preview-simple-slugs")
@click.option("--include-ollama", is_flag=True, help="Ollama entries (with neither flag: all entries).")
@click.option("--include-hf", is_flag=True, help="Hugging Face / local entries (with neither flag: all entries).")
@click.option("--json", "as_json", is_flag=True, help="Proposals and collisions as plain JSON.")
@pass_app
def preview_simple_slugs_command(app: AppContext, include_ollama: bool, include_hf: bool, as_json: bool) -> None:
    """Show each entry's simple slug and display name, and which entries collide."""
    from imageworks.services.maintain.slugs import plan_simple_slugs

    plan = plan_simple_slugs(app.registry, include_ollama=include_ollama, include_hf=include_hf, strategy="none")
    if as_json:
        data = plan.to_json()
        out.emit_json({"items": data["items"], "collisions": data["collisions"]})
        return
    rows = [[i.name, i.current_slug, i.base_slug, i.display_name, ", ".join(i.collides_with)] for i in plan.items]
    if rows:
        out.table("Simple slugs (preview)", ["Variant", "Slug now", "Simple slug", "Display name", "Collides with"], rows)
    collisions = plan.collisions()
    for base, names in collisions.items():
        out.warn(f"{base!r} is proposed for {', '.join(names)}")
    out.note(f"Previewed {len(plan.items)} entr{'y' if len(plan.items) == 1 else 'ies'}; {len(collisions)} collision(s)")


@click.command("apply-simple-slugs")
@click.option("--include-ollama", is_flag=True, help="Ollama entries (with neither flag: all entries).")
@click.option("--include-hf", is_flag=True, help="Hugging Face / local entries (with neither flag: all entries).")
@click.option("--disambiguate", type=click.Choice(STRATEGIES), default="backend", show_default=True,
              help="What colliding entries get appended (see docs/cleanup.md).")
@click.option("--rename-slugs/--display-only", default=False, show_default=True,
              help="Also make the slug the entry's name (old name kept as an alias).")
@click.option("--allow-skip-on-collision/--no-skip-on-collision", default=True, show_default=True,
              help="Skip entries that still collide, or fail and write nothing.")
@preview_unless_apply
@backup_option
@json_option
@click.option("--tests-only", is_flag=True, help="Only testing entries (IMAGEWORKS_TEST_MODEL_PATTERNS), nothing else.")
@pass_app
def apply_simple_slugs_command(
    app: AppContext, include_ollama: bool, include_hf: bool, disambiguate: str, rename_slugs: bool,
    allow_skip_on_collision: bool, dry_run: bool, backup: bool, as_json: bool, tests_only: bool,
) -> None:
    """Give entries their simple slug and display name; optionally rename them to it."""
    from imageworks.services.maintain.slugs import apply_simple_slugs, plan_simple_slugs

    def planner(registry: Registry) -> SlugPlan:
        return plan_simple_slugs(
            registry, include_ollama=include_ollama, include_hf=include_hf, strategy=disambiguate,
            rename=rename_slugs, tests_only=tests_only,
        )

    plan = apply_simple_slugs(_working(app, dry_run), planner, allow_skip=allow_skip_on_collision, backup=backup)
    if as_json:
        out.emit_json(plan.to_json())
        return
    _slug_table(plan, "Simple slugs" + (" (dry run)" if plan.dry_run else ""))
    if plan.backup:
        out.note(f"Backed up the registry to {plan.backup}")
    out.note(plan.summary())
    if plan.dry_run:
        out.note(APPLY_HINT)


@hookimpl
def imageworks_register_commands(cli: click.Group, program: str) -> None:
    """Add the clean-up commands to ``imageworks-download``."""
    if program == "download":
        for command in (
            prune_duplicates_command, reset_discovered_command, purge_hf_command, purge_logical_only_command,
            purge_deprecated_command, preview_simple_slugs_command, apply_simple_slugs_command,
        ):
            cli.add_command(command)
