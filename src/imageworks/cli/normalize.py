"""``imageworks-download normalize-formats`` (guide 6.4, 7.2): re-detect and rebuild registry metadata.

A thin front end over :mod:`imageworks.services.maintain.normalize`: a dry run by default (the same
work on a scratch copy of the registry), ``--apply`` to write. Detection goes through
the detector plugins the host provides. A built-in plugin (entry point ``cli-normalize``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from imageworks.cli import _output as out
from imageworks.cli._dry_run import preview_unless_apply
from imageworks.cli.context import AppContext
from imageworks.core.errors import ImageworksError
from imageworks.core.hookspecs import hookimpl

if TYPE_CHECKING:  # imported by the command when it runs, not to build --help
    from imageworks.services.maintain.normalize import EntryChange, NormalizeReport

pass_app = click.make_pass_decorator(AppContext)
CHECKSUM_SHOWN = 12  # leading hex digits of a checksum in the table (--json has them all)


@click.command("normalize-formats")
@preview_unless_apply
@click.option("--rebuild", is_flag=True,
              help="Also recompute size, checksum and file inventory (re-hashing only files whose size, mtime or inode changed).")
@click.option("--prune-missing", is_flag=True, help="Remove entries whose files are gone.")
@click.option("--backup/--no-backup", default=True, show_default=True, help="Back up the registry before writing.")
@click.option("--json", "as_json", is_flag=True, help="The diff as plain JSON on stdout.")
@pass_app
def normalize_formats_command(
    app: AppContext, dry_run: bool, rebuild: bool, prune_missing: bool, backup: bool, as_json: bool
) -> None:
    """Re-detect format and quantisation on disk; with --rebuild, recompute inventories.

    Locked entries (version_lock.locked) are never rewritten: their drift is reported and
    the command exits 1.
    """
    from imageworks.core.detection import FormatDetector
    from imageworks.services.maintain.normalize import normalize_formats

    registry = app.registry.scratch() if dry_run else app.registry
    detector = FormatDetector(app.plugins.detectors())
    report = normalize_formats(registry, detector, rebuild=rebuild, prune_missing=prune_missing, backup=backup)
    if as_json:
        out.emit_json(report.to_json())
    else:
        _show(report)
    if report.locked_drift:
        raise ImageworksError(
            f"{len(report.locked_drift)} locked entr{'y differs' if len(report.locked_drift) == 1 else 'ies differ'} "
            f"from its files and was left unchanged: {', '.join(report.locked_drift)}",
            "check the files, or unlock with `imageworks-model-registry verify NAME --unlock` and normalise again",
        )


def _cell(change: EntryChange, field: str) -> str:
    if field not in change.changed:
        return ""
    before, after = change.before.get(field), change.after.get(field)
    if field == "download_size_bytes":
        return f"{out.human_size(before) or '-'} → {out.human_size(after) or '-'}"
    if field == "download_directory_checksum":
        return f"{(before or '-')[:CHECKSUM_SHOWN]} → {(after or '-')[:CHECKSUM_SHOWN]}"
    return f"{'-' if before is None else before} → {'-' if after is None else after}"


def _show(report: NormalizeReport) -> None:
    from imageworks.services.maintain.backups import backup_place
    from imageworks.services.maintain.normalize import DIFF_FIELDS

    if report.changes:
        rows: list[list[Any]] = [
            [c.name, c.action, *(_cell(c, f) for f in DIFF_FIELDS), c.note] for c in report.changes
        ]
        title = "normalize-formats" + ("" if report.applied else " (dry run: nothing written; use --apply)")
        out.table(title, ["Variant", "Action", *DIFF_FIELDS, "Note"], rows)
    if report.backup:
        out.note(f"Backed up the registry to {backup_place(report.backup)}")
    counts: dict[str, int] = {}
    for change in report.changes:
        counts[change.action] = counts.get(change.action, 0) + 1
    done = ", ".join(f"{n} {action}" for action, n in sorted(counts.items())) or "no differences"
    hashed = f"; {report.rehashed_files} file(s) hashed" if report.rebuild else ""
    out.note(f"Checked {report.checked} entr{'y' if report.checked == 1 else 'ies'}: {done}{hashed}")


@hookimpl
def imageworks_register_commands(cli: click.Group, program: str) -> None:
    """Add ``normalize-formats`` to imageworks-download."""
    if program == "download":
        cli.add_command(normalize_formats_command)
